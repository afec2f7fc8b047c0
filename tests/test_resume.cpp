// Resume: N steps + resume + N steps gives bit-identical parameters, moments and
// metrics to 2N steps in one go, also across an epoch boundary and with a cosine or step
// learning-rate schedule; a finished run is not overwritten. Early stopping (--patience):
// it stops, best.ckpt stays the best, and its counter survives a resume.
#include <gtest/gtest.h>

#include <fstream>
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
  o.compute.device = "cpu";
  o.data = {abc_test::data_path("tunes.abc"), abc_test::data_path("tagged_crlf.txt")};
  o.out_dir = out;
  return o;
}

abc::TrainOptions resume(const std::string& dir, int stop_after) {
  abc::TrainOptions o;
  o.resume_dir = dir;
  o.compute.device = "cpu";
  o.stop_after_steps = stop_after;
  return o;
}

// metrics.csv without the timing columns (chars/s, seconds): epoch, losses and lr.
std::string losses_of(const std::string& metrics_path) {
  std::istringstream in(abc_test::read_text(metrics_path));
  std::string line, out;
  while (std::getline(in, line)) {
    std::size_t comma = 0;
    for (int k = 0; k < 3 && comma != std::string::npos; ++k) comma = line.find(',', comma + 1);
    out += line.substr(0, comma) + "," + line.substr(line.rfind(',') + 1) + "\n";
  }
  return out;
}

// The lr column of metrics.csv, one value per epoch.
std::vector<double> lrs_of(const std::string& metrics_path) {
  std::istringstream in(abc_test::read_text(metrics_path));
  std::string line;
  std::vector<double> lrs;
  std::getline(in, line);
  EXPECT_EQ(line.substr(line.rfind(',') + 1), "lr");
  while (std::getline(in, line)) lrs.push_back(std::stod(line.substr(line.rfind(',') + 1)));
  return lrs;
}

// Trains `o` straight through in DIR/straight and in three pieces in DIR/pieces (stopped
// mid-epoch 1, then mid-epoch 2 past the end of epoch 1, then to the end); both must give
// the same parameters, moments and metrics bit for bit.
void expect_pieces_equal_straight(const abc_test::ScratchDir& dir, abc::TrainOptions o, int epochs) {
  std::ostringstream log;
  o.out_dir = dir.file("straight");
  const abc::TrainResult straight = abc::train(o, log, false);
  ASSERT_EQ(straight.epochs_run, epochs);

  abc::TrainOptions first = o;
  first.out_dir = dir.file("pieces");
  first.stop_after_steps = 5;  // mid-epoch 1
  EXPECT_EQ(abc::train(first, log, false).epochs_run, 0);
  const abc::Checkpoint mid = abc::load_checkpoint(dir.file("pieces/last.ckpt"));
  EXPECT_EQ(mid.meta.at("step_in_epoch"), "5");
  EXPECT_FALSE(mid.state.empty());
  abc::train(resume(dir.file("pieces"), 30), log, false);  // past the end of epoch 1
  EXPECT_NE(abc::load_checkpoint(dir.file("pieces/last.ckpt")).meta.at("epoch"), "1");
  const abc::TrainResult last = abc::train(resume(dir.file("pieces"), 0), log, false);
  EXPECT_EQ(last.epochs_run, epochs);

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

}  // namespace

TEST(Resume, InterruptedTwiceEqualsStraightThrough) {
  abc_test::ScratchDir dir("resume");
  expect_pieces_equal_straight(dir, small_run(""), 2);
  EXPECT_EQ(lrs_of(dir.file("pieces/metrics.csv")), (std::vector<double>{3e-3, 3e-3}));
}

TEST(Resume, CosineScheduleStaysExactAcrossResumes) {
  abc_test::ScratchDir dir("resume_cosine");
  abc::TrainOptions o = small_run("");
  o.epochs = 3;
  o.lr_schedule = abc::LrScheduleKind::kCosine;
  expect_pieces_equal_straight(dir, o, 3);
  // lr, the midpoint, lr/100: what each epoch of both runs used.
  const std::vector<double> want = {3e-3, (3e-3 + 3e-5) / 2, 3e-5};
  for (const char* run : {"straight", "pieces"}) {
    const std::vector<double> got = lrs_of(dir.file(std::string(run) + "/metrics.csv"));
    ASSERT_EQ(got.size(), want.size()) << run;
    for (std::size_t e = 0; e < want.size(); ++e) EXPECT_NEAR(got[e], want[e], 1e-12) << run << " epoch " << e + 1;
  }
  const abc::Checkpoint last = abc::load_checkpoint(dir.file("pieces/last.ckpt"));
  EXPECT_EQ(last.meta.at("lr_schedule"), "cosine");
  EXPECT_EQ(last.meta.at("lr_schedule_epochs"), "3");
  EXPECT_NE(abc_test::read_text(dir.file("pieces/config.txt")).find("lr_by_epoch=0.003 0.001515 3e-05\n"),
            std::string::npos);
}

