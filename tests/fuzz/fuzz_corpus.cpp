// libFuzzer target: the corpus reader and cleaner on arbitrary bytes. Every input must
// end in tunes or an abc::Error, never a crash, a hang or a sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string>

#include "abc/abc_tune.hpp"
#include "abc/corpus.hpp"
#include "abc/error.hpp"
#include "abc/text_clean.hpp"
#include "abc/vocab.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    int merged = 0;
    std::vector<std::string> kept;
    for (const abc::RawTune& raw : abc::tunes_from_bytes(bytes, "fuzz", &merged)) {
      abc::AsciiStats stats;
      const abc::CleanResult r = abc::clean_tune(abc::to_printable_ascii(raw.text, &stats), abc::CleanOptions{});
      if (r.drop_reason.empty()) kept.push_back(r.text);
    }
    const std::string text = abc::to_tagged_text(kept);
    const abc::Vocab vocab = abc::Vocab::from_text(text);
    if (vocab.decode(vocab.encode(text)) != text) __builtin_trap();  // the round trip must hold
  } catch (const abc::Error&) {
  }
  return 0;
}
