// ortho-memory: activation memory and step time of one training step of the CIFAR ResNets and
// their momentum forms (MomentumSequential stages with invertible backprop) against depth.
//
// Each (model, depth) runs in a fresh child process (this program with the hidden --measure
// flag), so its allocator peak and peak RSS are its own; then one more child per depth times
// the two models' steps alternately, so that the time ratio does not depend on how fast the
// machine was when each ran. Output: one JSON line per child on stdout {"model":
// "resnet"|"momentum", "depth", "batch", "peak_activation_bytes", "peak_rss_bytes",
// "ms_per_step", ...} and {"model": "pair", "depth", "resnet_ms_per_step",
// "momentum_ms_per_step", "time_ratio", ...}; a table on stderr; and in --out: memory.csv,
// step_time.csv and memory.svg (memory and paired step time against depth).
//
// --device cuda[:N] measures on that GPU: the peaks are the CUDA allocator's, the timers wait
// for the GPU's queued work, the momentum form keeps its state in float32 (exact arithmetic is
// CPU-only), and each child also reports the allocator's reserved bytes and the driver's
// free/total memory (cudaMemGetInfo) before and after, whose difference cross-checks them.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "apps/common/atomic_file.h"
#include "apps/common/blas_kernels.h"
#include "apps/common/csv.h"
#include "apps/common/device_choice.h"
#include "apps/common/flags.h"
#include "apps/common/json_lines.h"
#include "apps/common/progress.h"
#include "apps/common/svg_plot.h"
#include "apps/ortho-memory/child_process.h"
#include "apps/ortho-memory/measure.h"

namespace ortho::apps {
namespace {

const std::vector<std::string> kModels = {"resnet", "momentum"};
const std::string kPair = "pair";  // both models timed alternately in one child
constexpr double kMiB = 1024.0 * 1024.0;

struct Options {
  std::vector<std::int64_t> depths = {20, 32, 56, 110};
  MemoryConfig config;
  std::string out = "out/memory";
  std::string device = "cpu";
  std::string measure;  // hidden: measure this model in this process (the child's mode)
};

bool on_gpu(const MemoryConfig& c) {
  return Device::parse(c.device).is_cuda();
}

// Checks the flags and fills in config.device (Device::to_string of --device).
void check_options(Options& opts) {
  opts.config.device = resolve_device(opts.device).to_string();
  for (std::int64_t depth : opts.depths) {
    if (depth < 8 || (depth - 2) % 6 != 0) {
      throw std::invalid_argument("--depths: " + std::to_string(depth) +
                                  " is not 6n + 2 (20, 32, 44, 56, 110, 218, 434, 1202)");
    }
  }
}

// MemAvailable from /proc/meminfo in bytes; 0 when unknown.
double available_memory_bytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  double kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024.0;
  }
  return 0;
}

std::vector<std::string> child_args(const MemoryConfig& c) {
  std::vector<std::string> args = {"--measure", c.model,
                                   "--depths",  std::to_string(c.depth),
                                   "--batch",   std::to_string(c.batch),
                                   "--gamma",   std::to_string(c.gamma),
                                   "--threads", std::to_string(c.threads),
                                   "--repeats", std::to_string(c.repeats),
                                   "--device",  c.device};
  if (c.time_stored) args.push_back("--time-stored");
  return args;
}

// The last JSON line a child printed.
nlohmann::json parse_child(const ChildResult& child, const MemoryConfig& c) {
  const std::string where = c.model + " depth " + std::to_string(c.depth);
  if (child.exit_status != 0) {
    throw std::runtime_error(where + " failed with status " + std::to_string(child.exit_status) +
                             (child.exit_status == 137 ? " (killed: out of memory?)" : ""));
  }
  std::istringstream lines(child.stdout_text);
  std::string line, last;
  while (std::getline(lines, line)) {
    if (!line.empty()) last = line;
  }
  return nlohmann::json::parse(last);
}

using Results = std::map<std::string, std::map<std::int64_t, nlohmann::json>>;

