// CSV tables for the apps' per-epoch and per-run metrics.
#include "apps/common/csv.h"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <utility>

namespace ortho::apps {
namespace {

std::string quoted(const std::string& field) {
  if (field.find_first_of(",\"\r\n") == std::string::npos) return field;
  std::string out = "\"";
  for (char ch : field) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + '"';
}

void append_row(std::string& out, const std::vector<std::string>& row) {
  for (std::size_t i = 0; i < row.size(); ++i) {
    if (i > 0) out += ',';
    out += quoted(row[i]);
  }
  out += '\n';
}

}  // namespace

CsvTable::CsvTable(std::vector<std::string> header) : header_(std::move(header)) {}

void CsvTable::add_row(std::vector<std::string> row) {
  if (row.size() != header_.size()) {
    throw std::invalid_argument("CsvTable::add_row: row has " + std::to_string(row.size()) +
                                " fields, header has " + std::to_string(header_.size()));
  }
  rows_.push_back(std::move(row));
}

std::string CsvTable::str() const {
  std::string out;
  append_row(out, header_);
  for (const auto& row : rows_) append_row(out, row);
  return out;
}

std::string csv_number(double value) {
  char text[32];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(text, sizeof(text), "%.*g", precision, value);
    if (std::strtod(text, nullptr) == value) break;
  }
  return text;
}

}  // namespace ortho::apps
