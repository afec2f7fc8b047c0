// abc_cuda_train: train an LSTM or tanh RNN on ABC tunes. Thin: flags -> TrainOptions.
#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "abc/cli.hpp"
#include "abc/device_options.hpp"
#include "abc/trainer.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "Train a character-level LSTM or tanh RNN on ABC tunes (teacher forcing, B parallel streams,\n"
      "hidden state carried between chunks of T characters). With no --data it trains on the\n"
      "default corpus (tools/fetch_corpus.sh, then abc_cuda_corpus). Writes config.txt,\n"
      "metrics.csv, best.ckpt and last.ckpt into the run folder and points runs/latest at it."};
  app.name("abc_cuda_train");
  abc::TrainOptions o;
  std::string cell = "lstm";
  app.add_option("--cell", cell, "Recurrent cell")->check(CLI::IsMember(abc::cell_names()))->capture_default_str();
  app.add_option("--hidden", o.model.hidden, "Hidden units per layer (required unless --resume or --init-from)")->check(CLI::Range(1, 8192));
  app.add_option("--layers", o.model.layers, "Recurrent layers")->check(CLI::Range(1, 16))->capture_default_str();
  o.model.dropout = 0.1f;
  app.add_option("--dropout", o.model.dropout, "Dropout on each layer's output, in [0, 1)")
      ->check(CLI::Range(0.0f, 0.95f))->capture_default_str();
  app.add_option("--seq", o.seq, "Chunk length T (characters per stream per step)")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--batch", o.batch, "Parallel streams B")->check(CLI::Range(1, 65536))->capture_default_str();
  app.add_option("--epochs", o.epochs, "Passes over the training text")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--lr", o.adam.lr, "Adam learning rate (the first epoch's, with a schedule)")
      ->check(CLI::Range(1e-7f, 1.0f))->capture_default_str();
  std::string schedule = "constant";
  app.add_option("--lr-schedule", schedule,
                 "Learning rate per epoch: constant; step (times --lr-decay each epoch after --decay-after); "
                 "cosine (from --lr at the first epoch to --lr/100 at the last)")
      ->check(CLI::IsMember({"constant", "cosine", "step"}))->capture_default_str();
  // (0, 1]: a factor of 0 would stop training, one above 1 would raise the lr.
  const CLI::Validator decay_range(
      [](std::string& text) {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (end == text.c_str() || *end != '\0' || !(v > 0 && v <= 1)) return "Value " + text + " not in (0, 1]";
        return std::string();
      },
      "in (0, 1]");
  app.add_option("--lr-decay", o.lr_decay, "--lr-schedule step: factor applied to the lr once per epoch")
      ->check(decay_range)->capture_default_str();
  app.add_option("--decay-after", o.decay_after, "--lr-schedule step: epochs at the full --lr before decaying")
      ->check(CLI::Range(0, 100000))->capture_default_str();
  app.add_option("--patience", o.patience,
                 "Stop when the validation loss has not improved for this many epochs (0 = never stop early)")
      ->check(CLI::Range(0, 100000))->capture_default_str();
  app.add_option("--clip", o.adam.clip, "Clip gradients to this global norm (0 = off)")->check(CLI::Range(0.0f, 1e6f))->capture_default_str();
  app.add_option("--seed", o.seed, "Seed of init, split, shuffles and dropout")->capture_default_str();
  app.add_option("--data", o.data, ".abc files, folders or <start>/<end> text (cleaned by the corpus builder)")
      ->check(CLI::ExistingPath);
  app.add_option("--val", o.val, "Validation tunes (default: 10% of --data, or the default corpus's val.txt)")
      ->check(CLI::ExistingPath);
  abc::add_device_options(app, o.compute);
  app.add_option("--out", o.out_dir, "Run folder (default: runs/<date-time>-<cell>-h<H>)");
  app.add_option("--max-minutes", o.max_minutes, "Stop after the epoch that passes this much training time")
      ->check(CLI::Range(0.0, 1e6));
  app.add_option("--init-from", o.init_from,
                 "Fine-tune: start a new run from this checkpoint's weights (a run folder means its best.ckpt), "
                 "with a fresh optimizer; cell, hidden, layers and vocabulary come from the checkpoint")
      ->check(CLI::ExistingPath);
  app.add_option("--resume", o.resume_dir,
                 "Continue the run in this folder from its last.ckpt (its settings; --epochs may raise the total)")
      ->check(CLI::ExistingDirectory);
  app.add_option("--stop-after-steps", o.stop_after_steps,
                 "Developer option: write a checkpoint and stop after this many steps, as an interrupt would")
      ->check(CLI::Range(1, 1 << 30))->group("Developer");
  return abc::run_cli(app, argc, argv, [&] {
    if (!o.resume_dir.empty() && !o.init_from.empty()) {
      throw abc::Error("--init-from starts a new run from a checkpoint's weights, --resume continues a run: give one "
                       "of them",
                       abc::kExitUsage);
    }
    if (!o.resume_dir.empty()) {
      for (const char* flag : {"--cell", "--hidden", "--layers", "--dropout", "--seq", "--batch", "--lr", "--clip",
                               "--seed", "--data", "--val", "--out", "--lr-schedule", "--lr-decay", "--decay-after"}) {
        if (app.count(flag)) {
          throw abc::Error(std::string("--resume takes the run's own settings: drop ") + flag +
                               " (only --epochs, --patience, --device, --backend and --max-minutes go with --resume)",
                           abc::kExitUsage);
        }
      }
      if (app.count("--epochs")) o.epochs_override = o.epochs;
      if (app.count("--patience")) o.patience_override = o.patience;
    } else if (!app.count("--hidden") && o.init_from.empty()) {
      throw abc::Error("--hidden is required (for example --hidden 100), unless you --resume a run or fine-tune "
                       "with --init-from",
                       abc::kExitUsage);
    }
    o.lr_schedule = abc::parse_lr_schedule(schedule);
    if (o.lr_schedule != abc::LrScheduleKind::kStep) {
      for (const char* flag : {"--lr-decay", "--decay-after"}) {
        if (app.count(flag)) {
          throw abc::Error(std::string(flag) + " applies to --lr-schedule step only (this run's schedule is " +
                               schedule + ")",
                           abc::kExitUsage);
        }
      }
    }
    o.model_given.cell = app.count("--cell") > 0;
    o.model_given.hidden = app.count("--hidden") > 0;
    o.model_given.layers = app.count("--layers") > 0;
    o.model.cell = abc::parse_cell_kind(cell);
    const abc::TrainResult result = abc::train(o, std::cerr, isatty(STDERR_FILENO) != 0);
    // The shell's convention for a process ended by a signal: 128 + its number.
    return result.stopped_by_signal ? 128 + result.stopped_by_signal : abc::kExitOk;
  });
}
