// Playability check: does abc2midi (Debian package abcmidi) read a tune without errors?
#pragma once
#include <string>
#include <vector>

namespace abc {

struct PlayabilityResult {
  std::vector<std::string> errors;    // abc2midi "Error" messages, line/char stripped
  std::vector<std::string> warnings;  // abc2midi "Warning" messages, line/char stripped
};

// Path of abc2midi on PATH, or "" when it is not installed.
std::string find_abc2midi();

// Runs abc2midi on each tune (in parallel over `threads` workers) and returns one
// result per tune. Throws abc::Error when abc2midi is missing or cannot be run.
std::vector<PlayabilityResult> check_playability(const std::vector<std::string>& tunes,
                                                 int threads);

// Groups an abc2midi message into a kind for counting: digits become '#',
// so "Bar 3 has 9/4 time units" and "Bar 7 has 5/4 time units" count together.
std::string message_kind(const std::string& message);

}  // namespace abc
