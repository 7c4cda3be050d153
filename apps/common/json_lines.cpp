// JSON-lines output of the ortho apps.
#include "apps/common/json_lines.h"

#include <iostream>

namespace ortho::apps {

void emit_json_line(std::ostream& out, const nlohmann::json& record) {
  // Replace invalid UTF-8 instead of throwing: a result line must never be lost to a name.
  out << record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  out.flush();
}

void emit_json_line(const nlohmann::json& record) {
  emit_json_line(std::cout, record);
}

}  // namespace ortho::apps