TEST(Resume, StepScheduleStaysExactAcrossResumes) {
  abc_test::ScratchDir dir("resume_step");
  abc::TrainOptions o = small_run("");
  o.epochs = 3;
  o.lr_schedule = abc::LrScheduleKind::kStep;
  o.decay_after = 1;
  o.lr_decay = 0.5;
  expect_pieces_equal_straight(dir, o, 3);
  EXPECT_EQ(lrs_of(dir.file("pieces/metrics.csv")), (std::vector<double>{3e-3, 1.5e-3, 7.5e-4}));
  EXPECT_EQ(lrs_of(dir.file("straight/metrics.csv")), (std::vector<double>{3e-3, 1.5e-3, 7.5e-4}));
}

// The schedule reaches the optimizer: the same run at a constant lr ends elsewhere.
TEST(Resume, TheScheduleChangesTheTraining) {
  abc_test::ScratchDir dir("schedule_matters");
  std::ostringstream log;
  abc::TrainOptions constant = small_run(dir.file("constant"));
  abc::TrainOptions step = small_run(dir.file("step"));
  step.lr_schedule = abc::LrScheduleKind::kStep;
  step.decay_after = 1;
  step.lr_decay = 0.5;
  abc::train(constant, log, false);
  abc::train(step, log, false);
  const abc::Checkpoint a = abc::load_checkpoint(dir.file("constant/last.ckpt"));
  const abc::Checkpoint b = abc::load_checkpoint(dir.file("step/last.ckpt"));
  EXPECT_NE(a.params, b.params);
  // Epoch 1 has the same lr in both: the same first epoch, bit for bit.
  auto epoch_row = [](const std::string& metrics, int epoch) {
    std::istringstream in(metrics);
    std::string line;
    for (int k = 0; k <= epoch; ++k) std::getline(in, line);
    return line;
  };
  const std::string ca = losses_of(dir.file("constant/metrics.csv")), cb = losses_of(dir.file("step/metrics.csv"));
  EXPECT_EQ(epoch_row(ca, 1), epoch_row(cb, 1));
  EXPECT_EQ(lrs_of(dir.file("step/metrics.csv")), (std::vector<double>{3e-3, 1.5e-3}));
}

namespace {

// A run that cannot change its model: at lr 1e-30 every Adam step is far below half an
// ulp of every parameter, so the validation loss is the same every epoch and never
// improves after the first.
abc::TrainOptions frozen_run(const std::string& out, int epochs, int patience) {
  abc::TrainOptions o = small_run(out);
  o.epochs = epochs;
  o.adam.lr = 1e-30;
  o.patience = patience;
  return o;
}

int steps_per_epoch(const std::string& run) {
  const abc::Checkpoint c = abc::load_checkpoint(run + "/last.ckpt");
  return std::stoi(c.meta.at("global_step")) / (std::stoi(c.meta.at("epoch")) - 1);
}

}  // namespace

TEST(EarlyStop, StopsWhenTheValidationLossDoesNotImprove) {
  abc_test::ScratchDir dir("early_stop");
  std::ostringstream log;
  const abc::TrainResult r = abc::train(frozen_run(dir.file("run"), 6, 1), log, false);
  EXPECT_TRUE(r.stopped_early);
  EXPECT_EQ(r.epochs_run, 2) << log.str();
  EXPECT_EQ(r.best_epoch, 1);
  EXPECT_NE(log.str().find("stopping after epoch 2 of 6: the validation loss has not improved for 1 epoch "
                           "(--patience 1); best.ckpt holds the best"),
            std::string::npos)
      << log.str();
  const abc::Checkpoint best = abc::load_checkpoint(dir.file("run/best.ckpt"));
  EXPECT_EQ(best.meta.at("best_epoch"), "1");
  EXPECT_EQ(best.meta.at("epoch"), "2");  // written after epoch 1
  const abc::Checkpoint last = abc::load_checkpoint(dir.file("run/last.ckpt"));
  EXPECT_EQ(last.meta.at("epochs_since_best"), "1");
  EXPECT_EQ(lrs_of(dir.file("run/metrics.csv")).size(), 2u);

  // Without patience the same run trains every epoch.
  const abc::TrainResult all = abc::train(frozen_run(dir.file("all"), 4, 0), log, false);
  EXPECT_FALSE(all.stopped_early);
  EXPECT_EQ(all.epochs_run, 4);
}

