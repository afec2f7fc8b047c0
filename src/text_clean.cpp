#include "abc/text_clean.hpp"

#include <cstdint>

namespace abc {

std::string normalize_line_ends(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

bool looks_binary(const std::string& bytes) {
  std::size_t controls = 0;
  for (unsigned char c : bytes) {
    if (c == 0) return true;
    if (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f') ++controls;
  }
  return controls * 20 > bytes.size();
}

namespace {

// Decodes one code point at text[i]; advances i. Invalid UTF-8 reads as Latin-1.
std::uint32_t next_code_point(const std::string& text, std::size_t& i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char b0 = byte(i);
  int extra = 0;
  std::uint32_t cp = 0;
  if (b0 < 0x80) {
    ++i;
    return b0;
  } else if ((b0 & 0xE0) == 0xC0) {
    extra = 1, cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    extra = 2, cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    extra = 3, cp = b0 & 0x07;
  } else {
    ++i;
    return b0;  // Latin-1
  }
  if (i + extra >= text.size()) {
    ++i;
    return b0;
  }
  for (int k = 1; k <= extra; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) {
      ++i;
      return b0;
    }
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  i += extra + 1;
  return cp;
}

// ASCII look-alike of a Latin-1 / Latin Extended-A / punctuation code point, or "".
std::string ascii_lookalike(std::uint32_t cp) {
  // U+00C0..U+00FF, one entry each ("" = no mapping).
  static const char* const kLatin1[64] = {
      "A", "A", "A", "A", "A", "A", "AE", "C", "E", "E", "E", "E", "I", "I", "I", "I",
      "D", "N", "O", "O", "O", "O", "O", "",  "O", "U", "U", "U", "U", "Y", "",  "ss",
      "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
      "d", "n", "o", "o", "o", "o", "o", "",  "o", "u", "u", "u", "u", "y", "",  "y"};
  if (cp >= 0xC0 && cp <= 0xFF) return kLatin1[cp - 0xC0];
  switch (cp) {
    case 0xA0: return " ";               // no-break space
    case 0x2018: case 0x2019: case 0xB4: return "'";
    case 0x201C: case 0x201D: return "\"";
    case 0x2013: case 0x2014: return "-";
    case 0x2026: return "...";
    default: break;
  }
  // Latin Extended-A pairs (U+0100..U+017F): even = capital, odd = small, mostly.
  static const char kExtA[] =
      "AaAaAaCcCcCcCcDdDdEeEeEeEeEeGgGgGgGgHhHhIiIiIiIiIi??JjKkkLlLlLlLlLlNnNnNn"
      "nNnOoOoOo??RrRrRrSsSsSsSsTtTtTtUuUuUuUuUuUuWwYyYZzZzZz";
  if (cp >= 0x100 && cp < 0x100 + sizeof(kExtA) - 1) {
    const char c = kExtA[cp - 0x100];
    return c == '?' ? std::string() : std::string(1, c);
  }
  return "";
}

}  // namespace

std::string to_printable_ascii(const std::string& text, AsciiStats* stats) {
  AsciiStats local;
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const std::uint32_t cp = next_code_point(text, i);
    if (cp == '\n' || (cp >= 0x20 && cp < 0x7F)) {
      out.push_back(static_cast<char>(cp));
    } else if (cp == '\t') {
      out.push_back(' ');
      ++local.mapped;
    } else if (cp < 0x80) {
      ++local.dropped;  // controls and DEL
    } else {
      const std::string look = ascii_lookalike(cp);
      if (look.empty()) {
        ++local.dropped;
      } else {
        out += look;
        ++local.mapped;
      }
    }
  }
  if (stats) {
    stats->mapped += local.mapped;
    stats->dropped += local.dropped;
  }
  return out;
}

}  // namespace abc
