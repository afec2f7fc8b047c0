#include "abc/corpus.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <unordered_set>

#include "abc/error.hpp"
#include "abc/io.hpp"
#include "abc/playability.hpp"
#include "abc/text_clean.hpp"

namespace fs = std::filesystem;

namespace abc {
namespace {

bool is_tune_file(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext == ".abc" || ext == ".txt" || ext == ".ABC";
}

// Files of one input: the file itself, or the .abc/.txt files under a folder (sorted,
// so the corpus is the same on every file system).
std::vector<std::string> list_input_files(const std::string& input) {
  std::error_code ec;
  const fs::file_status status = fs::status(input, ec);
  if (ec || !fs::exists(status)) throw file_error(input, "no such file or directory");
  if (fs::is_regular_file(status)) return {input};
  if (!fs::is_directory(status)) throw file_error(input, "not a regular file or folder");
  std::vector<std::string> files;
  for (const auto& entry : fs::recursive_directory_iterator(input, ec)) {
    if (entry.is_regular_file() && is_tune_file(entry.path())) files.push_back(entry.path().string());
  }
  if (ec) throw file_error(input, "cannot list folder: " + ec.message());
  std::sort(files.begin(), files.end());
  if (files.empty()) throw file_error(input, "folder has no .abc or .txt files");
  return files;
}

// Music only: the X: line differs between copies of the same tune.
std::string duplicate_key(const std::string& tune) {
  const std::size_t eol = tune.find('\n');
  return eol == std::string::npos ? tune : tune.substr(eol + 1);
}

struct Candidate {
  std::string text;
  std::size_t source;
};

}  // namespace

int SourceReport::dropped_total() const {
  int total = 0;
  for (const auto& [reason, count] : dropped) total += count;
  return total;
}

std::vector<RawTune> tunes_from_bytes(const std::string& bytes, const std::string& name, int* merged_stray_tags) {
  if (bytes.empty()) throw file_error(name, "empty file (expected ABC tunes)");
  if (looks_binary(bytes)) throw file_error(name, "binary data, not ABC text");
  const std::string text = normalize_line_ends(bytes);
  if (text.find("<start>") != std::string::npos) {
    TaggedSplit split = split_tagged_text(text);
    if (merged_stray_tags) *merged_stray_tags += split.merged_stray_tags;
    return split.tunes;
  }
  return split_abc_text(text);
}

std::vector<RawTune> read_tune_file(const std::string& path, int* merged_stray_tags) {
  return tunes_from_bytes(read_file(path), path, merged_stray_tags);
}

Corpus build_corpus(const std::vector<std::string>& inputs, const CorpusOptions& options) {
  if (inputs.empty()) throw Error("no input given: name .abc files, folders or <start>/<end> text files");
  Corpus corpus;
  std::vector<Candidate> candidates;
  std::unordered_set<std::string> seen;
  for (const std::string& input : inputs) {
    SourceReport report;
    report.path = input;
    const std::size_t source = corpus.sources.size();
    const auto files = list_input_files(input);
    const bool single_file = files.size() == 1 && files[0] == input;
    for (const std::string& file : files) {
      std::vector<RawTune> raw;
      try {
        raw = read_tune_file(file, &report.merged_stray_tags);
      } catch (const Error&) {
        if (single_file) throw;     // a file named on the command line must be readable
        ++report.dropped["unreadable file (empty or binary)"];
        continue;
      }
      ++report.files;
      for (const RawTune& tune : raw) {
        ++report.found;
        AsciiStats ascii;
        const std::string ascii_text = to_printable_ascii(tune.text, &ascii);
        corpus.ascii_mapped += ascii.mapped;
        corpus.ascii_dropped += ascii.dropped;
        CleanResult cleaned = clean_tune(ascii_text, options.clean);
        if (!cleaned.drop_reason.empty()) {
          ++report.dropped[cleaned.drop_reason];
          continue;
        }
        if (cleaned.normalised) ++report.normalised;
        if (!seen.insert(duplicate_key(cleaned.text)).second) {
          ++report.dropped["duplicate"];
          continue;
        }
        candidates.push_back({std::move(cleaned.text), source});
      }
    }
    if (report.found == 0) throw file_error(input, "no tunes found (a tune starts at an X: line, or sits between <start> and <end> lines)");
    corpus.sources.push_back(std::move(report));
  }

  std::vector<bool> playable(candidates.size(), true);
  if (!options.keep_unplayable) {
    std::vector<std::string> texts;
    texts.reserve(candidates.size());
    for (const auto& c : candidates) texts.push_back(c.text);
    auto results = check_playability(texts, options.threads);
    // R:hornpipe makes abc2midi swing pairs of notes, and fail where a pair cannot swing:
    // such a tune is tried again without the label, and kept without it if that plays.
    const std::string hornpipe = std::string("\nR:") + kHornpipeName + "\n";
    std::vector<std::size_t> retry;
    std::vector<std::string> without_label;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      const std::size_t at = candidates[i].text.find(hornpipe);
      if (results[i].errors.empty() || at == std::string::npos) continue;
      retry.push_back(i);
      without_label.push_back(std::string(candidates[i].text).erase(at + 1, hornpipe.size() - 1));
    }
    const auto again = check_playability(without_label, options.threads);
    for (std::size_t k = 0; k < retry.size(); ++k) {
      if (!again[k].errors.empty()) continue;
      candidates[retry[k]].text = std::move(without_label[k]);
      results[retry[k]] = again[k];
    }
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      if (results[i].errors.empty()) continue;
      playable[i] = false;
      ++corpus.sources[candidates[i].source].dropped["abc2midi error"];
      for (const auto& e : std::set<std::string>(results[i].errors.begin(), results[i].errors.end())) {
        ++corpus.abc2midi_error_kinds[message_kind(e)];
      }
    }
  }
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (!playable[i]) continue;
    ++corpus.sources[candidates[i].source].kept;
    corpus.tunes.push_back({std::move(candidates[i].text), corpus.sources[candidates[i].source].path});
  }
  return corpus;
}

