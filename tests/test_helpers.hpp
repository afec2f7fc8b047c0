// Shared helpers for the tests: paths to tests/data and scratch folders.
#pragma once
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace abc_test {

// tests/data: the source tree's, or $ABC_TEST_DATA_DIR where the suite runs elsewhere
// (the GPU bundle carries its own copy).
inline std::string data_dir() {
  const char* dir = std::getenv("ABC_TEST_DATA_DIR");
  return dir && *dir ? std::string(dir) : std::string(ABC_TEST_DATA_DIR);
}
inline std::string data_path(const std::string& name) { return data_dir() + "/" + name; }

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A fresh empty folder under the system temp dir, removed when the object dies.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag) {
    path_ = std::filesystem::temp_directory_path() /
            ("abc_test_" + tag + "_" + std::to_string(std::hash<std::string>{}(tag + std::to_string(::getpid()))));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace abc_test
