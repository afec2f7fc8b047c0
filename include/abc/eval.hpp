// Evaluation of tunes, generated or real: did they end, have the header fields,
// play in abc2midi, keep the meter, balance their repeats; and are they new or
// copied from the training text?
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace abc {

struct EvalTune {
  std::string text;  // the tune, without <start>/<end>
  int ended = -1;    // 1: ended at <end>; 0: cut off (no <end>); -1: unknown (raw ABC)
};

// Tagged text (<start>/<end>, as abc_cuda_sample --tags writes and the corpus files
// hold): a tune without <end> before the next <start> or the end of file was cut off.
// Raw ABC (as abc_cuda_sample writes by default): tunes split at X: and blank lines;
// whether they ended is unknown.
std::vector<EvalTune> read_eval_tunes(const std::string& text);

// Longest substring a query shares with a reference text, via a suffix array.
class SharedSubstringIndex {
 public:
  explicit SharedSubstringIndex(std::string text);
  std::size_t longest_shared(const std::string& query) const;

 private:
  std::size_t common_prefix(std::size_t suffix, const std::string& query, std::size_t from) const;
  std::string text_;
  std::vector<std::uint32_t> suffixes_;  // start positions, in lexicographic order
};

// False for an opened repeat |: that is never closed, or |: twice with no :| between:
// what abc2midi and a player cannot follow. `::` and `:|:` close and open; a :| with
// nothing open repeats from the start or the previous repeat, as folk tunes often do.
bool repeats_balanced(const std::string& tune);

// repeats_balanced's rule for one bar line, for readers that go bar line by bar line
// (AbcGrammar): `*open` says whether a |: is open. A bar line that closes (:|) and
// one that opens (|:) may be the same (:: or :|:). Returns false for |: while one is
// open; the tune is balanced when, at its end, none is open.
inline bool repeat_bar_line(bool* open, bool closes, bool opens) {
  // A close with nothing open repeats from the tune's start or the last repeat:
  // ordinary in folk tunes, where each part ends in :| with no |: before it.
  if (closes) *open = false;
  if (opens) {
    if (*open) return false;  // |: twice with no :| between
    *open = true;
  }
  return true;
}

struct TuneFileStats {
  int tunes = 0;
  int ended = 0, cut_off = 0;            // unknown = tunes - ended - cut_off
  std::map<char, int> with_field;        // X T M L K -> tunes that have the field
  int abc2midi_no_error = 0, abc2midi_no_warning = 0;
  int tunes_with_bad_bars = 0, bad_bars = 0;  // bars off the meter, by check_bars (abc_grammar.hpp)
  int unbalanced_repeats = 0;
  int distinct = 0;                      // distinct tunes (text after the X: line)
  std::vector<std::size_t> longest_shared;  // per tune, when a training text was given
};

// Runs abc2midi on every tune (threads workers). `train` may be null.
TuneFileStats tune_file_stats(const std::vector<EvalTune>& tunes, const SharedSubstringIndex* train, int threads);

// A markdown table: one column per file (e.g. "generated", "real validation").
std::string stats_table(const std::vector<std::pair<std::string, TuneFileStats>>& columns);
// The same numbers as JSON.
std::string stats_json(const std::vector<std::pair<std::string, TuneFileStats>>& columns);

}  // namespace abc
