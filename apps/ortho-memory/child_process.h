#pragma once

#include <string>
#include <vector>

namespace ortho::apps {

// What a child process printed on stdout and how it ended.
struct ChildResult {
  std::string stdout_text;
  int exit_status = 0;  // the exit code, or 128 + the signal that killed it
};

// Runs this program (/proc/self/exe) again with `args` (argv[1..]) in a fresh process, so that
// its memory starts clean and its peak RSS is its own; stderr is shared. std::runtime_error
// when it cannot be started.
ChildResult run_self(const std::vector<std::string>& args);

}  // namespace ortho::apps
