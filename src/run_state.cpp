#include "abc/run_state.hpp"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <iomanip>
#include <sstream>
#include <stdexcept>

#include "abc/backend.hpp"
#include "abc/error.hpp"
#include "abc/io.hpp"

namespace fs = std::filesystem;

namespace abc {
namespace {

// The metadata keys, each named once. Tests and old checkpoints pin the spellings.
// The run's settings (config.txt shows them too):
constexpr char kSeq[] = "seq", kBatch[] = "batch";  // as trained
constexpr char kSeqRequested[] = "seq_requested", kBatchRequested[] = "batch_requested";
constexpr char kEpochs[] = "epochs", kLr[] = "lr", kClip[] = "clip", kSeed[] = "seed", kDevice[] = "device";
constexpr char kData[] = "data";  // the text in words; as a list (kData.count, kData.0, ...) the --data paths
constexpr char kVal[] = "val";    // a list: the --val paths
constexpr char kLrSchedule[] = "lr_schedule", kLrDecay[] = "lr_decay", kDecayAfter[] = "decay_after";
constexpr char kLrScheduleEpochs[] = "lr_schedule_epochs", kPatience[] = "patience";
constexpr char kInitFrom[] = "init_from", kInitVocabHex[] = "init_vocab_hex";  // fine-tuned runs only
// Where training stands (RunPosition) and the early-stopping record:
constexpr char kEpoch[] = "epoch", kStepInEpoch[] = "step_in_epoch", kGlobalStep[] = "global_step";
constexpr char kAdamSteps[] = "adam_steps", kEpochLossSum[] = "epoch_loss_sum", kEpochSeconds[] = "epoch_seconds";
constexpr char kBestVal[] = "best_val", kBestEpoch[] = "best_epoch", kEpochsSinceBest[] = "epochs_since_best";
// config.txt only:
constexpr char kLrByEpoch[] = "lr_by_epoch";

constexpr char kMetricsHeader[] = "epoch,train_loss,val_loss,chars_per_s,seconds,lr";

using Meta = std::map<std::string, std::string>;

// Doubles in meta text, exactly (round-trip precision).
std::string exact(double v) {
  std::ostringstream out;
  out.precision(17);
  out << v;
  return out.str();
}

// Lists in meta: key.count, key.0, key.1, ...
void put_list(Meta& meta, const std::string& key, const std::vector<std::string>& v) {
  meta[key + ".count"] = std::to_string(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) meta[key + "." + std::to_string(i)] = v[i];
}
std::vector<std::string> get_list(const Meta& meta, const std::string& key) {
  std::vector<std::string> v;
  const auto count = meta.find(key + ".count");
  if (count == meta.end()) return v;
  for (int i = 0; i < std::stoi(count->second); ++i) v.push_back(meta.at(key + "." + std::to_string(i)));
  return v;
}

// meta[key], or `fallback` where a checkpoint from before the key existed lacks it.
std::string meta_or(const Meta& meta, const std::string& key, const std::string& fallback) {
  const auto it = meta.find(key);
  return it == meta.end() ? fallback : it->second;
}

// Bytes <-> hex digits (a vocabulary in meta, whose "key=value" lines cannot hold '\n').
std::string to_hex(const std::string& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}
std::string from_hex(const std::string& hex) {
  if (hex.size() % 2) throw Error("corrupt checkpoint: odd hex length");
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

// Everything a resumed run needs to rebuild the same training.
Meta settings_meta(const TrainOptions& o, const RunSettings& s) {
  Meta meta = {{kSeq, std::to_string(s.seq)},
               {kBatch, std::to_string(s.batch)},
               {kSeqRequested, std::to_string(o.seq)},
               {kBatchRequested, std::to_string(o.batch)},
               {kEpochs, std::to_string(o.epochs)},
               {kLr, exact(o.adam.lr)},
               {kClip, exact(o.adam.clip)},
               {kSeed, std::to_string(o.seed)},
               {kDevice, s.device},
               {kData, s.data},
               {kLrSchedule, lr_schedule_name(o.lr_schedule)},
               {kLrDecay, exact(o.lr_decay)},
               {kDecayAfter, std::to_string(o.decay_after)},
               {kLrScheduleEpochs, std::to_string(o.lr_schedule_epochs > 0 ? o.lr_schedule_epochs : o.epochs)},
               {kPatience, std::to_string(o.patience)}};
  std::vector<std::string> data, val;
  for (const auto& p : o.data) data.push_back(fs::absolute(p).string());
  for (const auto& p : o.val) val.push_back(fs::absolute(p).string());
  put_list(meta, kData, data);
  put_list(meta, kVal, val);
  if (!s.init_from.empty()) {
    meta[kInitFrom] = s.init_from;
    meta[kInitVocabHex] = to_hex(s.init_vocab);
  }
  return meta;
}

std::string format_duration(double seconds) {
  const long s = std::lround(std::max(0.0, seconds));
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, s / 60 % 60);
  else
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  return buf;
}

// A run started before metrics.csv had the lr column gets it (empty in its old rows), so
// the rows a resume appends match the header.
void upgrade_metrics_header(const fs::path& path) {
  if (!fs::exists(path)) return;
  std::istringstream in(read_file(path.string()));
  std::string line, out;
  if (!std::getline(in, line) || line == kMetricsHeader || line.rfind("epoch,", 0) != 0) return;
  out = std::string(kMetricsHeader) + "\n";
  while (std::getline(in, line)) {
    if (!line.empty()) out += line + ",\n";
  }
  write_file_atomic(path.string(), out);
}

// Refuses to start when the disk cannot hold the checkpoints (best, last and a
// temporary copy), instead of failing an hour into the run.
void check_free_space(const fs::path& dir, std::size_t num_params) {
  std::error_code ec;
  const fs::space_info space = fs::space(dir, ec);
  if (ec) return;  // unknown: the writes will report failure themselves
  const std::uintmax_t need = 3 * (3 * num_params * sizeof(float) + (1u << 20));
  if (space.available < need) {
    throw file_error(dir.string(), "not enough free disk space for the checkpoints (" +
                                       std::to_string(space.available >> 20) + " MiB free, " +
                                       std::to_string(need >> 20) + " MiB needed)");
  }
}

}  // namespace

TrainOptions RunState::resumed_options(const Checkpoint& last, const std::string& dir, const TrainOptions& flags) {
  TrainOptions o;
  try {
    const Meta& m = last.meta;
    // Schedule and patience: absent in checkpoints written before they existed, which
    // trained at a constant lr without early stopping.
    o.lr_schedule = parse_lr_schedule(meta_or(m, kLrSchedule, "constant"));
    o.lr_decay = std::stod(meta_or(m, kLrDecay, exact(kDefaultLrDecay)));
    o.decay_after = std::stoi(meta_or(m, kDecayAfter, std::to_string(kDefaultDecayAfter)));
    o.lr_schedule_epochs = std::stoi(meta_or(m, kLrScheduleEpochs, m.at(kEpochs)));
    o.patience = flags.patience_override >= 0 ? flags.patience_override : std::stoi(meta_or(m, kPatience, "0"));
    o.model = last.model;
    o.seq = std::stoi(m.at(kSeqRequested));
    o.batch = std::stoi(m.at(kBatchRequested));
    o.epochs = flags.epochs_override > 0 ? flags.epochs_override : std::stoi(m.at(kEpochs));
    o.adam.lr = std::stod(m.at(kLr));
    o.adam.clip = std::stod(m.at(kClip));
    o.seed = std::stoull(m.at(kSeed));
    o.data = get_list(m, kData);
    o.val = get_list(m, kVal);
    for (const char* key : {kEpoch, kStepInEpoch, kGlobalStep, kAdamSteps, kEpochLossSum, kEpochSeconds}) {
      if (!m.count(key)) throw std::out_of_range(key);
    }
  } catch (const std::exception& e) {
    throw Error(dir + ": the checkpoint lacks what resuming needs (" + e.what() +
                "); was it written by an older abc_cuda_train?");
  }
  o.compute = flags.compute;
  o.out_dir = dir;
  o.stop_after_steps = flags.stop_after_steps;
  o.max_minutes = flags.max_minutes;
  return o;
}

void RunState::resumed_origin(const Checkpoint& last, const std::string& dir, RunSettings& settings) {
  settings.init_from = meta_or(last.meta, kInitFrom, "");
  try {
    settings.init_vocab = from_hex(meta_or(last.meta, kInitVocabHex, ""));
  } catch (const std::exception& e) {
    throw file_error(dir, std::string("corrupt ") + kInitVocabHex + " in last.ckpt (" + e.what() + ")");
  }
}

RunState::RunState(const fs::path& dir, bool resuming, std::ostream& log, bool live)
    : dir_(dir), resuming_(resuming), log_(log), live_(live) {
  if (!resuming && fs::exists(dir / "last.ckpt")) {
    throw Error(
        dir.string() + " already holds a run: continue it with --resume " + dir.string() + ", or choose another --out",
        kExitUsage);
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw file_error(dir.string(), "cannot create the run folder: " + ec.message());
}

void RunState::begin(const TrainOptions& options, const RunSettings& settings, const ModelConfig& config,
                     const Vocab& vocab, const LrSchedule& schedule, std::size_t num_params) {
  check_free_space(dir_, num_params);
  epochs_ = options.epochs;
  early.patience = options.patience;
  settings_ = settings_meta(options, settings);
  ckpt_.model = config;
  ckpt_.vocab = vocab;
  // config.txt also lists the lr each epoch will use (the checkpoints need only the
  // schedule's settings).
  Meta config_meta = settings_;
  std::string lr_list;
  for (int e = 1; e <= options.epochs; ++e) {
    char value[32];
    std::snprintf(value, sizeof value, "%s%.9g", e > 1 ? " " : "", lr_for_epoch(schedule, e));
    lr_list += value;
  }
  config_meta[kLrByEpoch] = lr_list;
  write_file_atomic((dir_ / "config.txt").string(), config_text(config, config_meta));
  const fs::path metrics_path = dir_ / "metrics.csv";
  if (resuming_) upgrade_metrics_header(metrics_path);
  metrics_.open(metrics_path, resuming_ ? std::ios::app : std::ios::trunc);
  if (!resuming_) metrics_ << kMetricsHeader << "\n";
  metrics_.flush();
  if (!metrics_) throw file_error(metrics_path.string(), "cannot write");
}

RunPosition RunState::restore(Backend& model, const Checkpoint& last) {
  const Meta& m = last.meta;
  model.upload_params(last.params.data());
  if (last.adam_m.empty()) throw Error("--resume: the checkpoint has no optimizer state");
  model.upload_adam(last.adam_m.data(), last.adam_v.data(), std::stoll(m.at(kAdamSteps)));
  RunPosition at;
  at.epoch = std::stoi(m.at(kEpoch));
  at.step = std::stoi(m.at(kStepInEpoch));
  at.global_step = std::stoull(m.at(kGlobalStep));
  at.loss_sum = std::stod(m.at(kEpochLossSum));
  at.seconds = std::stod(m.at(kEpochSeconds));
  if (m.count(kBestVal)) {
    early.best = std::stod(m.at(kBestVal));
    early.best_epoch = std::stoi(m.at(kBestEpoch));
  }
  early.epochs_since_best = std::stoi(meta_or(m, kEpochsSinceBest, "0"));
  if (at.step > 0 && last.state.size() != model.state_size()) {
    throw Error("--resume: the checkpoint's hidden state does not fit this run (" + std::to_string(last.state.size()) +
                " floats, expected " + std::to_string(model.state_size()) + ")");
  }
  log_ << "resuming " << dir_.string() << " at epoch " << at.epoch << " step " << at.step << "\n";
  return at;
}

void RunState::save(const std::string& name, Backend& model, const RunPosition& at) {
  ckpt_.params.resize(model.num_params());
  ckpt_.adam_m.resize(model.num_params());
  ckpt_.adam_v.resize(model.num_params());
  model.download_params(ckpt_.params.data());
  model.download_adam(ckpt_.adam_m.data(), ckpt_.adam_v.data());
  ckpt_.state.clear();
  if (at.step > 0) {
    ckpt_.state.resize(model.state_size());
    model.download_state(ckpt_.state.data());
  }
  ckpt_.meta = settings_;
  ckpt_.meta[kEpoch] = std::to_string(at.epoch);
  ckpt_.meta[kStepInEpoch] = std::to_string(at.step);
  ckpt_.meta[kGlobalStep] = std::to_string(at.global_step);
  ckpt_.meta[kAdamSteps] = std::to_string(model.adam_steps());
  ckpt_.meta[kEpochLossSum] = exact(at.loss_sum);
  ckpt_.meta[kEpochSeconds] = exact(at.seconds);
  if (early.best_epoch > 0) {
    ckpt_.meta[kBestVal] = exact(early.best);
    ckpt_.meta[kBestEpoch] = std::to_string(early.best_epoch);
  }
  ckpt_.meta[kEpochsSinceBest] = std::to_string(early.epochs_since_best);
  save_checkpoint(ckpt_, (dir_ / name).string());
}

void RunState::point_latest_at() const {
  // A relative symlink, replaced atomically.
  const fs::path link = dir_.parent_path() / "latest";
  const fs::path tmp = dir_.parent_path() / ".latest.tmp";
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_directory_symlink(dir_.filename(), tmp, ec);
  if (!ec) fs::rename(tmp, link, ec);
  if (ec) throw file_error(link.string(), "cannot point at the new run: " + ec.message());
}

void RunState::end_epoch(Backend& model, const EpochReport& e, std::uint64_t global_step) {
  if (live_) log_ << "\r\x1b[K";
  char line[240];
  std::snprintf(line, sizeof line,
                "epoch %d/%d: train %.4f, val %.4f nats/char (%.4f bits/char), lr %.3g, %.0f chars/s, %.1f s", e.epoch,
                epochs_, e.train_loss, e.val_loss, e.val_loss / std::log(2.0), e.lr, e.chars_per_second, e.seconds);
  log_ << line;
  char lr_text[32];
  std::snprintf(lr_text, sizeof lr_text, "%.9g", e.lr);
  metrics_ << e.epoch << "," << e.train_loss << "," << e.val_loss << "," << e.chars_per_second << "," << e.seconds
           << "," << lr_text << "\n";
  metrics_.flush();
  // Both checkpoints stand at the start of the next epoch.
  RunPosition next;
  next.epoch = e.epoch + 1;
  next.global_step = global_step;
  if (early.record(e.epoch, e.val_loss)) {
    save("best.ckpt", model, next);
    log_ << " (best)";
  }
  save("last.ckpt", model, next);
  log_ << "\n";
  log_.flush();
}

void RunState::stop_mid_epoch(Backend& model, const RunPosition& at, int signal, int steps_this_run) {
  save("last.ckpt", model, at);
  if (live_) log_ << "\r\x1b[K";
  log_ << (signal ? std::string("interrupted (") + (signal == SIGINT ? "SIGINT" : "SIGTERM") + ")"
                  : std::string("stopped after ") + std::to_string(steps_this_run) + " steps")
       << " at epoch " << at.epoch << " step " << at.step
       << "; checkpoint written. Resume with: abc_cuda_train --resume " << dir_.string() << "\n";
}

void RunState::report_step(int epoch, int step, int steps, double loss, double chars_per_second,
                           double eta_seconds) const {
  char line[200];
  std::snprintf(line, sizeof line, "epoch %d/%d step %d/%d loss %.3f %.0f chars/s ETA %s", epoch, epochs_, step, steps,
                loss, chars_per_second, format_duration(eta_seconds).c_str());
  if (live_)
    log_ << "\r" << line << "\x1b[K";
  else
    log_ << line << "\n";
  log_.flush();
}

void RunState::report_done(double seconds) const {
  log_ << "done: best val " << early.best << " nats/char at epoch " << early.best_epoch << ", "
       << format_duration(seconds) << "; checkpoints in " << dir_.string() << "\n";
}

std::string RunState::patience_reason() const {
  std::ostringstream out;
  out << "the validation loss has not improved for " << early.epochs_since_best
      << (early.epochs_since_best == 1 ? " epoch" : " epochs") << " (--patience " << early.patience
      << "); best.ckpt holds the best, " << std::fixed << std::setprecision(4) << early.best << " nats/char at epoch "
      << early.best_epoch;
  return out.str();
}

}  // namespace abc
