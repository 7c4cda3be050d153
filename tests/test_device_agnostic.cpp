// Autograd, layers, optimizers and models run unchanged on a non-CPU device, proven on a
// simulated cuda:0: the CPU backend and allocator registered for it, so its tensors hold host
// memory but carry the cuda tag, and any op that mixes a default (CPU) tensor into cuda work
// throws std::invalid_argument. Every run on cuda:0 must match the same run on the CPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/linalg.h"
#include "autograd/ops/matmul.h"
#include "autograd/ops/reduce.h"
#include "autograd/ops/shape_ops.h"
#include "autograd/ops/softmax.h"
#include "autograd/ops/views.h"
#include "autograd/variable.h"
#include "core/allocator.h"
#include "core/backend.h"
#include "core/cpu/cpu_backend.h"
#include "core/device.h"
#include "core/ops/elementwise.h"
#include "core/ops/linalg.h"
#include "core/random.h"
#include "core/serialize.h"
#include "core/tensor.h"
#include "data/transforms.h"
#include "layers/activation.h"
#include "layers/batchnorm2d.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/init.h"
#include "layers/linear.h"
#include "layers/loss.h"
#include "layers/models/cnn_cifar.h"
#include "layers/models/momentum_resnet.h"
#include "layers/models/resnet_cifar.h"
#include "layers/momentum.h"
#include "layers/opt.h"
#include "layers/opt_convert.h"
#include "layers/opt_energy.h"
#include "layers/orthogonal.h"
#include "layers/orthogonal_maps.h"
#include "layers/parametrized_orthogonal.h"
#include "layers/pooling.h"
#include "layers/sequential.h"
#include "optim/adam.h"
#include "optim/landing.h"
#include "optim/manifold.h"
#include "optim/optimizer.h"
#include "optim/riemannian.h"
#include "optim/scheduler.h"
#include "optim/sgd.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using autograd::Variable;
using testing::expect_invalid_argument;
using testing::random_tensor;

constexpr std::uint64_t kSeed = 2024;

Device cuda() {
  return Device::cuda(0);
}

// Registers the simulated device once; with a real GPU the CUDA suites cover the device instead.
class DeviceAgnostic : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (cuda_is_available()) return;
    static cpu::CpuBackend backend;
    register_backend(DeviceKind::CUDA, &backend);
    register_allocator(Device::cuda(0), &allocator_for(Device::cpu()));
  }

  void SetUp() override {
    if (cuda_is_available()) {
      GTEST_SKIP() << "a real GPU is present: the CUDA suites (test_cuda_*) cover the device; "
                      "this suite simulates cuda:0 with the CPU backend only without one";
    }
  }
};

// ---- traces: what a run computed, as named host copies, compared between devices -----------

struct TraceEntry {
  std::string name;
  Tensor host;
  bool exact;  // false once an optimizer step has run (see expect_same_runs)
};

class Trace {
 public:
  explicit Trace(Device device) : device_(device) {}

  // Records a host copy of `t` after checking that it lives on the run's device.
  void add(const std::string& name, const Tensor& t) {
    EXPECT_TRUE(t.defined()) << name << " is undefined";
    if (!t.defined()) return;
    EXPECT_EQ(t.device(), device_) << name << " is on " << t.device().to_string();
    entries_.push_back({name, t.to(Device::cpu()).clone(), exact_});
  }
  void add_grads(const nn::Module& module, const std::string& prefix) {
    for (const auto& [name, p] : module.named_parameters()) add(prefix + name + ".grad", p.grad());
  }
  void add_state(const nn::Module& module, const std::string& prefix) {
    for (const auto& [name, t] : module.state_dict()) add(prefix + name, t);
  }
  void add_optimizer(const optim::Optimizer& optimizer, const std::string& prefix) {
    for (const auto& [name, t] : optimizer.state_dict()) {
      // Counters and options are host scalars; only the per-parameter buffers follow the device.
      if (t.dim() == 0) continue;
      add(prefix + name, t);
    }
  }
  // Everything recorded from now on may differ by rounding: the CPU run's optimizers take fused
  // raw-pointer kernels, every other device the composite path of front-end ops.
  void stop_exact() { exact_ = false; }

  Device device() const { return device_; }
  const std::vector<TraceEntry>& entries() const { return entries_; }

 private:
  Device device_;
  bool exact_ = true;
  std::vector<TraceEntry> entries_;
};

bool same_value(double a, double b) {
  return a == b || (std::isnan(a) && std::isnan(b));
}

// The cuda run must record the same names, shapes and dtypes as the CPU run, with bit-identical
// values up to the first optimizer step and values within float32 rounding after it.
void expect_same_runs(const Trace& on_cpu, const Trace& on_cuda) {
  ASSERT_EQ(on_cpu.entries().size(), on_cuda.entries().size());
  ASSERT_FALSE(on_cpu.entries().empty());
  for (std::size_t i = 0; i < on_cpu.entries().size(); ++i) {
    const TraceEntry& expected = on_cpu.entries()[i];
    const TraceEntry& actual = on_cuda.entries()[i];
    ASSERT_EQ(actual.name, expected.name);
    ASSERT_EQ(actual.host.shape(), expected.host.shape()) << expected.name;
    ASSERT_EQ(actual.host.dtype(), expected.host.dtype()) << expected.name;
    const std::vector<double> x = actual.host.to_vector<double>();
    const std::vector<double> y = expected.host.to_vector<double>();
    double scale = 0.0;
    for (double v : y) scale = std::max(scale, std::abs(v));
    std::size_t mismatches = 0;
    double worst = 0.0;
    for (std::size_t k = 0; k < x.size(); ++k) {
      if (expected.exact ? same_value(x[k], y[k])
                         : std::abs(x[k] - y[k]) <= 1e-5 + 1e-4 * std::abs(y[k]) + 1e-5 * scale) {
        continue;
      }
      ++mismatches;
      worst = std::max(worst, std::abs(x[k] - y[k]));
    }
    EXPECT_EQ(mismatches, 0u) << expected.name << (expected.exact ? " (exact)" : " (rounding)")
                              << ": " << mismatches << " of " << x.size()
                              << " elements differ, worst by " << worst;
  }
}

