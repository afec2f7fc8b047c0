// Fine-tuning (--init-from): a new run starts from a checkpoint's weights with a fresh
// optimizer; the model's shape and vocabulary come from the checkpoint, characters the
// checkpoint lacks get fresh rows; contradicting model flags and files that are not
// checkpoints are clear errors that leave nothing behind.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <utility>
#include <sstream>

#include "abc/checkpoint.hpp"
#include "abc/error.hpp"
#include "abc/trainer.hpp"
#include "test_helpers.hpp"

namespace fs = std::filesystem;

namespace {

// A base model trained for 1 epoch on `data` (tests/data files).
abc::TrainOptions base_run(const std::string& out, std::vector<std::string> data, int hidden, int layers) {
  abc::TrainOptions o;
  o.model.cell = abc::CellKind::kLstm;
  o.model.hidden = hidden;
  o.model.layers = layers;
  o.model.dropout = 0.2f;
  o.seq = 10;
  o.batch = 2;
  o.epochs = 1;
  o.compute.device = "cpu";
  for (auto& d : data) d = abc_test::data_path(d);
  o.data = data;
  o.out_dir = out;
  return o;
}

// Fine-tuning options as the command line makes them without model flags: hidden 0,
// the default cell and layers, none marked as given.
abc::TrainOptions fine_tune(const std::string& from, const std::string& out, const std::string& data) {
  abc::TrainOptions o;
  o.init_from = from;
  o.model.dropout = 0.1f;
  o.seq = 10;
  o.batch = 2;
  o.epochs = 3;
  o.adam.lr = 1e-3;
  o.seed = 7;
  o.compute.device = "cpu";
  o.data = {abc_test::data_path(data)};
  o.out_dir = out;
  return o;
}

bool all_zero(const std::vector<float>& v) {
  for (float x : v) {
    if (x != 0.0f) return false;
  }
  return true;
}

}  // namespace

TEST(FineTune, StartsFromTheCheckpointsWeightsWithAFreshOptimizer) {
  abc_test::ScratchDir dir("finetune_start");
  std::ostringstream log;
  abc::train(base_run(dir.file("base"), {"tunes.abc", "tagged_crlf.txt"}, 8, 2), log, false);
  const abc::Checkpoint base = abc::load_checkpoint(dir.file("base/best.ckpt"));
  ASSERT_FALSE(all_zero(base.adam_m));  // the base's optimizer has moved

  abc::TrainOptions o = fine_tune(dir.file("base"), dir.file("ft"), "tunes.abc");  // a run folder: its best.ckpt
  o.prepare_only = true;  // stop before the first step, with last.ckpt written
  abc::train(o, log, false);
  const abc::Checkpoint start = abc::load_checkpoint(dir.file("ft/last.ckpt"));
  EXPECT_EQ(start.params, base.params);  // bit for bit
  EXPECT_TRUE(all_zero(start.adam_m));
  EXPECT_TRUE(all_zero(start.adam_v));
  EXPECT_EQ(start.meta.at("adam_steps"), "0");
  EXPECT_EQ(start.meta.at("global_step"), "0");
  // The model's shape and vocabulary from the checkpoint, the rest from the options.
  EXPECT_EQ(start.model.cell, abc::CellKind::kLstm);
  EXPECT_EQ(start.model.hidden, 8);
  EXPECT_EQ(start.model.layers, 2);
  EXPECT_EQ(start.model.vocab, base.model.vocab);
  EXPECT_TRUE(start.vocab == base.vocab);  // tunes.abc has no character the base lacks
  EXPECT_EQ(start.model.dropout, 0.1f);
  EXPECT_EQ(start.meta.at("lr"), "0.001");
  EXPECT_EQ(start.meta.at("epochs"), "3");
  EXPECT_EQ(start.meta.at("seed"), "7");
  EXPECT_EQ(start.meta.at("init_from"), fs::absolute(dir.file("base/best.ckpt")).string());
  EXPECT_NE(abc_test::read_text(dir.file("ft/config.txt")).find("init_from="), std::string::npos);
  EXPECT_NE(log.str().find("fine-tuning from"), std::string::npos) << log.str();

  // A checkpoint file works as well, and the run then trains.
  abc::TrainOptions file = fine_tune(dir.file("base/last.ckpt"), dir.file("ft_file"), "tunes.abc");
  file.epochs = 1;
  const abc::TrainResult r = abc::train(file, log, false);
  EXPECT_EQ(r.epochs_run, 1);
  const abc::Checkpoint trained = abc::load_checkpoint(dir.file("ft_file/last.ckpt"));
  EXPECT_NE(trained.params, base.params);
  EXPECT_EQ(trained.meta.at("adam_steps"), trained.meta.at("global_step"));  // counted from 0
}

