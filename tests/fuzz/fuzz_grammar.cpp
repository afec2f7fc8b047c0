// libFuzzer target: the ABC grammar automaton (every prime, --bars and --prime-file go
// through it) and check_bars on arbitrary bytes, in both layers. allows(c) must agree with
// whether feed(c) throws; nothing may crash, hang or trip a sanitizer.
#include <cstddef>
#include <cstdint>
#include <string>

#include "abc/abc_grammar.hpp"
#include "abc/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  for (const bool enforce : {false, true}) {
    abc::AbcGrammar g(abc::AbcGrammar::Options{enforce});
    for (const char c : text) {
      const bool allowed = g.allows(c);
      bool threw = false;
      try {
        g.feed(c);
      } catch (const abc::Error&) {
        threw = true;
      }
      if (allowed == threw) __builtin_trap();  // allows() and feed() disagree
      if (threw) break;
      (void)g.may_end();
    }
  }
  (void)abc::check_bars(text);
  return 0;
}