// ---- module runs -----------------------------------------------------------------------------

// One module's training run: built on the CPU, moved to the device, stepped, then evaluated.
struct Recipe {
  // Builds the module on the CPU from the default generator.
  std::function<std::shared_ptr<nn::Module>()> build = nullptr;
  Shape input;
  std::int64_t classes = 0;  // > 0: cross-entropy on labels i % classes, else sum(out * w)
  // After Module::to(device) and before the optimizer: conversions of a model already there.
  std::function<void(nn::Module&)> after_to = nullptr;
  // The optimizer over the moved module; null: one forward and backward, no step.
  std::function<std::unique_ptr<optim::Optimizer>(nn::Module&)> optimizer = nullptr;
  std::function<Variable(nn::Module&)> penalty = nullptr;  // added to the loss when defined
  std::function<void(nn::Module&, Generator&)> after_step = nullptr;  // e.g. S-OPT resampling
  int steps = 2;
  bool eval_forward = true;  // one forward in evaluation mode at the end
};

Trace run(const Recipe& recipe, Device device) {
  manual_seed(kSeed);
  std::shared_ptr<nn::Module> model = recipe.build();
  model->to(device);
  if (recipe.after_to) recipe.after_to(*model);
  for (const auto& [name, p] : model->named_parameters()) {
    EXPECT_EQ(p.device(), device) << "parameter " << name;
  }
  for (const auto& [name, b] : model->named_buffers()) {
    EXPECT_EQ(b.device(), device) << "buffer " << name;
  }
  std::unique_ptr<optim::Optimizer> optimizer =
      recipe.optimizer ? recipe.optimizer(*model) : nullptr;
  const Tensor x = random_tensor(recipe.input, 11, DType::Float32).to(device);
  Tensor labels;
  if (recipe.classes > 0) {
    std::vector<std::int64_t> values;
    for (std::int64_t i = 0; i < recipe.input[0]; ++i) values.push_back(i % recipe.classes);
    labels = Tensor::from_vector(values, {recipe.input[0]}, device);
  }
  Generator step_gen(kSeed);
  // Forward-time draws (dropout) start from the same state on either device's generator.
  manual_seed(kSeed);
  const std::uint64_t cpu_offset = default_generator(Device::cpu()).state().offset;

  Trace trace(device);
  for (int s = 0; s < recipe.steps; ++s) {
    const std::string step = "step" + std::to_string(s) + ".";
    if (optimizer) {
      optimizer->zero_grad();
    } else {
      model->zero_grad();
    }
    const Variable input(x, /*requires_grad=*/true);
    const Variable out = (*model)(input);
    Variable loss;
    if (recipe.classes > 0) {
      loss = nn::CrossEntropyLoss(0.1)(out, labels);
    } else {
      const Tensor w = random_tensor(out.shape(), 13, out.dtype()).to(device);
      loss = autograd::sum(out * Variable(w));
    }
    if (recipe.penalty) {
      const Variable extra = recipe.penalty(*model);
      if (extra.defined()) loss = loss + extra;
    }
    loss.backward();
    trace.add(step + "output", out.value());
    trace.add(step + "loss", loss.value());
    trace.add(step + "input.grad", input.grad());
    trace.add_grads(*model, step);
    if (!optimizer) break;
    optimizer->step();
    trace.stop_exact();
    if (recipe.after_step) recipe.after_step(*model, step_gen);
    trace.add_state(*model, step);
    trace.add_optimizer(*optimizer, step + "optimizer.");
  }
  if (recipe.eval_forward) {
    const autograd::NoGradGuard no_grad;
    model->eval();
    trace.add("eval.output", (*model)(Variable(x)).value());
    trace.add_state(*model, "final.");
  }
  if (device.is_cuda()) {
    EXPECT_EQ(default_generator(Device::cpu()).state().offset, cpu_offset)
        << "work on " << device.to_string() << " drew from the CPU generator";
  }
  return trace;
}

void expect_device_agnostic(const Recipe& recipe) {
  const Trace on_cpu = run(recipe, Device::cpu());
  const Trace on_cuda = run(recipe, cuda());
  expect_same_runs(on_cpu, on_cuda);
}

std::function<std::unique_ptr<optim::Optimizer>(nn::Module&)> sgd(optim::SGDOptions options) {
  return [options](nn::Module& m) { return std::make_unique<optim::SGD>(m.parameters(), options); };
}

constexpr optim::SGDOptions kNesterov{
    .lr = 0.05, .momentum = 0.9, .dampening = 0.0, .weight_decay = 1e-3, .nesterov = true};

template <typename... Modules>
std::shared_ptr<nn::Sequential> sequential(std::shared_ptr<Modules>... modules) {
  auto out = std::make_shared<nn::Sequential>();
  (out->push_back(std::move(modules)), ...);
  return out;
}

// ---- the simulation itself ------------------------------------------------------------------

TEST_F(DeviceAgnostic, SimulatedDeviceTagsTensorsAndRejectsMixing) {
  const Tensor a = Tensor::ones({2, 3}, DType::Float32, cuda());
  EXPECT_EQ(a.device(), cuda());
  EXPECT_EQ(ortho::add(a, a).device(), cuda());
  expect_invalid_argument([&] { ortho::add(a, Tensor::ones({2, 3})); }, "different devices");
  auto linear = std::make_shared<nn::Linear>(3, 2);
  linear->to(cuda());
  expect_invalid_argument([&] { (*linear)(Variable(Tensor::ones({4, 3}))); }, "different devices");
}

// ---- autograd ---------------------------------------------------------------------------------

