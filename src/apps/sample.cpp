// abc_cuda_sample: write new tunes from a trained model, streaming each character.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <vector>

#include "abc/checkpoint.hpp"
#include "abc/cpu_model.hpp"
#include "abc/cli.hpp"
#include "abc/device_options.hpp"
#include "abc/backend.hpp"
#include "abc/io.hpp"
#include "abc/paths.hpp"
#include "abc/sampler.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "Write new tunes in ABC notation from a trained model. Each tune is primed with <start>,\n"
      "drawn one character at a time and stops at <end> (or --max-len). Tunes are numbered X:1,\n"
      "X:2, ... and separated by blank lines, so the output plays in abc2midi or any ABC player."};
  app.name("abc_cuda_sample");
  abc::SampleOptions o;
  std::string checkpoint = abc::default_runs_dir() + "/latest";
  std::string out_path;
  app.add_option("--n", o.n, "Number of tunes")->check(CLI::Range(1, 1000000))->capture_default_str();
  app.add_option("--temperature", o.temperature,
                 "Softmax temperature: lower = safer and more repetitive, higher = wilder; 0 = always the "
                 "most likely character")
      ->check(CLI::Range(0.0f, 100.0f))->capture_default_str();
  app.add_option("--max-len", o.max_len, "Characters per tune at most")->check(CLI::Range(1, 10000000))->capture_default_str();
  auto* prime_opt =
      app.add_option("--prime", o.prime, "Text fed before sampling (<start> and <end> are single tokens)")
          ->capture_default_str();
  std::string prime_file;
  auto* prime_file_opt =
      app.add_option("--prime-file", prime_file, "Read the prime from this file (e.g. a header and first bars)")
          ->excludes(prime_opt);
  abc::Steering steer;
  const std::vector<CLI::Option*> steering = {
      app.add_option("--meter", steer.meter, "Meter of the tunes, the M: field (e.g. 6/8, 4/4, 3/4, C)"),
      app.add_option("--key", steer.key, "Key and mode, the K: field (e.g. D, Ador, Gmix, Em)"),
      app.add_option("--unit", steer.unit, "Unit note length, the L: field (default 1/8 when --key is given)"),
      app.add_option("--title", steer.title, "Title, the T: field"),
      app.add_option("--rhythm", steer.rhythm,
                     "Rhythm, the R: field the corpus labels tunes with: reel, jig, slip jig, hornpipe, strathspey, "
                     "air, ..."),
      app.add_option("--bars", steer.bars,
                     "First bars to continue, e.g. \"|:A2B c2d|\" (needs --meter and --key)"),
  };
  for (CLI::Option* opt : steering) opt->excludes(prime_opt)->excludes(prime_file_opt);
  bool no_grammar = false;
  app.add_flag("--no-grammar", no_grammar,
               "Draw from the model's distribution as it is, without masking the characters that would make "
               "the tune illegal ABC or put a bar off the meter");
  app.add_option("--seed", o.seed, "Same seed, same tunes")->capture_default_str();
  app.add_option("--checkpoint", checkpoint, "Checkpoint file, or a run folder (its best.ckpt)")->capture_default_str();
  app.add_option("--out", out_path, "Write the tunes to this file (default: standard output)");
  app.add_flag("--tags", o.tags, "Keep the <start>/<end> lines in the output");
  int max_streams = 0;
  app.add_option("--streams", max_streams,
                 "Tunes drawn in parallel, one model stream each (default: all of --n, at most 64 on the CPU and "
                 "1024 on a GPU); the tunes do not depend on it")
      ->check(CLI::Range(1, 1024));
  abc::DeviceOptions compute;
  abc::add_device_options(app, compute);
  return abc::run_cli(app, argc, argv, [&] {
    o.grammar = !no_grammar;
    if (!prime_file.empty()) {
      o.prime = abc::read_file(prime_file);
      if (o.prime.rfind(abc::Vocab::kStartTag, 0) != 0) o.prime = abc::Vocab::kStartTag + o.prime;
    } else if (steer.any()) {
      o.prime = abc::steering_prime(steer);
    }
    if (std::filesystem::is_directory(checkpoint)) checkpoint += "/best.ckpt";
    const abc::Checkpoint ckpt = abc::load_checkpoint(checkpoint);
    const abc::ResolvedDevice device = abc::resolve_device(compute);
    if (!device.notice.empty()) std::cerr << "abc_cuda_sample: note: " << device.notice << "\n";
    // All tunes of a group are drawn in parallel, one stream each.
    const int streams = max_streams > 0 ? std::min(o.n, max_streams) : std::min(o.n, device.gpu() ? 1024 : 64);
    std::cerr << "abc_cuda_sample: " << device.summary() << "\n";
    const auto backend = abc::make_backend(device.backend, ckpt.model, abc::AdamConfig{}, streams, 1, device.options);
    backend->upload_params(ckpt.params.data());
    std::ofstream file;
    if (!out_path.empty()) {
      file.open(out_path, std::ios::binary | std::ios::trunc);
      if (!file) throw abc::file_error(out_path, "cannot write");
    }
    std::ostream& out = out_path.empty() ? std::cout : file;
    const abc::SampleStats stats = abc::sample_tunes(abc::sampling_model(*backend, o), ckpt.vocab, o, out);
    if (!out) throw abc::file_error(out_path.empty() ? "stdout" : out_path, "write failed (disk full?)");
    std::fprintf(stderr, "abc_cuda_sample: %d tunes (%d ended at <end>), %lld characters in %.2f s (%.0f chars/s)\n",
                 stats.tunes, stats.ended, static_cast<long long>(stats.tokens), stats.seconds,
                 stats.tokens / std::max(stats.seconds, 1e-9));
    if (o.grammar && stats.closed > 0) {
      std::fprintf(stderr,
                   "abc_cuda_sample: grammar: %d tunes ran past 3/4 of --max-len and were ended at the first place a "
                   "tune may end\n",
                   stats.closed);
    }
    if (o.grammar && stats.forced > 0) {
      std::fprintf(stderr,
                   "abc_cuda_sample: grammar: %lld forced draws (the model put under %g of its probability on the "
                   "legal characters, so the most likely legal one was taken)\n",
                   static_cast<long long>(stats.forced), abc::kForcedDrawMass);
    }
    return abc::kExitOk;
  });
}
