// The corpus builder: any mix of .abc files, folders and <start>/<end> text in,
// cleaned, de-duplicated, playable tunes out, split into train/val(/test).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "abc/abc_tune.hpp"

namespace abc {

struct CorpusOptions {
  CleanOptions clean;
  bool keep_unplayable = false;  // skip the abc2midi filter
  double val_fraction = 0.1;
  double test_fraction = 0.0;
  std::uint64_t seed = 1;
  int threads = 2;  // abc2midi workers
};

// Counts for one input path (a "source").
struct SourceReport {
  std::string path;
  int files = 0;
  int found = 0;       // tunes cut out of the files
  int normalised = 0;  // tunes whose music the playability normalisation changed
  int merged_stray_tags = 0;
  std::map<std::string, int> dropped;  // reason -> count
  int kept = 0;
  int dropped_total() const;
};

struct Tune {
  std::string text;    // cleaned, "X:1" first line, LF line ends, ends with '\n'
  std::string source;  // input path it came from
};

struct Corpus {
  std::vector<Tune> tunes;  // kept tunes in input order
  std::vector<SourceReport> sources;
  std::map<std::string, int> abc2midi_error_kinds;  // why unplayable tunes failed
  std::size_t ascii_mapped = 0, ascii_dropped = 0;
};

// Reads and cleans every input. Throws abc::Error naming the file for a missing
// path, an empty or binary file given by name, or a folder with no tune files.
Corpus build_corpus(const std::vector<std::string>& inputs, const CorpusOptions& options);

// Reads one file into tunes (format detected from its content: `<start>` lines
// mean the tagged format, otherwise raw ABC). Exposed for tests.
std::vector<RawTune> read_tune_file(const std::string& path, int* merged_stray_tags);
// The same from the file's bytes; `name` is used in error messages (fuzzing, tests).
std::vector<RawTune> tunes_from_bytes(const std::string& bytes, const std::string& name, int* merged_stray_tags);

struct Split {
  std::vector<std::string> train, val, test;
};

// Deterministic split by tune for a seed (own Fisher-Yates over a fixed-output
// generator, so the split is the same on every platform and compiler).
Split split_tunes(const std::vector<Tune>& tunes, double val_fraction, double test_fraction,
                  std::uint64_t seed);

// Training-format text: each tune as "<start>\n" + tune (X: renumbered 1..n) + "<end>\n".
std::string to_tagged_text(const std::vector<std::string>& tunes);

// Writes train.txt, val.txt (and test.txt when non-empty) into dir, atomically.
void write_split(const Split& split, const std::string& dir);

// Human-readable report of counts per source.
std::string format_report(const Corpus& corpus);

// Statistics of a text: characters and distinct characters.
struct TextStats {
  std::size_t chars = 0, distinct = 0;
};
TextStats text_stats(const std::string& text);

}  // namespace abc