TEST(FineTune, CharactersTheCheckpointLacksGetFreshRows) {
  abc_test::ScratchDir dir("finetune_vocab");
  std::ostringstream log;
  abc::train(base_run(dir.file("base"), {"tunes.abc"}, 8, 1), log, false);
  const abc::Checkpoint base = abc::load_checkpoint(dir.file("base/best.ckpt"));

  abc::TrainOptions o = fine_tune(dir.file("base"), dir.file("ft"), "tagged_crlf.txt");
  o.prepare_only = true;
  std::ostringstream ft_log;
  abc::train(o, ft_log, false);
  const abc::Checkpoint start = abc::load_checkpoint(dir.file("ft/last.ckpt"));
  // tagged_crlf.txt's training tune has a capital ('N' or 'O', by the split) that
  // tunes.abc lacks.
  std::string added;
  for (char c : start.vocab.serialize()) {
    if (base.vocab.id_of(c) < 0) added += c;
  }
  ASSERT_EQ(added.size(), 1u) << "the test needs one character the base lacks; got '" << added << "'";
  EXPECT_NE(ft_log.str().find("lacks ('" + added + "'): it gets fresh rows"), std::string::npos) << ft_log.str();
  EXPECT_EQ(start.model.vocab, base.model.vocab + 1);
  // Every character of the checkpoint is kept, even those the new data lacks.
  for (char c : base.vocab.serialize()) EXPECT_GE(start.vocab.id_of(c), 0) << c;

  const abc::ParamLayout was(base.model), now(start.model);
  std::vector<float> fresh(now.total());
  abc::init_param_block(now, 7, fresh.data());
  const int G4H = now.layer(0).w_in.cols, H = start.model.hidden, V = start.model.vocab, V0 = base.model.vocab;
  for (abc::TokenId id = 0; id < V; ++id) {
    const abc::TokenId old = id < 2 ? id : base.vocab.id_of(start.vocab.token_text(id)[0]);
    const bool is_new = old < 0;
    ASSERT_EQ(is_new, start.vocab.token_text(id) == added) << id;
    for (int k = 0; k < G4H; ++k) {  // the input table's row
      const float got = start.params[now.layer(0).w_in.offset + static_cast<std::size_t>(id) * G4H + k];
      const float want = is_new ? fresh[now.layer(0).w_in.offset + static_cast<std::size_t>(id) * G4H + k]
                                : base.params[was.layer(0).w_in.offset + static_cast<std::size_t>(old) * G4H + k];
      ASSERT_EQ(got, want) << "w_in row " << id << " col " << k;
    }
    for (int r = 0; r < H; ++r) {  // the output layer's column
      const float got = start.params[now.w_out().offset + static_cast<std::size_t>(r) * V + id];
      const float want = is_new ? fresh[now.w_out().offset + static_cast<std::size_t>(r) * V + id]
                                : base.params[was.w_out().offset + static_cast<std::size_t>(r) * V0 + old];
      ASSERT_EQ(got, want) << "out.w row " << r << " token " << id;
    }
    EXPECT_EQ(start.params[now.b_out().offset + id],
              is_new ? fresh[now.b_out().offset + id] : base.params[was.b_out().offset + old]);
  }
  // The recurrent matrix and bias: the checkpoint's as they are.
  const std::pair<const abc::ParamTensor*, const abc::ParamTensor*> same[] = {
      {&now.layer(0).w_rec, &was.layer(0).w_rec}, {&now.layer(0).bias, &was.layer(0).bias}};
  for (const auto& [t, old_t] : same) {
    const auto first = start.params.begin() + static_cast<std::ptrdiff_t>(t->offset);
    EXPECT_TRUE(std::equal(first, first + static_cast<std::ptrdiff_t>(t->size()),
                           base.params.begin() + static_cast<std::ptrdiff_t>(old_t->offset)))
        << t->name;
  }
}

TEST(FineTune, ExtendVocabKeepsTheCheckpointsCharactersAndAddsTheNewOnes) {
  const abc::Vocab base = abc::Vocab::from_text("<start>\nK:G\nabc|\n<end>\n");
  std::string added;
  const abc::Vocab v = abc::extend_vocab(base, "<start>\nK:D\nd~e|\n<end>\n", &added);
  EXPECT_EQ(added, "Dde~");
  EXPECT_EQ(v.serialize(), abc::Vocab::from_text("\nK:GDabcde~|").serialize());
  EXPECT_EQ(v.size(), base.size() + 4);
  std::string none;
  EXPECT_TRUE(abc::extend_vocab(base, "<start>\nabc\n<end>\n", &none) == base);
  EXPECT_EQ(none, "");
}