// Every autograd op family: element-wise with broadcasting, reductions, views and joins,
// matmul, softmax, linear algebra, device and dtype transfers.
Trace autograd_run(Device device) {
  const auto make = [device](const Shape& shape, std::uint64_t seed) {
    return Variable(random_tensor(shape, seed, DType::Float64).to(device), true);
  };
  const Variable a = make({3, 4}, 1), b = make({4}, 2), c = make({3, 4}, 3);
  const Variable sq = make({4, 4}, 4), tall = make({5, 3}, 5), wide = make({3, 5}, 6);
  const Variable batch = make({3, 3, 3}, 7), img = make({2, 2, 3, 3}, 8);

  const Variable positive = autograd::exp(c);
  std::vector<Variable> terms;
  terms.push_back(a + b);
  terms.push_back(a - b);
  terms.push_back(a * b);
  terms.push_back(a / (positive + 1.0));
  terms.push_back(autograd::pow(positive, a));
  terms.push_back(autograd::pow(positive, 1.5));
  terms.push_back(autograd::maximum(a, c));
  terms.push_back(autograd::minimum(a, autograd::expand(b, {3, 4})));
  terms.push_back(autograd::clamp(a, -0.3, 0.4));
  terms.push_back(autograd::affine(a, 2.0, -1.0));
  terms.push_back(autograd::abs(a) + autograd::sqrt(positive) + autograd::log(positive));
  terms.push_back(autograd::square(a) + autograd::reciprocal(positive) + autograd::neg(a));
  terms.push_back(autograd::relu(a) + autograd::sigmoid(a) + autograd::tanh(a));
  terms.push_back(autograd::where(ortho::gt(a.value(), 0.0), a, c));
  terms.push_back(autograd::expand(autograd::sum(a, {1}, true), {3, 4}));
  terms.push_back(autograd::expand(autograd::mean(a, {0}, true), {3, 4}));
  terms.push_back(autograd::expand(autograd::amax(a, {1}, true), {3, 4}));
  terms.push_back(autograd::expand(autograd::amin(a, {0}, true), {3, 4}));
  terms.push_back(autograd::expand(autograd::var(a, {1}, true, true), {3, 4}));
  terms.push_back(autograd::expand(autograd::reshape(autograd::norm(a), {1, 1}), {3, 4}));
  terms.push_back(autograd::sum_to(autograd::expand(b, {2, 3, 4}), {3, 4}));
  terms.push_back(autograd::softmax(a, 1) + autograd::log_softmax(a, 0));
  terms.push_back(autograd::permute(autograd::transpose(a, 0, 1), {1, 0}) * c);
  terms.push_back(autograd::reshape(autograd::flatten(a), {3, 4}) +
                  autograd::squeeze(autograd::unsqueeze(c, 0), 0));
  terms.push_back(autograd::cat({autograd::slice(a, 1, 0, 2), autograd::slice(c, 1, 1, 3)}, 1));
  terms.push_back(autograd::expand(autograd::unsqueeze(autograd::select(a, 0, 1), 0), {3, 4}));
  terms.push_back(autograd::sum(autograd::stack({a, c}, 0), {0}));
  terms.push_back(
      autograd::slice(autograd::slice(autograd::pad2d(a, 1, 0, 2, 1), 0, 1, 4), 1, 2, 6));
  terms.push_back(autograd::contiguous(autograd::t(autograd::clone(autograd::t(a)))));
  terms.push_back(autograd::to(autograd::to(a, Device::cpu()), device));
  terms.push_back(autograd::to(autograd::to(a, DType::Float32), DType::Float64));
  terms.push_back(autograd::matmul(a, autograd::matmul(autograd::t(c), a)));
  terms.push_back(autograd::expand(autograd::unsqueeze(autograd::matmul(a, b), 1), {3, 4}));

  // Linear algebra, reduced to scalars.
  std::vector<Variable> scalars;
  const Variable spd =
      autograd::matmul(sq, autograd::t(sq)) + Variable(Tensor::eye(4, DType::Float64, device));
  const autograd::EighOutput e = autograd::eigh(spd);
  scalars.push_back(autograd::sum(e.eigenvalues) + autograd::sum(autograd::abs(e.eigenvectors)));
  for (const Variable& m : {tall, wide}) {
    const autograd::SVDOutput s = autograd::svd(m);
    scalars.push_back(autograd::sum(s.s) + autograd::sum(autograd::abs(s.u)) +
                      autograd::sum(autograd::abs(s.vh)));
  }
  const autograd::QROutput q = autograd::qr(tall);
  scalars.push_back(autograd::sum(autograd::abs(q.q)) + autograd::sum(autograd::abs(q.r)));
  const Variable well = spd + Variable(Tensor::eye(4, DType::Float64, device));
  scalars.push_back(autograd::sum(autograd::solve(well, autograd::slice(tall, 0, 0, 4))));
  const Variable upper =
      autograd::mul(well, Variable(ortho::add(Tensor::eye(4, DType::Float64, device), 0.5)));
  scalars.push_back(autograd::sum(autograd::solve_triangular(upper, well, true, true)));
  scalars.push_back(autograd::sum(autograd::solve_triangular(upper, well, false, false)));
  scalars.push_back(autograd::sum(autograd::inverse(well)));
  scalars.push_back(autograd::trace(well));
  // Norms from tiny to large: one Padé degree per matrix, then per-matrix squaring counts.
  const Tensor scales = Tensor::from_vector<double>({0.001, 1.0, 9.0}, {3, 1, 1}, device);
  scalars.push_back(autograd::sum(autograd::expm(batch * Variable(scales))));
  scalars.push_back(autograd::sum(autograd::expm(autograd::mul(sq, 0.001))));
  scalars.push_back(autograd::sum(nn::cayley(sq)) + autograd::sum(nn::matrix_exp_orthogonal(sq)));
  scalars.push_back(autograd::sum(nn::householder_product(wide, 4)));
  scalars.push_back(autograd::sum(nn::bjorck(tall, 4, 2)) + autograd::sum(nn::gram_schmidt(wide)));
  scalars.push_back(autograd::sum(nn::lowdin(wide)));
  // Convolution, pooling and batch norm through their autograd ops (layers cover them again).
  scalars.push_back(autograd::sum(autograd::bmm(batch, batch)));
  scalars.push_back(autograd::sum(
      autograd::cross_entropy(a, Tensor::from_vector<std::int64_t>({0, 3, 1}, {3}, device), 0.2)));
  scalars.push_back(autograd::sum(autograd::to(autograd::mean(img), device)));

  Variable total = autograd::sum(terms.front());
  for (std::size_t i = 1; i < terms.size(); ++i) total = total + autograd::sum(terms[i]);
  for (const Variable& s : scalars) total = total + s;
  total.backward();

  Trace trace(device);
  for (std::size_t i = 0; i < terms.size(); ++i)
    trace.add("term" + std::to_string(i), terms[i].value());
  for (std::size_t i = 0; i < scalars.size(); ++i) {
    trace.add("scalar" + std::to_string(i), scalars[i].value());
  }
  const std::vector<std::pair<std::string, Variable>> inputs = {
      {"a", a},       {"b", b},       {"c", c},         {"sq", sq},
      {"tall", tall}, {"wide", wide}, {"batch", batch}, {"img", img}};
  for (const auto& [name, v] : inputs) trace.add(name + ".grad", v.grad());
  // grad() (capture mode) as well as backward().
  const Variable y = autograd::sum(autograd::tanh(autograd::matmul(a, autograd::t(c))));
  const std::vector<Tensor> grads = autograd::grad({y}, {a, c});
  trace.add("grad.a", grads[0]);
  trace.add("grad.c", grads[1]);
  return trace;
}