std::string table(const Results& results, const std::vector<std::int64_t>& depths, bool gpu) {
  std::string text = gpu ? "depth  act MiB resnet  act MiB momentum  ratio  reserved MiB resnet"
                           "  reserved MiB momentum  driver MiB resnet  driver MiB momentum"
                         : "depth  act MiB resnet  act MiB momentum  ratio  RSS MiB resnet"
                           "  RSS MiB momentum";
  text += "  ms resnet  ms momentum  time ratio  cpu ratio  recompute ratio\n";
  const auto get = [&](const std::string& model, std::int64_t depth, const char* key) {
    const auto m = results.find(model);
    if (m == results.end() || !m->second.count(depth)) return -1.0;
    const nlohmann::json& r = m->second.at(depth);
    return r.contains(key) ? r.at(key).get<double>() : -1.0;
  };
  for (std::int64_t d : depths) {
    const double ar = get("resnet", d, "peak_activation_bytes"),
                 am = get("momentum", d, "peak_activation_bytes");
    char row[256];
    std::snprintf(row, sizeof row, "%5lld  %14.1f  %16.1f  %5.2f", static_cast<long long>(d),
                  ar / kMiB, am / kMiB, ar / am);
    text += row;
    if (gpu) {
      std::snprintf(row, sizeof row, "  %19.1f  %21.1f  %17.1f  %19.1f",
                    get("resnet", d, "reserved_bytes") / kMiB,
                    get("momentum", d, "reserved_bytes") / kMiB,
                    get("resnet", d, "driver_used_bytes") / kMiB,
                    get("momentum", d, "driver_used_bytes") / kMiB);
    } else {
      std::snprintf(row, sizeof row, "  %14.1f  %16.1f", get("resnet", d, "peak_rss_bytes") / kMiB,
                    get("momentum", d, "peak_rss_bytes") / kMiB);
    }
    text += row;
    std::snprintf(row, sizeof row, "  %9.1f  %11.1f  %10.2f  %9.2f  %15.2f\n",
                  get(kPair, d, "resnet_ms_per_step"), get(kPair, d, "momentum_ms_per_step"),
                  get(kPair, d, "time_ratio"), get(kPair, d, "cpu_time_ratio"),
                  get(kPair, d, "recompute_ratio"));
    text += row;
  }
  text += "(-1: not measured; times from the paired child, medians";
  if (gpu) {
    text +=
        "; reserved: the CUDA allocator's live + cached blocks; driver: cudaMemGetInfo's "
        "free memory before the child allocated minus after its steps";
  }
  return text + ")\n";
}

// The extra memory.csv columns of a GPU run: the allocator's and the driver's views.
const std::vector<std::string> kGpuColumns = {"peak_allocated_bytes", "reserved_bytes",
                                              "driver_used_bytes", "driver_total_bytes"};

