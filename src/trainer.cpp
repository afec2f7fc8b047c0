#include "abc/trainer.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <iterator>
#include <memory>

#include "abc/batcher.hpp"
#include "abc/backend.hpp"
#include "abc/checkpoint.hpp"
#include "abc/corpus.hpp"
#include "abc/error.hpp"
#include "abc/io.hpp"
#include "abc/paths.hpp"
#include "abc/run_state.hpp"
#include "abc/vocab.hpp"

namespace fs = std::filesystem;

namespace abc {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct TrainingText {
  std::string train, val;
  std::string description;
};

TrainingText load_texts(const TrainOptions& o, std::ostream& log) {
  TrainingText texts;
  if (o.data.empty()) {
    if (!o.val.empty()) throw Error("--val needs --data (the default corpus has its own val.txt)", kExitUsage);
    const std::string dir = default_corpus_dir();
    const std::string train = dir + "/train.txt", val = dir + "/val.txt";
    if (!fs::exists(train) || !fs::exists(val)) {
      throw Error("the default corpus is not built (" + train +
                  " missing): run tools/fetch_corpus.sh and build/abc_cuda_corpus, or pass --data FILES");
    }
    texts.train = read_file(train);
    texts.val = read_file(val);
    texts.description = "default corpus " + dir;
    return texts;
  }
  CorpusOptions copts;
  copts.seed = o.seed;
  const Corpus data = build_corpus(o.data, copts);
  int kept = 0;
  for (const auto& s : data.sources) kept += s.kept;
  if (kept < 1) throw Error("--data: no playable tunes left after cleaning");
  if (o.val.empty()) {
    if (data.tunes.size() < 2) throw Error("--data: need at least 2 tunes to split off a validation part (or pass --val)");
    const Split split = split_tunes(data.tunes, 0.1, 0.0, o.seed);
    texts.train = to_tagged_text(split.train);
    texts.val = to_tagged_text(split.val);
    texts.description = std::to_string(split.train.size()) + " train / " + std::to_string(split.val.size()) +
                        " val tunes from --data";
  } else {
    std::vector<std::string> train_tunes;
    for (const auto& t : data.tunes) train_tunes.push_back(t.text);
    const Corpus val = build_corpus(o.val, copts);
    std::vector<std::string> val_tunes;
    for (const auto& t : val.tunes) val_tunes.push_back(t.text);
    if (val_tunes.empty()) throw Error("--val: no playable tunes left after cleaning");
    texts.train = to_tagged_text(train_tunes);
    texts.val = to_tagged_text(val_tunes);
    texts.description = std::to_string(train_tunes.size()) + " train tunes from --data, " +
                        std::to_string(val_tunes.size()) + " val tunes from --val";
  }
  log << "data: " << format_report(data);
  return texts;
}

std::string default_run_name(const ModelConfig& m) {
  const std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  return std::string(stamp) + "-" + cell_kind_name(m.cell) + "-h" + std::to_string(m.hidden);
}

// Checks the command line's model flags against the checkpoint that --init-from names.
void check_model_flags(const ModelConfig& base, const TrainOptions& o, const std::string& path) {
  auto contradiction = [&](const std::string& flag, const std::string& given, const std::string& what,
                           const std::string& theirs) {
    throw Error(flag + " " + given + " contradicts the checkpoint's " + what + " " + theirs + " (" + path +
                    "): a fine-tuned model keeps the checkpoint's; drop " + flag,
                kExitUsage);
  };
  if (o.model_given.cell && o.model.cell != base.cell) {
    contradiction("--cell", cell_kind_name(o.model.cell), "cell", cell_kind_name(base.cell));
  }
  if (o.model_given.hidden && o.model.hidden != base.hidden) {
    contradiction("--hidden", std::to_string(o.model.hidden), "hidden size", std::to_string(base.hidden));
  }
  if (o.model_given.layers && o.model.layers != base.layers) {
    contradiction("--layers", std::to_string(o.model.layers), "layer count", std::to_string(base.layers));
  }
}

// SIGINT/SIGTERM during training: the handler only records the signal; the loop
// finishes its step, writes a checkpoint and returns. The old handlers come back after.
std::atomic<int> g_stop_signal{0};
extern "C" void record_stop_signal(int signal) { g_stop_signal = signal; }

class StopSignals {
 public:
  StopSignals() {
    g_stop_signal = 0;
    struct sigaction action {};
    action.sa_handler = record_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &old_int_);
    sigaction(SIGTERM, &action, &old_term_);
  }
  ~StopSignals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  int pending() const { return g_stop_signal.load(); }

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

enum class Start { kFresh, kResume, kFineTune };

// The options a run trains with and where its first weights come from, all checked
// before anything is written.
struct RunStart {
  Start kind = Start::kFresh;
  TrainOptions options;  // the flags, or (resume) the run's own settings
  LrSchedule schedule;
  Checkpoint from;        // resume: the run's last.ckpt; fine-tune: the starting checkpoint
  std::string from_path;  // fine-tune: that checkpoint's file
};

RunStart resolve_start(const TrainOptions& requested) {
  const bool resuming = !requested.resume_dir.empty();
  const bool fine_tuning = !requested.init_from.empty();
  if (resuming && fine_tuning) {
    throw Error("--init-from starts a new run from a checkpoint's weights, --resume continues a run: give one of them",
                kExitUsage);
  }
  RunStart start;
  start.options = requested;
  TrainOptions& o = start.options;
  if (resuming) {  // the run's settings from its last checkpoint, not from the flags
    start.kind = Start::kResume;
    const std::string path = (fs::path(requested.resume_dir) / "last.ckpt").string();
    if (!fs::exists(path)) throw file_error(requested.resume_dir, "no last.ckpt here: not a run folder to resume");
    start.from = load_checkpoint(path);
    o = RunState::resumed_options(start.from, requested.resume_dir, requested);
  } else if (fine_tuning) {  // the model's shape (and later its vocabulary) from the checkpoint
    start.kind = Start::kFineTune;
    start.from_path = init_checkpoint_path(requested.init_from);
    try {
      start.from = load_checkpoint(start.from_path);
    } catch (const Error& e) {
      throw Error("--init-from " + std::string(e.what()), e.exit_code());
    }
    check_model_flags(start.from.model, requested, start.from_path);
    o.model.cell = start.from.model.cell;
    o.model.hidden = start.from.model.hidden;
    o.model.layers = start.from.model.layers;
  }
  LrSchedule& schedule = start.schedule;
  schedule.kind = o.lr_schedule;
  schedule.lr = o.adam.lr;
  schedule.decay = o.lr_decay;
  schedule.decay_after = o.decay_after;
  schedule.epochs = o.lr_schedule_epochs > 0 ? o.lr_schedule_epochs : o.epochs;
  validate(schedule);
  o.lr_schedule_epochs = schedule.epochs;
  if (o.patience < 0) throw Error("--patience must be 0 or more", kExitUsage);
  return start;
}

// The tokens to train and validate on, their vocabulary, the model's shape and the
// settings the run records.
struct TrainingData {
  Vocab vocab;
  ModelConfig config;
  std::vector<TokenId> train, val;
  RunSettings settings;  // all but the device
};

TrainingData load_training_data(const RunStart& start, std::ostream& log) {
  const TrainOptions& options = start.options;
  const TrainingText texts = load_texts(options, log);
  TrainingData d;
  d.settings.data = texts.description;
  // A fine-tuned run's vocabulary is its checkpoint's plus the new data's characters (on
  // resume: the starting checkpoint's, which the run recorded, plus the data's).
  if (start.kind == Start::kFineTune) {
    d.settings.init_from = fs::absolute(start.from_path).string();
    d.settings.init_vocab = start.from.vocab.serialize();
  } else if (start.kind == Start::kResume) {
    RunState::resumed_origin(start.from, options.out_dir, d.settings);
  }
  std::string added;
  d.vocab = d.settings.init_from.empty() ? Vocab::from_text(texts.train)
                                         : extend_vocab(Vocab::deserialize(d.settings.init_vocab), texts.train, &added);
  if (start.kind == Start::kFineTune && !added.empty()) {
    std::string list;
    for (char c : added) list += (list.empty() ? "" : " ") + shown_char(c);
    log << "note: the new data has " << added.size() << " character" << (added.size() == 1 ? "" : "s")
        << " the checkpoint's vocabulary lacks (" << list << (added.size() == 1 ? "): it gets" : "): they get")
        << " fresh rows in the input table and the output layer\n";
  }
  if (start.kind == Start::kResume && !(d.vocab == start.from.vocab)) {
    throw Error(
        "--resume: the training text changed since the run started (its characters differ); "
        "resume needs the same data");
  }
  std::size_t val_unknown = 0;
  d.train = d.vocab.encode(texts.train);
  d.val = d.vocab.encode(texts.val, &val_unknown);
  d.config = options.model;
  d.config.vocab = d.vocab.size();
  validate(d.config);
  log << "data: " << texts.description << ": " << d.train.size() << " train / " << d.val.size()
      << " val tokens, vocabulary " << d.vocab.size() << "\n";
  if (val_unknown)
    log << "note: " << val_unknown << " validation characters are not in the training vocabulary and are skipped\n";

  // A small corpus (your own handful of tunes) still trains with the default shape:
  // fewer streams first, then shorter chunks.
  int batch = options.batch, seq = options.seq;
  const auto n_train = static_cast<std::int64_t>(d.train.size());
  if (n_train < 3) throw Error("the training text has fewer than 3 tokens: give it at least one tune");
  if (n_train / batch < seq + 1) {
    batch = static_cast<int>(std::max<std::int64_t>(1, n_train / (seq + 1)));
    if (n_train / batch < seq + 1) seq = static_cast<int>(n_train / batch - 1);
    log << "note: the training text is short (" << n_train << " tokens): using B=" << batch << ", T=" << seq << "\n";
  }
  d.settings.batch = batch;
  d.settings.seq = seq;
  return d;
}

fs::path run_folder(const TrainOptions& o, const ModelConfig& config) {
  return fs::absolute(o.out_dir.empty() ? fs::path(default_runs_dir()) / default_run_name(config)
                                        : fs::path(o.out_dir));
}

// The model's first weights: a new model's, a fine-tuned one's, or (resume) exactly
// where the run's last checkpoint left off, optimizer and position included.
RunPosition first_weights(const RunStart& start, const TrainingData& data, RunState& run, Backend& model,
                          std::ostream& log) {
  if (start.kind == Start::kResume) return run.restore(model, start.from);
  std::vector<float> init(model.num_params());
  if (start.kind == Start::kFineTune) {
    init = fine_tune_params(start.from, data.vocab, data.config, start.options.seed);
    log << "fine-tuning from " << start.from_path << " (" << cell_kind_name(data.config.cell)
        << " H=" << data.config.hidden << " layers=" << data.config.layers << ", vocabulary " << start.from.vocab.size()
        << " -> " << data.vocab.size() << "), a fresh optimizer\n";
  } else {
    init_param_block(model.layout(), start.options.seed, init.data());
  }
  model.upload_params(init.data());
  return RunPosition{};
}

// The epochs from where the run stands on: train, validate, checkpoint, until --epochs,
// --patience, --max-minutes, a signal or --stop-after-steps ends the run.
class EpochLoop {
 public:
  EpochLoop(const RunStart& start, const TrainingData& data, Backend& model, TrainBatcher& batcher,
            SequentialBatcher& val, RunState& run)
      : options_(start.options),
        schedule_(start.schedule),
        resume_state_(start.from.state),
        data_(data),
        model_(model),
        batcher_(batcher),
        val_(val),
        run_(run) {}

