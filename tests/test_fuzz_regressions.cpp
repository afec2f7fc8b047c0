// Every input a fuzzer once crashed on (tests/fuzz/regressions/) must now end in a
// result or an abc::Error. Under tools/test.sh --sanitize these run with ASan+UBSan.
#include <gtest/gtest.h>

#include <filesystem>

#include "abc/checkpoint.hpp"
#include "abc/corpus.hpp"
#include "abc/error.hpp"
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

TEST(FuzzRegressions, CorpusInputsDoNotCrash) {
  for (const std::string& f : regression_files("corpus_")) {
    try {
      int merged = 0;
      abc::tunes_from_bytes(abc_test::read_text(f), f, &merged);
    } catch (const abc::Error&) {
    }
  }
}
