#include "abc/paths.hpp"

#include <cstdlib>

namespace abc {

std::string default_data_dir() {
  if (const char* env = std::getenv("ABC_CUDA_DATA"); env && *env) return env;
  return ABC_DEFAULT_DATA_DIR;
}

std::vector<std::string> default_sources() {
  const std::string raw = default_data_dir() + "/raw";
  return {raw + "/music21/oneills1850", raw + "/music21/ryansMammoth", raw + "/music21/airdsAirs",
          raw + "/mitdeeplearning/irish.abc"};
}

std::string default_corpus_dir() { return default_data_dir() + "/corpus"; }

std::string default_runs_dir() {
  if (const char* env = std::getenv("ABC_CUDA_RUNS"); env && *env) return env;
  return ABC_DEFAULT_RUNS_DIR;
}

}  // namespace abc
