// CPU-vs-CUDA parity of training: ResNet-20 built from one seed and trained on one batch with
// SGD (momentum 0.9, lr 0.1) gives the same losses on both devices to 1e-3; orthogonal layers
// follow the same trajectory under Landing, LandingAdam and RiemannianSGD (every retraction)
// to 1e-4; a momentum ResNet in float arithmetic trains alike. Skips without a GPU.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "autograd/variable.h"
#include "core/device.h"
#include "core/random.h"
#include "core/serialize.h"
#include "core/tensor.h"
#include "layers/loss.h"
#include "layers/models/momentum_resnet.h"
#include "layers/models/resnet_cifar.h"
#include "layers/module.h"
#include "layers/momentum.h"
#include "layers/orthogonal.h"
#include "layers/parameter.h"
#include "optim/landing.h"
#include "optim/manifold.h"
#include "optim/optimizer.h"
#include "optim/riemannian.h"
#include "optim/sgd.h"
#include "support/cuda_test_support.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using autograd::Variable;
using testing::gpu;
using testing::matches_cpu;
using testing::random_tensor;

class CudaTraining : public testing::CudaTest {};

// Eight CIFAR-sized images with labels 0..7: one fixed batch.
Tensor batch_images() {
  return random_tensor({8, 3, 32, 32}, 31, DType::Float32);
}
Tensor batch_labels() {
  return Tensor::from_vector(std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7}, {8});
}

// What sgd_run records: the loss of each step (before its update) and every parameter's
// gradient after the first backward.
struct SgdRun {
  std::vector<double> losses;
  std::vector<Tensor> first_grads;
};

// `steps` SGD steps (lr 0.1, momentum 0.9) of `net` on the fixed batch moved to `device`.
SgdRun sgd_run(nn::Module& net, Device device, int steps) {
  optim::SGD sgd(net.parameters(), {.lr = 0.1, .momentum = 0.9});
  const nn::CrossEntropyLoss criterion;
  const Tensor x = batch_images().to(device), y = batch_labels().to(device);
  SgdRun run;
  for (int step = 0; step < steps; ++step) {
    sgd.zero_grad();
    const Variable loss = criterion(net(Variable(x)), y);
    loss.backward();
    if (step == 0) {
      for (const nn::Parameter& p : net.parameters()) run.first_grads.push_back(p.grad().clone());
    }
    sgd.step();
    run.losses.push_back(loss.value().item<double>());
  }
  return run;
}

// Expects the two modules' parameters (and buffers) to be equal, the GPU's on the GPU.
void expect_same_state(const nn::Module& on_gpu, const nn::Module& on_cpu, double tol,
                       const std::string& when) {
  const TensorMap g = on_gpu.state_dict(), c = on_cpu.state_dict();
  ASSERT_EQ(g.size(), c.size());
  for (const auto& [name, value] : c) {
    ASSERT_TRUE(g.contains(name)) << name;
    EXPECT_TRUE(matches_cpu(g.at(name), value, tol)) << name << " " << when;
  }
}

TEST_F(CudaTraining, ResNet20SgdLossesMatchTheCpu) {
  Generator gen_cpu(5), gen_gpu(5);
  const auto on_cpu = nn::resnet20(10, &gen_cpu);
  const auto on_gpu = nn::resnet20(10, &gen_gpu);
  on_gpu->to(gpu());
  expect_same_state(*on_gpu, *on_cpu, 0.0, "at initialization");

  // Four steps: on this batch a float32 and a float64 run agree to 2e-6 in loss through step 4,
  // but step 5 meets an ill-conditioned point where any float32 rounding difference grows to
  // ~6e-4, too close to the bound for two independent float32 implementations.
  const int steps = 4;
  const SgdRun cpu = sgd_run(*on_cpu, Device::cpu(), steps);
  const SgdRun cuda = sgd_run(*on_gpu, gpu(), steps);
  ASSERT_EQ(cuda.losses.size(), cpu.losses.size());
  for (std::size_t step = 0; step < cpu.losses.size(); ++step) {
    EXPECT_TRUE(testing::close_relative(cuda.losses[step], cpu.losses[step], 1e-3))
        << "step " << step;
  }
  EXPECT_NE(cpu.losses.back(), cpu.losses.front()) << "the steps changed the network";

  // The first backward through the whole network, parameter by parameter (float32 sums over
  // the batch and the spatial dims of 20 layers: 1e-3 relative to each gradient's largest).
  const std::vector<std::pair<std::string, nn::Parameter>> names = on_cpu->named_parameters();
  ASSERT_EQ(cuda.first_grads.size(), cpu.first_grads.size());
  for (std::size_t i = 0; i < cpu.first_grads.size(); ++i) {
    EXPECT_TRUE(matches_cpu(cuda.first_grads[i], cpu.first_grads[i], 1e-3))
        << "gradient of " << names[i].first;
  }

  // The batch norm statistics were updated on the device, once per step.
  const TensorMap state = on_gpu->state_dict();
  EXPECT_EQ(state.at("bn1.num_batches_tracked").item<std::int64_t>(), steps);
  for (const auto& [name, value] : state) EXPECT_TRUE(value.device().is_cuda()) << name;
  EXPECT_TRUE(matches_cpu(state.at("layer3.2.bn2.running_var"),
                          on_cpu->state_dict().at("layer3.2.bn2.running_var"), 1e-3));
}