TEST_F(DeviceAgnostic, AutogradOpsMatchTheCpu) {
  expect_same_runs(autograd_run(Device::cpu()), autograd_run(cuda()));
}

TEST_F(DeviceAgnostic, GradcheckIsCpuFloat64Only) {
  const Tensor x = random_tensor({3}, 1).to(cuda());
  expect_invalid_argument(
      [&] {
        autograd::gradcheck([](const std::vector<Variable>& in) { return autograd::exp(in[0]); },
                            {x});
      },
      "finite differences run on the cpu");
}

// ---- layers -----------------------------------------------------------------------------------

TEST_F(DeviceAgnostic, Linear) {
  expect_device_agnostic({.build =
                              [] {
                                return sequential(std::make_shared<nn::Linear>(6, 5),
                                                  std::make_shared<nn::ReLU>(),
                                                  std::make_shared<nn::Linear>(5, 4, false));
                              },
                          .input = {3, 6},
                          .optimizer = sgd(kNesterov)});
}

TEST_F(DeviceAgnostic, Conv2dStridedGroupedDilated) {
  expect_device_agnostic({.build =
                              [] {
                                return sequential(
                                    std::make_shared<nn::Conv2d>(4, 6, 3, 2, 1),
                                    std::make_shared<nn::Conv2d>(6, 6, 3, 1, 1, 3, true, 2));
                              },
                          .input = {2, 4, 9, 9},
                          .optimizer = sgd(kNesterov)});
}

TEST_F(DeviceAgnostic, BatchNorm2dTrainsAndEvaluatesWithRunningStats) {
  expect_device_agnostic({.build =
                              [] {
                                return sequential(std::make_shared<nn::Conv2d>(3, 4, 1),
                                                  std::make_shared<nn::BatchNorm2d>(4));
                              },
                          .input = {3, 3, 5, 5},
                          .optimizer = sgd({.lr = 0.1, .momentum = 0.9}),
                          .steps = 3});
}

TEST_F(DeviceAgnostic, PoolingEveryKind) {
  expect_device_agnostic({.build =
                              [] {
                                return sequential(
                                    std::make_shared<nn::Conv2d>(2, 3, 3, 1, 1),
                                    std::make_shared<nn::MaxPool2d>(3, 2, 1),
                                    std::make_shared<nn::AvgPool2d>(3, 1, 1, false),
                                    std::make_shared<nn::AvgPool2d>(2, 1, 1, true),
                                    std::make_shared<nn::AdaptiveAvgPool2d>(4, 5),  // uneven cells
                                    std::make_shared<nn::AdaptiveAvgPool2d>(2, 5),  // even windows
                                    std::make_shared<nn::AdaptiveAvgPool2d>(1));    // global mean
                              },
                          .input = {2, 2, 11, 11},
                          .optimizer = sgd({.lr = 0.1})});
}

TEST_F(DeviceAgnostic, DropoutFlattenAndCrossEntropy) {
  expect_device_agnostic(
      {.build =
           [] {
             return sequential(std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(18, 8),
                               std::make_shared<nn::Dropout>(0.5), std::make_shared<nn::ReLU>(),
                               std::make_shared<nn::Linear>(8, 4));
           },
       .input = {5, 2, 3, 3},
       .classes = 4,
       .optimizer = sgd(kNesterov),
       .steps = 3});
}

TEST_F(DeviceAgnostic, OrthogonalLayersWithLandingAndRiemannianSGD) {
  const auto build = [] {
    return sequential(std::make_shared<nn::OrthogonalConv2d>(2, 3, 3, 1, 1),
                      std::make_shared<nn::ReLU>(), std::make_shared<nn::Flatten>(),
                      std::make_shared<nn::OrthogonalLinear>(48, 6),
                      std::make_shared<nn::OrthogonalLinear>(6, 4));  // dense retraction
  };
  expect_device_agnostic({.build = build, .input = {2, 2, 4, 4}, .optimizer = [](nn::Module& m) {
                            return std::make_unique<optim::Landing>(
                                m.parameters(), optim::LandingOptions{.lr = 0.1, .momentum = 0.5});
                          }});
  expect_device_agnostic({.build = build, .input = {2, 2, 4, 4}, .optimizer = [](nn::Module& m) {
                            return std::make_unique<optim::RiemannianSGD>(
                                m.parameters(),
                                optim::RiemannianSGDOptions{.lr = 0.1, .momentum = 0.5});
                          }});
}

