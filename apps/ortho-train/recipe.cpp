// The fixed CIFAR-10 training recipe of ortho-train: model, optimizer, schedule and data.
#include "apps/ortho-train/recipe.h"

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <stdexcept>

#include "apps/common/optimizer_choice.h"
#include "core/device.h"
#include "layers/models/cnn_cifar.h"
#include "layers/models/momentum_resnet.h"
#include "layers/models/resnet_cifar.h"

namespace ortho::apps {
namespace {

// The base lr at every step.
class ConstantLR final : public optim::Schedule {
 public:
  double lr(double base_lr, std::int64_t /*t*/) const override { return base_lr; }
};

std::shared_ptr<const optim::Schedule> main_schedule(const TrainOptions& o,
                                                     std::int64_t iterations_per_epoch,
                                                     std::int64_t steps) {
  if (o.schedule == "cosine") return std::make_shared<optim::CosineAnnealing>(steps);
  if (o.schedule == "step") {
    return std::make_shared<optim::StepLR>((o.epochs + 2) / 3 * iterations_per_epoch, 0.1);
  }
  return std::make_shared<ConstantLR>();
}

}  // namespace

nn::MomentumOptions momentum_options(const TrainOptions& options) {
  nn::MomentumOptions momentum;
  momentum.gamma = options.gamma;
  momentum.initial_velocity = options.initial_velocity == "first-block"
                                  ? nn::InitialVelocity::FirstBlock
                                  : nn::InitialVelocity::Zero;
  // Exact (fixed-point) invertible arithmetic runs on the CPU only; on a GPU the stages keep
  // x and v in float32 (reconstruction error grows like gamma^-n with the blocks per stage).
  if (Device::parse(options.device).is_cuda()) momentum.arithmetic = nn::MomentumArithmetic::Float;
  return momentum;
}

std::shared_ptr<nn::Module> make_model(const std::string& name, Generator& gen,
                                       const nn::MomentumOptions& momentum) {
  static const std::map<std::string, std::function<std::shared_ptr<nn::Module>(Generator&)>>
      factories = {
          {"resnet20", [](Generator& g) { return nn::resnet20(10, &g); }},
          {"resnet32", [](Generator& g) { return nn::resnet32(10, &g); }},
          {"resnet44", [](Generator& g) { return nn::resnet44(10, &g); }},
          {"resnet56", [](Generator& g) { return nn::resnet56(10, &g); }},
          {"resnet110", [](Generator& g) { return nn::resnet110(10, &g); }},
          {"resnet1202", [](Generator& g) { return nn::resnet1202(10, &g); }},
          {"resnet18", [](Generator& g) { return nn::resnet18_cifar(10, &g); }},
          // The CNN-6 / CNN-9 of the OPT paper (Liu et al. 2021): layers/models/cnn_cifar.h.
          {"cnn6", [](Generator& g) { return nn::cnn6(10, &g); }},
          {"cnn9", [](Generator& g) { return nn::cnn9(10, &g); }},
      };
  // Momentum ResNets (invertible backprop): layers/models/momentum_resnet.h.
  static const std::map<std::string, std::int64_t> momentum_depths = {
      {"mresnet20", 20}, {"mresnet32", 32},   {"mresnet44", 44},
      {"mresnet56", 56}, {"mresnet110", 110}, {"mresnet1202", 1202}};
  if (const auto m = momentum_depths.find(name); m != momentum_depths.end()) {
    return nn::momentum_resnet_cifar(m->second, 10, &gen, momentum);
  }
  const auto it = factories.find(name);
  if (it == factories.end()) throw std::invalid_argument("unknown --model '" + name + "'");
  return it->second(gen);
}

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainOptions& o,
                                                 const std::vector<nn::Parameter>& params) {
  return apps::make_optimizer({.name = o.optimizer,
                               .lr = o.lr,
                               .momentum = o.momentum,
                               .weight_decay = o.weight_decay,
                               .landing_lambda = o.landing_lambda,
                               .safe_step = o.safe_step},
                              params);
}

std::shared_ptr<const optim::Schedule> make_schedule(const TrainOptions& o,
                                                     std::int64_t iterations_per_epoch) {
  const std::int64_t total = o.epochs * iterations_per_epoch;
  if (o.schedule == "onecycle") return std::make_shared<optim::OneCycle>(total);
  const auto warmup = static_cast<std::int64_t>(
      std::llround(o.warmup_epochs * static_cast<double>(iterations_per_epoch)));
  std::shared_ptr<const optim::Schedule> after =
      main_schedule(o, iterations_per_epoch, total - warmup);
  if (warmup == 0) return after;
  return std::make_shared<optim::LinearWarmup>(warmup, after);
}

void check_cifar10_present(const std::string& dir) {
  for (const auto split : {data::Cifar10::Split::Train, data::Cifar10::Split::Test}) {
    for (const std::string& file : data::Cifar10::file_names(split)) {
      if (std::filesystem::is_regular_file(std::filesystem::path(dir) / file)) continue;
      throw std::invalid_argument("no CIFAR-10 data in " + dir + " (" + file +
                                  " not found); run `bash scripts/download_cifar10.sh` or set "
                                  "ORTHO_CIFAR10_DIR (or pass --data DIR)");
    }
  }
}

data::DataLoader make_train_loader(std::shared_ptr<const data::Cifar10> train,
                                   const TrainOptions& o) {
  data::DataLoaderOptions options;
  options.batch_size = o.batch_size;
  options.shuffle = true;
  options.drop_last = false;
  options.seed = o.seed;
  options.num_workers = o.workers;
  options.subset = o.subset;
  options.pin_memory = Device::parse(o.device).is_cuda();  // batches copied to the GPU by DMA
  return data::DataLoader(std::move(train), options, data::cifar10_train_transform());
}

data::DataLoader make_test_loader(std::shared_ptr<const data::Cifar10> test,
                                  const TrainOptions& o) {
  data::DataLoaderOptions options;
  options.batch_size = kEvalBatchSize;
  options.shuffle = false;
  options.num_workers = o.workers;
  options.pin_memory = Device::parse(o.device).is_cuda();
  return data::DataLoader(std::move(test), options, data::cifar10_test_transform());
}

}  // namespace ortho::apps