  TrainResult run(RunPosition at, std::ostream& log);
  // What the run has done so far.
  TrainResult result() const;

 private:
  // Trains the rest of epoch at.epoch; false when a signal or --stop-after-steps stopped
  // the run inside it (last.ckpt then holds that step).
  bool train_epoch(RunPosition& at, const StopSignals& signals, EpochReport& report);
  // Adds the losses the device has summed since the last call: the only point where
  // training waits for the device.
  void collect_losses(RunPosition& at);

  const TrainOptions& options_;
  const LrSchedule& schedule_;
  const std::vector<float>& resume_state_;  // the hidden state where a resumed run stopped mid-epoch
  const TrainingData& data_;
  Backend& model_;
  TrainBatcher& batcher_;
  SequentialBatcher& val_;
  RunState& run_;
  TrainResult result_;
  Chunk chunk_;
  int steps_this_run_ = 0;
  double train_seconds_ = 0;  // this process's, for --max-minutes
};

TrainResult EpochLoop::result() const {
  TrainResult r = result_;
  r.run_dir = run_.dir().string();
  r.best_val_loss = run_.early.best;
  r.best_epoch = run_.early.best_epoch;
  return r;
}

TrainResult EpochLoop::run(RunPosition at, std::ostream& log) {
  // A run that --patience already ended stays ended (a larger --patience, or 0, goes on).
  if (run_.early.should_stop() && at.epoch <= options_.epochs) {
    log << "not training: " << run_.patience_reason() << "; resume with a larger --patience (0: off) to go on\n";
    result_.stopped_early = true;
    at.epoch = options_.epochs + 1;
  }
  const ModelConfig& config = data_.config;
  log << "training " << cell_kind_name(config.cell) << " H=" << config.hidden << " layers=" << config.layers
      << " dropout=" << config.dropout << " on " << data_.settings.device << ": " << model_.num_params()
      << " parameters, " << options_.epochs << " epochs of " << batcher_.steps_per_epoch()
      << " steps (B=" << data_.settings.batch << ", T=" << data_.settings.seq << "), run folder " << run_.dir().string()
      << "\n";
  log.flush();

  const StopSignals signals;
  const auto run_start = Clock::now();
  for (; at.epoch <= options_.epochs; at = RunPosition{at.epoch + 1, 0, at.global_step, 0, 0}) {
    EpochReport e;
    if (!train_epoch(at, signals, e)) {
      result_.seconds = seconds_since(run_start);
      return result();
    }
    e.val_loss = text_loss(model_, val_, chunk_);
    run_.end_epoch(model_, e, at.global_step);
    result_.epochs_run = e.epoch;
    result_.last_train_loss = e.train_loss;
    result_.chars_per_second = e.chars_per_second;
    result_.last_lr = e.lr;
    if (run_.early.should_stop() && e.epoch < options_.epochs) {
      log << "stopping after epoch " << e.epoch << " of " << options_.epochs << ": " << run_.patience_reason() << "\n";
      result_.stopped_early = true;
      break;
    }
    if (options_.max_minutes > 0 && train_seconds_ > options_.max_minutes * 60 && e.epoch < options_.epochs) {
      log << "stopping after epoch " << e.epoch << ": --max-minutes " << options_.max_minutes << " reached\n";
      break;
    }
  }
  result_.seconds = seconds_since(run_start);
  run_.report_done(result_.seconds);
  return result();
}

bool EpochLoop::train_epoch(RunPosition& at, const StopSignals& signals, EpochReport& report) {
  const double lr = lr_for_epoch(schedule_, at.epoch);
  model_.set_lr(lr);
  batcher_.start_epoch(at.epoch - 1);
  model_.reset_state();
  const int stopped_at = at.step;
  at.step = 0;
  if (stopped_at > 0) {  // back to the chunk and the hidden state a resumed run stopped at
    while (at.step < stopped_at && batcher_.next(chunk_)) ++at.step;
    model_.upload_state(resume_state_.data());
  }
  const int step_at_start = at.step;
  const double seconds_before = at.seconds;
  const int steps = batcher_.steps_per_epoch();
  const double tokens_per_step = static_cast<double>(data_.settings.seq) * data_.settings.batch;
  const auto epoch_start = Clock::now();
  auto last_report = epoch_start;
  while (batcher_.next(chunk_)) {
    model_.forward_backward(chunk_, options_.seed, at.global_step);
    try {
      model_.optimizer_step();
    } catch (const Error& e) {
      throw Error(std::string(e.what()) + " (epoch " + std::to_string(at.epoch) + " step " +
                  std::to_string(at.step + 1) + "); the last good checkpoint is in " + run_.dir().string());
    }
    ++at.step;
    ++at.global_step;
    ++steps_this_run_;
    const int signal = signals.pending();
    if (signal || (options_.stop_after_steps > 0 && steps_this_run_ >= options_.stop_after_steps)) {
      collect_losses(at);
      at.seconds = seconds_before + seconds_since(epoch_start);
      run_.stop_mid_epoch(model_, at, signal, steps_this_run_);
      result_.stopped_by_signal = signal;
      return false;
    }
    const bool report_now = run_.live() ? seconds_since(last_report) > 0.25 || at.step == steps
                                        : at.step % std::max(1, steps / 4) == 0 && at.step != steps;
    if (report_now) {
      collect_losses(at);
      const double elapsed = seconds_since(epoch_start);
      last_report = Clock::now();
      const int done = at.step - step_at_start;
      const double per_step = elapsed / done;
      const double eta = (steps - at.step) * per_step + (options_.epochs - at.epoch) * steps * per_step;
      run_.report_step(at.epoch, at.step, steps, at.loss_sum / at.step, done * tokens_per_step / elapsed, eta);
    }
  }
  collect_losses(at);
  const double run_seconds = seconds_since(epoch_start);
  train_seconds_ += run_seconds;
  report.epoch = at.epoch;
  report.train_loss = at.loss_sum / at.step;
  report.lr = lr;
  report.chars_per_second = (at.step - step_at_start) * tokens_per_step / std::max(run_seconds, 1e-9);
  report.seconds = seconds_before + run_seconds;
  return true;
}

void EpochLoop::collect_losses(RunPosition& at) {
  const Backend::LossReport r = model_.take_losses();
  at.loss_sum += r.sum;
  if (r.nonfinite || !std::isfinite(r.sum)) {
    throw Error("loss or gradient became non-finite by epoch " + std::to_string(at.epoch) + " step " +
                std::to_string(at.step) + ": lower --lr or --clip; the last good checkpoint is in " +
                run_.dir().string());
  }
}

}  // namespace