class ParametrizedMaps : public DeviceAgnostic,
                         public ::testing::WithParamInterface<nn::OrthogonalMap> {};

TEST_P(ParametrizedMaps, ConvAndWideAndTallLinear) {
  const nn::OrthogonalMapOptions options{.map = GetParam(), .bjorck_iterations = 6};
  expect_device_agnostic(
      {.build =
           [options] {
             return sequential(
                 std::make_shared<nn::ParametrizedOrthogonalConv2d>(2, 3, 2, 1, 0, options),
                 std::make_shared<nn::Flatten>(),
                 std::make_shared<nn::ParametrizedOrthogonalLinear>(27, 30, options),  // tall
                 std::make_shared<nn::ReLU>(),
                 std::make_shared<nn::ParametrizedOrthogonalLinear>(30, 4, options));  // wide
           },
       .input = {2, 2, 4, 4},
       .optimizer = sgd({.lr = 0.05, .momentum = 0.9})});
}

INSTANTIATE_TEST_SUITE_P(EveryMap, ParametrizedMaps,
                         ::testing::Values(nn::OrthogonalMap::Cayley, nn::OrthogonalMap::MatrixExp,
                                           nn::OrthogonalMap::Householder,
                                           nn::OrthogonalMap::Bjorck,
                                           nn::OrthogonalMap::Trivialization));

std::unique_ptr<optim::Optimizer> opt_optimizer(nn::OPTMethod method, nn::Module& model) {
  if (method == nn::OPTMethod::OGD) {
    return std::make_unique<optim::RiemannianSGD>(model.parameters(),
                                                  optim::RiemannianSGDOptions{.lr = 0.2});
  }
  if (method == nn::OPTMethod::Landing) {
    return std::make_unique<optim::Landing>(model.parameters(), optim::LandingOptions{.lr = 0.2});
  }
  return std::make_unique<optim::SGD>(model.parameters(), optim::SGDOptions{.lr = 0.2});
}

Recipe opt_recipe(nn::OPTMethod method, std::int64_t sopt_dim) {
  const nn::OPTOptions options{.method = method, .sopt_dim = sopt_dim, .beta = 0.1};
  return {.build =
              [options] {
                return sequential(std::make_shared<nn::OPTConv2d>(2, 3, 3, 1, 1, options),
                                  std::make_shared<nn::ReLU>(), std::make_shared<nn::Flatten>(),
                                  std::make_shared<nn::OPTLinear>(48, 4, options));
              },
          .input = {2, 2, 4, 4},
          .optimizer = [method](nn::Module& m) { return opt_optimizer(method, m); },
          .penalty = [](nn::Module& m) { return nn::opt_penalty(m); },
          .after_step = [](nn::Module& m, Generator& gen) { nn::opt_resample(m, gen); },
          .steps = 3};
}

class OPTMethods : public DeviceAgnostic, public ::testing::WithParamInterface<nn::OPTMethod> {};

TEST_P(OPTMethods, FullOPT) {
  expect_device_agnostic(opt_recipe(GetParam(), 0));
}

TEST_P(OPTMethods, StochasticOPTResamplesOnTheDevice) {
  expect_device_agnostic(opt_recipe(GetParam(), 2));
}

INSTANTIATE_TEST_SUITE_P(EveryMethod, OPTMethods,
                         ::testing::Values(nn::OPTMethod::GramSchmidt, nn::OPTMethod::Householder,
                                           nn::OPTMethod::Lowdin, nn::OPTMethod::Cayley,
                                           nn::OPTMethod::OGD, nn::OPTMethod::Regularized,
                                           nn::OPTMethod::Landing),
                         [](const ::testing::TestParamInfo<nn::OPTMethod>& info) {
                           return nn::opt_method_name(info.param);
                         });

TEST_F(DeviceAgnostic, OPTLayerHelpersAndFoldStayOnTheDevice) {
  Generator gen(3);
  const nn::OPTOptions options{.method = nn::OPTMethod::Cayley, .sopt_dim = 4};
  auto linear = std::make_shared<nn::OPTLinear>(10, 6, options, true, &gen);
  auto conv = std::make_shared<nn::OPTConv2d>(2, 4, 3, 1, 1, options, true, 1, &gen);
  nn::Sequential host_model;
  host_model.push_back(conv);
  const Tensor x = random_tensor({2, 2, 5, 5}, 4, DType::Float32);
  const Tensor host_out = host_model(Variable(x)).value().clone();
  const double host_error = linear->orthogonality_error();
  const std::vector<std::int64_t> host_dims = linear->sampled_dims();
  const double host_energy = nn::hyperspherical_energy(linear->weight().value(), 1.0);

  linear->to(cuda());
  conv->to(cuda());
  EXPECT_EQ(linear->orthogonality_error(), host_error);
  EXPECT_EQ(linear->sampled_dims(), host_dims);
  EXPECT_EQ(nn::hyperspherical_energy(linear->weight().value(), 1.0), host_energy);
  linear->commit();
  EXPECT_EQ(linear->fixed_neurons().device(), cuda());

  const std::shared_ptr<nn::Linear> folded_linear = linear->fold();
  EXPECT_EQ(folded_linear->weight().device(), cuda());
  const std::shared_ptr<nn::Conv2d> folded_conv = conv->fold();
  EXPECT_EQ(folded_conv->weight().device(), cuda());
  const Tensor out = (*folded_conv)(Variable(x.to(cuda()))).value();
  EXPECT_EQ(out.device(), cuda());
  testing::expect_close(out.to(Device::cpu()), host_out, 1e-5, 1e-5);
}

