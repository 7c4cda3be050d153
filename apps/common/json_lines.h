#pragma once

#include <nlohmann/json.hpp>
#include <ostream>

namespace ortho::apps {

// Writes `record` as one line of compact JSON and flushes, so a reader of a pipe sees each
// result as soon as it exists (the machine-readable output of every app: JSON lines).
void emit_json_line(std::ostream& out, const nlohmann::json& record);
// The same on stdout.
void emit_json_line(const nlohmann::json& record);

}  // namespace ortho::apps