TEST_F(CudaTraining, MomentumResNetInFloatArithmeticTrainsAlike) {
  for (bool invertible : {true, false}) {
    nn::MomentumOptions options;
    options.arithmetic = nn::MomentumArithmetic::Float;  // exact arithmetic is CPU-only
    options.invertible = invertible;
    Generator gen_cpu(9), gen_gpu(9);
    const auto on_cpu = nn::momentum_resnet_cifar(20, 10, &gen_cpu, options);
    const auto on_gpu = nn::momentum_resnet_cifar(20, 10, &gen_gpu, options);
    on_gpu->to(gpu());
    const std::vector<double> cpu_losses = sgd_run(*on_cpu, Device::cpu(), 3).losses;
    const std::vector<double> gpu_losses = sgd_run(*on_gpu, gpu(), 3).losses;
    for (std::size_t step = 0; step < cpu_losses.size(); ++step) {
      EXPECT_TRUE(testing::close_relative(gpu_losses[step], cpu_losses[step], 1e-3))
          << "step " << step << ", invertible " << invertible;
    }
  }
}

TEST_F(CudaTraining, MomentumResNetExactArithmeticRejectsCudaInputs) {
  Generator gen(10);
  const auto net = nn::momentum_resnet_cifar(20, 10, &gen);  // Exact arithmetic by default
  net->to(gpu());
  testing::expect_invalid_argument([&] { (*net)(Variable(batch_images().to(gpu()))); },
                                   "exact arithmetic runs on CPU");
}

// ---------------------------------------------------------------------------------------------
// Orthogonal layers and manifold optimizers.

using MakeModule = std::function<std::shared_ptr<nn::Module>()>;
using MakeOptimizer = std::function<std::unique_ptr<optim::Optimizer>(std::vector<nn::Parameter>)>;

// Mean squared error of `module`'s output on `x` against `target`, backpropagated.
void regression_backward(nn::Module& module, const Tensor& x, const Tensor& target) {
  module.zero_grad();
  const Variable diff = autograd::sub(module(Variable(x)), Variable(target));
  autograd::mean(autograd::square(diff)).backward();
}

// Largest distance ||X^T X - I||_F of a manifold-tagged parameter of `module` to its manifold.
double largest_distance(const nn::Module& module) {
  double largest = 0.0;
  for (const nn::Parameter& p : module.parameters()) {
    if (p.manifold() == nn::Manifold::Euclidean) continue;
    const Tensor d = optim::distance_to_manifold(optim::manifold_matrix(p.value(), p.manifold()));
    largest = std::max(largest, d.to(DType::Float64).to(Device::cpu()).to_vector<double>()[0]);
  }
  return largest;
}

