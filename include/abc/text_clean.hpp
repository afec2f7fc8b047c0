// Byte-level cleaning of input text: line ends, binary detection, ASCII mapping.
#pragma once
#include <cstddef>
#include <string>

namespace abc {

// CRLF and lone CR become LF.
std::string normalize_line_ends(const std::string& text);

// True when the bytes are clearly not text: a NUL byte, or more than 5% control
// bytes other than tab, LF, CR and form feed.
bool looks_binary(const std::string& bytes);

struct AsciiStats {
  std::size_t mapped = 0;   // non-ASCII characters replaced by an ASCII look-alike
  std::size_t dropped = 0;  // characters removed (controls, unmappable symbols)
};

// Decodes UTF-8 (bytes that are not valid UTF-8 are read as Latin-1) and returns
// printable ASCII plus '\n':
//   - Latin letters with diacritics map to the base letter (e -> e, ss for sharp s),
//     typographic quotes to ' and ", dashes to -, no-break space and tab to a space;
//   - other control characters and every other non-ASCII character are dropped.
std::string to_printable_ascii(const std::string& text, AsciiStats* stats);

}  // namespace abc
