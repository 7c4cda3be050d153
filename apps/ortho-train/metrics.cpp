// Per-epoch metrics of ortho-train and the files they are written to.
#include "apps/ortho-train/metrics.h"

#include <stdexcept>

#include "apps/common/atomic_file.h"
#include "apps/common/csv.h"
#include "apps/common/svg_plot.h"

namespace ortho::apps {
namespace {

const std::vector<std::string>& csv_header() {
  static const std::vector<std::string> header = {"epoch",     "train_loss",    "train_accuracy",
                                                  "test_loss", "test_accuracy", "lr",
                                                  "wall_s",    "epoch_s",       "images_per_s"};
  return header;
}

std::string metrics_csv(const std::vector<EpochRecord>& history) {
  CsvTable table(csv_header());
  for (const EpochRecord& r : history) {
    table.add_row({std::to_string(r.epoch), csv_number(r.train_loss), csv_number(r.train_accuracy),
                   csv_number(r.test_loss), csv_number(r.test_accuracy), csv_number(r.lr),
                   csv_number(r.wall_s), csv_number(r.epoch_s), csv_number(r.images_per_s)});
  }
  return table.str();
}

std::string metrics_jsonl(const std::vector<EpochRecord>& history) {
  std::string out;
  for (const EpochRecord& r : history) out += to_json(r).dump() + '\n';
  return out;
}

PlotSeries series(const std::string& label, const std::vector<EpochRecord>& history,
                  double EpochRecord::*field) {
  PlotSeries s{label, {}, {}};
  for (const EpochRecord& r : history) {
    s.x.push_back(static_cast<double>(r.epoch));
    s.y.push_back(r.*field);
  }
  return s;
}

std::string curves_svg(const std::vector<EpochRecord>& history) {
  const PlotPanel loss{"Loss",
                       "epoch",
                       "cross-entropy",
                       {series("train", history, &EpochRecord::train_loss),
                        series("test", history, &EpochRecord::test_loss)},
                       1.0};
  const PlotPanel accuracy{"Accuracy",
                           "epoch",
                           "accuracy",
                           {series("train", history, &EpochRecord::train_accuracy),
                            series("test", history, &EpochRecord::test_accuracy)},
                           1.0};
  return render_svg_plot({loss, accuracy});
}

}  // namespace

nlohmann::json to_json(const EpochRecord& r) {
  nlohmann::json line = {{"epoch", r.epoch},
                         {"train_loss", r.train_loss},
                         {"train_accuracy", r.train_accuracy},
                         {"test_loss", r.test_loss},
                         {"test_accuracy", r.test_accuracy},
                         {"lr", r.lr},
                         {"wall_s", r.wall_s},
                         {"epoch_s", r.epoch_s},
                         {"images_per_s", r.images_per_s}};
  if (!r.hyperspherical_energy.empty()) line["hyperspherical_energy"] = r.hyperspherical_energy;
  return line;
}

EpochRecord epoch_record_from_json(const nlohmann::json& line) {
  try {
    EpochRecord r;
    r.epoch = line.at("epoch").get<std::int64_t>();
    r.train_loss = line.at("train_loss").get<double>();
    r.train_accuracy = line.at("train_accuracy").get<double>();
    r.test_loss = line.at("test_loss").get<double>();
    r.test_accuracy = line.at("test_accuracy").get<double>();
    r.lr = line.at("lr").get<double>();
    r.wall_s = line.at("wall_s").get<double>();
    r.epoch_s = line.at("epoch_s").get<double>();
    r.images_per_s = line.at("images_per_s").get<double>();
    if (line.contains("hyperspherical_energy")) {
      r.hyperspherical_energy =
          line.at("hyperspherical_energy").get<std::map<std::string, double>>();
    }
    return r;
  } catch (const nlohmann::json::exception& error) {
    throw std::invalid_argument(std::string("epoch record: ") + error.what());
  }
}

std::string history_to_string(const std::vector<EpochRecord>& history) {
  nlohmann::json array = nlohmann::json::array();
  for (const EpochRecord& r : history) array.push_back(to_json(r));
  return array.dump();
}

std::vector<EpochRecord> history_from_string(const std::string& text) {
  const nlohmann::json array = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!array.is_array()) throw std::invalid_argument("epoch history is not a JSON array");
  std::vector<EpochRecord> history;
  for (const nlohmann::json& line : array) history.push_back(epoch_record_from_json(line));
  return history;
}

void write_metrics_files(const std::string& dir, const std::vector<EpochRecord>& history) {
  write_file_atomically(dir + "/metrics.jsonl", metrics_jsonl(history));
  write_file_atomically(dir + "/metrics.csv", metrics_csv(history));
  write_file_atomically(dir + "/curves.svg", curves_svg(history));
}

}  // namespace ortho::apps
