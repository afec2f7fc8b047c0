#include "abc/abc_tune.hpp"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <sstream>

namespace abc {
namespace {

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::string line;
  std::istringstream in(text);
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + '\n';
  return out;
}

std::string rstrip(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

bool is_blank(const std::string& s) { return rstrip(s).empty(); }

bool starts_with(const std::string& s, const char* prefix) {
  return s.compare(0, std::strlen(prefix), prefix) == 0;
}

char field_letter(const std::string& line) { return is_field_line(line) ? line[0] : 0; }

// Header fields kept in the training text; everything else in the header is
// free text (notes, sources, transcriber addresses) or typesetting. R: (rhythm) is kept
// in its normalised form (normalised_rhythm), so the model learns it and a user can ask
// for a reel.
bool keep_header_field(char f) { return std::strchr("XTCRMLQPVUWK", f) != nullptr; }

// Fields that may change the music mid-tune, plus words and section titles.
bool keep_body_field(char f) { return std::strchr("KMLQPVWwT", f) != nullptr; }

// "Am7", "G", "F#m", "Bb7/D", "Cmaj7", "Edim", "(G)": a chord symbol abc2midi plays.
bool is_chord_symbol(const std::string& s) {
  std::size_t i = 0;
  std::string t = s;
  if (t.size() >= 2 && t.front() == '(' && t.back() == ')') t = t.substr(1, t.size() - 2);
  if (t.empty() || !std::strchr("ABCDEFG", t[0])) return false;
  i = 1;
  if (i < t.size() && (t[i] == '#' || t[i] == 'b')) ++i;
  static const char* const kQualities[] = {"maj", "min", "dim", "aug", "sus", "add", "m",
                                           "M",   "+",   "o",   "-"};
  for (const char* q : kQualities) {
    if (t.compare(i, std::strlen(q), q) == 0) {
      i += std::strlen(q);
      break;
    }
  }
  while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) ++i;
  if (i < t.size() && t[i] == '/') {
    ++i;
    if (i >= t.size() || !std::strchr("ABCDEFG", t[i])) return false;
    ++i;
    if (i < t.size() && (t[i] == '#' || t[i] == 'b')) ++i;
  }
  return i == t.size();
}

bool is_annotation(const std::string& s) {
  return !s.empty() && std::strchr("^_<>@", s[0]) != nullptr;
}

// Notes, rests and spacers: the only letters a music line needs.
bool is_music_letter(char c) { return std::strchr("ABCDEFGabcdefgzxyZX", c) != nullptr; }

// Removes a `%` comment (unless escaped as `\%`) and trailing spaces.
std::string strip_comment(const std::string& line) {
  for (std::size_t i = 0; i < line.size(); ++i) {
    if (line[i] == '%' && (i == 0 || line[i - 1] != '\\')) return rstrip(line.substr(0, i));
  }
  return rstrip(line);
}

// Playability normalisation of one music line; sets *changed when it removed anything.
std::string normalise_music_line(const std::string& line, bool* changed) {
  std::string out;
  out.reserve(line.size());
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '"') {
      const std::size_t close = line.find('"', i + 1);
      if (close == std::string::npos) {  // unterminated string: drop the rest
        *changed = true;
        break;
      }
      const std::string inner = line.substr(i + 1, close - i - 1);
      if (is_chord_symbol(inner) || is_annotation(inner)) {
        out += line.substr(i, close - i + 1);
      } else {
        *changed = true;
      }
      i = close;
    } else if (c == '!' || c == '+') {
      // A decoration !trill! is kept whole; a lone '!' (old line-break mark) too.
      const std::size_t close = line.find(c, i + 1);
      const bool decoration = close != std::string::npos && close > i + 1 &&
                              line.find_first_of(" |", i + 1) > close;
      if (decoration) {
        out += line.substr(i, close - i + 1);
        i = close;
      } else {
        out.push_back(c);
      }
    } else if (c == '[' && i + 2 < line.size() && std::isalpha(static_cast<unsigned char>(line[i + 1])) &&
               line[i + 2] == ':') {
      const std::size_t close = line.find(']', i);  // inline field [K:D] kept whole
      if (close == std::string::npos) {
        out += line.substr(i);
        break;
      }
      out += line.substr(i, close - i + 1);
      i = close;
    } else if (c == '[' && line.compare(i, 3, "[|]") == 0) {
      // Invisible bar line (ABC 2.1), unknown to abc2midi: a plain bar, or nothing
      // when a repeat or bar follows.
      const char after = i + 3 < line.size() ? line[i + 3] : ' ';
      if (after != ':' && after != '|') out.push_back('|');
      *changed = true;
      i += 2;
    } else if (c == '`' || (std::isalpha(static_cast<unsigned char>(c)) && !is_music_letter(c))) {
      // Letter decorations (H fermata, T trill, u/v bowing, ...) and beam-break
      // backquotes: abc2midi rejects them in many places and they do not change the notes.
      *changed = true;
    } else {
      out.push_back(c);
    }
  }
  return rstrip(out);
}

}  // namespace

bool is_field_line(const std::string& line) {
  return line.size() >= 2 && line[1] == ':' &&
         std::strchr("ABCDFGHIKLMmNOPQRrSsTUVWwXZ", line[0]) != nullptr && line[0] != '\0' &&
         !(line.size() >= 3 && line[2] == '|');
}

