// abc_cuda_bench: training and sampling throughput of one backend on the default corpus,
// for tools/bench_cpu.sh (--device cpu) and tools/bench_gpu.sh (--device cuda, with
// --backend ours or cudnn).
// Reports the median of --repeats timed runs after --warmup untimed steps. Not a test:
// timings only.
//
// Every device runs through the Backend interface (make_backend), the calls the trainer
// and the sampler make, so the CPU numbers are those of the CPU backend and a GPU's are
// those of its backend:
//  - training: forward_backward + optimizer_step per chunk from one TrainBatcher; every
//    timed run ends with take_losses(), which waits for the device, so work a GPU
//    backend only queued is counted.
//    train_cpu_s_per_mchar: the process's CPU time (user + sys, all its threads: the
//    backend's and BLAS's workers too) per million of those characters, the median over
//    the repeats of each repeat's own ratio. On a GPU it is the host's share only.
//  - evaluation: --steps evaluate() calls (forward without dropout, loss summed, state
//    carried, one wait each) on the last training chunk, a full B x T one, per repeat;
//    eval_chars_per_s = steps * B * T / s, the median over the repeats.
//  - sampling: --streams streams, one sample_step (which waits) per character of each;
//    chars/s = streams * steps / s.
//  - per recurrent step (GPU devices only): fwd_us_per_step = the time of one
//    evaluate() on a training chunk (forward without dropout, loss summed, one wait) / T;
//    bwd_us_per_step = (the time of one forward_backward + optimizer_step minus that) / T,
//    i.e. backward through time plus the optimizer, spread over the chunk's T steps.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <vector>

