#include "apps/ortho-memory/measure.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
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

std::int64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

}  // namespace

nlohmann::json measure_training_step(const MemoryConfig& config) {
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

  step();
  std::int64_t peak_activation = 0;
  std::vector<double> ms;
  for (int r = 0; r < config.repeats; ++r) {
    const std::int64_t before = memory_stats().current_bytes;
    reset_peak_memory();
    const auto start = std::chrono::steady_clock::now();
    step();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
    peak_activation = std::max(peak_activation, memory_stats().peak_bytes - before);
  }
  std::sort(ms.begin(), ms.end());
  return {{"model", config.model},
          {"depth", config.depth},
          {"batch", config.batch},
          {"peak_activation_bytes", peak_activation},
          {"peak_rss_bytes", peak_rss_bytes()},
          {"ms_per_step", ms[ms.size() / 2]},
          {"gamma", config.model == "momentum" ? nlohmann::json(config.gamma) : nlohmann::json()},
          {"threads", config.threads},
          {"parameters", model->num_parameters()},
          {"device", "cpu"}};
}

}  // namespace ortho::apps
