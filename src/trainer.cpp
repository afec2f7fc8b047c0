#include "abc/trainer.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iterator>
#include <sstream>

#include "abc/batcher.hpp"
#include "abc/backend.hpp"
#include "abc/checkpoint.hpp"
#include "abc/corpus.hpp"
#include "abc/device_probe.hpp"
#include "abc/error.hpp"
#include "abc/io.hpp"
#include "abc/paths.hpp"
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

std::string format_duration(double seconds) {
  const long s = std::lround(std::max(0.0, seconds));
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, s / 60 % 60);
  else std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  return buf;
}

// Points <parent of run>/latest at the run (a relative symlink, replaced atomically).
void point_latest_at(const fs::path& run_dir) {
  const fs::path link = run_dir.parent_path() / "latest";
  const fs::path tmp = run_dir.parent_path() / ".latest.tmp";
  std::error_code ec;
  fs::remove(tmp, ec);
  fs::create_directory_symlink(run_dir.filename(), tmp, ec);
  if (!ec) fs::rename(tmp, link, ec);
  if (ec) throw file_error(link.string(), "cannot point at the new run: " + ec.message());
}

// Doubles in meta text, exactly (round-trip precision).
std::string exact(double v) {
  std::ostringstream out;
  out.precision(17);
  out << v;
  return out.str();
}

// Lists in meta: key.count, key.0, key.1, ...
void put_list(std::map<std::string, std::string>& meta, const std::string& key, const std::vector<std::string>& v) {
  meta[key + ".count"] = std::to_string(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) meta[key + "." + std::to_string(i)] = v[i];
}
std::vector<std::string> get_list(const std::map<std::string, std::string>& meta, const std::string& key) {
  std::vector<std::string> v;
  const auto count = meta.find(key + ".count");
  if (count == meta.end()) return v;
  for (int i = 0; i < std::stoi(count->second); ++i) v.push_back(meta.at(key + "." + std::to_string(i)));
  return v;
}

// Everything a resumed run needs to rebuild the same training (config.txt shows it too).
std::map<std::string, std::string> run_meta(const TrainOptions& o, int batch, int seq, const std::string& device,
                                            const std::string& data_description) {
  std::map<std::string, std::string> meta = {
      {"seq", std::to_string(seq)},           {"batch", std::to_string(batch)},
      {"seq_requested", std::to_string(o.seq)}, {"batch_requested", std::to_string(o.batch)},
      {"epochs", std::to_string(o.epochs)},   {"lr", exact(o.adam.lr)},
      {"clip", exact(o.adam.clip)},           {"seed", std::to_string(o.seed)},
      {"device", device},                     {"data", data_description},
      {"lr_schedule", lr_schedule_name(o.lr_schedule)}, {"lr_decay", exact(o.lr_decay)},
      {"decay_after", std::to_string(o.decay_after)},
      {"lr_schedule_epochs", std::to_string(o.lr_schedule_epochs > 0 ? o.lr_schedule_epochs : o.epochs)},
      {"patience", std::to_string(o.patience)}};
  std::vector<std::string> data, val;
  for (const auto& p : o.data) data.push_back(fs::absolute(p).string());
  for (const auto& p : o.val) val.push_back(fs::absolute(p).string());
  put_list(meta, "data", data);
  put_list(meta, "val", val);
  return meta;
}

// meta[key], or `fallback` where a checkpoint from before the key existed lacks it.
std::string meta_or(const std::map<std::string, std::string>& meta, const std::string& key, const std::string& fallback) {
  const auto it = meta.find(key);
  return it == meta.end() ? fallback : it->second;
}