void write_outputs(const Options& opts, const Results& results) {
  const bool gpu = on_gpu(opts.config);
  std::vector<std::string> columns = {
      "model",          "depth",       "batch",          "peak_activation_bytes",
      "peak_rss_bytes", "ms_per_step", "cpu_ms_per_step"};
  if (gpu) columns.insert(columns.end(), kGpuColumns.begin(), kGpuColumns.end());
  CsvTable csv(columns);
  CsvTable step_time({"depth", "batch", "resnet_ms_per_step", "momentum_ms_per_step", "time_ratio",
                      "cpu_time_ratio"});
  PlotPanel memory{"Peak activation memory, batch " + std::to_string(opts.config.batch) +
                       (gpu ? " (" + opts.config.device + ")" : ""),
                   "depth",
                   "MiB",
                   {},
                   1};
  PlotPanel time{"Training step time (paired)", "depth", "ms", {}, 1};
  for (const std::string& model : kModels) {
    const auto by_depth = results.find(model);
    if (by_depth == results.end()) continue;
    PlotSeries mem{model == "resnet" ? "ResNet" : "Momentum ResNet", {}, {}}, ms = mem;
    for (const auto& [depth, r] : by_depth->second) {
      std::vector<std::string> row = {
          model,
          std::to_string(depth),
          std::to_string(r.at("batch").get<int>()),
          std::to_string(r.at("peak_activation_bytes").get<std::int64_t>()),
          std::to_string(r.at("peak_rss_bytes").get<std::int64_t>()),
          csv_number(r.at("ms_per_step").get<double>()),
          csv_number(r.at("cpu_ms_per_step").get<double>())};
      if (gpu) {
        for (const std::string& key : kGpuColumns) {
          row.push_back(std::to_string(r.at(key).get<std::int64_t>()));
        }
      }
      csv.add_row(row);
      mem.x.push_back(static_cast<double>(depth));
      mem.y.push_back(r.at("peak_activation_bytes").get<double>() / kMiB);
    }
    if (const auto pairs = results.find(kPair); pairs != results.end()) {
      for (const auto& [depth, r] : pairs->second) {
        ms.x.push_back(static_cast<double>(depth));
        ms.y.push_back(r.at(model + "_ms_per_step").get<double>());
      }
    }
    memory.series.push_back(mem);
    time.series.push_back(ms);
  }
  if (const auto pairs = results.find(kPair); pairs != results.end()) {
    for (const auto& [depth, r] : pairs->second) {
      step_time.add_row({std::to_string(depth), std::to_string(r.at("batch").get<int>()),
                         csv_number(r.at("resnet_ms_per_step").get<double>()),
                         csv_number(r.at("momentum_ms_per_step").get<double>()),
                         csv_number(r.at("time_ratio").get<double>()),
                         csv_number(r.at("cpu_time_ratio").get<double>())});
    }
  }
  write_file_atomically(opts.out + "/memory.csv", csv.str());
  write_file_atomically(opts.out + "/step_time.csv", step_time.str());
  write_file_atomically(opts.out + "/memory.svg", render_svg_plot({memory, time}));
}

// The peak memory of `model` at `depth` (peak RSS on the CPU, the allocator's whole peak on a
// GPU), extrapolated linearly in depth from the deepest one measured so far; -1 when none was.
double predicted_peak(const Results& results, const std::string& model, std::int64_t depth,
                      bool gpu) {
  const auto m = results.find(model);
  if (m == results.end() || m->second.empty()) return -1;
  const auto& [measured_depth, r] = *m->second.rbegin();
  return r.at(gpu ? "peak_allocated_bytes" : "peak_rss_bytes").get<double>() *
         static_cast<double>(depth) / static_cast<double>(measured_depth);
}

// The memory a child may use: MemAvailable from /proc/meminfo, or on a GPU the least free
// device memory a child saw at its start (this process keeps off the GPU); 0 when unknown.
double available_bytes(const Results& results, bool gpu) {
  if (!gpu) return available_memory_bytes();
  double least = 0;
  for (const auto& [model, by_depth] : results) {
    for (const auto& [depth, r] : by_depth) {
      if (!r.contains("driver_free_before_bytes")) continue;
      const double free = r.at("driver_free_before_bytes").get<double>();
      least = least > 0 ? std::min(least, free) : free;
    }
  }
  return least;
}

// Whether `c` should fit in the memory available now: its model's predicted peak, or for
// the pair both models' (and the ResNet's again for the momentum form storing activations).
bool predicted_to_fit(const Results& results, const MemoryConfig& c) {
  const bool gpu = on_gpu(c);
  double predicted = predicted_peak(results, c.model == kPair ? "resnet" : c.model, c.depth, gpu);
  if (c.model == kPair) {
    predicted += predicted_peak(results, "momentum", c.depth, gpu);
    if (c.time_stored) predicted += predicted_peak(results, "resnet", c.depth, gpu);
  }
  const double available = available_bytes(results, gpu);
  return available <= 0 || predicted < 0.9 * available;
}

// predicted_to_fit, with a note when it does not.
bool fits_in_memory(const Results& results, const MemoryConfig& c) {
  if (predicted_to_fit(results, c)) return true;
  const bool gpu = on_gpu(c);
  print_error("ortho-memory",
              c.model + " depth " + std::to_string(c.depth) + " skipped: predicted peak " +
                  (gpu ? "device memory" : "RSS") + " above 90% of the " +
                  std::to_string(static_cast<long long>(available_bytes(results, gpu) / kMiB)) +
                  " MiB available" + (gpu ? " on " + c.device : ""));
  return false;
}

