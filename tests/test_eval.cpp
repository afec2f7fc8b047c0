// Evaluation: reading generated/real tune files, repeats, the shared-substring index
// (against brute force), abc2midi statistics and the table/JSON output.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "abc/eval.hpp"
#include "test_helpers.hpp"

TEST(Eval, TaggedFilesTellWhichTunesEnded) {
  const auto tunes = abc::read_eval_tunes("<start>\nX:1\nK:C\nC|\n<end>\n\n<start>\nX:2\nK:D\nD\n\n<start>\nX:3\nK:E\nE|\n<end>\n");
  ASSERT_EQ(tunes.size(), 3u);
  EXPECT_EQ(tunes[0].ended, 1);
  EXPECT_EQ(tunes[1].ended, 0);  // cut off: no <end> before the next <start>
  EXPECT_EQ(tunes[2].ended, 1);
  EXPECT_EQ(tunes[1].text, "X:2\nK:D\nD\n");
  const auto raw = abc::read_eval_tunes("X:1\nK:C\nC|\n\nX:2\nK:D\nD|\n");
  ASSERT_EQ(raw.size(), 2u);
  EXPECT_EQ(raw[0].ended, -1);
}

TEST(Eval, RepeatsBalance) {
  EXPECT_TRUE(abc::repeats_balanced("|:AB:|"));
  EXPECT_TRUE(abc::repeats_balanced("AB:|cd|"));         // implicit start of tune
  EXPECT_TRUE(abc::repeats_balanced("|:AB::cd:|"));
  EXPECT_TRUE(abc::repeats_balanced("|:AB:|:cd:|"));
  EXPECT_TRUE(abc::repeats_balanced("ABcd|"));
  EXPECT_FALSE(abc::repeats_balanced("|:AB|cd|"));       // never closed
  EXPECT_FALSE(abc::repeats_balanced("|:AB|:cd:|"));     // opened twice
  EXPECT_TRUE(abc::repeats_balanced("AB:|cd:|"));        // each part repeated, no |: written
}

TEST(Eval, LongestSharedSubstringMatchesBruteForce) {
  std::mt19937 rng(5);
  auto random_text = [&](std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s.push_back("abcd|\n"[rng() % 6]);
    return s;
  };
  const std::string text = random_text(3000);
  const abc::SharedSubstringIndex index(text);
  for (int trial = 0; trial < 30; ++trial) {
    const std::string q = trial == 0 ? text.substr(100, 50) : random_text(1 + rng() % 60);
    std::size_t brute = 0;
    for (std::size_t i = 0; i < q.size(); ++i) {
      for (std::size_t len = q.size() - i; len > brute; --len) {
        if (text.find(q.substr(i, len)) != std::string::npos) {
          brute = len;
          break;
        }
      }
    }
    EXPECT_EQ(index.longest_shared(q), brute) << q;
  }
  EXPECT_EQ(index.longest_shared(""), 0u);
  EXPECT_EQ(index.longest_shared("zzz"), 0u);
}

TEST(Eval, StatsOfTunesBesideRealOnes) {
  const std::string gen =
      "<start>\nX:1\nT:A\nM:4/4\nL:1/8\nK:C\nCDEF GABc|c8|]\n<end>\n"
      "<start>\nX:2\nT:B\nM:4/4\nL:1/8\nK:C\nA2>B cdef|g4 g4|]\n<end>\n"   // abc2midi error
      "<start>\nX:3\nM:4/4\nK:C\n|:CDEF GABc|c6|\n";                    // cut off, bar short, open repeat
  const abc::SharedSubstringIndex train("M:4/4\nL:1/8\nK:C\nCDEF GABc|c8|]\n");
  const abc::TuneFileStats s = abc::tune_file_stats(abc::read_eval_tunes(gen), &train, 2);
  EXPECT_EQ(s.tunes, 3);
  EXPECT_EQ(s.ended, 2);
  EXPECT_EQ(s.cut_off, 1);
  EXPECT_EQ(s.with_field.at('T'), 2);
  EXPECT_EQ(s.with_field.at('L'), 2);
  EXPECT_EQ(s.with_field.at('K'), 3);
  EXPECT_EQ(s.abc2midi_no_error, 1);  // the broken rhythm, and the repeat never closed
  // check_bars: tune 2's first bar (7.5 of 8 eighths) is a pickup; tune 3's c6| is short
  // inside a section.
  EXPECT_EQ(s.tunes_with_bad_bars, 1);
  EXPECT_EQ(s.bad_bars, 1);
  EXPECT_EQ(s.unbalanced_repeats, 1);
  EXPECT_EQ(s.distinct, 3);
  ASSERT_EQ(s.longest_shared.size(), 3u);
  EXPECT_EQ(s.longest_shared[0], std::string("T:A\nM:4/4\nL:1/8\nK:C\nCDEF GABc|c8|]\n").size() - 4);

  const auto real = abc::read_eval_tunes(abc_test::read_text(abc_test::data_path("tunes.abc")));
  const abc::TuneFileStats r = abc::tune_file_stats(real, nullptr, 2);
  const std::string table = abc::stats_table({{"generated", s}, {"real", r}});
  EXPECT_NE(table.find("| abc2midi: no error | 1 (33%) |"), std::string::npos) << table;
  EXPECT_NE(table.find("| ended at <end> | 2 (67%) | unknown |"), std::string::npos) << table;
  const auto j = nlohmann::json::parse(abc::stats_json({{"generated", s}, {"real", r}}));
  EXPECT_EQ(j["generated"]["abc2midi_no_error"], 1);
  EXPECT_EQ(j["real"]["tunes"], 4);
}