#include "abc/backend.hpp"
#include "abc/batcher.hpp"
#include "abc/cli.hpp"
#include "abc/device_options.hpp"
#include "abc/io.hpp"
#include "abc/model.hpp"
#include "abc/paths.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// CPU seconds (user + sys) of the whole process so far: every thread's, so a
// multi-threaded backend's workers count.
double process_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Wall-clock and CPU seconds of each of `repeats` calls of `run`.
struct Timings {
  std::vector<double> wall, cpu;
};
template <class F>
Timings time_runs(int repeats, F&& run) {
  Timings times;
  for (int r = 0; r < repeats; ++r) {
    const double cpu0 = process_cpu_seconds();
    const auto t0 = Clock::now();
    run();
    times.wall.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    times.cpu.push_back(process_cpu_seconds() - cpu0);
  }
  return times;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// The median of work / seconds over the runs.
double median_rate(double work, const std::vector<double>& seconds) {
  std::vector<double> rates;
  for (const double s : seconds) rates.push_back(work / s);
  return median(rates);
}

// make_backend, with the flags named in its error (a cuDNN that this build lacks, a GPU
// that is not usable): tools/bench_gpu.sh shows that line as the row's reason.
std::unique_ptr<abc::Backend> open_backend(const abc::ResolvedDevice& device, const abc::ModelConfig& config,
                                           int max_batch, int max_seq) {
  try {
    return abc::make_backend(device.backend, config, abc::AdamConfig{}, max_batch, max_seq, device.options);
  } catch (const abc::Error& e) {
    const std::string flags = "--device " + device.device + (device.backend == "cudnn" ? " --backend cudnn" : "");
    throw abc::Error(flags + ": " + e.what(), e.exit_code());
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Measure training and sampling throughput (characters per second) of a backend."};
  app.name("abc_cuda_bench");
  std::string cell = "lstm";
  abc::DeviceOptions compute;
  int hidden = 100, batch = 64, seq = 100, steps = 20, warmup = 3, repeats = 5, sample_chars = 20000, streams = 1;
  std::string corpus = abc::default_corpus_dir() + "/train.txt";
  abc::add_device_options(app, compute);
  app.add_option("--cell", cell)->check(CLI::IsMember(abc::cell_names()))->capture_default_str();
  app.add_option("--hidden", hidden)->check(CLI::Range(1, 8192))->capture_default_str();
  app.add_option("--batch", batch)->check(CLI::Range(1, 65536))->capture_default_str();
  app.add_option("--seq", seq)->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--steps", steps, "Timed training steps, then evaluation chunks, per repeat (0: neither timed)")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  app.add_option("--warmup", warmup, "Untimed steps first")->check(CLI::Range(0, 100000))->capture_default_str();
  app.add_option("--repeats", repeats)->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--sample-chars", sample_chars, "Sampling steps per repeat, one character per stream each (0: no sampling)")->check(CLI::Range(0, 100000000))->capture_default_str();
  app.add_option("--streams", streams, "Parallel sampling streams")->check(CLI::Range(1, 65536))->capture_default_str();
  app.add_option("--corpus", corpus, "Training text (<start>/<end> format)")->capture_default_str();
  return abc::run_cli(app, argc, argv, [&] {
    const std::string text = abc::read_file(corpus);
    const abc::Vocab vocab = abc::Vocab::from_text(text);
    abc::ModelConfig config;
    config.cell = abc::parse_cell_kind(cell);
    config.vocab = vocab.size();
    config.hidden = hidden;
    config.dropout = 0.1f;
    const abc::ResolvedDevice device = abc::resolve_device(compute);
    if (!device.notice.empty()) std::cerr << "abc_cuda_bench: note: " << device.notice << "\n";
    std::cerr << "abc_cuda_bench: " << device.summary() << "\n";
    const bool gpu = device.gpu();
    const auto model = open_backend(device, config, batch, seq);
    std::vector<float> params(model->num_params());
    abc::init_param_block(model->layout(), 1, params.data());
    model->upload_params(params.data());

    abc::TrainBatcher batcher(abc::split_token_tunes(vocab.encode(text)), batch, seq, 1);
    abc::Chunk chunk;
    std::uint64_t step = 0;
    auto next_chunk = [&] {
      if (!batcher.next(chunk)) {
        batcher.start_epoch(static_cast<int>(step));
        batcher.next(chunk);
      }
    };
    auto train_steps = [&](int n) {
      for (int i = 0; i < n; ++i) {
        next_chunk();
        model->forward_backward(chunk, 1, step++);
        model->optimizer_step();
      }
      if (model->take_losses().nonfinite) std::cerr << "abc_cuda_bench: warning: a non-finite loss or gradient norm\n";
    };
    double train_rate = 0, train_cpu_per_mchar = 0, eval_rate = 0, fwd_us = 0, bwd_us = 0;
    if (steps > 0) {
      const double chars = static_cast<double>(steps) * batch * seq;
      train_steps(warmup);
      const Timings train_s = time_runs(repeats, [&] { train_steps(steps); });
      train_rate = median_rate(chars, train_s.wall);
      std::vector<double> cpu_per_mchar;
      for (const double s : train_s.cpu) cpu_per_mchar.push_back(s / (chars * 1e-6));
      train_cpu_per_mchar = median(cpu_per_mchar);
      // Forward alone on the last training chunk (full T: the batcher yields only full chunks).
      model->evaluate(chunk);  // untimed: its first call may set things up
      const Timings eval_s = time_runs(repeats, [&] {
        for (int i = 0; i < steps; ++i) model->evaluate(chunk);
      });
      eval_rate = median_rate(chars, eval_s.wall);
      if (gpu) {
        const double per_chunk_train = median(train_s.wall) / steps, per_chunk_eval = median(eval_s.wall) / steps;
        fwd_us = per_chunk_eval / chunk.T * 1e6;
        bwd_us = (per_chunk_train - per_chunk_eval) / chunk.T * 1e6;
      }
    }

    // Sampling: its own backend sized for the streams, as abc_cuda_sample builds one.
    double sample_rate = 0;
    if (sample_chars > 0) {
      const auto sampler = open_backend(device, config, streams, 1);
      model->download_params(params.data());
      sampler->upload_params(params.data());
      std::vector<abc::TokenId> tokens(static_cast<std::size_t>(streams)), next(tokens.size());
      std::uint32_t sample_step = 0;
      auto sample_steps = [&](int n) {
        for (int i = 0; i < n; ++i) {
          sampler->sample_step(tokens.data(), streams, 0.8f, 1, 0, sample_step++, next.data());
          tokens.swap(next);
        }
      };
      std::fill(tokens.begin(), tokens.end(), abc::Vocab::kStart);
      sampler->reset_state();
      sample_steps(gpu ? warmup : 0);  // the first GPU steps pay for lazy setup
      const Timings sample_s = time_runs(repeats, [&] {
        std::fill(tokens.begin(), tokens.end(), abc::Vocab::kStart);
        sampler->reset_state();
        sample_step = 0;
        sample_steps(sample_chars);
      });
      sample_rate = median_rate(static_cast<double>(streams) * sample_chars, sample_s.wall);
    }

    // The first keys stay in this order (scripts parse them); newer keys go at the end.
    std::printf("cell=%s hidden=%d batch=%d seq=%d", cell.c_str(), hidden, batch, seq);
    if (steps > 0) std::printf(" train_chars_per_s=%.0f", train_rate);
    if (sample_chars > 0) std::printf(" sample_chars_per_s=%.0f", sample_rate);
    if (gpu || streams != 1) {
      std::printf(" device=%s", device.device.c_str());
      if (gpu) std::printf(" backend=%s", compute.backend.c_str());
      std::printf(" streams=%d", streams);
    }
    if (gpu && steps > 0) std::printf(" fwd_us_per_step=%.2f bwd_us_per_step=%.2f", fwd_us, bwd_us);
    if (steps > 0) std::printf(" train_cpu_s_per_mchar=%.3f eval_chars_per_s=%.0f", train_cpu_per_mchar, eval_rate);
    if (!gpu) std::printf(" threads=%d", device.options.cpu_threads);
    std::printf(" vocab=%d", config.vocab);
    std::printf("\n");
    return abc::kExitOk;
  });
}
