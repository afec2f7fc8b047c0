// Shared top level of the command-line programs: parse with CLI11, run, and turn
// every failure into one line on stderr and a documented exit code
// (0 ok, 1 runtime error, 2 usage error).
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <iostream>
#include <string>

#include "abc/error.hpp"

namespace abc {

inline int run_cli(CLI::App& app, int argc, char** argv, const std::function<int()>& body) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help, or the error and a hint
    return rc == 0 ? kExitOk : kExitUsage;
  }
  const std::string name = app.get_name();
  try {
    return body();
  } catch (const Error& e) {
    std::cerr << name << ": error: " << e.what() << "\n";
    return e.exit_code();
  } catch (const std::exception& e) {
    std::cerr << name << ": error: " << e.what() << "\n";
    return kExitRuntime;
  }
}

}  // namespace abc