// f(x) = tanh(bn(conv(x))), a block that keeps the shape.
class ConvBnTanh : public nn::Module {
 public:
  explicit ConvBnTanh(std::int64_t channels) {
    conv_ = register_module("conv", std::make_shared<nn::Conv2d>(channels, channels, 3, 1, 1));
    bn_ = register_module("bn", std::make_shared<nn::BatchNorm2d>(channels));
  }
  Variable forward(const Variable& x) override { return autograd::tanh((*bn_)((*conv_)(x))); }

 private:
  std::shared_ptr<nn::Conv2d> conv_;
  std::shared_ptr<nn::BatchNorm2d> bn_;
};

std::shared_ptr<nn::MomentumSequential> momentum_stage(const nn::MomentumOptions& options) {
  std::vector<std::shared_ptr<nn::Module>> blocks;
  for (int n = 0; n < 3; ++n) blocks.push_back(std::make_shared<ConvBnTanh>(2));
  return std::make_shared<nn::MomentumSequential>(blocks, options);
}

TEST_F(DeviceAgnostic, MomentumSequentialInFloatArithmetic) {
  for (const bool invertible : {true, false}) {
    for (const auto initial : {nn::InitialVelocity::Zero, nn::InitialVelocity::FirstBlock}) {
      SCOPED_TRACE(::testing::Message()
                   << "invertible " << invertible << " initial " << static_cast<int>(initial));
      const nn::MomentumOptions options{.gamma = 0.9,
                                        .invertible = invertible,
                                        .arithmetic = nn::MomentumArithmetic::Float,
                                        .initial_velocity = initial};
      expect_device_agnostic({.build = [options] { return momentum_stage(options); },
                              .input = {2, 2, 4, 4},
                              .optimizer = sgd({.lr = 0.05, .momentum = 0.9})});
    }
  }
}

TEST_F(DeviceAgnostic, MomentumExactArithmeticIsCpuOnly) {
  auto stage = momentum_stage({.arithmetic = nn::MomentumArithmetic::Exact});
  stage->to(cuda());
  const Variable x(random_tensor({2, 2, 4, 4}, 1, DType::Float32).to(cuda()), true);
  expect_invalid_argument([&] { (*stage)(x); }, "exact arithmetic runs on CPU");
  // Without recording there is nothing to invert: evaluation runs the plain recurrence.
  const autograd::NoGradGuard no_grad;
  EXPECT_EQ((*stage)(x).device(), cuda());
}

// ---- models -----------------------------------------------------------------------------------

TEST_F(DeviceAgnostic, ResNet20) {
  expect_device_agnostic({.build = [] { return nn::resnet20(10); },
                          .input = {2, 3, 32, 32},
                          .classes = 10,
                          .optimizer = sgd(kNesterov),
                          .steps = 1});
}

TEST_F(DeviceAgnostic, CNN6) {
  expect_device_agnostic({.build = [] { return nn::cnn6(10); },
                          .input = {2, 3, 32, 32},
                          .classes = 10,
                          .optimizer = sgd(kNesterov),
                          .steps = 1});
}

TEST_F(DeviceAgnostic, MomentumResNet20InFloatArithmetic) {
  expect_device_agnostic({.build =
                              [] {
                                return nn::momentum_resnet_cifar(
                                    20, 10, nullptr, {.arithmetic = nn::MomentumArithmetic::Float});
                              },
                          .input = {2, 3, 16, 16},
                          .classes = 10,
                          .optimizer = sgd(kNesterov),
                          .steps = 1});
}

// Conversions of a network that is already on the device give layers on the device.
TEST_F(DeviceAgnostic, ConversionsOfAModelOnTheDevice) {
  expect_device_agnostic(
      {.build = [] { return nn::resnet_cifar(8, 4); },
       .input = {2, 3, 8, 8},
       .classes = 4,
       .after_to = [](nn::Module& m) { nn::make_orthogonal(m, nn::OrthogonalLayers::All); },
       .optimizer =
           [](nn::Module& m) {
             return std::make_unique<optim::Landing>(m.parameters(), optim::LandingOptions{});
           },
       .steps = 1});
  expect_device_agnostic(
      {.build =
           [] {
             return std::make_shared<nn::CNNCifar>(std::vector<std::int64_t>{4, 4}, 1, 3);
           },
       .input = {2, 3, 16, 16},
       .classes = 3,
       .after_to =
           [](nn::Module& m) {
             nn::make_opt(m, {.method = nn::OPTMethod::GramSchmidt, .sopt_dim = 3});
           },
       .optimizer = sgd({.lr = 0.1}),
       .after_step = [](nn::Module& m, Generator& gen) { nn::opt_resample(m, gen); },
       .steps = 2});
}

TEST_F(DeviceAgnostic, ConversionsKeepTheModelsDtype) {
  for (const bool opt : {false, true}) {
    auto model = std::make_shared<nn::CNNCifar>(std::vector<std::int64_t>{4}, 1, 3);
    model->to(DType::Float64);
    model->to(cuda());
    if (opt) {
      nn::make_opt(*model, {.method = nn::OPTMethod::Lowdin});
    } else {
      nn::make_orthogonal(*model, nn::OrthogonalLayers::All);
    }
    for (const auto& [name, t] : model->state_dict()) {
      EXPECT_EQ(t.device(), cuda()) << name;
      if (is_floating(t.dtype())) {
        EXPECT_EQ(t.dtype(), DType::Float64) << name;
      }
    }
    const Variable x(random_tensor({2, 3, 8, 8}, 1).to(cuda()));
    EXPECT_EQ((*model)(x).dtype(), DType::Float64);
  }
}

// ---- optimizers -------------------------------------------------------------------------------

