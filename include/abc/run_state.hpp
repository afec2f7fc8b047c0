// The trainer's record of a run: the run folder and everything it holds. The one place
// that names the metadata a checkpoint carries (the run's settings, where training
// stands, the early-stopping record), writes last.ckpt, best.ckpt, config.txt and
// metrics.csv, reads a run back for --resume, and prints the progress lines.
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <string>
#include <vector>

#include "abc/checkpoint.hpp"
#include "abc/schedule.hpp"
#include "abc/trainer.hpp"

namespace abc {

class Backend;

// Where training stands; a checkpoint records it, so a resumed run goes on exactly there.
struct RunPosition {
  int epoch = 1;                  // the epoch in progress
  int step = 0;                   // steps of it already taken (the hidden state is saved when > 0)
  std::uint64_t global_step = 0;  // steps since the run began (the dropout masks' counter)
  double loss_sum = 0;            // summed step losses of the epoch so far
  double seconds = 0;             // training time of the epoch so far
};

// What a run records beside its TrainOptions, known once the data is read.
struct RunSettings {
  int batch = 0, seq = 0;  // as trained: a short text shrinks the requested ones
  std::string device;      // make_backend's name: cpu, cuda or cudnn
  std::string data;        // the training text, in words
  std::string init_from;   // a fine-tuned run's starting checkpoint (absolute; empty: none)
  std::string init_vocab;  // that checkpoint's vocabulary (Vocab::serialize), which the run's extends
};

// One finished epoch, as the epoch line and metrics.csv show it.
struct EpochReport {
  int epoch = 0;
  double train_loss = 0, val_loss = 0;  // nats per character
  double lr = 0;
  double chars_per_second = 0;  // training throughput of this process's part of the epoch
  double seconds = 0;           // training time of the whole epoch
};

class RunState {
 public:
  // --resume: the settings of the run whose last.ckpt is `last` (in folder `dir`), with the
  // few that `flags` may change (--epochs, --patience, --device, ...). Throws abc::Error
  // when the checkpoint lacks what resuming needs.
  static TrainOptions resumed_options(const Checkpoint& last, const std::string& dir, const TrainOptions& flags);
  // --resume of a fine-tuned run: the starting checkpoint and vocabulary it recorded into
  // settings.init_from and init_vocab (left empty when it was not fine-tuned).
  static void resumed_origin(const Checkpoint& last, const std::string& dir, RunSettings& settings);

  // Creates the run folder; a new run refuses one that already holds a run.
  RunState(const std::filesystem::path& dir, bool resuming, std::ostream& log, bool live);

  const std::filesystem::path& dir() const { return dir_; }

  // Checks that the disk holds the checkpoints, writes config.txt (the settings and each
  // epoch's lr) and opens metrics.csv (appending when resuming). Before any save().
  void begin(const TrainOptions& options, const RunSettings& settings, const ModelConfig& config, const Vocab& vocab,
             const LrSchedule& schedule, std::size_t num_params);
  // --resume: uploads last.ckpt's parameters, Adam moments and step count, takes its
  // early-stopping record and returns where it stopped (its hidden state stays in `last`).
  RunPosition restore(Backend& model, const Checkpoint& last);
  // Writes <dir>/name: the model, Adam's moments, the settings, `at` and the early-stopping
  // record (the hidden state too when at.step > 0).
  void save(const std::string& name, Backend& model, const RunPosition& at);
  // Points <parent of dir>/latest at this run.
  void point_latest_at() const;

  // The epoch line, the metrics.csv row, best.ckpt when the epoch is the best so far and
  // last.ckpt ready for the next epoch.
  void end_epoch(Backend& model, const EpochReport& e, std::uint64_t global_step);
  // A signal or --stop-after-steps stops the run mid-epoch: last.ckpt at `at`, and how to go on.
  void stop_mid_epoch(Backend& model, const RunPosition& at, int signal, int steps_this_run);

  // Progress lines on the log.
  void report_step(int epoch, int step, int steps, double loss, double chars_per_second, double eta_seconds) const;
  void report_done(double seconds) const;
  // Why --patience ends (or does not start) training.
  std::string patience_reason() const;

  bool live() const { return live_; }  // the log is a terminal: one progress line, rewritten
  EarlyStopping early;                 // the validation record that best.ckpt and --patience follow

 private:
  std::filesystem::path dir_;
  bool resuming_;
  std::ostream& log_;
  bool live_;
  int epochs_ = 0;
  std::map<std::string, std::string> settings_;  // every checkpoint's meta starts as this
  Checkpoint ckpt_;                              // reused by every save
  std::ofstream metrics_;
};

}  // namespace abc
