#include "abc/trainer.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
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

}  // namespace

double text_loss(Backend& model, SequentialBatcher& text, Chunk& chunk) {
  model.reset_state();
  text.restart();
  double nats = 0;
  while (text.next(chunk)) nats += model.evaluate(chunk);
  model.reset_state();
  return nats / static_cast<double>(text.predicted_tokens());
}

std::string resolve_device(const std::string& requested, std::string* notice) {
  if (requested == "cpu") return "cpu";
  if (requested != "auto" && requested != "cuda") {
    throw Error("--device must be auto, cpu or cuda (got '" + requested + "')", kExitUsage);
  }
  DeviceProbe probe = probe_cuda_device();
#ifndef ABC_HAVE_CUDA_BACKEND
  if (probe.usable) {
    probe.usable = false;
    probe.reason = "GPU " + probe.name + " found, but this build has no CUDA backend";
  }
#endif
  if (probe.usable) return "cuda";
  if (requested == "cuda") throw Error("--device cuda: " + probe.reason + "; use --device cpu or auto");
  if (notice) *notice = probe.reason + ": running on the CPU";
  return "cpu";
}

TrainResult train(const TrainOptions& options, std::ostream& log, bool live) {
  std::string notice;
  const std::string device = resolve_device(options.device, &notice);
  if (!notice.empty()) log << "note: " << notice << "\n";

  const TrainingText texts = load_texts(options, log);
  const Vocab vocab = Vocab::from_text(texts.train);
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
  std::error_code ec;
  fs::create_directories(run_dir, ec);
  if (ec) throw file_error(run_dir.string(), "cannot create the run folder: " + ec.message());
  std::map<std::string, std::string> meta = {
      {"seq", std::to_string(seq)},                {"batch", std::to_string(batch)},
      {"epochs", std::to_string(options.epochs)},  {"lr", std::to_string(options.adam.lr)},
      {"clip", std::to_string(options.adam.clip)}, {"seed", std::to_string(options.seed)},
      {"device", device},                          {"data", texts.description}};
  write_file_atomic((run_dir / "config.txt").string(), config_text(config, meta));
  std::ofstream metrics(run_dir / "metrics.csv");
  metrics << "epoch,train_loss,val_loss,chars_per_s,seconds\n";
  if (!metrics) throw file_error((run_dir / "metrics.csv").string(), "cannot write");

  const std::unique_ptr<Backend> model = make_backend(device, config, options.adam, batch, seq);
  {
    std::vector<float> init(model->num_params());
    init_param_block(model->layout(), options.seed, init.data());
    model->upload_params(init.data());
  }
  Checkpoint ckpt;
  ckpt.model = config;
  ckpt.vocab = vocab;
  auto save = [&](const std::string& name, int epoch) {
    ckpt.params.resize(model->num_params());
    ckpt.adam_m.resize(model->num_params());
    ckpt.adam_v.resize(model->num_params());
    model->download_params(ckpt.params.data());
    model->download_adam(ckpt.adam_m.data(), ckpt.adam_v.data());
    ckpt.meta = meta;
    ckpt.meta["epoch"] = std::to_string(epoch);
    ckpt.meta["adam_steps"] = std::to_string(model->adam_steps());
    save_checkpoint(ckpt, (run_dir / name).string());
  };

  log << "training " << cell_kind_name(config.cell) << " H=" << config.hidden << " layers=" << config.layers
      << " dropout=" << config.dropout << " on " << device << ": " << model->num_params() << " parameters, "
      << options.epochs << " epochs of " << batcher.steps_per_epoch() << " steps (B=" << batch << ", T=" << seq
      << "), run folder " << run_dir.string() << "\n";
  log.flush();

  TrainResult result;
  result.run_dir = run_dir.string();
  result.best_val_loss = INFINITY;
  const auto run_start = Clock::now();
  double train_seconds = 0;
  std::uint64_t global_step = 0;
  Chunk chunk;
  const int steps = batcher.steps_per_epoch();
  const double tokens_per_step = static_cast<double>(seq) * batch;
  for (int epoch = 1; epoch <= options.epochs; ++epoch) {
    batcher.start_epoch(epoch - 1);
    model->reset_state();
    const auto epoch_start = Clock::now();
    auto last_report = epoch_start;
    double loss_sum = 0;
    int step = 0;
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
      const bool report_now = live ? seconds_since(last_report) > 0.25 || step == steps
                                   : step % std::max(1, steps / 4) == 0 && step != steps;
      if (report_now) {
        collect_losses();
        const double elapsed = seconds_since(epoch_start);
        last_report = Clock::now();
        const double rate = step * tokens_per_step / elapsed;
        const double eta = (steps - step) * elapsed / step + (options.epochs - epoch) * steps * elapsed / step;
        char line[200];
        std::snprintf(line, sizeof line, "epoch %d/%d step %d/%d loss %.3f %.0f chars/s ETA %s", epoch, options.epochs,
                      step, steps, loss_sum / step, rate, format_duration(eta).c_str());
        if (live) log << "\r" << line << "\x1b[K";
        else log << line << "\n";
        log.flush();
      }
    }
    collect_losses();
    const double epoch_seconds = seconds_since(epoch_start);
    train_seconds += epoch_seconds;
    const double train_loss = loss_sum / step;
    const double val_loss = text_loss(*model, val_batcher, chunk);
    const double rate = step * tokens_per_step / epoch_seconds;
    if (live) log << "\r\x1b[K";
    char line[240];
    std::snprintf(line, sizeof line,
                  "epoch %d/%d: train %.4f, val %.4f nats/char (%.4f bits/char), %.0f chars/s, %.1f s", epoch,
                  options.epochs, train_loss, val_loss, val_loss / std::log(2.0), rate, epoch_seconds);
    log << line;
    metrics << epoch << "," << train_loss << "," << val_loss << "," << rate << "," << epoch_seconds << "\n";
    metrics.flush();
    save("last.ckpt", epoch);
    if (val_loss < result.best_val_loss) {
      result.best_val_loss = val_loss;
      result.best_epoch = epoch;
      save("best.ckpt", epoch);
      log << " (best)";
    }
    log << "\n";
    log.flush();
    if (epoch == 1) point_latest_at(run_dir);
    result.epochs_run = epoch;
    result.last_train_loss = train_loss;
    result.chars_per_second = rate;
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