// A quadratic loss over Euclidean, Stiefel (wide, tall, conv-shaped) and orthogonal parameters,
// stepped a few times; the parameters and the optimizer's buffers are traced after each step.
Trace optimizer_run(
    const std::function<std::unique_ptr<optim::Optimizer>(std::vector<nn::Parameter>)>& make,
    Device device, bool saga = false) {
  Generator gen(kSeed);
  const auto orthonormal = [&gen](const Shape& shape) {
    Tensor t = Tensor::empty(shape);
    nn::init::orthogonal_(t, 1.0, &gen);
    return t;
  };
  const std::vector<std::pair<Tensor, nn::Manifold>> initial = {
      {random_tensor({4, 3}, 1, DType::Float32), nn::Manifold::Euclidean},
      {random_tensor({5}, 2, DType::Float32), nn::Manifold::Euclidean},
      {orthonormal({3, 7}), nn::Manifold::Stiefel},        // tall view 7 x 3: low-rank retraction
      {orthonormal({6, 4}), nn::Manifold::Stiefel},        // 6 x 4: dense retraction
      {orthonormal({3, 2, 2, 2}), nn::Manifold::Stiefel},  // a conv kernel
      {orthonormal({4, 4}), nn::Manifold::Orthogonal}};
  std::vector<nn::Parameter> params;
  std::vector<Tensor> targets;
  for (std::size_t i = 0; i < initial.size(); ++i) {
    params.emplace_back(initial[i].first.to(device), initial[i].second);
    targets.push_back(random_tensor(initial[i].first.shape(), 20 + i, DType::Float32).to(device));
  }
  std::unique_ptr<optim::Optimizer> optimizer = make(params);
  Trace trace(device);
  for (int step = 0; step < 3; ++step) {
    optimizer->zero_grad();
    Variable loss;
    for (std::size_t i = 0; i < params.size(); ++i) {
      const Variable term = autograd::sum(autograd::square(params[i] - Variable(targets[i])));
      loss = loss.defined() ? loss + term : term;
    }
    loss.backward();
    if (saga) static_cast<optim::LandingSAGA&>(*optimizer).set_term(step % 2);
    optimizer->step();
    trace.stop_exact();
    const std::string prefix = "step" + std::to_string(step) + ".";
    for (std::size_t i = 0; i < params.size(); ++i) {
      trace.add(prefix + "param" + std::to_string(i), params[i].value());
    }
    trace.add_optimizer(*optimizer, prefix);
  }
  return trace;
}

void expect_optimizer_agnostic(
    const std::function<std::unique_ptr<optim::Optimizer>(std::vector<nn::Parameter>)>& make,
    bool saga = false) {
  expect_same_runs(optimizer_run(make, Device::cpu(), saga), optimizer_run(make, cuda(), saga));
}

TEST_F(DeviceAgnostic, SGDEveryVariant) {
  for (const optim::SGDOptions& o :
       {optim::SGDOptions{.lr = 0.1}, optim::SGDOptions{.lr = 0.1, .weight_decay = 0.01},
        optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .dampening = 0.3, .weight_decay = 0.01},
        kNesterov}) {
    expect_optimizer_agnostic([o](std::vector<nn::Parameter> p) {
      return std::make_unique<optim::SGD>(std::move(p), o);
    });
  }
}

TEST_F(DeviceAgnostic, AdamAndAdamW) {
  expect_optimizer_agnostic([](std::vector<nn::Parameter> p) {
    return std::make_unique<optim::Adam>(std::move(p), optim::AdamOptions{.lr = 0.01});
  });
  expect_optimizer_agnostic([](std::vector<nn::Parameter> p) {
    return std::make_unique<optim::Adam>(std::move(p),
                                         optim::AdamOptions{.lr = 0.01, .weight_decay = 0.1});
  });
  expect_optimizer_agnostic([](std::vector<nn::Parameter> p) {
    return std::make_unique<optim::AdamW>(std::move(p),
                                          optim::AdamWOptions{.lr = 0.01, .weight_decay = 0.1});
  });
}

TEST_F(DeviceAgnostic, LandingEveryVariant) {
  for (const optim::LandingOptions& o : {optim::LandingOptions{}, optim::LandingOptions{.lr = 0.05,
                                                                  .momentum = 0.9,
                                                                  .weight_decay = 0.01,
                                                                  .lambda = 0.5,
                                                                  .safe_step = false}}) {
    expect_optimizer_agnostic([o](std::vector<nn::Parameter> p) {
      return std::make_unique<optim::Landing>(std::move(p), o);
    });
  }
  expect_optimizer_agnostic([](std::vector<nn::Parameter> p) {
    return std::make_unique<optim::LandingAdam>(
        std::move(p), optim::LandingAdamOptions{.lr = 0.01, .weight_decay = 0.01});
  });
  expect_optimizer_agnostic(
      [](std::vector<nn::Parameter> p) {
        return std::make_unique<optim::LandingSAGA>(std::move(p), 2, optim::LandingSAGAOptions{});
      },
      /*saga=*/true);
}

class Retractions : public DeviceAgnostic,
                    public ::testing::WithParamInterface<optim::Retraction> {};

TEST_P(Retractions, RiemannianSGDWithMomentumAndWeightDecay) {
  const optim::RiemannianSGDOptions options{
      .lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .retraction = GetParam()};
  expect_optimizer_agnostic([options](std::vector<nn::Parameter> p) {
    return std::make_unique<optim::RiemannianSGD>(std::move(p), options);
  });
}

INSTANTIATE_TEST_SUITE_P(EveryRetraction, Retractions,
                         ::testing::Values(optim::Retraction::Exp, optim::Retraction::Cayley,
                                           optim::Retraction::QR, optim::Retraction::Polar),
                         [](const ::testing::TestParamInfo<optim::Retraction>& info) {
                           return optim::retraction_name(info.param);
                         });

