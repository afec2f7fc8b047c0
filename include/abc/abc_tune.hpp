// One tune of ABC notation: cutting tunes out of files and cleaning each one.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace abc {

struct RawTune {
  std::string text;  // lines joined with '\n', LF line ends
  int first_line;    // 1-based line in its file, for messages
};

// Raw ABC (.abc): a tune starts at an `X:` line and ends at a blank line or the
// next `X:` line. Text before the first `X:` (a file header) is ignored.
std::vector<RawTune> split_abc_text(const std::string& text);

struct TaggedSplit {
  std::vector<RawTune> tunes;
  int merged_stray_tags = 0;  // `<end>`/`<start>` pairs found inside a tune and removed
};

// `<start>`/`<end>` text: each tune sits between a `<start>` and an `<end>` line.
// A piece whose first line is not a header field (`T:`, `K:`, ...) continues the
// tune before it: the stray `<end>`/`<start>` pair between them is removed.
TaggedSplit split_tagged_text(const std::string& text);

// Why a tune was dropped (kept as the empty reason).
struct CleanResult {
  std::string text;         // the cleaned tune (when reason is empty), X:1 as first line
  std::string drop_reason;  // e.g. "no K: field"; empty when kept
  bool normalised = false;  // the music was changed to make it playable
};

struct CleanOptions {
  std::size_t max_chars = 6000;  // longer tunes are dropped as "too long"
  bool normalise = true;         // playability normalisation of the music lines
};

// Cleans one tune (already printable ASCII with LF line ends):
//  - drops `%` comments (whole lines and the rest of a line after an unescaped %),
//    trailing spaces and empty lines;
//  - keeps the header fields X T C R M L Q P V U W K (X: becomes X:1, the writer
//    renumbers) and drops free-text and typesetting fields (N Z B S D H F O A G I ...);
//    R: is normalised (normalised_rhythm) or dropped, and R:hornpipe is dropped outside
//    2/4, 4/4 and C (abc2midi plays it as swing and rejects it in other meters);
//  - drops the tune when it has no K: field or no music line after it;
//  - normalise: removes quoted strings that are neither chord symbols ("Am7", "G/B")
//    nor annotations ("^text", "_text", "<", ">", "@"), letter decorations (every
//    letter but notes A-G a-g, rests z x Z X and spacer y: H fermata, T trill, u/v
//    bowing ...), the reserved backquote, invisible bars [|], and body fields other
//    than K M L Q P V W w T.
CleanResult clean_tune(const std::string& raw, const CleanOptions& options);

// The rhythm names R: keeps, lower case (the corpus cleaner, the grammar and
// abc_cuda_sample --rhythm read this one list).
constexpr const char* kRhythmNames[] = {"reel", "jig",   "slip jig", "hornpipe", "strathspey", "air",   "clog",
                                        "fling", "waltz", "slide",    "march",    "polka",      "mazurka", "barndance"};
constexpr int kRhythmCount = static_cast<int>(sizeof(kRhythmNames) / sizeof(kRhythmNames[0]));
// abc2midi plays R:hornpipe with swung pairs and refuses it in other meters than 2/4 and
// 4/4 (C is 4/4 to it; C| is 2/2). The one rule the cleaner, the grammar and --rhythm read.
constexpr const char* kHornpipeName = "hornpipe";
constexpr bool hornpipe_meter(std::string_view meter) { return meter == "2/4" || meter == "4/4" || meter == "C"; }
// An R: value in the corpus's form: lower case, words separated by one space, synonyms
// merged ("Double Jig" -> "jig", "slipjig" -> "slip jig", "Highland Fling" -> "fling");
// "" when it names no rhythm of rhythm_names().
std::string normalised_rhythm(const std::string& value);

// True for a field line such as "K:G" or "T: title" (a letter, then ':').
bool is_field_line(const std::string& line);

}  // namespace abc
