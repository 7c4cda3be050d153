#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "apps/ortho-train/train_options.h"
#include "core/random.h"
#include "data/cifar10.h"
#include "data/dataloader.h"
#include "layers/module.h"
#include "layers/momentum.h"
#include "optim/optimizer.h"
#include "optim/scheduler.h"

namespace ortho::apps {

// The momentum stages' options from --gamma and --initial-velocity; exact arithmetic on the
// CPU, float arithmetic on a CUDA --device (exact runs on the CPU only).
nn::MomentumOptions momentum_options(const TrainOptions& options);

// The network --model names, initialized from `gen`; `momentum` configures the mresnet* stages.
std::shared_ptr<nn::Module> make_model(const std::string& name, Generator& gen,
                                       const nn::MomentumOptions& momentum = {});

// The --optimizer over all parameters with --lr, --weight-decay (and --momentum for SGD,
// Landing and RiemannianSGD; --landing-lambda and --safe-step for the landing ones).
std::unique_ptr<optim::Optimizer> make_optimizer(const TrainOptions& options,
                                                 const std::vector<nn::Parameter>& params);

// The --schedule over epochs * iterations_per_epoch steps, after --warmup-epochs of linear
// warm-up.
std::shared_ptr<const optim::Schedule> make_schedule(const TrainOptions& options,
                                                     std::int64_t iterations_per_epoch);

// Throws std::invalid_argument naming `dir` and the download script unless every CIFAR-10
// file is there.
void check_cifar10_present(const std::string& dir);

// Training batches: seeded shuffle every epoch, 4-pixel zero-padded random crop, horizontal
// flip, normalization; the last partial batch is kept. Batches are built in pinned host memory
// when --device is a GPU.
data::DataLoader make_train_loader(std::shared_ptr<const data::Cifar10> train,
                                   const TrainOptions& options);
// Test batches of 500 in file order, normalization only.
data::DataLoader make_test_loader(std::shared_ptr<const data::Cifar10> test,
                                  const TrainOptions& options);

inline constexpr std::int64_t kEvalBatchSize = 500;

}  // namespace ortho::apps
