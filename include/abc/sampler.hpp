// The sampler: primes a model with <start> (or a given prime), then draws characters
// one at a time, streaming them to the output as they are made, until <end> or
// max_len. Each tune gets a fresh X: number so the output is one valid ABC file.
#pragma once
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "abc/vocab.hpp"

namespace abc {

struct SampleOptions {
  int n = 10;                    // tunes
  float temperature = 0.7f;      // 0 = argmax; 0.7: docs/temperature.md
  int max_len = 2000;            // tokens generated per tune, prime excluded
  std::string prime = "<start>";
  std::uint64_t seed = 1;
  bool tags = false;             // keep <start>/<end> in the output
  // Grammar-constrained sampling (abc_grammar.hpp): before each draw, the characters that
  // would make the tune illegal ABC (or put a bar off the meter) are masked out and the
  // distribution renormalised over the rest. A tune past 3/4 of max_len ends at the first
  // place it may end (a model caught in a loop would otherwise be cut off mid-bar). Needs
  // SamplingModel::step_logits.
  bool grammar = true;
  // Hooks for a caller that streams the tunes elsewhere (abc_cuda_serve); both optional.
  // stop: polled before every model step; true ends sampling there (the tune being drawn is
  // left unfinished), so a client that went away stops costing compute.
  std::function<bool()> stop;
  // tune_done: after each tune is written and flushed to `out`, in order; `ended`: at <end>.
  std::function<void(bool ended)> tune_done;
};

// Below this share of the distribution on legal tokens, a grammar draw is forced: the most
// likely legal token is taken (the model has next to no opinion among them).
constexpr double kForcedDrawMass = 1e-4;

struct SampleStats {
  int tunes = 0;
  int ended = 0;                 // tunes that ended at <end> (the rest hit max_len)
  std::int64_t tokens = 0;       // generated tokens
  std::int64_t forced = 0;       // grammar draws forced (kForcedDrawMass)
  int closed = 0;                // grammar tunes ended at their first legal end past 3/4 of max_len
  double seconds = 0;
};

// What the sampler needs of a model: up to max_streams streams stepped together.
// step() feeds tokens [n] (state carried) and writes the next tokens [n], drawn for
// streams first_stream .. first_stream+n-1 at generation step `step`
// (Backend::sample_step; temperature and seed are bound in).
// step_logits() feeds tokens [n] and writes the next step's logits [n, V] instead, for
// the grammar, which draws on the host (the same sample_uniform stream, so the draws stay
// reproducible for a seed).
struct SamplingModel {
  int max_streams = 1;
  std::function<void()> reset_state;
  std::function<void(const TokenId* tokens, int n, std::uint32_t first_stream, std::uint32_t step, TokenId* next)>
      step;
  std::function<void(const TokenId* tokens, int n, float* logits)> step_logits;
};

// What a user asks of the tunes (abc_cuda_sample --meter --key --unit --title --bars):
// turned into the prime, a header and first bars the model continues.
struct Steering {
  std::string meter;  // M: value, e.g. 6/8
  std::string key;    // K: value, e.g. Dmix
  std::string unit;   // L: value, e.g. 1/8
  std::string title;   // T: value
  std::string rhythm;  // R: value, one of kRhythmNames (abc_tune.hpp)
  std::string bars;    // the first bars, e.g. "|:A2B c2d|"
  bool any() const {
    return !meter.empty() || !key.empty() || !unit.empty() || !title.empty() || !rhythm.empty() || !bars.empty();
  }
};
// "<start>X:1\n" + T:, R:, M:, L:, K: lines for the values given + the bars. With --key the
// header is closed, so L: is written too (1/8 unless --unit says otherwise: the corpus's
// usual unit; ABC's default would be 1/16 under 2/4). --bars needs --meter and --key. Each
// value is checked with the grammar: a bad one throws abc::Error (exit 2) naming its flag.
std::string steering_prime(const Steering& steering);

class Backend;
// Binds a backend's sample_step to the options' temperature and seed, and its step_logits.
SamplingModel sampling_model(Backend& backend, const SampleOptions& options);

// Writes n tunes to `out` and returns the counts. Tunes are generated in groups of
// up to max_streams in parallel; the tune being printed streams character by
// character (flushed), the others are held until their turn, so the output is in
// order. With options.stop, returns early with the counts so far. Throws abc::Error when the prime has a character outside the vocabulary, or (with
// the grammar) is not the beginning of a legal tune.
SampleStats sample_tunes(const SamplingModel& model, const Vocab& vocab, const SampleOptions& options,
                         std::ostream& out);

// The checks sample_tunes makes of options.prime before it draws anything (a usage error
// for an empty prime, a character outside the vocabulary, or with the grammar a prime that
// is not the beginning of a legal tune), for a caller that must answer before it starts.
void check_prime(const Vocab& vocab, const SampleOptions& options);

// Rewrites the X: lines of a tune stream as it goes: the first line of each tune
// becomes "X:<k>" (inserted when the model wrote none), and any later X: line gets
// the next number, so numbers never clash. Leading blank lines are skipped.
class TuneWriter {
 public:
  TuneWriter(std::ostream& out, bool tags) : out_(out), tags_(tags) {}
  void begin_tune();            // writes "<start>" when tags are kept
  void put(char c);             // one generated character
  // Closes the tune; with tags kept, writes "<end>" only when the model ended it.
  void end_tune(bool at_end);
  int next_number() const { return next_x_; }

 private:
  void flush_line_buffer();
  std::ostream& out_;
  bool tags_;
  int next_x_ = 1;
  bool at_line_start_ = true;
  bool tune_has_text_ = false;
  bool buffering_x_ = false;    // inside a line that starts with "X"
  std::string line_;            // the buffered "X..." line
};

}  // namespace abc
