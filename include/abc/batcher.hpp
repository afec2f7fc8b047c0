// Batching for truncated backpropagation through time.
//
// Training: the shuffled tunes are laid end to end as one token stream and cut
// into B parallel streams of equal length L; step k yields, for every stream b,
// the inputs stream_b[k*T .. k*T+T) and the next-token targets one further on.
// A stream's hidden state therefore carries from one chunk to the next.
// Validation: the text in order, cut into B contiguous streams, every token
// but the first of each stream predicted once; the last chunk may be shorter.
#pragma once
#include <cstdint>
#include <vector>

#include "abc/vocab.hpp"

namespace abc {

// One chunk, time-major: inputs[t * B + b] is stream b at step t.
struct Chunk {
  int T = 0;  // steps in this chunk (<= the batcher's seq length)
  int B = 0;  // streams
  std::vector<TokenId> inputs;   // [T, B]
  std::vector<TokenId> targets;  // [T, B]
};

// Throws abc::Error unless 1 <= T <= max_seq, 1 <= B <= max_batch and the chunk holds
// T*B inputs and targets: what every backend checks before it takes a chunk.
void check_chunk_fits(const Chunk& chunk, int max_batch, int max_seq);

// Throws abc::Error naming the first id outside [0, vocab); `what` is "input" or "target".
void check_token_ids(const TokenId* tokens, std::size_t n, int vocab, const char* what);

// Splits a token stream into tunes, each starting at a <start> token.
std::vector<std::vector<TokenId>> split_token_tunes(const std::vector<TokenId>& tokens);

class TrainBatcher {
 public:
  // Throws abc::Error when there are too few tokens for one chunk per stream.
  TrainBatcher(std::vector<std::vector<TokenId>> tunes, int batch, int seq, std::uint64_t seed);

  // Shuffles the tunes with (seed, epoch) and restarts at the first chunk.
  void start_epoch(int epoch);
  // Fills `chunk` (its buffers are reused: no allocation after the first call).
  // Returns false when the epoch has no more chunks.
  bool next(Chunk& chunk);

  int steps_per_epoch() const { return steps_; }
  int step() const { return step_; }
  std::int64_t stream_length() const { return stream_length_; }
  std::int64_t tokens_per_epoch() const { return static_cast<std::int64_t>(steps_) * seq_ * batch_; }
  // The current epoch's laid-out stream (for tests).
  const std::vector<TokenId>& laid_out() const { return stream_; }

 private:
  std::vector<std::vector<TokenId>> tunes_;
  int batch_, seq_;
  std::uint64_t seed_;
  std::vector<TokenId> stream_;  // all tunes end to end, this epoch's order
  std::int64_t stream_length_ = 0;
  int steps_ = 0, step_ = 0;
};

class SequentialBatcher {
 public:
  // Uses min(batch, tokens/2) streams so short texts still evaluate.
  SequentialBatcher(std::vector<TokenId> tokens, int batch, int seq);
  void restart() { step_ = 0; }
  bool next(Chunk& chunk);
  int streams() const { return batch_; }
  int steps() const { return steps_; }
  // Tokens predicted per pass: streams * (stream length - 1).
  std::int64_t predicted_tokens() const { return static_cast<std::int64_t>(batch_) * (stream_length_ - 1); }

 private:
  std::vector<TokenId> tokens_;
  int batch_, seq_;
  std::int64_t stream_length_ = 0;
  int steps_ = 0, step_ = 0;
};

}  // namespace abc
