#include "apps/ortho-memory/measure.h"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <fstream>
#include <memory>
#include <random>
#include <stdexcept>
#include <vector>

#include "autograd/variable.h"
#include "core/allocator.h"
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

std::shared_ptr<nn::Module> build_model(const MemoryConfig& config, Generator& gen) {
  if (config.model == "resnet") return nn::resnet_cifar(config.depth, kClasses, &gen);
  if (config.model == "momentum") {
    nn::MomentumOptions options;
    options.gamma = config.gamma;
    return nn::momentum_resnet_cifar(config.depth, kClasses, &gen, options);
  }
  throw std::invalid_argument("unknown model '" + config.model + "' (resnet or momentum)");
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

}  // namespace

nlohmann::json measure_training_step(const MemoryConfig& config) {
  mallopt(M_MMAP_THRESHOLD, kRssMmapThreshold);
  set_num_threads(config.threads);
  Generator gen(kSeed);
  const std::shared_ptr<nn::Module> model = build_model(config, gen);
  model->train();
  const autograd::Variable images(
      randn({config.batch, 3, 32, 32}, DType::Float32, Device::cpu(), &gen));
  const Tensor labels = random_labels(config.batch);
  const nn::CrossEntropyLoss loss_fn;
  optim::SGDOptions sgd;
  sgd.lr = 0.01;
  sgd.momentum = 0.9;
  optim::SGD optimizer(model->parameters(), sgd);
  const auto step = [&] {
    optimizer.zero_grad();
    loss_fn(model->forward(images), labels).backward();
    optimizer.step();
  };

  step();  // allocates gradients and optimizer state
  reset_peak_rss();
  step();
  const std::int64_t rss = peak_rss_bytes();
  mallopt(M_MMAP_THRESHOLD, kTimingMmapThreshold);
  step();  // fills the heap that the timed steps recycle
  std::int64_t peak_activation = 0;
  std::vector<double> ms, cpu_ms;
  for (int r = 0; r < config.repeats; ++r) {
    const std::int64_t before = memory_stats().current_bytes;
    reset_peak_memory();
    const auto start = std::chrono::steady_clock::now();
    const std::clock_t cpu_start = std::clock();
    step();
    cpu_ms.push_back(1e3 * static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
    peak_activation = std::max(peak_activation, memory_stats().peak_bytes - before);
  }
  return {{"model", config.model},
          {"depth", config.depth},
          {"batch", config.batch},
          {"peak_activation_bytes", peak_activation},
          {"peak_rss_bytes", rss},
          {"ms_per_step", median(ms)},
          {"cpu_ms_per_step", median(cpu_ms)},
          {"gamma", config.model == "momentum" ? nlohmann::json(config.gamma) : nlohmann::json()},
          {"threads", config.threads},
          {"parameters", model->num_parameters()},
          {"device", "cpu"}};
}

}  // namespace ortho::apps
