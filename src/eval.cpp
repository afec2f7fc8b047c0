#include "abc/eval.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <set>
#include <sstream>

#include "abc/abc_grammar.hpp"
#include "abc/abc_tune.hpp"
#include "abc/playability.hpp"

namespace abc {
namespace {

std::string without_x_line(const std::string& tune) {
  const std::size_t eol = tune.find('\n');
  if (tune.compare(0, 2, "X:") == 0 && eol != std::string::npos) return tune.substr(eol + 1);
  return tune;
}

double median_of(std::vector<std::size_t> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? static_cast<double>(v[n / 2]) : 0.5 * static_cast<double>(v[n / 2 - 1] + v[n / 2]);
}

std::string percent(int part, int whole) {
  if (whole == 0) return "-";
  char buf[48];
  std::snprintf(buf, sizeof buf, "%d (%.0f%%)", part, 100.0 * part / whole);
  return buf;
}

}  // namespace

std::vector<EvalTune> read_eval_tunes(const std::string& text) {
  std::vector<EvalTune> tunes;
  if (text.find("<start>") == std::string::npos) {
    for (const RawTune& t : split_abc_text(text)) tunes.push_back({t.text, -1});
    return tunes;
  }
  std::istringstream in(text);
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line == "<start>") {
      if (inside) tunes.back().ended = 0;  // the previous tune never reached <end>
      tunes.push_back({"", 0});
      inside = true;
    } else if (line == "<end>") {
      if (inside) tunes.back().ended = 1;
      inside = false;
    } else if (inside && !line.empty()) {
      tunes.back().text += line + '\n';
    }
  }
  return tunes;
}

SharedSubstringIndex::SharedSubstringIndex(std::string text) : text_(std::move(text)) {
  suffixes_.resize(text_.size());
  for (std::size_t i = 0; i < text_.size(); ++i) suffixes_[i] = static_cast<std::uint32_t>(i);
  const char* base = text_.data();
  const std::size_t n = text_.size();
  std::sort(suffixes_.begin(), suffixes_.end(), [base, n](std::uint32_t a, std::uint32_t b) {
    const std::size_t la = n - a, lb = n - b;
    const int c = std::memcmp(base + a, base + b, std::min(la, lb));
    return c != 0 ? c < 0 : la < lb;
  });
}

std::size_t SharedSubstringIndex::common_prefix(std::size_t suffix, const std::string& query, std::size_t from) const {
  std::size_t k = 0;
  while (suffix + k < text_.size() && from + k < query.size() && text_[suffix + k] == query[from + k]) ++k;
  return k;
}

std::size_t SharedSubstringIndex::longest_shared(const std::string& query) const {
  std::size_t best = 0;
  const char* base = text_.data();
  const std::size_t n = text_.size();
  for (std::size_t i = 0; i < query.size(); ++i) {
    // The longest match of query[i..] sits next to where query[i..] would be inserted.
    const char* q = query.data() + i;
    const std::size_t lq = query.size() - i;
    const auto it = std::lower_bound(suffixes_.begin(), suffixes_.end(), 0u, [&](std::uint32_t s, unsigned) {
      const std::size_t ls = n - s;
      const int c = std::memcmp(base + s, q, std::min(ls, lq));
      return c != 0 ? c < 0 : ls < lq;
    });
    if (it != suffixes_.end()) best = std::max(best, common_prefix(*it, query, i));
    if (it != suffixes_.begin()) best = std::max(best, common_prefix(*(it - 1), query, i));
    if (best >= lq) break;  // no later start can beat it
  }
  return best;
}

bool repeats_balanced(const std::string& tune) {
  bool open = false;  // inside |: ... :|
  for (std::size_t i = 0; i + 1 < tune.size(); ++i) {
    const bool double_colon = tune.compare(i, 2, "::") == 0 || tune.compare(i, 3, ":|:") == 0;
    const bool opens = tune.compare(i, 2, "|:") == 0 || double_colon;
    const bool closes = tune.compare(i, 2, ":|") == 0 || double_colon;
    if (!repeat_bar_line(&open, closes, opens)) return false;
    if (tune.compare(i, 3, ":|:") == 0) ++i;     // three-character token
    if (double_colon || opens || closes) ++i;  // two-character token
  }
  return !open;
}

