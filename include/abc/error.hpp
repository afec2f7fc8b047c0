// Errors are exceptions that carry what failed and, where we know it, what to do.
// The command-line programs catch them at the top, print one line and exit with
// the documented code (README: "Exit codes").
#pragma once
#include <stdexcept>
#include <string>

namespace abc {

enum ExitCode : int {
  kExitOk = 0,
  kExitRuntime = 1,  // bad data, I/O failure, anything found while running
  kExitUsage = 2,    // bad command line (CLI11 uses this code too)
};

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what, int exit_code = kExitRuntime)
      : std::runtime_error(what), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

// Error about a named file: "PATH: message".
Error file_error(const std::string& path, const std::string& message);

}  // namespace abc