TEST_F(DeviceAgnostic, SchedulersDriveADeviceOptimizer) {
  const std::vector<std::shared_ptr<const optim::Schedule>> schedules = {
      std::make_shared<optim::StepLR>(2, 0.5), std::make_shared<optim::CosineAnnealing>(4),
      std::make_shared<optim::LinearWarmup>(2, std::make_shared<optim::CosineAnnealing>(4)),
      std::make_shared<optim::OneCycle>(4)};
  for (const auto& schedule : schedules) {
    const auto make =
        [schedule](std::vector<nn::Parameter> p) -> std::unique_ptr<optim::Optimizer> {
      // The scheduler steps inside the optimizer's step, so both runs see the same rates.
      class Scheduled final : public optim::SGD {
       public:
        Scheduled(std::vector<nn::Parameter> params, std::shared_ptr<const optim::Schedule> s)
            : optim::SGD(std::move(params), {.lr = 0.1, .momentum = 0.9}),
              scheduler_(*this, std::move(s)) {}
        void step() override {
          optim::SGD::step();
          scheduler_.step();
        }

       private:
        optim::LRScheduler scheduler_;
      };
      return std::make_unique<Scheduled>(std::move(p), schedule);
    };
    expect_optimizer_agnostic(make);
  }
}

TEST_F(DeviceAgnostic, OptimizerStateRoundTripsBetweenDevices) {
  const testing::TempDir dir("device-agnostic");
  std::vector<nn::Parameter> params = {
      nn::Parameter(random_tensor({3, 4}, 1, DType::Float32).to(cuda()))};
  optim::Adam adam(params, {.lr = 0.01});
  for (int i = 0; i < 2; ++i) {
    adam.zero_grad();
    autograd::sum(autograd::square(params[0])).backward();
    adam.step();
  }
  save_safetensors(dir.file("adam.safetensors"), adam.state_dict());
  const TensorMap saved = load_safetensors(dir.file("adam.safetensors")).tensors;
  for (const Device device : {Device::cpu(), cuda()}) {
    std::vector<nn::Parameter> copy = {nn::Parameter(params[0].value().to(device).clone())};
    optim::Adam restored(copy, {.lr = 0.5});
    restored.load_state_dict(saved);
    EXPECT_EQ(restored.lr(), 0.01);
    ASSERT_NE(restored.state(copy[0]), nullptr);
    for (const auto& [name, buffer] : restored.state(copy[0])->buffers) {
      EXPECT_EQ(buffer.device(), device) << name;
      testing::expect_close(buffer.to(Device::cpu()),
                            adam.state(params[0])->buffers.at(name).to(Device::cpu()), 0, 0);
    }
  }
}

// ---- modules: to(device) and checkpoints -----------------------------------------------------

TEST_F(DeviceAgnostic, ModuleToMovesEverythingAndKeepsOptimizersAttached) {
  manual_seed(kSeed);
  std::shared_ptr<nn::ResNetCifar> model = nn::resnet_cifar(8, 3);
  const TensorMap before = model->state_dict();
  optim::SGD optimizer(model->parameters(), {.lr = 0.1, .momentum = 0.9});  // before to()
  model->to(cuda());
  for (const auto& [name, t] : model->state_dict()) {
    EXPECT_EQ(t.device(), cuda()) << name;
    EXPECT_EQ(t.to(Device::cpu()).to_vector<double>(), before.at(name).to_vector<double>()) << name;
  }
  const Variable loss =
      autograd::sum((*model)(Variable(random_tensor({2, 3, 8, 8}, 1, DType::Float32).to(cuda()))));
  loss.backward();
  optimizer.step();
  const Tensor fc = model->state_dict().at("fc.weight");
  EXPECT_EQ(fc.device(), cuda());
  EXPECT_NE(fc.to_vector<double>(), before.at("fc.weight").to_vector<double>());

  model->to(DType::Float64);
  model->to(Device::cpu());
  for (const auto& [name, t] : model->state_dict()) {
    EXPECT_TRUE(t.device().is_cpu()) << name;
    if (is_floating(t.dtype())) {
      EXPECT_EQ(t.dtype(), DType::Float64) << name;
    }
  }
}

TEST_F(DeviceAgnostic, StateDictOfADeviceModuleRoundTripsThroughACheckpoint) {
  const testing::TempDir dir("device-agnostic");
  manual_seed(kSeed);
  auto model = nn::cnn6(10);
  model->to(cuda());
  {
    // Train a step so the BatchNorm buffers and counters move off their initial values.
    const Variable x(random_tensor({2, 3, 32, 32}, 1, DType::Float32).to(cuda()));
    autograd::sum((*model)(x)).backward();
  }
  model->save(dir.file("cnn6.safetensors"));
  const TensorMap on_device = model->state_dict();
  const SafetensorsFile file = load_safetensors(dir.file("cnn6.safetensors"));
  ASSERT_EQ(file.tensors.size(), on_device.size());

  manual_seed(kSeed + 1);
  auto host_copy = nn::cnn6(10);
  host_copy->load(dir.file("cnn6.safetensors"));
  auto device_copy = nn::cnn6(10);
  device_copy->to(cuda());
  device_copy->load_state_dict(on_device);  // directly, without a file
  for (const auto& [name, t] : on_device) {
    const std::vector<double> expected = t.to_vector<double>();
    EXPECT_EQ(file.tensors.at(name).to_vector<double>(), expected) << name;
    EXPECT_TRUE(host_copy->state_dict().at(name).device().is_cpu()) << name;
    EXPECT_EQ(host_copy->state_dict().at(name).to_vector<double>(), expected) << name;
    EXPECT_EQ(device_copy->state_dict().at(name).device(), cuda()) << name;
    EXPECT_EQ(device_copy->state_dict().at(name).to_vector<double>(), expected) << name;
  }
}

// ---- data stays on the host ---------------------------------------------------------------------

TEST_F(DeviceAgnostic, TransformsRejectDeviceImages) {
  const data::RandomHorizontalFlip flip;
  Generator gen(1);
  const Tensor image = Tensor::zeros({3, 4, 4}, DType::Float32, cuda());
  expect_invalid_argument([&] { flip(image, gen); }, "CPU image");
}

}  // namespace
}  // namespace ortho
