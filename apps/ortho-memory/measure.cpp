#include "apps/ortho-memory/measure.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

#include "autograd/variable.h"
#include "core/allocator.h"
#include "core/device.h"
#include "core/parallel.h"
#include "core/random.h"
#include "core/tensor.h"
#include "layers/loss.h"
#include "layers/models/momentum_resnet.h"
#include "layers/models/resnet_cifar.h"
#include "optim/sgd.h"

namespace ortho::apps {
namespace {

constexpr std::int64_t kClasses = 10;
constexpr std::uint64_t kSeed = 0;

// Exact (fixed-point) invertible arithmetic runs on the CPU only; a GPU keeps the momentum
// state in the activations' dtype.
nn::MomentumArithmetic arithmetic_on(Device device) {
  return device.is_cuda() ? nn::MomentumArithmetic::Float : nn::MomentumArithmetic::Exact;
}

// The network, initialized on the CPU (the same weights on every device) and moved to the
// config's device.
std::shared_ptr<nn::Module> build_model(const MemoryConfig& config, Generator& gen) {
  const Device device = Device::parse(config.device);
  std::shared_ptr<nn::Module> model;
  if (config.model == "resnet") {
    model = nn::resnet_cifar(config.depth, kClasses, &gen);
  } else if (config.model == "momentum" || config.model == "momentum-stored") {
    nn::MomentumOptions options;
    options.gamma = config.gamma;
    options.invertible = config.model == "momentum";
    options.arithmetic = arithmetic_on(device);
    model = nn::momentum_resnet_cifar(config.depth, kClasses, &gen, options);
  } else {
    throw std::invalid_argument("unknown model '" + config.model +
                                "' (resnet, momentum or momentum-stored)");
  }
  model->to(device);
  return model;
}

// How the invertible momentum form stores its state on `device`: "exact" or "float".
std::string arithmetic_name(const std::string& device) {
  return arithmetic_on(Device::parse(device)) == nn::MomentumArithmetic::Exact ? "exact" : "float";
}

Tensor random_labels(std::int64_t n) {
  std::mt19937_64 rng(kSeed);
  std::uniform_int_distribution<std::int64_t> dist(0, kClasses - 1);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(n));
  for (std::int64_t& label : labels) label = dist(rng);
  return Tensor::from_vector(labels, {n});
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// VmHWM, the process's peak resident set, in bytes (Linux).
std::int64_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string key;
  while (status >> key) {
    std::int64_t kib = 0;
    if (key == "VmHWM:" && status >> kib) return kib * 1024;
  }
  return -1;
}

// glibc's mmap threshold while the resident set is measured: every buffer of 256 KiB or more
// is mapped and unmapped on its own, so freed activations leave the resident set at once
// instead of staying in a fragmented heap. Then the ceiling of glibc's dynamic threshold, which
// a training loop reaches after its first step: large buffers are recycled through the heap.
constexpr int kRssMmapThreshold = 256 * 1024;
constexpr int kTimingMmapThreshold = 32 * 1024 * 1024;

// Resets the kernel's peak resident set to the current one ("5" to clear_refs, Linux 4.0+).
void reset_peak_rss() {
  std::ofstream("/proc/self/clear_refs") << "5";
}

// One model's training step on one random batch on the config's device: forward,
// cross-entropy, backward, SGD update. The batch is drawn on the CPU, so every device sees the
// same one.
class TrainingStep {
 public:
  explicit TrainingStep(const MemoryConfig& config)
      : device_(Device::parse(config.device)),
        gen_(kSeed),
        model_(build_model(config, gen_)),
        images_(randn({config.batch, 3, 32, 32}, DType::Float32, Device::cpu(), &gen_).to(device_)),
        labels_(random_labels(config.batch).to(device_)),
        optimizer_(model_->parameters(), optim::SGDOptions{.lr = 0.01, .momentum = 0.9}) {
    model_->train();
  }

  void operator()() {
    optimizer_.zero_grad();
    loss_fn_(model_->forward(images_), labels_).backward();
    optimizer_.step();
  }

  // (wall ms, process CPU ms) of one step, from an idle device until it has finished the
  // step's work.
  std::pair<double, double> timed() {
    synchronize(device_);
    const auto start = std::chrono::steady_clock::now();
    const std::clock_t cpu_start = std::clock();
    (*this)();
    synchronize(device_);
    return {
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count(),
        1e3 * static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC};
  }

  std::int64_t num_parameters() const { return model_->num_parameters(); }

 private:
  Device device_;
  Generator gen_;
  std::shared_ptr<nn::Module> model_;
  autograd::Variable images_;
  Tensor labels_;
  nn::CrossEntropyLoss loss_fn_;
  optim::SGD optimizer_;
};

}  // namespace