TEST(EarlyStop, TheCounterSurvivesAResume) {
  abc_test::ScratchDir dir("early_stop_resume");
  std::ostringstream log;
  // Straight: best at epoch 1, no better at 2 and 3: patience 2 stops after epoch 3.
  const abc::TrainResult straight = abc::train(frozen_run(dir.file("straight"), 8, 2), log, false);
  ASSERT_TRUE(straight.stopped_early);
  ASSERT_EQ(straight.epochs_run, 3);
  const int steps = steps_per_epoch(dir.file("straight"));
  ASSERT_GT(steps, 2);

  // Stopped in epoch 3 (the counter is 1), resumed: still stops after epoch 3. With the
  // counter lost it would go on to epoch 4.
  abc::TrainOptions first = frozen_run(dir.file("pieces"), 8, 2);
  first.stop_after_steps = 2 * steps + 1;
  abc::train(first, log, false);
  EXPECT_EQ(abc::load_checkpoint(dir.file("pieces/last.ckpt")).meta.at("epochs_since_best"), "1");
  std::ostringstream resumed_log;
  const abc::TrainResult resumed = abc::train(resume(dir.file("pieces"), 0), resumed_log, false);
  EXPECT_TRUE(resumed.stopped_early);
  EXPECT_EQ(resumed.epochs_run, 3) << resumed_log.str();
  EXPECT_EQ(abc::load_checkpoint(dir.file("pieces/last.ckpt")).params,
            abc::load_checkpoint(dir.file("straight/last.ckpt")).params);

  // Resuming a run that patience ended does not train; a larger --patience goes on.
  std::ostringstream again;
  const abc::TrainResult still = abc::train(resume(dir.file("pieces"), 0), again, false);
  EXPECT_TRUE(still.stopped_early);
  EXPECT_EQ(still.epochs_run, 0);
  EXPECT_NE(again.str().find("not training: the validation loss has not improved for 2 epochs"), std::string::npos)
      << again.str();
  abc::TrainOptions more = resume(dir.file("pieces"), 0);
  more.patience_override = 3;
  const abc::TrainResult on = abc::train(more, log, false);
  EXPECT_TRUE(on.stopped_early);
  EXPECT_EQ(on.epochs_run, 4);
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

// A run from before the lr column: resuming it adds the column to the header, leaves the
// old rows' lr empty and writes the new rows with theirs.
TEST(Resume, AnOldMetricsFileGetsTheLrColumn) {
  abc_test::ScratchDir dir("old_metrics");
  std::ostringstream log;
  abc::TrainOptions o = small_run(dir.file("run"));
  o.epochs = 1;
  abc::train(o, log, false);
  std::istringstream in(abc_test::read_text(dir.file("run/metrics.csv")));
  std::string header, row;
  std::getline(in, header);
  std::getline(in, row);
  const std::string old_row = row.substr(0, row.rfind(','));
  {
    std::ofstream out(dir.file("run/metrics.csv"), std::ios::trunc);
    out << "epoch,train_loss,val_loss,chars_per_s,seconds\n" << old_row << "\n";
  }
  abc::TrainOptions more = resume(dir.file("run"), 0);
  more.epochs_override = 2;
  abc::train(more, log, false);
  std::istringstream now(abc_test::read_text(dir.file("run/metrics.csv")));
  std::getline(now, header);
  EXPECT_EQ(header, "epoch,train_loss,val_loss,chars_per_s,seconds,lr");
  std::getline(now, row);
  EXPECT_EQ(row, old_row + ",");
  std::getline(now, row);
  EXPECT_EQ(row.substr(0, 2), "2,");
  EXPECT_EQ(row.substr(row.rfind(',') + 1), "0.003");
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
