// abc_cuda_eval: how good is a model, and how good are its tunes?
//   abc_cuda_eval loss  [--checkpoint RUN] [--text FILE]     nats and bits per character
//   abc_cuda_eval stats TUNES [--real FILE] [--train FILE] [--json OUT]
#include <cmath>
#include <filesystem>
#include <iostream>

#include "abc/backend.hpp"
#include "abc/batcher.hpp"
#include "abc/checkpoint.hpp"
#include "abc/cli.hpp"
#include "abc/device_options.hpp"
#include "abc/eval.hpp"
#include "abc/io.hpp"
#include "abc/paths.hpp"
#include "abc/trainer.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Evaluate a checkpoint's loss on a text, or the statistics of a file of tunes."};
  app.name("abc_cuda_eval");
  app.require_subcommand(1);

  CLI::App* loss = app.add_subcommand("loss", "Loss of a checkpoint over a whole text, state carried (the trainer's validation loss)");
  std::string checkpoint = abc::default_runs_dir() + "/latest";
  std::string text_path = abc::default_corpus_dir() + "/val.txt";
  abc::DeviceOptions compute;
  int batch = 16, seq = 100;
  loss->add_option("--checkpoint", checkpoint, "Checkpoint file or run folder")->capture_default_str();
  loss->add_option("--text", text_path, "Text in the <start>/<end> format")->capture_default_str();
  loss->add_option("--batch", batch, "Streams the text is cut into")->check(CLI::Range(1, 65536))->capture_default_str();
  loss->add_option("--seq", seq, "Chunk length")->check(CLI::Range(1, 100000))->capture_default_str();
  abc::add_device_options(*loss, compute);

  CLI::App* stats = app.add_subcommand("stats", "Statistics of a file of tunes, beside a real file of tunes");
  std::string tunes_path, real_path, train_path, json_path;
  int threads = 2;
  stats->add_option("tunes", tunes_path, "Tunes: abc_cuda_sample output (with --tags, the table knows which ended)")
      ->required()->check(CLI::ExistingFile);
  stats->add_option("--real", real_path, "Real tunes to compare with (e.g. data/corpus/val.txt)")->check(CLI::ExistingFile);
  stats->add_option("--train", train_path, "Training text, for the longest run each tune shares with it")
      ->check(CLI::ExistingFile);
  stats->add_option("--json", json_path, "Also write the numbers as JSON to this file");
  stats->add_option("--threads", threads, "abc2midi workers")->check(CLI::Range(1, 64))->capture_default_str();

  return abc::run_cli(app, argc, argv, [&] {
    if (*loss) {
      if (std::filesystem::is_directory(checkpoint)) checkpoint += "/best.ckpt";
      const abc::Checkpoint ckpt = abc::load_checkpoint(checkpoint);
      std::size_t unknown = 0;
      const auto tokens = ckpt.vocab.encode(abc::read_file(text_path), &unknown);
      abc::SequentialBatcher text(tokens, batch, seq);
      const abc::ResolvedDevice device = abc::resolve_device(compute);
      if (!device.notice.empty()) std::cerr << "abc_cuda_eval: note: " << device.notice << "\n";
      std::cerr << "abc_cuda_eval: " << device.summary() << "\n";
      const auto model = abc::make_backend(device.backend, ckpt.model, abc::AdamConfig{}, text.streams(), seq,
                                            device.options);
      model->upload_params(ckpt.params.data());
      abc::Chunk chunk;
      const double nats = abc::text_loss(*model, text, chunk);
      std::printf("%s: %.6f nats/char, %.4f bits/char over %lld predicted characters", text_path.c_str(), nats,
                  nats / std::log(2.0), static_cast<long long>(text.predicted_tokens()));
      if (unknown) std::printf(" (%zu characters outside the vocabulary skipped)", unknown);
      std::printf("\n");
      return abc::kExitOk;
    }
    std::vector<std::pair<std::string, abc::TuneFileStats>> columns;
    std::unique_ptr<abc::SharedSubstringIndex> train;
    if (!train_path.empty()) train = std::make_unique<abc::SharedSubstringIndex>(abc::read_file(train_path));
    const auto tunes = abc::read_eval_tunes(abc::read_file(tunes_path));
    if (tunes.empty()) throw abc::file_error(tunes_path, "no tunes found");
    columns.emplace_back(std::filesystem::path(tunes_path).filename().string(),
                         abc::tune_file_stats(tunes, train.get(), threads));
    if (!real_path.empty()) {
      const auto real = abc::read_eval_tunes(abc::read_file(real_path));
      if (real.empty()) throw abc::file_error(real_path, "no tunes found");
      columns.emplace_back(std::filesystem::path(real_path).filename().string() + " (real)",
                           abc::tune_file_stats(real, nullptr, threads));
    }
    std::cout << abc::stats_table(columns);
    if (!json_path.empty()) abc::write_file_atomic(json_path, abc::stats_json(columns));
    return abc::kExitOk;
  });
}