nlohmann::json measure_training_step(const MemoryConfig& config) {
  const Device device = Device::parse(config.device);
  // The driver's view before this process allocates anything (it creates the CUDA context).
  const DeviceMemoryInfo driver_before =
      device.is_cuda() ? device_memory_info(device) : DeviceMemoryInfo{};
  mallopt(M_MMAP_THRESHOLD, kRssMmapThreshold);
  set_num_threads(config.threads);
  TrainingStep step(config);
  step();  // allocates gradients and optimizer state
  reset_peak_rss();
  step();
  const std::int64_t rss = peak_rss_bytes();
  mallopt(M_MMAP_THRESHOLD, kTimingMmapThreshold);
  step();  // fills the heap that the timed steps recycle
  std::int64_t peak_activation = 0, peak_allocated = 0;
  std::vector<double> ms, cpu_ms;
  for (int r = 0; r < config.repeats; ++r) {
    synchronize(device);
    const std::int64_t before = memory_stats(device).current_bytes;
    reset_peak_memory(device);
    const auto [wall, cpu] = step.timed();  // returns once the device is idle
    ms.push_back(wall);
    cpu_ms.push_back(cpu);
    const std::int64_t peak = memory_stats(device).peak_bytes;
    peak_activation = std::max(peak_activation, peak - before);
    peak_allocated = std::max(peak_allocated, peak);
  }
  nlohmann::json out = {
      {"model", config.model},
      {"depth", config.depth},
      {"batch", config.batch},
      {"peak_activation_bytes", peak_activation},
      {"peak_rss_bytes", rss},
      {"ms_per_step", median(ms)},
      {"cpu_ms_per_step", median(cpu_ms)},
      {"gamma", config.model == "momentum" ? nlohmann::json(config.gamma) : nlohmann::json()},
      {"threads", config.threads},
      {"parameters", step.num_parameters()},
      {"device", config.device},
      {"arithmetic", config.model == "momentum" ? nlohmann::json(arithmetic_name(config.device))
                                                : nlohmann::json()}};
  if (device.is_cuda()) {
    const DeviceMemoryInfo driver_after = device_memory_info(device);
    out["peak_allocated_bytes"] = peak_allocated;
    out["reserved_bytes"] = memory_stats(device).reserved_bytes;
    out["driver_total_bytes"] = driver_after.total_bytes;
    out["driver_free_before_bytes"] = driver_before.free_bytes;
    out["driver_free_after_bytes"] = driver_after.free_bytes;
    out["driver_used_bytes"] = driver_before.free_bytes - driver_after.free_bytes;
  }
  return out;
}

nlohmann::json measure_step_time_ratio(const MemoryConfig& config) {
  mallopt(M_MMAP_THRESHOLD, kTimingMmapThreshold);
  set_num_threads(config.threads);
  std::vector<std::string> models = {"resnet", "momentum"};
  if (config.time_stored) models.push_back("momentum-stored");
  std::vector<std::unique_ptr<TrainingStep>> steps;
  for (const std::string& model : models) {
    MemoryConfig c = config;
    c.model = model;
    steps.push_back(std::make_unique<TrainingStep>(c));
  }
  for (int warm = 0; warm < 2; ++warm) {
    for (const auto& step : steps) (*step)();
  }
  // wall[m], cpu[m]: model m's timed steps, in rounds that run every model once.
  std::vector<std::vector<double>> wall(models.size()), cpu(models.size());
  for (int r = 0; r < config.repeats; ++r) {
    for (std::size_t m = 0; m < models.size(); ++m) {
      const auto [w, c] = steps[m]->timed();
      wall[m].push_back(w);
      cpu[m].push_back(c);
    }
  }
  // Median over rounds of model a's time over model b's.
  const auto ratio = [&](const std::vector<std::vector<double>>& t, std::size_t a, std::size_t b) {
    std::vector<double> ratios;
    for (std::size_t r = 0; r < t[a].size(); ++r) ratios.push_back(t[a][r] / t[b][r]);
    return median(ratios);
  };
  nlohmann::json out = {{"model", "pair"},
                        {"depth", config.depth},
                        {"batch", config.batch},
                        {"resnet_ms_per_step", median(wall[0])},
                        {"momentum_ms_per_step", median(wall[1])},
                        {"time_ratio", ratio(wall, 1, 0)},
                        {"cpu_time_ratio", ratio(cpu, 1, 0)},
                        {"gamma", config.gamma},
                        {"threads", config.threads},
                        {"device", config.device},
                        {"arithmetic", arithmetic_name(config.device)}};
  if (config.time_stored) {
    out["stored_ms_per_step"] = median(wall[2]);
    out["recompute_ratio"] = ratio(wall, 1, 2);
  }
  return out;
}

}  // namespace ortho::apps
