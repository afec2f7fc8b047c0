// Vocabulary (tags as single tokens, round trips) and batching (shapes, target
// alignment, state carry across chunks, per-epoch shuffles, validation coverage).
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "abc/batcher.hpp"
#include "abc/error.hpp"
#include "abc/vocab.hpp"

namespace {

const std::string kText = "<start>\nX:1\nK:C\nCDEF|\n<end>\n<start>\nX:2\nK:G\nGABc|\n<end>\n";

}  // namespace

TEST(Vocab, TagsAreSingleTokensWithFixedIds) {
  const abc::Vocab v = abc::Vocab::from_text(kText);
  // Characters: \n 1 2 : A B C D E F G K X c | (15), plus the two tags.
  EXPECT_EQ(v.size(), 17);
  const auto ids = v.encode(kText);
  EXPECT_EQ(ids.front(), abc::Vocab::kStart);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), abc::Vocab::kStart), 2);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), abc::Vocab::kEnd), 2);
  EXPECT_EQ(ids.size(), kText.size() - 2 * (7 - 1) - 2 * (5 - 1));
  EXPECT_EQ(v.token_text(abc::Vocab::kEnd), "<end>");
  EXPECT_EQ(v.id_of('<'), -1);  // '<' only appears inside the tags
  EXPECT_EQ(v.id_of('\n'), 2);  // characters follow the tags in byte order
}

TEST(Vocab, EncodeDecodeRoundTrip) {
  const abc::Vocab v = abc::Vocab::from_text(kText);
  EXPECT_EQ(v.decode(v.encode(kText)), kText);
}

TEST(Vocab, SerializeRoundTrip) {
  const abc::Vocab v = abc::Vocab::from_text(kText);
  const abc::Vocab w = abc::Vocab::deserialize(v.serialize());
  EXPECT_TRUE(v == w);
  EXPECT_EQ(w.encode(kText), v.encode(kText));
  EXPECT_THROW(abc::Vocab::deserialize("ba"), abc::Error);  // not ascending
  EXPECT_THROW(abc::Vocab::deserialize("aa"), abc::Error);  // duplicate
}

TEST(Vocab, UnknownCharactersThrowOrAreCounted) {
  const abc::Vocab v = abc::Vocab::from_text(kText);
  try {
    v.encode("CDz");
    FAIL() << "no error for an unknown character";
  } catch (const abc::Error& e) {
    EXPECT_NE(std::string(e.what()).find("'z'"), std::string::npos) << e.what();
  }
  std::size_t skipped = 0;
  EXPECT_EQ(v.encode("CzDz", &skipped).size(), 2u);
  EXPECT_EQ(skipped, 2u);
}

TEST(Batcher, SplitTokenTunesStartsAtStartTokens) {
  const abc::Vocab v = abc::Vocab::from_text(kText);
  const auto tunes = abc::split_token_tunes(v.encode(kText));
  ASSERT_EQ(tunes.size(), 2u);
  EXPECT_EQ(v.decode(tunes[1]), "<start>\nX:2\nK:G\nGABc|\n<end>\n");
}

namespace {

// Tunes of distinct token values so positions can be traced: tune k holds
// [k*100, k*100 + len).
std::vector<std::vector<abc::TokenId>> numbered_tunes(int count, int len) {
  std::vector<std::vector<abc::TokenId>> tunes(static_cast<std::size_t>(count));
  for (int k = 0; k < count; ++k) {
    for (int i = 0; i < len; ++i) tunes[k].push_back(k * 100 + i);
  }
  return tunes;
}

}  // namespace

TEST(Batcher, ShapesAndNextTokenTargets) {
  const int B = 3, T = 4;
  abc::TrainBatcher batcher(numbered_tunes(10, 7), B, T, 5);  // 70 tokens, L = 23
  EXPECT_EQ(batcher.stream_length(), 23);
  EXPECT_EQ(batcher.steps_per_epoch(), 5);  // (23 - 1) / 4
  const auto& s = batcher.laid_out();
  abc::Chunk chunk;
  int steps = 0;
  while (batcher.next(chunk)) {
    ASSERT_EQ(chunk.T, T);
    ASSERT_EQ(chunk.B, B);
    ASSERT_EQ(chunk.inputs.size(), static_cast<std::size_t>(T * B));
    for (int b = 0; b < B; ++b) {
      for (int t = 0; t < T; ++t) {
        const std::size_t pos = static_cast<std::size_t>(b * 23 + steps * T + t);
        EXPECT_EQ(chunk.inputs[t * B + b], s[pos]);
        EXPECT_EQ(chunk.targets[t * B + b], s[pos + 1]);
      }
    }
    ++steps;
  }
  EXPECT_EQ(steps, 5);
}