TrainOptions options_from_checkpoint(const Checkpoint& ckpt, const TrainOptions& flags) {
  TrainOptions o;
  try {
    const auto& m = ckpt.meta;
    // Schedule and patience: absent in checkpoints written before they existed, which
    // trained at a constant lr without early stopping.
    o.lr_schedule = parse_lr_schedule(meta_or(m, "lr_schedule", "constant"));
    o.lr_decay = std::stod(meta_or(m, "lr_decay", exact(kDefaultLrDecay)));
    o.decay_after = std::stoi(meta_or(m, "decay_after", std::to_string(kDefaultDecayAfter)));
    o.lr_schedule_epochs = std::stoi(meta_or(m, "lr_schedule_epochs", m.at("epochs")));
    o.patience = flags.patience_override >= 0 ? flags.patience_override : std::stoi(meta_or(m, "patience", "0"));
    o.model = ckpt.model;
    o.seq = std::stoi(m.at("seq_requested"));
    o.batch = std::stoi(m.at("batch_requested"));
    o.epochs = flags.epochs_override > 0 ? flags.epochs_override : std::stoi(m.at("epochs"));
    o.adam.lr = std::stod(m.at("lr"));
    o.adam.clip = std::stod(m.at("clip"));
    o.seed = std::stoull(m.at("seed"));
    o.data = get_list(m, "data");
    o.val = get_list(m, "val");
    for (const char* key : {"epoch", "step_in_epoch", "global_step", "adam_steps", "epoch_loss_sum", "epoch_seconds"}) {
      if (!m.count(key)) throw std::out_of_range(key);
    }
  } catch (const std::exception& e) {
    throw Error(flags.resume_dir + ": the checkpoint lacks what resuming needs (" + e.what() +
                "); was it written by an older abc_cuda_train?");
  }
  o.device = flags.device;
  o.backend = flags.backend;
  o.out_dir = flags.resume_dir;
  o.stop_after_steps = flags.stop_after_steps;
  o.max_minutes = flags.max_minutes;
  return o;
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

// Why --patience ends (or does not start) training.
std::string patience_reason(const EarlyStopping& early) {
  std::ostringstream out;
  out << "the validation loss has not improved for " << early.epochs_since_best
      << (early.epochs_since_best == 1 ? " epoch" : " epochs") << " (--patience " << early.patience
      << "); best.ckpt holds the best, " << std::fixed << std::setprecision(4) << early.best << " nats/char at epoch "
      << early.best_epoch;
  return out.str();
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

// A run started before metrics.csv had the lr column gets it (empty in its old rows), so
// the rows a resume appends match the header.
void upgrade_metrics_header(const fs::path& path, const std::string& header) {
  if (!fs::exists(path)) return;
  std::istringstream in(read_file(path.string()));
  std::string line, out;
  if (!std::getline(in, line) || line == header || line.rfind("epoch,", 0) != 0) return;
  out = header + "\n";
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

namespace {
constexpr char kCpuFallback[] = ": running on the CPU";  // ends resolve_device's notice
}  // namespace

std::string resolve_device(const std::string& requested, std::string* notice) {
  if (requested == "cpu") return "cpu";
  if (requested != "auto" && requested != "cuda") {
    throw Error("--device must be auto, cpu or cuda (got '" + requested + "')", kExitUsage);
  }
  // Usable only in a build with the CUDA backend (device_probe.cpp).
  const DeviceProbe probe = probe_cuda_device();
  if (probe.usable) return "cuda";
  if (requested == "cuda") throw Error("--device cuda: " + probe.reason + "; use --device cpu or auto");
  if (notice) *notice = probe.reason + kCpuFallback;
  return "cpu";
}

std::string backend_for(const std::string& device, const std::string& backend, const std::string& notice) {
  if (backend == "ours") return device;
  if (backend != "cudnn") throw Error("--backend must be ours or cudnn (got '" + backend + "')", kExitUsage);
  if (device != "cuda") {
    std::string why = notice.empty() ? std::string("--device cpu was asked for") : notice;
    if (why.size() > sizeof kCpuFallback - 1 && why.compare(why.size() - (sizeof kCpuFallback - 1), std::string::npos,
                                                            kCpuFallback) == 0) {
      why.resize(why.size() - (sizeof kCpuFallback - 1));
    }
    // Contradictory flags are a usage error; a machine without a GPU is not.
    throw Error("--backend cudnn runs on a GPU, but " + why + ": drop --backend cudnn",
                notice.empty() ? kExitUsage : kExitRuntime);
  }
  return "cudnn";
}

TrainResult train(const TrainOptions& requested, std::ostream& log, bool live) {
  // A resumed run takes its settings from its last checkpoint, not from the flags.
  const bool resuming = !requested.resume_dir.empty();
  const bool fine_tuning = !requested.init_from.empty();
  if (resuming && fine_tuning) {
    throw Error("--init-from starts a new run from a checkpoint's weights, --resume continues a run: give one of them",
                kExitUsage);
  }
  Checkpoint resume_from;
  TrainOptions options = requested;
  if (resuming) {
    const std::string path = (fs::path(requested.resume_dir) / "last.ckpt").string();
    if (!fs::exists(path)) throw file_error(requested.resume_dir, "no last.ckpt here: not a run folder to resume");
    resume_from = load_checkpoint(path);
    options = options_from_checkpoint(resume_from, requested);
  }
  // Fine-tuning: the model's shape (and, below, its vocabulary) from the checkpoint,
  // everything else from the options. All checked before anything is written.
  Checkpoint base;
  std::string base_path;
  if (fine_tuning) {
    base_path = init_checkpoint_path(requested.init_from);
    try {
      base = load_checkpoint(base_path);
    } catch (const Error& e) {
      throw Error("--init-from " + std::string(e.what()), e.exit_code());
    }
    check_model_flags(base.model, requested, base_path);
    options.model.cell = base.model.cell;
    options.model.hidden = base.model.hidden;
    options.model.layers = base.model.layers;
  }
  LrSchedule schedule;
  schedule.kind = options.lr_schedule;
  schedule.lr = options.adam.lr;
  schedule.decay = options.lr_decay;
  schedule.decay_after = options.decay_after;
  schedule.epochs = options.lr_schedule_epochs > 0 ? options.lr_schedule_epochs : options.epochs;
  validate(schedule);
  options.lr_schedule_epochs = schedule.epochs;
  if (options.patience < 0) throw Error("--patience must be 0 or more", kExitUsage);

  std::string notice;
  const std::string resolved = resolve_device(options.device, &notice);
  const std::string device = backend_for(resolved, options.backend, notice);
  if (!notice.empty()) log << "note: " << notice << "\n";

  const TrainingText texts = load_texts(options, log);
  // A fine-tuned run's vocabulary is its checkpoint's plus the new data's characters (on
  // resume: the starting checkpoint's, kept in meta, plus the data's).
  std::string init_vocab;
  if (fine_tuning) init_vocab = base.vocab.serialize();
  if (resuming && resume_from.meta.count("init_vocab_hex")) {
    try {
      init_vocab = from_hex(resume_from.meta.at("init_vocab_hex"));
    } catch (const std::exception& e) {
      throw file_error(requested.resume_dir, std::string("corrupt init_vocab_hex in last.ckpt (") + e.what() + ")");
    }
  }
  std::string added;
  const Vocab vocab = fine_tuning || !init_vocab.empty()
                          ? extend_vocab(Vocab::deserialize(init_vocab), texts.train, &added)
                          : Vocab::from_text(texts.train);
  if (fine_tuning && !added.empty()) {
    std::string list;
    for (char c : added) list += (list.empty() ? "" : " ") + shown_char(c);
    log << "note: the new data has " << added.size() << " character" << (added.size() == 1 ? "" : "s")
        << " the checkpoint's vocabulary lacks (" << list
        << (added.size() == 1 ? "): it gets" : "): they get") << " fresh rows in the input table and the output layer\n";
  }
  if (resuming && !(vocab == resume_from.vocab)) {
    throw Error("--resume: the training text changed since the run started (its characters differ); "
                "resume needs the same data");
  }
  std::size_t val_unknown = 0;
  const std::vector<TokenId> train_tokens = vocab.encode(texts.train);
  const std::vector<TokenId> val_tokens = vocab.encode(texts.val, &val_unknown);
  ModelConfig config = options.model;
  config.vocab = vocab.size();
  validate(config);
  log << "data: " << texts.description << ": " << train_tokens.size() << " train / " << val_tokens.size()
      << " val tokens, vocabulary " << vocab.size() << "\n";
  if (val_unknown) log << "note: " << val_unknown << " validation characters are not in the training vocabulary and are skipped\n";

  // A small corpus (your own handful of tunes) still trains with the default shape:
  // fewer streams first, then shorter chunks.
  int batch = options.batch, seq = options.seq;
  const auto n_train = static_cast<std::int64_t>(train_tokens.size());
  if (n_train < 3) throw Error("the training text has fewer than 3 tokens: give it at least one tune");
  if (n_train / batch < seq + 1) {
    batch = static_cast<int>(std::max<std::int64_t>(1, n_train / (seq + 1)));
    if (n_train / batch < seq + 1) seq = static_cast<int>(n_train / batch - 1);
    log << "note: the training text is short (" << n_train << " tokens): using B=" << batch << ", T=" << seq << "\n";
  }
  TrainBatcher batcher(split_token_tunes(train_tokens), batch, seq, options.seed);
  SequentialBatcher val_batcher(val_tokens, batch, seq);

  // The run folder, checked before any training time is spent.
  const fs::path run_dir = fs::absolute(options.out_dir.empty()
                                            ? fs::path(default_runs_dir()) / default_run_name(config)
                                            : fs::path(options.out_dir));
  if (!resuming && fs::exists(run_dir / "last.ckpt")) {
    throw Error(run_dir.string() + " already holds a run: continue it with --resume " + run_dir.string() +
                    ", or choose another --out",
                kExitUsage);
  }
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  if (ec) throw file_error(run_dir.string(), "cannot create the run folder: " + ec.message());
  const std::unique_ptr<Backend> model = make_backend(device, config, options.adam, batch, seq);
  check_free_space(run_dir, model->num_params());
  std::map<std::string, std::string> meta = run_meta(options, batch, seq, device, texts.description);
  if (fine_tuning) {
    meta["init_from"] = fs::absolute(base_path).string();
    meta["init_vocab_hex"] = to_hex(init_vocab);
  } else if (resuming) {
    for (const char* key : {"init_from", "init_vocab_hex"}) {
      if (resume_from.meta.count(key)) meta[key] = resume_from.meta.at(key);
    }
  }
  // config.txt also lists the lr each epoch will use (the checkpoints need only the
  // schedule's settings).
  std::map<std::string, std::string> config_meta = meta;
  std::string lr_list;
  for (int e = 1; e <= options.epochs; ++e) {
    char value[32];
    std::snprintf(value, sizeof value, "%s%.9g", e > 1 ? " " : "", lr_for_epoch(schedule, e));
    lr_list += value;
  }
  config_meta["lr_by_epoch"] = lr_list;
  write_file_atomic((run_dir / "config.txt").string(), config_text(config, config_meta));
  const fs::path metrics_path = run_dir / "metrics.csv";
  const char* const metrics_header = "epoch,train_loss,val_loss,chars_per_s,seconds,lr";
  if (resuming) upgrade_metrics_header(metrics_path, metrics_header);
  std::ofstream metrics(metrics_path, resuming ? std::ios::app : std::ios::trunc);
  if (!resuming) metrics << metrics_header << "\n";
  metrics.flush();
  if (!metrics) throw file_error(metrics_path.string(), "cannot write");

  // Where training starts: a fresh model, or exactly where the last checkpoint left off.
  TrainResult result;
  result.run_dir = run_dir.string();
  result.best_val_loss = INFINITY;
  EarlyStopping early;
  early.patience = options.patience;
  int first_epoch = 1, first_step = 0;
  std::uint64_t global_step = 0;
  double carried_loss_sum = 0, carried_seconds = 0;
  if (resuming) {
    const auto& m = resume_from.meta;
    model->upload_params(resume_from.params.data());
    if (resume_from.adam_m.empty()) throw Error("--resume: the checkpoint has no optimizer state");
    model->upload_adam(resume_from.adam_m.data(), resume_from.adam_v.data(), std::stoll(m.at("adam_steps")));
    first_epoch = std::stoi(m.at("epoch"));
    first_step = std::stoi(m.at("step_in_epoch"));
    global_step = std::stoull(m.at("global_step"));
    carried_loss_sum = std::stod(m.at("epoch_loss_sum"));
    carried_seconds = std::stod(m.at("epoch_seconds"));
    if (m.count("best_val")) {
      result.best_val_loss = std::stod(m.at("best_val"));
      result.best_epoch = std::stoi(m.at("best_epoch"));
    }
    early.best = result.best_val_loss;
    early.best_epoch = result.best_epoch;
    early.epochs_since_best = std::stoi(meta_or(m, "epochs_since_best", "0"));
    if (first_step > 0 && resume_from.state.size() != model->state_size()) {
      throw Error("--resume: the checkpoint's hidden state does not fit this run (" +
                  std::to_string(resume_from.state.size()) + " floats, expected " +
                  std::to_string(model->state_size()) + ")");
    }
    log << "resuming " << run_dir.string() << " at epoch " << first_epoch << " step " << first_step << "\n";
  } else if (fine_tuning) {
    const std::vector<float> init = fine_tune_params(base, vocab, config, options.seed);
    model->upload_params(init.data());
    log << "fine-tuning from " << base_path << " (" << cell_kind_name(config.cell) << " H=" << config.hidden
        << " layers=" << config.layers << ", vocabulary " << base.vocab.size() << " -> " << vocab.size()
        << "), a fresh optimizer\n";
  } else {
    std::vector<float> init(model->num_params());
    init_param_block(model->layout(), options.seed, init.data());
    model->upload_params(init.data());
  }

  Checkpoint ckpt;
  ckpt.model = config;
  ckpt.vocab = vocab;
  // Saves the model and where training stands: `epoch` is the epoch in progress and
  // `step` the steps of it already taken (the hidden state is kept when step > 0).
  auto save = [&](const std::string& name, int epoch, int step, double loss_sum, double seconds) {
    ckpt.params.resize(model->num_params());
    ckpt.adam_m.resize(model->num_params());
    ckpt.adam_v.resize(model->num_params());
    model->download_params(ckpt.params.data());
    model->download_adam(ckpt.adam_m.data(), ckpt.adam_v.data());
    ckpt.state.clear();
    if (step > 0) {
      ckpt.state.resize(model->state_size());
      model->download_state(ckpt.state.data());
    }
    ckpt.meta = meta;
    ckpt.meta["epoch"] = std::to_string(epoch);
    ckpt.meta["step_in_epoch"] = std::to_string(step);
    ckpt.meta["global_step"] = std::to_string(global_step);
    ckpt.meta["adam_steps"] = std::to_string(model->adam_steps());
    ckpt.meta["epoch_loss_sum"] = exact(loss_sum);
    ckpt.meta["epoch_seconds"] = exact(seconds);
    if (result.best_epoch > 0) {
      ckpt.meta["best_val"] = exact(result.best_val_loss);
      ckpt.meta["best_epoch"] = std::to_string(result.best_epoch);
    }
    ckpt.meta["epochs_since_best"] = std::to_string(early.epochs_since_best);
    save_checkpoint(ckpt, (run_dir / name).string());
  };
  if (!resuming) {
    save("last.ckpt", 1, 0, 0, 0);  // from now on a kill at any moment leaves a loadable run
    point_latest_at(run_dir);
  }
  if (options.prepare_only) return result;

  // A run that --patience already ended stays ended (a larger --patience, or 0, goes on).
  if (resuming && early.should_stop() && first_epoch <= options.epochs) {
    log << "not training: " << patience_reason(early) << "; resume with a larger --patience (0: off) to go on\n";
    result.stopped_early = true;
    first_epoch = options.epochs + 1;
  }

  const int steps = batcher.steps_per_epoch();
  log << "training " << cell_kind_name(config.cell) << " H=" << config.hidden << " layers=" << config.layers
      << " dropout=" << config.dropout << " on " << device << ": " << model->num_params() << " parameters, "
      << options.epochs << " epochs of " << steps << " steps (B=" << batch << ", T=" << seq << "), run folder "
      << run_dir.string() << "\n";
  log.flush();

  StopSignals stop_signals;
  const auto run_start = Clock::now();
  double train_seconds = 0;
  int steps_this_run = 0;
  Chunk chunk;
  const double tokens_per_step = static_cast<double>(seq) * batch;
  for (int epoch = first_epoch; epoch <= options.epochs; ++epoch) {
    const double lr = lr_for_epoch(schedule, epoch);
    model->set_lr(lr);
    batcher.start_epoch(epoch - 1);
    model->reset_state();
    int step = 0;
    double loss_sum = 0, seconds_before = 0;
    if (epoch == first_epoch && first_step > 0) {  // back to the chunk and state the run stopped at
      for (; step < first_step && batcher.next(chunk); ++step) {
      }
      model->upload_state(resume_from.state.data());
      loss_sum = carried_loss_sum;
      seconds_before = carried_seconds;
    }
    const int step_at_start = step;
    const auto epoch_start = Clock::now();
    auto last_report = epoch_start;
    auto collect_losses = [&] {  // the only point where training waits for the device
      const Backend::LossReport r = model->take_losses();
      loss_sum += r.sum;
      if (r.nonfinite || !std::isfinite(r.sum)) {
        throw Error("loss or gradient became non-finite by epoch " + std::to_string(epoch) + " step " +
                    std::to_string(step) + ": lower --lr or --clip; the last good checkpoint is in " +
                    run_dir.string());
      }
    };
    while (batcher.next(chunk)) {
      model->forward_backward(chunk, options.seed, global_step);
      try {
        model->optimizer_step();
      } catch (const Error& e) {
        throw Error(std::string(e.what()) + " (epoch " + std::to_string(epoch) + " step " + std::to_string(step + 1) +
                    "); the last good checkpoint is in " + run_dir.string());
      }
      ++step;
      ++global_step;
      ++steps_this_run;
      const int signal = stop_signals.pending();
      if (signal || (options.stop_after_steps > 0 && steps_this_run >= options.stop_after_steps)) {
        collect_losses();
        save("last.ckpt", epoch, step, loss_sum, seconds_before + seconds_since(epoch_start));
        if (live) log << "\r\x1b[K";
        log << (signal ? std::string("interrupted (") + (signal == SIGINT ? "SIGINT" : "SIGTERM") + ")"
                       : std::string("stopped after ") + std::to_string(steps_this_run) + " steps")
            << " at epoch " << epoch << " step " << step << "; checkpoint written. Resume with: abc_cuda_train --resume "
            << run_dir.string() << "\n";
        result.stopped_by_signal = signal;
        result.seconds = seconds_since(run_start);
        return result;
      }
      const bool report_now = live ? seconds_since(last_report) > 0.25 || step == steps
                                   : step % std::max(1, steps / 4) == 0 && step != steps;
      if (report_now) {
        collect_losses();
        const double elapsed = seconds_since(epoch_start);
        last_report = Clock::now();
        const int done = step - step_at_start;
        const double rate = done * tokens_per_step / elapsed;
        const double per_step = elapsed / done;
        const double eta = (steps - step) * per_step + (options.epochs - epoch) * steps * per_step;
        char line[200];
        std::snprintf(line, sizeof line, "epoch %d/%d step %d/%d loss %.3f %.0f chars/s ETA %s", epoch, options.epochs,
                      step, steps, loss_sum / step, rate, format_duration(eta).c_str());
        if (live) log << "\r" << line << "\x1b[K";
        else log << line << "\n";
        log.flush();
      }
    }
    collect_losses();
    const double run_seconds = seconds_since(epoch_start);
    const double epoch_seconds = seconds_before + run_seconds;
    train_seconds += run_seconds;
    const double train_loss = loss_sum / step;
    const double val_loss = text_loss(*model, val_batcher, chunk);
    const double rate = (step - step_at_start) * tokens_per_step / std::max(run_seconds, 1e-9);
    if (live) log << "\r\x1b[K";
    char line[240];
    std::snprintf(line, sizeof line,
                  "epoch %d/%d: train %.4f, val %.4f nats/char (%.4f bits/char), lr %.3g, %.0f chars/s, %.1f s",
                  epoch, options.epochs, train_loss, val_loss, val_loss / std::log(2.0), lr, rate, epoch_seconds);
    log << line;
    char lr_text[32];
    std::snprintf(lr_text, sizeof lr_text, "%.9g", lr);
    metrics << epoch << "," << train_loss << "," << val_loss << "," << rate << "," << epoch_seconds << "," << lr_text
            << "\n";
    metrics.flush();
    const bool best = early.record(epoch, val_loss);
    if (best) {
      result.best_val_loss = val_loss;
      result.best_epoch = epoch;
      save("best.ckpt", epoch + 1, 0, 0, 0);
      log << " (best)";
    }
    save("last.ckpt", epoch + 1, 0, 0, 0);
    log << "\n";
    log.flush();
    result.epochs_run = epoch;
    result.last_train_loss = train_loss;
    result.chars_per_second = rate;
    result.last_lr = lr;
    if (early.should_stop() && epoch < options.epochs) {
      log << "stopping after epoch " << epoch << " of " << options.epochs << ": " << patience_reason(early) << "\n";
      result.stopped_early = true;
      break;
    }
    if (options.max_minutes > 0 && train_seconds > options.max_minutes * 60 && epoch < options.epochs) {
      log << "stopping after epoch " << epoch << ": --max-minutes " << options.max_minutes << " reached\n";
      break;
    }
  }
  result.seconds = seconds_since(run_start);
  log << "done: best val " << result.best_val_loss << " nats/char at epoch " << result.best_epoch << ", "
      << format_duration(result.seconds) << "; checkpoints in " << run_dir.string() << "\n";
  return result;
}

}  // namespace abc