Split split_tunes(const std::vector<Tune>& tunes, double val_fraction, double test_fraction,
                  std::uint64_t seed) {
  if (val_fraction < 0 || test_fraction < 0 || val_fraction + test_fraction >= 1) {
    throw Error("val and test fractions must be >= 0 and add up to less than 1", kExitUsage);
  }
  std::vector<std::size_t> order(tunes.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937_64 rng(seed);  // output sequence fixed by the standard
  for (std::size_t i = order.size(); i > 1; --i) {
    const std::size_t j = static_cast<std::size_t>(rng() % i);
    std::swap(order[i - 1], order[j]);
  }
  const auto n = tunes.size();
  auto n_val = static_cast<std::size_t>(val_fraction * static_cast<double>(n) + 0.5);
  auto n_test = static_cast<std::size_t>(test_fraction * static_cast<double>(n) + 0.5);
  if (val_fraction > 0 && n_val == 0 && n >= 2) n_val = 1;
  if (n_val + n_test >= n && n > 0) throw Error("too few tunes to split: " + std::to_string(n));
  Split split;
  for (std::size_t k = 0; k < n; ++k) {
    const std::string& text = tunes[order[k]].text;
    if (k < n_val) split.val.push_back(text);
    else if (k < n_val + n_test) split.test.push_back(text);
    else split.train.push_back(text);
  }
  return split;
}

std::string to_tagged_text(const std::vector<std::string>& tunes) {
  std::string out;
  for (std::size_t i = 0; i < tunes.size(); ++i) {
    out += "<start>\nX:" + std::to_string(i + 1) + "\n";
    out += duplicate_key(tunes[i]);
    out += "<end>\n";
  }
  return out;
}

void write_split(const Split& split, const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw file_error(dir, "cannot create output folder: " + ec.message());
  auto write = [&](const std::vector<std::string>& tunes, const std::string& name) {
    write_file_atomic(dir + "/" + name, to_tagged_text(tunes));
  };
  write(split.train, "train.txt");
  write(split.val, "val.txt");
  if (!split.test.empty()) write(split.test, "test.txt");
}

std::string format_report(const Corpus& corpus) {
  std::ostringstream out;
  int total_found = 0, total_kept = 0;
  for (const auto& s : corpus.sources) {
    out << s.path << ": " << s.files << " file(s), " << s.found << " tunes found, " << s.normalised
        << " normalised, " << s.dropped_total() << " dropped, " << s.kept << " kept\n";
    if (s.merged_stray_tags) out << "    stray <end>/<start> pairs merged: " << s.merged_stray_tags << "\n";
    for (const auto& [reason, count] : s.dropped) out << "    dropped " << count << ": " << reason << "\n";
    total_found += s.found;
    total_kept += s.kept;
  }
  out << "total: " << total_found << " tunes found, " << total_kept << " kept\n";
  if (corpus.ascii_mapped || corpus.ascii_dropped) {
    out << "non-ASCII/control characters: " << corpus.ascii_mapped << " mapped to ASCII, "
        << corpus.ascii_dropped << " dropped\n";
  }
  if (!corpus.abc2midi_error_kinds.empty()) {
    std::vector<std::pair<int, std::string>> kinds;
    for (const auto& [kind, count] : corpus.abc2midi_error_kinds) kinds.emplace_back(count, kind);
    std::sort(kinds.rbegin(), kinds.rend());
    out << "abc2midi errors in dropped tunes (tunes per kind):\n";
    for (const auto& [count, kind] : kinds) out << "    " << count << ": " << kind << "\n";
  }
  return out.str();
}

TextStats text_stats(const std::string& text) {
  bool present[256] = {};
  for (unsigned char c : text) present[c] = true;
  TextStats stats;
  stats.chars = text.size();
  for (bool p : present) stats.distinct += p;
  return stats;
}

}  // namespace abc