TEST(Batcher, StreamsContinueAcrossChunks) {
  // The state a stream carries into chunk k+1 came from the tokens just before it:
  // the first input of the next chunk is the last target of this one.
  const int B = 4, T = 5;
  abc::TrainBatcher batcher(numbered_tunes(12, 9), B, T, 1);
  abc::Chunk prev, cur;
  ASSERT_TRUE(batcher.next(prev));
  while (batcher.next(cur)) {
    for (int b = 0; b < B; ++b) EXPECT_EQ(cur.inputs[b], prev.targets[(T - 1) * B + b]);
    prev = cur;
  }
}

TEST(Batcher, EpochsReshuffleDeterministically) {
  abc::TrainBatcher a(numbered_tunes(20, 5), 2, 3, 9);
  abc::TrainBatcher b(numbered_tunes(20, 5), 2, 3, 9);
  const auto epoch0 = a.laid_out();
  a.start_epoch(1);
  b.start_epoch(1);
  EXPECT_EQ(a.laid_out(), b.laid_out());  // same seed and epoch, same order
  EXPECT_NE(a.laid_out(), epoch0);        // a new epoch, a new order
  auto sorted0 = epoch0, sorted1 = a.laid_out();
  std::sort(sorted0.begin(), sorted0.end());
  std::sort(sorted1.begin(), sorted1.end());
  EXPECT_EQ(sorted0, sorted1);  // every tune, once
  // Tunes stay whole: each tune's tokens are consecutive.
  const auto& s = a.laid_out();
  for (std::size_t i = 0; i < s.size(); i += 5) {
    for (int k = 1; k < 5; ++k) EXPECT_EQ(s[i + k], s[i] + k);
  }
}

TEST(Batcher, TooLittleDataIsAUsageError) {
  try {
    abc::TrainBatcher batcher(numbered_tunes(1, 5), 4, 10, 1);
    FAIL();
  } catch (const abc::Error& e) {
    EXPECT_EQ(e.exit_code(), abc::kExitUsage);
    EXPECT_NE(std::string(e.what()).find("lower --batch or --seq"), std::string::npos);
  }
}

TEST(Batcher, ValidationCoversEveryTokenInOrder) {
  std::vector<abc::TokenId> tokens(103);
  std::iota(tokens.begin(), tokens.end(), 0);
  abc::SequentialBatcher val(tokens, 4, 10);  // 4 streams of 25, 24 predictions each
  EXPECT_EQ(val.predicted_tokens(), 96);
  EXPECT_EQ(val.steps(), 3);
  abc::Chunk chunk;
  std::vector<abc::TokenId> seen_targets;
  std::vector<int> lengths;
  while (val.next(chunk)) {
    lengths.push_back(chunk.T);
    for (int t = 0; t < chunk.T; ++t) {
      for (int b = 0; b < chunk.B; ++b) {
        EXPECT_EQ(chunk.targets[t * chunk.B + b], chunk.inputs[t * chunk.B + b] + 1);
        seen_targets.push_back(chunk.targets[t * chunk.B + b]);
      }
    }
  }
  EXPECT_EQ(lengths, (std::vector<int>{10, 10, 4}));
  std::sort(seen_targets.begin(), seen_targets.end());
  EXPECT_EQ(seen_targets.size(), 96u);
  EXPECT_EQ(std::adjacent_find(seen_targets.begin(), seen_targets.end()), seen_targets.end());
  val.restart();
  EXPECT_TRUE(val.next(chunk));
  EXPECT_EQ(chunk.inputs[0], 0);
}

TEST(Batcher, ShortValidationTextUsesFewerStreams) {
  abc::SequentialBatcher val(std::vector<abc::TokenId>{1, 2, 3, 4, 5}, 64, 10);
  EXPECT_EQ(val.streams(), 2);
  EXPECT_THROW(abc::SequentialBatcher(std::vector<abc::TokenId>{1}, 4, 4), abc::Error);
}
