// Resume: N steps + resume + N steps gives bit-identical parameters, moments and
// metrics to 2N steps in one go, also across an epoch boundary; a finished run is
// not overwritten.
#include <gtest/gtest.h>

#include <sstream>

#include "abc/checkpoint.hpp"
#include "abc/error.hpp"
#include "abc/trainer.hpp"
#include "test_helpers.hpp"

namespace {

abc::TrainOptions small_run(const std::string& out) {
  abc::TrainOptions o;
  o.model.cell = abc::CellKind::kLstm;
  o.model.hidden = 8;
  o.model.layers = 2;
  o.model.dropout = 0.2f;
  o.seq = 10;
  o.batch = 2;
  o.epochs = 2;
  o.device = "cpu";
  o.data = {abc_test::data_path("tunes.abc"), abc_test::data_path("tagged_crlf.txt")};
  o.out_dir = out;
  return o;
}

abc::TrainOptions resume(const std::string& dir, int stop_after) {
  abc::TrainOptions o;
  o.resume_dir = dir;
  o.device = "cpu";
  o.stop_after_steps = stop_after;
  return o;
}

// metrics.csv without the timing columns.
std::string losses_of(const std::string& metrics_path) {
  std::istringstream in(abc_test::read_text(metrics_path));
  std::string line, out;
  while (std::getline(in, line)) {
    std::size_t comma = 0;
    for (int k = 0; k < 3 && comma != std::string::npos; ++k) comma = line.find(',', comma + 1);
    out += line.substr(0, comma) + "\n";
  }
  return out;
}

}  // namespace

TEST(Resume, InterruptedTwiceEqualsStraightThrough) {
  abc_test::ScratchDir dir("resume");
  std::ostringstream log;
  const abc::TrainResult straight = abc::train(small_run(dir.file("straight")), log, false);
  ASSERT_EQ(straight.epochs_run, 2);

  abc::TrainOptions first = small_run(dir.file("pieces"));
  first.stop_after_steps = 5;  // mid-epoch 1
  EXPECT_EQ(abc::train(first, log, false).epochs_run, 0);
  const abc::Checkpoint mid = abc::load_checkpoint(dir.file("pieces/last.ckpt"));
  EXPECT_EQ(mid.meta.at("step_in_epoch"), "5");
  EXPECT_FALSE(mid.state.empty());
  abc::train(resume(dir.file("pieces"), 30), log, false);  // past the end of epoch 1
  const abc::TrainResult last = abc::train(resume(dir.file("pieces"), 0), log, false);
  EXPECT_EQ(last.epochs_run, 2);

  for (const char* name : {"last.ckpt", "best.ckpt"}) {
    const abc::Checkpoint a = abc::load_checkpoint(dir.file(std::string("straight/") + name));
    const abc::Checkpoint b = abc::load_checkpoint(dir.file(std::string("pieces/") + name));
    EXPECT_EQ(a.params, b.params) << name;  // bit for bit
    EXPECT_EQ(a.adam_m, b.adam_m) << name;
    EXPECT_EQ(a.adam_v, b.adam_v) << name;
    EXPECT_EQ(a.meta.at("global_step"), b.meta.at("global_step")) << name;
  }
  EXPECT_EQ(losses_of(dir.file("straight/metrics.csv")), losses_of(dir.file("pieces/metrics.csv")));
}

TEST(Resume, AFinishedRunIsNotOverwritten) {
  abc_test::ScratchDir dir("no_overwrite");
  std::ostringstream log;
  abc::TrainOptions o = small_run(dir.file("run"));
  o.epochs = 1;
  abc::train(o, log, false);
  const std::string before = abc_test::read_text(dir.file("run/last.ckpt"));
  try {
    abc::train(o, log, false);
    FAIL() << "a second run overwrote the first";
  } catch (const abc::Error& e) {
    EXPECT_EQ(e.exit_code(), abc::kExitUsage);
    EXPECT_NE(std::string(e.what()).find("--resume"), std::string::npos) << e.what();
  }
  EXPECT_EQ(abc_test::read_text(dir.file("run/last.ckpt")), before);
  // Raising the epoch count continues the finished run.
  abc::TrainOptions more = resume(dir.file("run"), 0);
  more.epochs_override = 2;
  EXPECT_EQ(abc::train(more, log, false).epochs_run, 2);
}

TEST(Resume, MissingRunIsAClearError) {
  abc_test::ScratchDir dir("resume_missing");
  std::ostringstream log;
  try {
    abc::train(resume(dir.str(), 0), log, false);
    FAIL();
  } catch (const abc::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no last.ckpt"), std::string::npos) << e.what();
  }
}
