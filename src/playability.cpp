#include "abc/playability.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "abc/error.hpp"

namespace abc {
namespace {

// Strips "Error in line-char 12-5 : " to keep the message.
std::string message_after_position(const std::string& line) {
  const std::size_t colon = line.find(" : ");
  return colon == std::string::npos ? line : line.substr(colon + 3);
}

PlayabilityResult run_abc2midi(const std::string& exe, const std::string& dir, int worker,
                               const std::string& tune) {
  const std::string abc_path = dir + "/tune" + std::to_string(worker) + ".abc";
  {
    std::ofstream out(abc_path, std::ios::binary);
    out << tune;
    if (!out) throw file_error(abc_path, "cannot write temporary tune file");
  }
  const std::string command =
      "'" + exe + "' '" + abc_path + "' -o '" + dir + "/tune" + std::to_string(worker) + ".mid' 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) throw Error("cannot run abc2midi (" + exe + ")");
  PlayabilityResult result;
  char buffer[4096];
  std::string line;
  while (std::fgets(buffer, sizeof buffer, pipe)) {
    line = buffer;
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    if (line.rfind("Error", 0) == 0) result.errors.push_back(message_after_position(line));
    if (line.rfind("Warning", 0) == 0) result.warnings.push_back(message_after_position(line));
  }
  const int status = pclose(pipe);
  if (status != 0 && result.errors.empty()) result.errors.push_back("abc2midi exited with an error");
  return result;
}

}  // namespace

std::string find_abc2midi() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/abc2midi";
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string message_kind(const std::string& message) {
  std::string kind;
  for (char c : message) {
    if (std::isdigit(static_cast<unsigned char>(c))) {
      if (kind.empty() || kind.back() != '#') kind.push_back('#');
    } else {
      kind.push_back(c);
    }
  }
  return kind;
}

std::vector<PlayabilityResult> check_playability(const std::vector<std::string>& tunes,
                                                 int threads) {
  const std::string exe = find_abc2midi();
  if (exe.empty()) {
    throw Error(
        "abc2midi not found on PATH: install it (tools/setup.sh, or apt-get install abcmidi) "
        "or pass --keep-unplayable to skip the playability filter");
  }
  char dir_template[] = "/tmp/abc_cuda_play.XXXXXX";
  if (!mkdtemp(dir_template)) throw Error("cannot create a temporary folder in /tmp");
  const std::string dir = dir_template;

  std::vector<PlayabilityResult> results(tunes.size());
  std::atomic<std::size_t> next{0};
  std::vector<std::string> failures(static_cast<std::size_t>(std::max(1, threads)));
  auto worker = [&](int id) {
    try {
      for (std::size_t i = next++; i < tunes.size(); i = next++) {
        results[i] = run_abc2midi(exe, dir, id, tunes[i]);
      }
    } catch (const std::exception& e) {
      failures[static_cast<std::size_t>(id)] = e.what();
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < std::max(1, threads); ++t) pool.emplace_back(worker, t);
  for (auto& t : pool) t.join();
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  for (const auto& f : failures) {
    if (!f.empty()) throw Error(f);
  }
  return results;
}

}  // namespace abc
