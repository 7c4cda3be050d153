#include "apps/ortho-bench/model_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "apps/common/json_lines.h"
#include "apps/common/progress.h"
#include "autograd/grad_mode.h"
#include "autograd/variable.h"
#include "core/device.h"
#include "core/random.h"
#include "core/tensor.h"
#include "layers/loss.h"
#include "layers/models/resnet_cifar.h"
#include "layers/orthogonal.h"

namespace ortho::apps {
namespace {

constexpr std::int64_t kBatch = 128;
constexpr std::int64_t kClasses = 10;
constexpr std::uint64_t kSeed = 0;
// Untimed runs before timing: the first step allocates momentum buffers and warms caches.
constexpr int kWarmupRuns = 2;

// The depth in "resnet<depth>", or 0 when `model` does not have that form.
std::int64_t resnet_depth(const std::string& model) {
  const std::string prefix = "resnet";
  if (model.rfind(prefix, 0) != 0) return 0;
  const std::string digits = model.substr(prefix.size());
  const bool numeric =
      !digits.empty() && digits.size() <= 4 &&
      std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
  return numeric ? std::stoll(digits) : 0;
}

// The CIFAR ResNet named "resnet<6n+2>" or "resnet18".
std::shared_ptr<nn::ResNetCifar> build_model(const std::string& model, Generator& gen) {
  if (model == "resnet18") return nn::resnet18_cifar(kClasses, &gen);
  const std::int64_t depth = resnet_depth(model);
  if (depth == 0) {
    throw std::invalid_argument(
        "--model must be resnet<depth> (depth 6n + 2: resnet20, resnet32, "
        "...) or resnet18, got '" +
        model + "'");
  }
  return nn::resnet_cifar(depth, kClasses, &gen);
}

// Seconds per run of a set of timed runs: wall time (median, fastest) and the median process
// CPU time of all threads, which a loaded machine inflates less than wall time.
struct Timing {
  double median = 0, fastest = 0, cpu_median = 0;
};

double median_of(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

double process_cpu_seconds() {
  return static_cast<double>(std::clock()) / CLOCKS_PER_SEC;
}

// Times `repeats` runs of `fn`, after kWarmupRuns untimed ones, each from an idle `device`
// until it has finished the run's work.
Timing time_runs(int repeats, Device device, const std::function<void()>& fn) {
  for (int i = 0; i < kWarmupRuns; ++i) fn();
  std::vector<double> wall, cpu;
  for (int r = 0; r < repeats; ++r) {
    synchronize(device);
    const auto start = std::chrono::steady_clock::now();
    const double cpu_start = process_cpu_seconds();
    fn();
    synchronize(device);
    cpu.push_back(process_cpu_seconds() - cpu_start);
    wall.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return {median_of(wall), *std::min_element(wall.begin(), wall.end()), median_of(cpu)};
}

// Class labels drawn uniformly from a fixed seed, as an Int64 tensor.
Tensor random_labels(std::int64_t n) {
  std::mt19937_64 rng(kSeed);
  std::uniform_int_distribution<std::int64_t> dist(0, kClasses - 1);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(n));
  for (std::int64_t& l : labels) l = dist(rng);
  return Tensor::from_vector(labels, {n});
}

nlohmann::json result_line(const std::string& bench, Device device, int threads,
                           std::int64_t parameters, int repeats, const Timing& t) {
  return {{"bench", bench},
          {"device", device.to_string()},
          {"tf32", allow_tf32()},
          {"threads", threads},
          {"batch", kBatch},
          {"ms_per_step", t.median * 1e3},
          {"images_per_s", static_cast<double>(kBatch) / t.median},
          {"min_ms", t.fastest * 1e3},
          {"cpu_ms", t.cpu_median * 1e3},
          {"parameters", parameters},
          {"repeats", repeats},
          {"framework", "ortho"}};
}

}  // namespace

void bench_model(const std::string& model_name, int threads, int repeats,
                 const ModelBenchOptions& options) {
  const Device device = options.device;
  Generator gen(kSeed);
  const std::shared_ptr<nn::ResNetCifar> model = build_model(model_name, gen);
  nn::make_orthogonal(*model, nn::parse_orthogonal_layers(options.orthogonal), &gen);
  model->to(device);  // before the optimizer, which creates its state on the parameters' device
  const autograd::Variable images(
      randn({kBatch, 3, 32, 32}, DType::Float32, Device::cpu(), &gen).to(device));
  const Tensor labels = random_labels(kBatch).to(device);
  const nn::CrossEntropyLoss loss_fn;
  const std::unique_ptr<optim::Optimizer> optimizer =
      make_optimizer(options.optimizer, model->parameters());
  const std::int64_t parameters = model->num_parameters();
  ProgressBar progress("ortho-bench", 2, "bench");

  model->train();
  const Timing train = time_runs(repeats, device, [&] {
    optimizer->zero_grad();
    loss_fn(model->forward(images), labels).backward();
    optimizer->step();
  });
  progress.clear();
  nlohmann::json train_line =
      result_line(model_name + "_train_step", device, threads, parameters, repeats, train);
  train_line["optimizer"] = options.optimizer.name;
  train_line["orthogonal"] = options.orthogonal;
  emit_json_line(train_line);
  progress.advance();

  model->eval();
  const autograd::NoGradGuard no_grad;
  const Timing eval = time_runs(repeats, device, [&] { (void)model->forward(images); });
  progress.clear();
  emit_json_line(result_line(model_name + "_eval", device, threads, parameters, repeats, eval));
  progress.advance();
  progress.finish();
}

}  // namespace ortho::apps
