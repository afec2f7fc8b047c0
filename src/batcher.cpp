#include "abc/batcher.hpp"

#include <algorithm>
#include <random>

#include "abc/error.hpp"

namespace abc {

void check_chunk_fits(const Chunk& chunk, int max_batch, int max_seq) {
  if (chunk.T < 1 || chunk.T > max_seq || chunk.B < 1 || chunk.B > max_batch) {
    throw Error("chunk of T=" + std::to_string(chunk.T) + ", B=" + std::to_string(chunk.B) +
                " does not fit a model built for seq <= " + std::to_string(max_seq) + ", batch <= " +
                std::to_string(max_batch) + ": build the model with larger limits");
  }
  const std::size_t n = static_cast<std::size_t>(chunk.T) * static_cast<std::size_t>(chunk.B);
  if (chunk.inputs.size() != n || chunk.targets.size() != n) {
    throw Error("chunk holds " + std::to_string(chunk.inputs.size()) + " inputs and " +
                std::to_string(chunk.targets.size()) + " targets, but T*B = " + std::to_string(n));
  }
}

void check_token_ids(const TokenId* tokens, std::size_t n, int vocab, const char* what) {
  for (std::size_t k = 0; k < n; ++k) {
    if (tokens[k] < 0 || tokens[k] >= vocab) {
      throw Error(std::string(what) + " token id " + std::to_string(tokens[k]) + " at position " + std::to_string(k) +
                  " is outside the model's vocabulary of " + std::to_string(vocab) +
                  ": the data and the model were built with different vocabularies");
    }
  }
}

std::vector<std::vector<TokenId>> split_token_tunes(const std::vector<TokenId>& tokens) {
  std::vector<std::vector<TokenId>> tunes;
  for (TokenId id : tokens) {
    if (id == Vocab::kStart || tunes.empty()) tunes.emplace_back();
    tunes.back().push_back(id);
  }
  return tunes;
}

namespace {

void fill_chunk(Chunk& chunk, int T, int B, const std::vector<TokenId>& stream,
                std::int64_t stream_length, std::int64_t offset) {
  chunk.T = T;
  chunk.B = B;
  chunk.inputs.resize(static_cast<std::size_t>(T) * B);
  chunk.targets.resize(static_cast<std::size_t>(T) * B);
  for (int b = 0; b < B; ++b) {
    const TokenId* s = stream.data() + b * stream_length + offset;
    for (int t = 0; t < T; ++t) {
      chunk.inputs[static_cast<std::size_t>(t) * B + b] = s[t];
      chunk.targets[static_cast<std::size_t>(t) * B + b] = s[t + 1];
    }
  }
}

}  // namespace

TrainBatcher::TrainBatcher(std::vector<std::vector<TokenId>> tunes, int batch, int seq,
                           std::uint64_t seed)
    : tunes_(std::move(tunes)), batch_(batch), seq_(seq), seed_(seed) {
  if (batch < 1 || seq < 1) throw Error("batch and seq must be at least 1", kExitUsage);
  std::int64_t total = 0;
  for (const auto& t : tunes_) total += static_cast<std::int64_t>(t.size());
  stream_length_ = total / batch_;
  steps_ = stream_length_ > 1 ? static_cast<int>((stream_length_ - 1) / seq_) : 0;
  if (steps_ == 0) {
    throw Error("training text too short: " + std::to_string(total) + " tokens cannot fill " +
                    std::to_string(batch_) + " streams of " + std::to_string(seq_ + 1) +
                    " tokens; lower --batch or --seq",
                kExitUsage);
  }
  stream_.reserve(static_cast<std::size_t>(total));
  start_epoch(0);
}

void TrainBatcher::start_epoch(int epoch) {
  std::vector<std::size_t> order(tunes_.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937_64 rng(seed_ * 1000003u + static_cast<std::uint64_t>(epoch));
  for (std::size_t i = order.size(); i > 1; --i) {
    std::swap(order[i - 1], order[static_cast<std::size_t>(rng() % i)]);
  }
  stream_.clear();
  for (std::size_t i : order) stream_.insert(stream_.end(), tunes_[i].begin(), tunes_[i].end());
  step_ = 0;
}

bool TrainBatcher::next(Chunk& chunk) {
  if (step_ >= steps_) return false;
  fill_chunk(chunk, seq_, batch_, stream_, stream_length_, static_cast<std::int64_t>(step_) * seq_);
  ++step_;
  return true;
}

SequentialBatcher::SequentialBatcher(std::vector<TokenId> tokens, int batch, int seq)
    : tokens_(std::move(tokens)), seq_(seq) {
  if (batch < 1 || seq < 1) throw Error("batch and seq must be at least 1", kExitUsage);
  const auto n = static_cast<std::int64_t>(tokens_.size());
  if (n < 2) throw Error("validation text too short: it needs at least 2 tokens");
  batch_ = static_cast<int>(std::min<std::int64_t>(batch, n / 2));
  stream_length_ = n / batch_;
  steps_ = static_cast<int>((stream_length_ - 1 + seq_ - 1) / seq_);
}

bool SequentialBatcher::next(Chunk& chunk) {
  if (step_ >= steps_) return false;
  const std::int64_t offset = static_cast<std::int64_t>(step_) * seq_;
  const int T = static_cast<int>(std::min<std::int64_t>(seq_, stream_length_ - 1 - offset));
  fill_chunk(chunk, T, batch_, tokens_, stream_length_, offset);
  ++step_;
  return true;
}

}  // namespace abc
