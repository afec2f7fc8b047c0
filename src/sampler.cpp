#include "abc/sampler.hpp"

#include <algorithm>
#include <chrono>

#include "abc/backend.hpp"
#include "abc/error.hpp"

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
  return model;
}

namespace {

// One tune being generated: its text so far (until its turn to print) and progress.
struct Stream {
  std::string pending;  // characters not yet given to the writer
  int drawn = 0;
  bool done = false;
  bool ended = false;   // finished at <end>
};

}  // namespace

SampleStats sample_tunes(const SamplingModel& model, const Vocab& vocab, const SampleOptions& options,
                         std::ostream& out) {
  if (options.prime.empty()) throw Error("--prime must not be empty", kExitUsage);
  if (model.max_streams < 1) throw Error("internal: sampling model without streams");
  std::vector<TokenId> prime;
  try {
    prime = vocab.encode(options.prime);
  } catch (const Error& e) {
    throw Error(std::string("--prime: ") + e.what(), kExitUsage);
  }
  std::string prime_text;
  for (TokenId id : prime) {
    if (id != Vocab::kStart && id != Vocab::kEnd) prime_text += vocab.token_text(id);
  }

  const auto start = std::chrono::steady_clock::now();
  SampleStats stats;
  TuneWriter writer(out, options.tags);
  std::vector<TokenId> tokens, next;
  std::vector<Stream> streams;
  for (int group_start = 0; group_start < options.n; group_start += model.max_streams) {
    const int g = std::min(model.max_streams, options.n - group_start);
    const auto first = static_cast<std::uint32_t>(group_start);
    tokens.assign(static_cast<std::size_t>(g), Vocab::kStart);
    next.assign(static_cast<std::size_t>(g), Vocab::kStart);
    streams.assign(static_cast<std::size_t>(g), Stream{});
    for (auto& s : streams) s.pending = prime_text;
    model.reset_state();
    // Feed the prime; only the draw after its last token counts (generation step 0).
    for (std::size_t k = 0; k < prime.size(); ++k) {
      std::fill(tokens.begin(), tokens.end(), prime[k]);
      model.step(tokens.data(), g, first, 0, next.data());
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
        if (++printing < g) writer.begin_tune();
      }
    };
    int active = g;
    for (std::uint32_t step = 0; active > 0; ++step) {
      if (step > 0) model.step(tokens.data(), g, first, step, next.data());
      for (int i = 0; i < g; ++i) {
        Stream& s = streams[static_cast<std::size_t>(i)];
        if (s.done) continue;
        const TokenId t = next[static_cast<std::size_t>(i)];
        ++s.drawn;
        ++stats.tokens;
        if (t == Vocab::kEnd) {
          s.done = s.ended = true;
        } else {
          if (t != Vocab::kStart) s.pending += vocab.token_text(t)[0];
          tokens[static_cast<std::size_t>(i)] = t;
          if (s.drawn >= options.max_len) s.done = true;
        }
        if (s.done) --active;
      }
      print_ready();
    }
    print_ready();
  }
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

}  // namespace abc
