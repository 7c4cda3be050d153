#pragma once

#include <string>

namespace ortho::apps {

// Writes `contents` to `path` through a temporary file beside it that is renamed into place,
// so a reader (or a crash) never sees a half-written file. Throws std::runtime_error naming
// the path and the reason when the file cannot be written.
void write_file_atomically(const std::string& path, const std::string& contents);

// Creates the output directory `dir` and checks that files can be written there, before an
// app does any work: std::invalid_argument naming `flag` and `dir` otherwise (bad input).
void prepare_output_dir(const std::string& dir, const std::string& flag = "--out");

}  // namespace ortho::apps
