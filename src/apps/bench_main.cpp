// abc_cuda_bench: training and sampling throughput of the CPU backend on the default
// corpus (or synthetic tokens), for tools/bench_cpu.sh. Reports the median of
// --repeats timed runs after --warmup untimed steps. Not a test: timings only.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "abc/batcher.hpp"
#include "abc/cli.hpp"
#include "abc/io.hpp"
#include "abc/cpu_model.hpp"
#include "abc/optimizer.hpp"
#include "abc/paths.hpp"
#include "abc/sampling_math.hpp"

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Measure CPU training and sampling throughput (characters per second)."};
  app.name("abc_cuda_bench");
  std::string cell = "lstm";
  int hidden = 100, batch = 64, seq = 100, steps = 20, warmup = 3, repeats = 5, sample_chars = 20000;
  std::string corpus = abc::default_corpus_dir() + "/train.txt";
  app.add_option("--cell", cell)->check(CLI::IsMember({"lstm", "rnn"}))->capture_default_str();
  app.add_option("--hidden", hidden)->check(CLI::Range(1, 8192))->capture_default_str();
  app.add_option("--batch", batch)->check(CLI::Range(1, 65536))->capture_default_str();
  app.add_option("--seq", seq)->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--steps", steps, "Timed training steps per repeat")->check(CLI::Range(1, 100000))->capture_default_str();
  app.add_option("--warmup", warmup, "Untimed steps first")->check(CLI::Range(0, 100000))->capture_default_str();
  app.add_option("--repeats", repeats)->check(CLI::Range(1, 1000))->capture_default_str();
  app.add_option("--sample-chars", sample_chars, "Characters per sampling repeat")->check(CLI::Range(1, 100000000))->capture_default_str();
  app.add_option("--corpus", corpus, "Training text (<start>/<end> format)")->capture_default_str();
  return abc::run_cli(app, argc, argv, [&] {
    const std::string text = abc::read_file(corpus);
    const abc::Vocab vocab = abc::Vocab::from_text(text);
    abc::ModelConfig config;
    config.cell = abc::parse_cell_kind(cell);
    config.vocab = vocab.size();
    config.hidden = hidden;
    config.dropout = 0.1f;
    abc::CpuModel<float> model(config, batch, seq);
    model.init_params(1);
    abc::Adam<float> adam(model.num_params(), abc::AdamConfig{});
    abc::TrainBatcher batcher(abc::split_token_tunes(vocab.encode(text)), batch, seq, 1);
    abc::Chunk chunk;
    std::uint64_t step = 0;
    auto train_step = [&] {
      if (!batcher.next(chunk)) {
        batcher.start_epoch(static_cast<int>(step));
        batcher.next(chunk);
      }
      model.forward_backward(chunk, 1, step++);
      adam.step(model.params(), model.grads());
    };
    for (int i = 0; i < warmup; ++i) train_step();
    std::vector<double> train_rates;
    for (int r = 0; r < repeats; ++r) {
      const auto t0 = Clock::now();
      for (int i = 0; i < steps; ++i) train_step();
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      train_rates.push_back(static_cast<double>(steps) * batch * seq / s);
    }

    // Sampling: one stream, one character at a time, as abc_cuda_sample does.
    abc::CpuModel<float> sampler(config, 1, 1);
    std::copy(model.params(), model.params() + model.num_params(), sampler.params());
    std::vector<float> logits(static_cast<std::size_t>(vocab.size()));
    std::vector<double> sample_rates;
    for (int r = 0; r < repeats; ++r) {
      sampler.reset_state();
      abc::TokenId token = abc::Vocab::kStart;
      const auto t0 = Clock::now();
      for (int i = 0; i < sample_chars; ++i) {
        sampler.step_logits(&token, 1, logits.data());
        token = abc::sample_token(logits.data(), vocab.size(), 0.8f, abc::sample_uniform(1, 0, static_cast<std::uint32_t>(i)));
      }
      const double s = std::chrono::duration<double>(Clock::now() - t0).count();
      sample_rates.push_back(sample_chars / s);
    }
    std::printf("cell=%s hidden=%d batch=%d seq=%d train_chars_per_s=%.0f sample_chars_per_s=%.0f\n", cell.c_str(),
                hidden, batch, seq, median(train_rates), median(sample_rates));
    return abc::kExitOk;
  });
}