TEST(FineTune, AFineTunedRunResumesExactly) {
  abc_test::ScratchDir dir("finetune_resume");
  std::ostringstream log;
  abc::train(base_run(dir.file("base"), {"tunes.abc"}, 8, 1), log, false);
  abc::TrainOptions o = fine_tune(dir.file("base"), dir.file("straight"), "tagged_crlf.txt");
  o.lr_schedule = abc::LrScheduleKind::kCosine;
  abc::train(o, log, false);
  o.out_dir = dir.file("pieces");
  o.stop_after_steps = 1;
  abc::train(o, log, false);
  abc::TrainOptions resume;
  resume.resume_dir = dir.file("pieces");
  resume.compute.device = "cpu";
  EXPECT_EQ(abc::train(resume, log, false).epochs_run, 3) << log.str();
  const abc::Checkpoint a = abc::load_checkpoint(dir.file("straight/last.ckpt"));
  const abc::Checkpoint b = abc::load_checkpoint(dir.file("pieces/last.ckpt"));
  EXPECT_EQ(a.params, b.params);
  EXPECT_EQ(a.adam_m, b.adam_m);
  EXPECT_TRUE(a.vocab == b.vocab);
  EXPECT_EQ(b.meta.at("init_from"), a.meta.at("init_from"));
}

TEST(FineTune, FlagsThatContradictTheCheckpointAreUsageErrors) {
  abc_test::ScratchDir dir("finetune_flags");
  std::ostringstream log;
  abc::train(base_run(dir.file("base"), {"tunes.abc"}, 8, 1), log, false);
  struct Case {
    const char* flag;
    void (*set)(abc::TrainOptions&);
    const char* given;
    const char* theirs;
  };
  const Case cases[] = {
      {"--hidden", [](abc::TrainOptions& o) { o.model.hidden = 50, o.model_given.hidden = true; }, "50", "8"},
      {"--cell", [](abc::TrainOptions& o) { o.model.cell = abc::CellKind::kRnn, o.model_given.cell = true; }, "rnn",
       "lstm"},
      {"--layers", [](abc::TrainOptions& o) { o.model.layers = 2, o.model_given.layers = true; }, "2", "1"},
  };
  for (const Case& c : cases) {
    abc::TrainOptions o = fine_tune(dir.file("base"), dir.file("ft"), "tunes.abc");
    c.set(o);
    try {
      abc::train(o, log, false);
      FAIL() << c.flag << " was accepted";
    } catch (const abc::Error& e) {
      const std::string what = e.what();
      EXPECT_EQ(e.exit_code(), abc::kExitUsage) << what;
      EXPECT_NE(what.find(std::string(c.flag) + " " + c.given), std::string::npos) << what;
      EXPECT_NE(what.find(std::string("'s ") + (c.flag == std::string("--hidden") ? "hidden size " : "")),
                std::string::npos)
          << what;
      EXPECT_NE(what.find(std::string(" ") + c.theirs + " ("), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
    EXPECT_FALSE(fs::exists(dir.file("ft"))) << c.flag << ": a refused run left a folder behind";
  }
  // The checkpoint's own values are no contradiction.
  abc::TrainOptions same = fine_tune(dir.file("base"), dir.file("same"), "tunes.abc");
  same.model.hidden = 8;
  same.model.layers = 1;
  same.model_given.hidden = same.model_given.layers = same.model_given.cell = true;
  same.prepare_only = true;
  EXPECT_NO_THROW(abc::train(same, log, false));
}

TEST(FineTune, NotACheckpointIsAnErrorAndWritesNothing) {
  abc_test::ScratchDir dir("finetune_bad");
  std::ostringstream log;
  struct Case {
    std::string from, says;
    int code;
  };
  fs::create_directories(dir.file("empty_folder"));
  const Case cases[] = {
      {abc_test::data_path("tunes.abc"), "not an abc-cuda checkpoint", abc::kExitRuntime},
      {abc_test::data_path("binary.abc"), "not an abc-cuda checkpoint", abc::kExitRuntime},
      {dir.file("empty_folder"), "no best.ckpt here", abc::kExitRuntime},
  };
  for (const Case& c : cases) {
    try {
      abc::train(fine_tune(c.from, dir.file("ft"), "tunes.abc"), log, false);
      FAIL() << c.from << " was accepted";
    } catch (const abc::Error& e) {
      EXPECT_EQ(e.exit_code(), c.code) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.says), std::string::npos) << e.what();
    }
    EXPECT_FALSE(fs::exists(dir.file("ft"))) << c.from << ": a refused run left a folder behind";
  }
  EXPECT_FALSE(fs::exists(dir.file("latest")));
}

TEST(FineTune, WithResumeIsAUsageError) {
  abc_test::ScratchDir dir("finetune_resume_flag");
  std::ostringstream log;
  abc::train(base_run(dir.file("base"), {"tunes.abc"}, 8, 1), log, false);
  abc::TrainOptions o = fine_tune(dir.file("base"), "", "tunes.abc");
  o.resume_dir = dir.file("base");
  try {
    abc::train(o, log, false);
    FAIL();
  } catch (const abc::Error& e) {
    EXPECT_EQ(e.exit_code(), abc::kExitUsage);
    EXPECT_NE(std::string(e.what()).find("--resume"), std::string::npos) << e.what();
  }
}