TuneFileStats tune_file_stats(const std::vector<EvalTune>& tunes, const SharedSubstringIndex* train, int threads) {
  TuneFileStats s;
  s.tunes = static_cast<int>(tunes.size());
  std::vector<std::string> texts;
  std::set<std::string> distinct;
  for (const EvalTune& t : tunes) {
    s.ended += t.ended == 1;
    s.cut_off += t.ended == 0;
    std::set<char> fields;
    std::istringstream in(t.text);
    std::string line;
    while (std::getline(in, line)) {
      if (is_field_line(line)) fields.insert(line[0]);
    }
    for (char f : {'X', 'T', 'M', 'L', 'K'}) s.with_field[f] += fields.count(f) ? 1 : 0;
    if (!repeats_balanced(t.text)) ++s.unbalanced_repeats;
    distinct.insert(without_x_line(t.text));
    // abc2midi needs an X: line to find the tune (and so does the grammar).
    texts.push_back(t.text.compare(0, 2, "X:") == 0 ? t.text : "X:1\n" + t.text);
    // Bars off the meter: the sampler's grammar's arithmetic and bar rule (check_bars),
    // not abc2midi's warnings (which also count the bars it replays for repeats).
    const BarCheck bars = check_bars(texts.back());
    s.bad_bars += bars.off;
    s.tunes_with_bad_bars += bars.off > 0;
    if (train) s.longest_shared.push_back(train->longest_shared(without_x_line(t.text)));
  }
  s.distinct = static_cast<int>(distinct.size());
  const auto results = check_playability(texts, threads);
  for (const PlayabilityResult& r : results) {
    s.abc2midi_no_error += r.errors.empty();
    s.abc2midi_no_warning += r.errors.empty() && r.warnings.empty();
  }
  return s;
}

std::string stats_table(const std::vector<std::pair<std::string, TuneFileStats>>& columns) {
  std::ostringstream out;
  out << "| |";
  for (const auto& [name, s] : columns) out << " " << name << " |";
  out << "\n|---|";
  for (std::size_t k = 0; k < columns.size(); ++k) out << "---|";
  out << "\n";
  auto row = [&](const std::string& label, auto cell) {
    out << "| " << label << " |";
    for (const auto& [name, s] : columns) out << " " << cell(s) << " |";
    out << "\n";
  };
  row("tunes", [](const TuneFileStats& s) { return std::to_string(s.tunes); });
  row("ended at <end>", [](const TuneFileStats& s) {
    return s.ended + s.cut_off == 0 ? std::string("unknown") : percent(s.ended, s.tunes);
  });
  row("cut off at the length limit", [](const TuneFileStats& s) {
    return s.ended + s.cut_off == 0 ? std::string("unknown") : percent(s.cut_off, s.tunes);
  });
  for (char f : {'X', 'T', 'M', 'L', 'K'}) {
    row(std::string("has ") + f + ":", [f](const TuneFileStats& s) { return percent(s.with_field.at(f), s.tunes); });
  }
  row("abc2midi: no error", [](const TuneFileStats& s) { return percent(s.abc2midi_no_error, s.tunes); });
  row("abc2midi: no warning", [](const TuneFileStats& s) { return percent(s.abc2midi_no_warning, s.tunes); });
  row("tunes with bars off the meter", [](const TuneFileStats& s) { return percent(s.tunes_with_bad_bars, s.tunes); });
  row("bars off the meter", [](const TuneFileStats& s) { return std::to_string(s.bad_bars); });
  row("unbalanced repeats", [](const TuneFileStats& s) { return percent(s.unbalanced_repeats, s.tunes); });
  row("distinct tunes", [](const TuneFileStats& s) { return percent(s.distinct, s.tunes); });
  row("longest run shared with train: median / max", [](const TuneFileStats& s) {
    if (s.longest_shared.empty()) return std::string("-");
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.0f / %zu chars", median_of(s.longest_shared),
                  *std::max_element(s.longest_shared.begin(), s.longest_shared.end()));
    return std::string(buf);
  });
  return out.str();
}

std::string stats_json(const std::vector<std::pair<std::string, TuneFileStats>>& columns) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, s] : columns) {
    nlohmann::json c;
    c["tunes"] = s.tunes;
    c["ended"] = s.ended;
    c["cut_off"] = s.cut_off;
    for (const auto& [f, n] : s.with_field) c["with_field"][std::string(1, f)] = n;
    c["abc2midi_no_error"] = s.abc2midi_no_error;
    c["abc2midi_no_warning"] = s.abc2midi_no_warning;
    c["tunes_with_bad_bars"] = s.tunes_with_bad_bars;
    c["bad_bars"] = s.bad_bars;
    c["unbalanced_repeats"] = s.unbalanced_repeats;
    c["distinct"] = s.distinct;
    c["longest_shared"] = s.longest_shared;
    if (!s.longest_shared.empty()) c["longest_shared_median"] = median_of(s.longest_shared);
    j[name] = c;
  }
  return j.dump(2) + "\n";
}

}  // namespace abc
