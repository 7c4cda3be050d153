#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace ortho {

// Builds one message from any streamable pieces: error_message("add: ", a.shape(), ...).
template <typename... Parts>
std::string error_message(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

// Throws std::invalid_argument with the concatenated message when `condition` is false.
// Used for every shape, dtype and device mismatch so callers can catch one error type.
template <typename... Parts>
void check_argument(bool condition, const Parts&... parts) {
  if (!condition) throw std::invalid_argument(error_message(parts...));
}

}  // namespace ortho
