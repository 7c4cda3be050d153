#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ortho::apps {

// The results of one epoch. Accuracies are fractions in [0, 1]; wall_s counts the whole run
// so far (across resumes), epoch_s this epoch alone; images_per_s is training throughput.
struct EpochRecord {
  std::int64_t epoch = 0;  // 1-based
  double train_loss = 0, train_accuracy = 0;
  double test_loss = 0, test_accuracy = 0;
  double lr = 0;  // at the epoch's first batch
  double wall_s = 0, epoch_s = 0, images_per_s = 0;
  // The hyperspherical energy of each Linear / Conv / OPT layer's neurons after the epoch
  // (Liu et al. 2021's diagnostic, layers/opt_energy.h), by layer name; left out of the JSON
  // when empty.
  std::map<std::string, double> hyperspherical_energy;
};

// The JSON line of an epoch, and back (std::invalid_argument on missing or mistyped keys).
nlohmann::json to_json(const EpochRecord& record);
EpochRecord epoch_record_from_json(const nlohmann::json& line);

// A history as one JSON array (kept in the checkpoint), and back.
std::string history_to_string(const std::vector<EpochRecord>& history);
std::vector<EpochRecord> history_from_string(const std::string& text);

// Rewrites <dir>/metrics.jsonl, <dir>/metrics.csv and <dir>/curves.svg (loss and accuracy
// per epoch, train and test) from the whole history, each file atomically.
void write_metrics_files(const std::string& dir, const std::vector<EpochRecord>& history);

}  // namespace ortho::apps