std::vector<RawTune> split_abc_text(const std::string& text) {
  std::vector<RawTune> tunes;
  const auto lines = split_lines(text);
  std::vector<std::string> current;
  int current_start = 0;
  auto finish = [&] {
    if (!current.empty()) tunes.push_back({join_lines(current), current_start});
    current.clear();
  };
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const std::string& line = lines[n];
    if (field_letter(line) == 'X') {
      finish();
      current.push_back(line);
      current_start = static_cast<int>(n) + 1;
    } else if (is_blank(line)) {
      finish();
    } else if (!current.empty()) {
      current.push_back(line);
    }
  }
  finish();
  return tunes;
}

TaggedSplit split_tagged_text(const std::string& text) {
  TaggedSplit result;
  const auto lines = split_lines(text);
  bool inside = false;
  std::vector<std::string> current;
  int current_start = 0;
  for (std::size_t n = 0; n < lines.size(); ++n) {
    const std::string line = rstrip(lines[n]);
    if (line == "<start>") {
      inside = true;
      current.clear();
      current_start = static_cast<int>(n) + 2;
    } else if (line == "<end>") {
      if (!inside) continue;  // an <end> with no <start>: ignore
      inside = false;
      // First non-blank line of the piece decides: header field = new tune.
      std::size_t first = 0;
      while (first < current.size() && is_blank(current[first])) ++first;
      if (first == current.size()) continue;  // empty piece
      const bool continues = !is_field_line(current[first]) && !result.tunes.empty();
      if (continues) {
        result.tunes.back().text += join_lines(current);
        ++result.merged_stray_tags;
      } else {
        result.tunes.push_back({join_lines(current), current_start});
      }
    } else if (inside) {
      current.push_back(line);
    }
  }
  if (inside && !current.empty()) result.tunes.push_back({join_lines(current), current_start});
  return result;
}

std::string normalised_rhythm(const std::string& value) {
  std::string v;
  for (char c : value) {
    if (std::isalpha(static_cast<unsigned char>(c))) {
      v.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    } else if (!v.empty() && v.back() != ' ') {
      v.push_back(' ');  // spaces, hyphens and dots between words become one space
    }
  }
  while (!v.empty() && v.back() == ' ') v.pop_back();
  static const std::pair<const char*, const char*> kSame[] = {
      {"double jig", "jig"},      {"single jig", "jig"},  {"slipjig", "slip jig"}, {"highland fling", "fling"},
      {kHornpipeName, kHornpipeName},   {"barn dance", "barndance"}, {"set dance", ""},
  };
  for (const auto& [from, to] : kSame) {
    if (v == from) return to;
  }
  for (const char* name : kRhythmNames) {
    if (v == name) return name;
  }
  return {};
}

CleanResult clean_tune(const std::string& raw, const CleanOptions& options) {
  CleanResult result;
  std::vector<std::string> header;  // up to and including the first K:
  std::vector<std::string> body;
  bool in_body = false;
  bool has_music = false;
  for (const std::string& raw_line : split_lines(raw)) {
    if (starts_with(raw_line, "%")) continue;  // comment or %%directive line
    std::string line = strip_comment(raw_line);
    if (line.empty()) continue;
    const char f = field_letter(line);
    if (!in_body) {
      if (!f) {
        // Music before any K: line: the header is incomplete.
        result.drop_reason = "no K: field";
        return result;
      }
      if (!keep_header_field(f)) continue;
      std::string value = line.substr(2);
      while (!value.empty() && value[0] == ' ') value.erase(0, 1);
      if (f == 'X') continue;  // written first, below
      if (f == 'R') {
        const std::string rhythm = normalised_rhythm(value);
        if (rhythm != value) result.normalised = true;
        if (rhythm.empty()) continue;
        value = rhythm;
      }
      header.push_back(std::string(1, f) + ":" + value);
      if (f == 'K') in_body = true;
    } else if (f) {
      if (!options.normalise || keep_body_field(f)) {
        body.push_back(line);
      } else {
        result.normalised = true;
      }
    } else {
      if (options.normalise) line = normalise_music_line(line, &result.normalised);
      line.erase(0, line.find_first_not_of(' '));  // indentation means nothing in ABC
      if (line.empty()) continue;
      body.push_back(line);
      has_music = true;
    }
  }
  if (!in_body) {
    result.drop_reason = "no K: field";
    return result;
  }
  if (!has_music) {
    result.drop_reason = "no music line";
    return result;
  }
  // R:hornpipe under another meter would make abc2midi fail: keep the tune, drop the R:.
  std::string meter;
  for (const std::string& h : header) {
    if (h[0] == 'M') meter = h.substr(2);
  }
  if (!hornpipe_meter(meter)) {
    const auto before = header.size();
    header.erase(std::remove(header.begin(), header.end(), std::string("R:") + kHornpipeName), header.end());
    if (header.size() != before) result.normalised = true;
  }
  std::string text = "X:1\n" + join_lines(header) + join_lines(body);
  if (text.size() > options.max_chars) {
    result.drop_reason = "too long (over " + std::to_string(options.max_chars) + " characters)";
    return result;
  }
  result.text = std::move(text);
  return result;
}

}  // namespace abc
