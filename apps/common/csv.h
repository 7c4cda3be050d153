#pragma once

#include <string>
#include <vector>

namespace ortho::apps {

// A table written as CSV (RFC 4180): a header row, then one row per record; fields holding a
// comma, quote or line break are quoted, with quotes doubled.
class CsvTable {
 public:
  explicit CsvTable(std::vector<std::string> header);

  // Throws std::invalid_argument unless the row has one field per header column.
  void add_row(std::vector<std::string> row);
  std::size_t num_rows() const { return rows_.size(); }
  // The whole table, each row ended by '\n'.
  std::string str() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// A number as a CSV field: shortest form that reads back to the same double ("%.17g" at most).
std::string csv_number(double value);

}  // namespace ortho::apps