// Runs one child for `c` into `results`; false when it failed (the error is printed).
bool run_child(const Options& opts, const MemoryConfig& c, Results& results,
               ProgressBar& progress) {
  try {
    const nlohmann::json r = parse_child(run_self(child_args(c)), c);
    results[c.model][c.depth] = r;
    progress.clear();
    emit_json_line(r);
    write_outputs(opts, results);
    return true;
  } catch (const std::exception& e) {
    progress.clear();
    print_error("ortho-memory", e.what());
    return false;
  }
}

int run_all(const Options& opts) {
  std::error_code error;
  std::filesystem::create_directories(opts.out, error);
  if (error)
    throw std::invalid_argument("cannot create --out " + opts.out + ": " + error.message());
  Results results;
  ProgressBar progress("ortho-memory",
                       static_cast<std::int64_t>(opts.depths.size() * (kModels.size() + 1)), "run");
  int status = 0;
  for (std::int64_t depth : opts.depths) {
    for (const std::string& model : kModels) {
      MemoryConfig c = opts.config;
      c.model = model;
      c.depth = depth;
      progress.advance();
      if (fits_in_memory(results, c) && !run_child(opts, c, results, progress)) status = 1;
    }
    MemoryConfig pair = opts.config;
    pair.model = kPair;
    pair.depth = depth;
    progress.advance();
    MemoryConfig with_stored = pair;
    with_stored.time_stored = true;
    pair.time_stored = predicted_to_fit(results, with_stored);  // only where it fits
    const bool both = results["resnet"].count(depth) && results["momentum"].count(depth);
    if (both && fits_in_memory(results, pair) && !run_child(opts, pair, results, progress)) {
      status = 1;
    }
  }
  progress.finish();
  std::cerr << table(results, opts.depths, on_gpu(opts.config));
  return status;
}

int run(int argc, char** argv) {
  Options opts;
  CLI::App app(
      "Peak activation memory (allocator stats), peak RSS and step time of one training step "
      "of the CIFAR ResNets and their momentum forms, against depth, on the CPU or a CUDA GPU "
      "(--device; there also the allocator's reserved bytes and the driver's free memory); one "
      "fresh process each, and one more per depth timing both models alternately.",
      "ortho-memory");
  app.add_option("--depths", opts.depths, "comma-separated depths 6n + 2")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--batch", opts.config.batch, "images per training step")
      ->check(CLI::Range(2, 1 << 16))
      ->capture_default_str();
  app.add_option("--gamma", opts.config.gamma, "momentum term of the momentum ResNets")
      ->check(CLI::Range(1e-4, 0.9999))
      ->capture_default_str();
  add_threads_flag(app, opts.config.threads);
  app.add_option("--repeats", opts.config.repeats,
                 "timed steps per model, and timed rounds of the paired timing (medians reported)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--out", opts.out, "directory for memory.csv, step_time.csv and memory.svg")
      ->capture_default_str();
  add_device_flag(app, opts.device);
  app.add_option("--measure", opts.measure,
                 "measure one model, or time both alternately (pair), in this process")
      ->check(CLI::IsMember({kModels[0], kModels[1], kPair}))
      ->group("");
  app.add_flag("--time-stored", opts.config.time_stored,
               "with --measure pair: time the momentum form storing activations too")
      ->group("");
  if (const std::optional<int> status = parse_flags(app, argc, argv)) return *status;
  check_options(opts);
  if (!opts.measure.empty()) {
    MemoryConfig c = opts.config;
    c.model = opts.measure;
    c.depth = opts.depths.front();
    emit_json_line(c.model == kPair ? measure_step_time_ratio(c) : measure_training_step(c));
    return 0;
  }
  return run_all(opts);
}

}  // namespace
}  // namespace ortho::apps

int main(int argc, char** argv) {
  ortho::apps::restart_with_fast_blas_kernels(argv);
  return ortho::apps::run_app("ortho-memory", [&] { return ortho::apps::run(argc, argv); });
}