double text_loss(Backend& model, SequentialBatcher& text, Chunk& chunk) {
  model.reset_state();
  text.restart();
  double nats = 0;
  while (text.next(chunk)) nats += model.evaluate(chunk);
  model.reset_state();
  return nats / static_cast<double>(text.predicted_tokens());
}

std::string init_checkpoint_path(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const fs::path best = fs::path(path) / "best.ckpt";
    if (!fs::exists(best, ec)) {
      throw file_error(path, "no best.ckpt here: --init-from takes a checkpoint file or a run folder with a best.ckpt");
    }
    return best.string();
  }
  return path;
}

Vocab extend_vocab(const Vocab& base, const std::string& tagged_text, std::string* added) {
  const std::string have = base.serialize();
  const std::string text_chars = Vocab::from_text(tagged_text).serialize();
  std::string all, extra;
  std::set_union(have.begin(), have.end(), text_chars.begin(), text_chars.end(), std::back_inserter(all),
                 [](char a, char b) { return static_cast<unsigned char>(a) < static_cast<unsigned char>(b); });
  for (char c : text_chars) {
    if (base.id_of(c) < 0) extra += c;
  }
  if (added) *added = extra;
  return Vocab::deserialize(all);
}

std::vector<float> fine_tune_params(const Checkpoint& base, const Vocab& vocab, const ModelConfig& config,
                                    std::uint64_t seed) {
  const ParamLayout layout(config), from(base.model);
  if (config.cell != base.model.cell || config.hidden != base.model.hidden || config.layers != base.model.layers ||
      config.vocab != vocab.size()) {
    throw Error("internal: the fine-tuned model's shape does not match its checkpoint");
  }
  // The token of each id in `vocab` -> its id in the checkpoint (-1: a new character).
  std::vector<int> old_id(static_cast<std::size_t>(vocab.size()), -1);
  old_id[Vocab::kStart] = Vocab::kStart;
  old_id[Vocab::kEnd] = Vocab::kEnd;
  for (TokenId id = 2; id < vocab.size(); ++id) old_id[static_cast<std::size_t>(id)] = base.vocab.id_of(vocab.token_text(id)[0]);

  std::vector<float> block(layout.total());
  init_param_block(layout, seed, block.data());  // what new tokens keep
  const float* src = base.params.data();
  for (std::size_t t = 0; t < layout.tensors().size(); ++t) {
    const ParamTensor& to = layout.tensors()[t];
    const ParamTensor& was = from.tensors()[t];
    float* dst = block.data() + to.offset;
    const float* old = src + was.offset;
    if (to.name == layout.layer(0).w_in.name) {  // [V, G*H]: one row per token
      for (int v = 0; v < to.rows; ++v) {
        const int o = old_id[static_cast<std::size_t>(v)];
        if (o >= 0) std::copy(old + static_cast<std::size_t>(o) * to.cols, old + static_cast<std::size_t>(o + 1) * to.cols,
                              dst + static_cast<std::size_t>(v) * to.cols);
      }
    } else if (to.name == layout.w_out().name) {  // [H, V]: one column per token
      for (int r = 0; r < to.rows; ++r) {
        for (int v = 0; v < to.cols; ++v) {
          const int o = old_id[static_cast<std::size_t>(v)];
          if (o >= 0) dst[static_cast<std::size_t>(r) * to.cols + v] = old[static_cast<std::size_t>(r) * was.cols + o];
        }
      }
    } else if (to.name == layout.b_out().name) {  // [V]
      for (int v = 0; v < to.cols; ++v) {
        const int o = old_id[static_cast<std::size_t>(v)];
        if (o >= 0) dst[v] = old[o];
      }
    } else {  // the recurrent layers above the table: the same shape
      std::copy(old, old + was.size(), dst);
    }
  }
  return block;
}

