// Every input in tests/fuzz/regressions/ (inputs a fuzzer once crashed on, and hand-written
// edge cases of the readers, corpus_edge_*) must end in a result or an abc::Error, with the
// invariants the fuzz targets check. Under tools/test.sh --sanitize these run with ASan+UBSan.
#include <gtest/gtest.h>

#include <filesystem>

#include "abc/abc_tune.hpp"
#include "abc/checkpoint.hpp"
#include "abc/corpus.hpp"
#include "abc/error.hpp"
#include "abc/text_clean.hpp"
#include "abc/vocab.hpp"
#include "test_helpers.hpp"

namespace {

std::vector<std::string> regression_files(const std::string& prefix) {
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(abc_test::data_dir() + "/../fuzz/regressions")) {
    if (e.path().filename().string().rfind(prefix, 0) == 0) files.push_back(e.path().string());
  }
  return files;
}

}  // namespace

TEST(FuzzRegressions, CheckpointInputsAreErrors) {
  const auto files = regression_files("checkpoint_");
  ASSERT_FALSE(files.empty());
  for (const std::string& f : files) {
    // An empty PARM record once reached memcpy(nullptr, ..., 0).
    EXPECT_THROW(abc::parse_checkpoint(abc_test::read_text(f), f), abc::Error) << f;
  }
}

// What tests/fuzz/fuzz_corpus.cpp does with each input: read, clean, frame, and the
// vocabulary's round trip over the framed text.
TEST(FuzzRegressions, CorpusInputsEndInTunesOrAnError) {
  const auto files = regression_files("corpus_");
  ASSERT_GE(files.size(), 6u) << "the corpus regression inputs are missing";
  int read = 0;
  for (const std::string& f : files) {
    try {
      int merged = 0;
      std::vector<std::string> kept;
      for (const abc::RawTune& raw : abc::tunes_from_bytes(abc_test::read_text(f), f, &merged)) {
        abc::AsciiStats stats;
        const abc::CleanResult r = abc::clean_tune(abc::to_printable_ascii(raw.text, &stats), abc::CleanOptions{});
        if (r.drop_reason.empty()) kept.push_back(r.text);
      }
      const std::string text = abc::to_tagged_text(kept);
      const abc::Vocab vocab = abc::Vocab::from_text(text);
      EXPECT_EQ(vocab.decode(vocab.encode(text)), text) << f;
      ++read;
    } catch (const abc::Error&) {
    }
  }
  EXPECT_GT(read, 0) << "every input was an error: the readers' normal path went unexercised";
}