// Two copies of a module (one per device) take `steps` steps of the same optimizer on the same
// regression problem; their parameters must agree after every step.
void expect_same_trajectory(const MakeModule& make_module, const MakeOptimizer& make_optimizer,
                            const Shape& input_shape, int steps, double tol,
                            const std::string& what) {
  const std::shared_ptr<nn::Module> on_cpu = make_module(), on_gpu = make_module();
  on_gpu->to(gpu());
  const std::unique_ptr<optim::Optimizer> cpu_opt = make_optimizer(on_cpu->parameters());
  const std::unique_ptr<optim::Optimizer> gpu_opt = make_optimizer(on_gpu->parameters());
  const Tensor x = random_tensor(input_shape, 50, DType::Float32);
  Shape output_shape;
  {
    const autograd::NoGradGuard no_grad;
    output_shape = (*on_cpu)(Variable(x)).shape();
  }
  const Tensor target = random_tensor(output_shape, 51, DType::Float32);
  const Tensor x_gpu = x.to(gpu()), target_gpu = target.to(gpu());
  for (int step = 0; step < steps; ++step) {
    regression_backward(*on_cpu, x, target);
    regression_backward(*on_gpu, x_gpu, target_gpu);
    const std::vector<nn::Parameter> cpu_params = on_cpu->parameters();
    const std::vector<nn::Parameter> gpu_params = on_gpu->parameters();
    for (std::size_t i = 0; i < cpu_params.size(); ++i) {
      EXPECT_TRUE(matches_cpu(gpu_params[i].grad(), cpu_params[i].grad(), tol))
          << what << ": gradient of parameter " << i << " at step " << step;
    }
    cpu_opt->step();
    gpu_opt->step();
    for (std::size_t i = 0; i < cpu_params.size(); ++i) {
      EXPECT_TRUE(matches_cpu(gpu_params[i].value(), cpu_params[i].value(), tol))
          << what << ": parameter " << i << " after step " << step;
    }
  }
  EXPECT_NEAR(largest_distance(*on_gpu), largest_distance(*on_cpu), 1e-4) << what;
}

// The orthogonal layers under test, each built from one seed so both copies start equal.
std::vector<std::pair<std::string, std::pair<MakeModule, Shape>>> orthogonal_layers() {
  return {
      {"wide OrthogonalLinear",
       {[] {
          Generator gen(20);
          return std::make_shared<nn::OrthogonalLinear>(16, 8, true, &gen);
        },
        Shape{32, 16}}},
      {"tall OrthogonalLinear",
       {[] {
          Generator gen(21);
          return std::make_shared<nn::OrthogonalLinear>(6, 12, false, &gen);
        },
        Shape{32, 6}}},
      {"square OrthogonalLinear",
       {[] {
          Generator gen(22);
          return std::make_shared<nn::OrthogonalLinear>(8, 8, true, &gen);
        },
        Shape{32, 8}}},
      {"OrthogonalConv2d",
       {[] {
          Generator gen(23);
          return std::make_shared<nn::OrthogonalConv2d>(4, 8, 3, 1, 1, true, 1, &gen);
        },
        Shape{4, 4, 8, 8}}},
  };
}

TEST_F(CudaTraining, LandingStepsOfOrthogonalLayersMatchTheCpu) {
  const double tol = 1e-4;
  for (const auto& [name, layer] : orthogonal_layers()) {
    expect_same_trajectory(
        layer.first,
        [](std::vector<nn::Parameter> params) -> std::unique_ptr<optim::Optimizer> {
          return std::make_unique<optim::Landing>(
              std::move(params), optim::LandingOptions{.lr = 0.1, .momentum = 0.9});
        },
        layer.second, 3, tol, "Landing, " + name);
    expect_same_trajectory(
        layer.first,
        [](std::vector<nn::Parameter> params) -> std::unique_ptr<optim::Optimizer> {
          return std::make_unique<optim::Landing>(
              std::move(params),
              optim::LandingOptions{.lr = 1.0, .safe_step = true, .epsilon = 0.1});
        },
        layer.second, 2, tol, "Landing with an active safe step, " + name);
    expect_same_trajectory(
        layer.first,
        [](std::vector<nn::Parameter> params) -> std::unique_ptr<optim::Optimizer> {
          return std::make_unique<optim::LandingAdam>(std::move(params),
                                                      optim::LandingAdamOptions{.lr = 0.01});
        },
        layer.second, 3, tol, "LandingAdam, " + name);
  }
}

TEST_F(CudaTraining, RiemannianSgdWithEveryRetractionMatchesTheCpu) {
  const double tol = 1e-4;
  for (optim::Retraction retraction : {optim::Retraction::Exp, optim::Retraction::Cayley,
                                       optim::Retraction::QR, optim::Retraction::Polar}) {
    for (const auto& [name, layer] : orthogonal_layers()) {
      expect_same_trajectory(
          layer.first,
          [retraction](std::vector<nn::Parameter> params) -> std::unique_ptr<optim::Optimizer> {
            return std::make_unique<optim::RiemannianSGD>(
                std::move(params),
                optim::RiemannianSGDOptions{.lr = 0.1, .momentum = 0.9, .retraction = retraction});
          },
          layer.second, 3, tol,
          "RiemannianSGD " + optim::retraction_name(retraction) + ", " + name);
    }
  }
}

}  // namespace
}  // namespace ortho