TrainResult train(const TrainOptions& requested, std::ostream& log, bool live) {
  const RunStart start = resolve_start(requested);
  const TrainOptions& options = start.options;
  const ResolvedDevice device = resolve_device(options.compute);
  if (!device.notice.empty()) log << "note: " << device.notice << "\n";
  log << device.summary() << "\n";
  TrainingData data = load_training_data(start, log);
  data.settings.device = device.backend;
  TrainBatcher batcher(split_token_tunes(data.train), data.settings.batch, data.settings.seq, options.seed);
  SequentialBatcher val(std::move(data.val), data.settings.batch, data.settings.seq);

  // The run folder, checked before any training time is spent.
  RunState run(run_folder(options, data.config), start.kind == Start::kResume, log, live);
  const std::unique_ptr<Backend> model =
      make_backend(device.backend, data.config, options.adam, data.settings.batch, data.settings.seq,
                   device.options);
  run.begin(options, data.settings, data.config, data.vocab, start.schedule, model->num_params());
  const RunPosition at = first_weights(start, data, run, *model, log);
  if (start.kind != Start::kResume) {
    run.save("last.ckpt", *model, at);  // from now on a kill at any moment leaves a loadable run
    run.point_latest_at();
  }
  EpochLoop epochs(start, data, *model, batcher, val, run);
  if (options.prepare_only) return epochs.result();
  return epochs.run(at, log);
}

}  // namespace abc
