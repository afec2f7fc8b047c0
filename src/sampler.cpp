#include "abc/sampler.hpp"

#include <algorithm>
#include <chrono>

#include "abc/abc_grammar.hpp"
#include "abc/abc_tune.hpp"
#include "abc/backend.hpp"
#include "abc/error.hpp"
#include "abc/sampling_math.hpp"

namespace abc {

void TuneWriter::begin_tune() {
  if (tags_) out_ << Vocab::kStartTag << '\n';
  at_line_start_ = true;
  tune_has_text_ = false;
  buffering_x_ = false;
  line_.clear();
}

void TuneWriter::flush_line_buffer() {
  // line_ holds "X" plus what followed; it is an X: field once its second char is ':'.
  if (line_.size() >= 2 && line_[1] == ':') {
    out_ << "X:" << next_x_++;
    if (line_.back() == '\n') out_ << '\n';
  } else {
    if (!tune_has_text_) out_ << "X:" << next_x_++ << '\n';
    out_ << line_;
  }
  at_line_start_ = !line_.empty() && line_.back() == '\n';
  tune_has_text_ = true;
  buffering_x_ = false;
  line_.clear();
  out_.flush();
}

void TuneWriter::put(char c) {
  if (buffering_x_) {
    line_.push_back(c);
    const bool decided_not_x = line_.size() == 2 && c != ':';
    if (decided_not_x || c == '\n') flush_line_buffer();
    return;
  }
  if (!tune_has_text_ && c == '\n') return;  // leading blank lines
  if (at_line_start_ && c == 'X') {
    buffering_x_ = true;
    line_.assign(1, c);
    return;
  }
  if (!tune_has_text_) out_ << "X:" << next_x_++ << '\n';
  out_ << c;
  out_.flush();
  tune_has_text_ = true;
  at_line_start_ = c == '\n';
}

void TuneWriter::end_tune(bool at_end) {
  if (buffering_x_) flush_line_buffer();
  if (!tune_has_text_) {
    out_ << "X:" << next_x_++ << '\n';
  } else if (!at_line_start_) {
    out_ << '\n';
  }
  if (tags_ && at_end) out_ << Vocab::kEndTag << '\n';  // a tune cut at --max-len has no <end>
  out_ << '\n';  // a blank line between tunes
  out_.flush();
  at_line_start_ = true;
  tune_has_text_ = false;
}

std::string steering_prime(const Steering& steering) {
  if (!steering.bars.empty() && (steering.meter.empty() || steering.key.empty())) {
    throw Error("--bars continues a tune after its header: give --meter and --key too (and --unit, default 1/8)",
                kExitUsage);
  }
  AbcGrammar check(AbcGrammar::Options{false});  // syntax: a value may be any legal one
  std::string text;
  auto add = [&](const std::string& flag, const std::string& value, const std::string& piece) {
    try {
      check.feed(piece);
    } catch (const Error& e) {
      throw Error(flag + " '" + value + "' is not valid ABC here (" + e.what() + ")", kExitUsage);
    }
    text += piece;
  };
  add("X:", "1", "X:1\n");
  if (!steering.title.empty()) add("--title", steering.title, "T:" + steering.title + "\n");
  if (!steering.rhythm.empty()) {
    const std::string rhythm = normalised_rhythm(steering.rhythm);
    if (rhythm.empty()) {
      std::string names;
      for (const char* r : kRhythmNames) names += (names.empty() ? "" : ", ") + std::string(r);
      throw Error("--rhythm '" + steering.rhythm + "' is not a rhythm the corpus labels (" + names + ")", kExitUsage);
    }
    if (rhythm == kHornpipeName && !steering.meter.empty() && !hornpipe_meter(steering.meter)) {
      throw Error("--rhythm hornpipe needs --meter 2/4 or 4/4 (abc2midi plays hornpipes only there), not " +
                      steering.meter,
                  kExitUsage);
    }
    add("--rhythm", steering.rhythm, "R:" + rhythm + "\n");
  }
  if (!steering.meter.empty()) add("--meter", steering.meter, "M:" + steering.meter + "\n");
  const std::string unit = !steering.unit.empty() ? steering.unit : !steering.key.empty() ? "1/8" : "";
  if (!unit.empty()) add("--unit", unit, "L:" + unit + "\n");
  if (!steering.key.empty()) add("--key", steering.key, "K:" + steering.key + "\n");
  if (!steering.bars.empty()) add("--bars", steering.bars, steering.bars);
  // The meter layer too: first bars that do not fit the meter are refused now.
  AbcGrammar measured;
  try {
    measured.feed(text);
  } catch (const Error& e) {
    throw Error("--bars '" + steering.bars + "' do not fit the meter " + steering.meter + " (" + e.what() + ")",
                kExitUsage);
  }
  return std::string(Vocab::kStartTag) + text;
}

SamplingModel sampling_model(Backend& backend, const SampleOptions& options) {
  SamplingModel model;
  model.max_streams = backend.max_batch();
  model.reset_state = [&backend] { backend.reset_state(); };
  const float temperature = options.temperature;
  const std::uint64_t seed = options.seed;
  model.step = [&backend, temperature, seed](const TokenId* tokens, int n, std::uint32_t first_stream,
                                             std::uint32_t step, TokenId* next) {
    backend.sample_step(tokens, n, temperature, seed, first_stream, step, next);
  };
  model.step_logits = [&backend](const TokenId* tokens, int n, float* logits) {
    backend.step_logits(tokens, n, logits);
  };
  return model;
}

namespace {

// One tune being generated: its text so far (until its turn to print) and progress.
struct Stream {
  std::string pending;  // characters not yet given to the writer
  int drawn = 0;
  bool done = false;
  bool ended = false;   // finished at <end>
  AbcGrammar grammar;   // with options.grammar: what may come next
};

// The grammar's draws for n streams from their logits [n, V]: per stream, the tokens the
// automaton allows (<end> where the tune may end, never <start>), then a draw over them.
class GrammarDraw {
 public:
  GrammarDraw(const Vocab& vocab, const SampleOptions& options) : vocab_(vocab), options_(options) {
    const int V = vocab.size();
    chars_.resize(static_cast<std::size_t>(V));
    for (TokenId v = 0; v < V; ++v) {
      if (v != Vocab::kStart && v != Vocab::kEnd) chars_[static_cast<std::size_t>(v)] = vocab.token_text(v)[0];
    }
    allowed_.resize(static_cast<std::size_t>(V));
  }

