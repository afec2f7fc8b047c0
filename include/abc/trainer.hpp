// Training loop: data -> vocabulary -> batcher -> model step -> Adam, with
// validation every epoch, metrics.csv, best/last checkpoints and runs/latest.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "abc/checkpoint.hpp"
#include "abc/device_options.hpp"
#include "abc/model.hpp"
#include "abc/optimizer.hpp"
#include "abc/schedule.hpp"
#include "abc/vocab.hpp"

namespace abc {

// Defaults chosen on the default corpus with LSTM H=100 (README, "Choosing the defaults").
inline AdamConfig default_adam() {
  AdamConfig adam;
  adam.lr = 3e-3;
  adam.clip = 5;
  return adam;
}

struct TrainOptions {
  ModelConfig model;             // vocab is filled in from the data
  int seq = 100;                 // chunk length T
  int batch = 16;                // parallel streams B
  int epochs = 20;
  AdamConfig adam = default_adam();  // lr 3e-3 (the schedule's first), clip 5
  LrScheduleKind lr_schedule = LrScheduleKind::kConstant;  // schedule.hpp
  double lr_decay = kDefaultLrDecay;       // step schedule: factor per epoch, in (0, 1]
  int decay_after = kDefaultDecayAfter;    // step schedule: epochs at the full lr
  int lr_schedule_epochs = 0;              // cosine's span; 0 = epochs (a resumed run keeps its own)
  int patience = 0;                        // stop after this many epochs without a better val loss (0 = never)
  std::uint64_t seed = 1;        // init, split, shuffles, dropout
  std::vector<std::string> data; // files/folders; empty = the default corpus
  std::vector<std::string> val;  // validation files/folders; empty = split from data
  DeviceOptions compute;         // --device auto|cpu|cuda, --backend ours|cudnn
  std::string out_dir;           // empty = <runs>/<date-time>-<cell>-h<H>
  double max_minutes = 0;        // stop after this much training time (0 = no limit)
  std::string resume_dir;        // continue this run from its last.ckpt (settings come from it)
  int epochs_override = 0;       // with resume_dir: train to this many epochs instead
  int patience_override = -1;    // with resume_dir: this --patience instead of the run's (-1: keep)
  // Fine-tuning: start a new run from this checkpoint's weights (a file, or a run folder
  // meaning its best.ckpt) with a fresh optimizer; cell, hidden, layers and vocabulary come
  // from it. Characters of the new data the checkpoint lacks get fresh rows.
  std::string init_from;
  // Which model settings the command line gave: with init_from, each must agree with the
  // checkpoint's (a usage error otherwise); the others are taken from it.
  struct ModelFlags {
    bool cell = false, hidden = false, layers = false;
  } model_given;
  int stop_after_steps = 0;      // write a checkpoint and return after this many steps (tests)
  bool prepare_only = false;     // set the run up, write last.ckpt as training would start, return (tests)
};

struct TrainResult {
  std::string run_dir;
  int epochs_run = 0;
  int best_epoch = 0;
  double best_val_loss = 0;      // nats per character
  double last_train_loss = 0;
  double seconds = 0;
  double chars_per_second = 0;   // training throughput of the last epoch
  int stopped_by_signal = 0;     // SIGINT/SIGTERM that interrupted the run (0: none)
  bool stopped_early = false;    // --patience ended it before --epochs
  double last_lr = 0;            // the lr of the last epoch trained
};

// Fine-tuning (TrainOptions::init_from): the checkpoint file a path names (a run folder
// means its best.ckpt). Throws abc::Error naming the path when there is none.
std::string init_checkpoint_path(const std::string& path);
// The fine-tuned model's vocabulary: the checkpoint's characters plus those of the new
// training text (ids by byte value, as always). `added` receives the new ones.
Vocab extend_vocab(const Vocab& base, const std::string& tagged_text, std::string* added = nullptr);
// The first parameter block of a fine-tuned model `config` (config.vocab = vocab.size(),
// cell/hidden/layers the checkpoint's): every tensor the checkpoint's, with the rows of
// the input table and the columns of the output layer moved to each token's id in
// `vocab`; tokens the checkpoint lacks keep init_param_block(layout, seed)'s values, as a
// new model of this shape would start.
std::vector<float> fine_tune_params(const Checkpoint& base, const Vocab& vocab, const ModelConfig& config,
                                    std::uint64_t seed);

class Backend;
class SequentialBatcher;
struct Chunk;
// Mean nats per character over a whole text in order, state carried from chunk to
// chunk, no dropout: the trainer's validation loss (abc_cuda_eval uses it too).
double text_loss(Backend& model, SequentialBatcher& text, Chunk& chunk);

// Runs training; progress goes to `log` (a live line when `live` is true, plain lines
// otherwise). Throws abc::Error on bad data, a non-finite loss, or I/O failure.
TrainResult train(const TrainOptions& options, std::ostream& log, bool live);

}  // namespace abc
