#include "abc/sampler.hpp"

#include <chrono>

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

void TuneWriter::end_tune(bool /*at_end*/) {
  if (buffering_x_) flush_line_buffer();
  if (!tune_has_text_) {
    out_ << "X:" << next_x_++ << '\n';
  } else if (!at_line_start_) {
    out_ << '\n';
  }
  if (tags_) out_ << Vocab::kEndTag << '\n';
  out_ << '\n';  // a blank line between tunes
  out_.flush();
  at_line_start_ = true;
  tune_has_text_ = false;
}

SampleStats sample_tunes(const SamplingModel& model, const Vocab& vocab, const SampleOptions& options,
                         std::ostream& out) {
  if (options.prime.empty()) throw Error("--prime must not be empty", kExitUsage);
  std::vector<TokenId> prime;
  try {
    prime = vocab.encode(options.prime);
  } catch (const Error& e) {
    throw Error(std::string("--prime: ") + e.what(), kExitUsage);
  }
  const auto start = std::chrono::steady_clock::now();
  SampleStats stats;
  TuneWriter writer(out, options.tags);
  for (int k = 0; k < options.n; ++k) {
    model.reset_state();
    writer.begin_tune();
    const float* logits = nullptr;
    for (TokenId id : prime) {
      logits = model.step(id);
      if (id != Vocab::kStart && id != Vocab::kEnd) writer.put(vocab.token_text(id)[0]);
    }
    bool ended = false;
    for (int step = 0; step < options.max_len; ++step) {
      const float u = sample_uniform(options.seed, static_cast<std::uint32_t>(k), static_cast<std::uint32_t>(step));
      const TokenId next = sample_token(logits, vocab.size(), options.temperature, u);
      ++stats.tokens;
      if (next == Vocab::kEnd) {
        ended = true;
        break;
      }
      if (next != Vocab::kStart) writer.put(vocab.token_text(next)[0]);
      logits = model.step(next);
    }
    writer.end_tune(ended);
    ++stats.tunes;
    stats.ended += ended;
  }
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

}  // namespace abc