  // Draws stream i's next token; counts forced draws. No legal token at all (the automaton
  // should never get there): <end>, counted as forced.
  TokenId draw(const Stream& s, const float* logits, std::uint32_t stream, std::uint32_t step, SampleStats& stats) {
    if (4 * static_cast<std::int64_t>(s.drawn) >= 3 * static_cast<std::int64_t>(options_.max_len) &&
        s.grammar.may_end()) {
      ++stats.closed;
      return Vocab::kEnd;
    }
    const int V = vocab_.size();
    for (TokenId v = 0; v < V; ++v) {
      const auto k = static_cast<std::size_t>(v);
      allowed_[k] = v == Vocab::kEnd ? s.grammar.may_end() : v == Vocab::kStart ? false : s.grammar.allows(chars_[k]);
    }
    const float u = sample_uniform(options_.seed, stream, step);
    bool forced = false;
    const int t = sample_allowed_token(logits, allowed_.data(), V, options_.temperature, u, kForcedDrawMass, &forced);
    if (t < 0 || forced) ++stats.forced;
    return t < 0 ? Vocab::kEnd : static_cast<TokenId>(t);
  }

 private:
  const Vocab& vocab_;
  const SampleOptions& options_;
  std::vector<char> chars_;              // [V] each token's character ('\0' for the tags)
  std::vector<unsigned char> allowed_;   // [V]
};

// The prime's tokens and, with the grammar, the automaton after it; usage errors for an
// empty prime, a character outside the vocabulary or (grammar) an illegal beginning.
std::vector<TokenId> read_prime(const Vocab& vocab, const SampleOptions& options, std::string* prime_text,
                                AbcGrammar* primed) {
  if (options.prime.empty()) throw Error("--prime must not be empty", kExitUsage);
  std::vector<TokenId> prime;
  try {
    prime = vocab.encode(options.prime);
  } catch (const Error& e) {
    throw Error(std::string("--prime: ") + e.what(), kExitUsage);
  }
  prime_text->clear();
  for (TokenId id : prime) {
    if (id != Vocab::kStart && id != Vocab::kEnd) *prime_text += vocab.token_text(id);
  }
  if (options.grammar) {
    try {
      primed->feed(*prime_text);
    } catch (const Error& e) {
      throw Error(std::string("the prime is not the beginning of a legal tune (") + e.what() +
                      "); fix it, or sample with --no-grammar",
                  kExitUsage);
    }
  }
  return prime;
}

}  // namespace

void check_prime(const Vocab& vocab, const SampleOptions& options) {
  std::string text;
  AbcGrammar primed;
  read_prime(vocab, options, &text, &primed);
}

SampleStats sample_tunes(const SamplingModel& model, const Vocab& vocab, const SampleOptions& options,
                         std::ostream& out) {
  if (model.max_streams < 1) throw Error("internal: sampling model without streams");
  if (options.grammar && !model.step_logits) throw Error("internal: grammar sampling needs a model with step_logits");
  std::string prime_text;
  AbcGrammar primed;  // the automaton after the prime, copied into every stream
  const std::vector<TokenId> prime = read_prime(vocab, options, &prime_text, &primed);
  GrammarDraw grammar_draw(vocab, options);
  std::vector<float> logits;

  const auto start = std::chrono::steady_clock::now();
  SampleStats stats;
  TuneWriter writer(out, options.tags);
  std::vector<TokenId> tokens, next;
  std::vector<Stream> streams;
  const auto stopped = [&] { return options.stop && options.stop(); };
  for (int group_start = 0; group_start < options.n && !stopped(); group_start += model.max_streams) {
    const int g = std::min(model.max_streams, options.n - group_start);
    const auto first = static_cast<std::uint32_t>(group_start);
    tokens.assign(static_cast<std::size_t>(g), Vocab::kStart);
    next.assign(static_cast<std::size_t>(g), Vocab::kStart);
    streams.assign(static_cast<std::size_t>(g), Stream{});
    const std::size_t V = static_cast<std::size_t>(vocab.size());
    if (options.grammar) logits.resize(static_cast<std::size_t>(g) * V);
    for (auto& s : streams) {
      s.pending = prime_text;
      s.grammar = primed;
    }
    model.reset_state();
    // One step of the model for every stream: the next tokens drawn by the backend, or by
    // the grammar from the logits.
    auto step_all = [&](std::uint32_t step) {
      if (!options.grammar) {
        model.step(tokens.data(), g, first, step, next.data());
        return;
      }
      model.step_logits(tokens.data(), g, logits.data());
      for (int i = 0; i < g; ++i) {
        const Stream& s = streams[static_cast<std::size_t>(i)];
        if (s.done) continue;
        next[static_cast<std::size_t>(i)] = grammar_draw.draw(s, logits.data() + static_cast<std::size_t>(i) * V,
                                                              first + static_cast<std::uint32_t>(i), step, stats);
      }
    };
    // Feed the prime; only the draw after its last token counts (generation step 0).
    for (std::size_t k = 0; k < prime.size(); ++k) {
      std::fill(tokens.begin(), tokens.end(), prime[k]);
      if (k + 1 < prime.size() && options.grammar) {
        model.step_logits(tokens.data(), g, logits.data());  // the state advances; no draw
      } else {
        step_all(0);
      }
    }

    int printing = 0;  // the stream whose characters go straight to the writer
    writer.begin_tune();
    auto print_ready = [&] {
      // Hand the printing stream's pending text over; finish it and move on when done.
      while (printing < g) {
        Stream& s = streams[static_cast<std::size_t>(printing)];
        for (char c : s.pending) writer.put(c);
        s.pending.clear();
        if (!s.done) return;
        writer.end_tune(s.ended);
        ++stats.tunes;
        stats.ended += s.ended;
        if (options.tune_done) options.tune_done(s.ended);
        if (++printing < g) writer.begin_tune();
      }
    };
    int active = g;
    for (std::uint32_t step = 0; active > 0; ++step) {
      if (step > 0) {
        if (stopped()) break;
        step_all(step);
      }
      for (int i = 0; i < g; ++i) {
        Stream& s = streams[static_cast<std::size_t>(i)];
        if (s.done) continue;
        const TokenId t = next[static_cast<std::size_t>(i)];
        ++s.drawn;
        ++stats.tokens;
        if (t == Vocab::kEnd) {
          s.done = s.ended = true;
        } else {
          if (t != Vocab::kStart) {
            const char c = vocab.token_text(t)[0];
            s.pending += c;
            if (options.grammar) s.grammar.feed(c);
          }
          tokens[static_cast<std::size_t>(i)] = t;
          if (s.drawn >= options.max_len) s.done = true;
        }
        if (s.done) --active;
      }
      print_ready();
    }
    if (active > 0) break;  // stopped mid-group: the unfinished tunes are not printed
    print_ready();
  }
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

}  // namespace abc
