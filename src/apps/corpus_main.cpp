// abc_cuda_corpus: build the training corpus (train.txt, val.txt) from ABC files,
// folders and <start>/<end> text. Thin: parse flags, build, report, write.
#include <iostream>

#include "abc/cli.hpp"
#include "abc/corpus.hpp"
#include "abc/paths.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "Build an abc-cuda training corpus: cut tunes out of .abc files, folders and <start>/<end>\n"
      "text, clean them, drop duplicates and tunes abc2midi cannot play, and write train.txt and\n"
      "val.txt (each tune framed by <start> and <end> lines). With no inputs it builds the default\n"
      "corpus from the sources tools/fetch_corpus.sh downloaded."};
  std::vector<std::string> inputs;
  std::string out_dir = abc::default_corpus_dir();
  abc::CorpusOptions options;
  app.add_option("inputs", inputs, ".abc files, folders of them, or <start>/<end> .txt files");
  app.add_option("--out", out_dir, "Output folder for train.txt and val.txt")->capture_default_str();
  app.add_option("--val", options.val_fraction, "Share of tunes for validation")
      ->check(CLI::Range(0.0, 0.5))->capture_default_str();
  app.add_option("--test", options.test_fraction, "Share of tunes for test.txt (0 = none)")
      ->check(CLI::Range(0.0, 0.5))->capture_default_str();
  app.add_option("--seed", options.seed, "Seed of the train/val split")->capture_default_str();
  app.add_option("--max-chars", options.clean.max_chars, "Drop tunes longer than this")
      ->check(CLI::Range(100, 1000000))->capture_default_str();
  app.add_flag("--keep-unplayable", options.keep_unplayable,
               "Keep tunes that abc2midi reports errors for (skips the abc2midi check)");
  bool no_normalise = false;
  app.add_flag("--no-normalise", no_normalise,
               "Do not strip fingerings, free-text quotes, bowings and typesetting fields");
  app.add_option("--threads", options.threads, "abc2midi workers")->check(CLI::Range(1, 64))->capture_default_str();
  app.name("abc_cuda_corpus");
  return abc::run_cli(app, argc, argv, [&] {
    options.clean.normalise = !no_normalise;
    const bool default_corpus = inputs.empty();
    if (default_corpus) inputs = abc::default_sources();
    abc::Corpus corpus;
    try {
      corpus = abc::build_corpus(inputs, options);
    } catch (const abc::Error& e) {
      if (default_corpus) {
        throw abc::Error(std::string(e.what()) + " (the default corpus is missing: run tools/fetch_corpus.sh first)");
      }
      throw;
    }
    std::cout << abc::format_report(corpus);
    const abc::Split split =
        abc::split_tunes(corpus.tunes, options.val_fraction, options.test_fraction, options.seed);
    abc::write_split(split, out_dir);
    const auto train_stats = abc::text_stats(abc::to_tagged_text(split.train));
    std::cout << "wrote " << out_dir << "/train.txt (" << split.train.size() << " tunes, "
              << train_stats.chars << " characters), val.txt (" << split.val.size() << " tunes)";
    if (!split.test.empty()) std::cout << ", test.txt (" << split.test.size() << " tunes)";
    std::cout << "\n";
    return abc::kExitOk;
  });
}
