#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <set>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "autograd/variable.h"
#include "core/allocator.h"
#include "core/ops/elementwise.h"
#include "core/ops/matmul.h"
#include "core/ops/reduce.h"
#include "core/random.h"
#include "core/tensor.h"
#include "layers/opt.h"
#include "optim/landing.h"
#include "optim/optimizer.h"
#include "optim/riemannian.h"
#include "optim/sgd.h"
#include "support/test_support.h"

namespace ortho::nn {
namespace {

using autograd::Variable;
using ortho::testing::expect_close;
using ortho::testing::max_abs_diff;
using ortho::testing::random_tensor;

constexpr OPTMethod kMethods[] = {
    OPTMethod::GramSchmidt, OPTMethod::Householder, OPTMethod::Lowdin, OPTMethod::Cayley,
    OPTMethod::OGD,         OPTMethod::Regularized, OPTMethod::Landing};

std::unique_ptr<optim::Optimizer> optimizer_for(OPTMethod method, const Module& layer) {
  if (method == OPTMethod::OGD) {
    return std::make_unique<optim::RiemannianSGD>(layer.parameters(),
                                                  optim::RiemannianSGDOptions{.lr = 0.2});
  }
  if (method == OPTMethod::Landing) {
    return std::make_unique<optim::Landing>(layer.parameters(), optim::LandingOptions{.lr = 0.2});
  }
  return std::make_unique<optim::SGD>(layer.parameters(), optim::SGDOptions{.lr = 0.2});
}

void step(OPTLayer& layer, optim::Optimizer& optimizer, const Tensor& x, const Tensor& y) {
  optimizer.zero_grad();
  Variable loss = autograd::mean(autograd::square(layer(Variable(x)) - Variable(y)));
  const Variable penalty = layer.orthogonality_penalty();
  if (penalty.defined()) loss = loss + penalty;
  loss.backward();
  optimizer.step();
}

Tensor copy(const Tensor& t) {
  return ortho::mul(t, 1.0);
}

Tensor gram(const Tensor& v) {
  return ortho::matmul(v.t(), v);
}

// Rows of a (d, n) matrix outside `dims`.
std::vector<std::int64_t> complement(const std::vector<std::int64_t>& dims, std::int64_t d) {
  const std::set<std::int64_t> in(dims.begin(), dims.end());
  std::vector<std::int64_t> out;
  for (std::int64_t i = 0; i < d; ++i) {
    if (in.count(i) == 0) out.push_back(i);
  }
  return out;
}

TEST(SOPT, LearnsOnlyAPByPBlockOnSampledDimensions) {
  Generator gen(1);
  OPTLinear linear(10, 6, {.method = OPTMethod::GramSchmidt, .sopt_dim = 3}, true, &gen);
  EXPECT_TRUE(linear.stochastic());
  EXPECT_EQ(linear.block_size(), 3);
  EXPECT_EQ(linear.named_parameters()[0].second.shape(), Shape({3, 3}));
  EXPECT_EQ(linear.num_parameters(), 3 * 3 + 6);  // the block and the bias
  const std::vector<std::int64_t> dims = linear.sampled_dims();
  ASSERT_EQ(dims.size(), 3u);
  EXPECT_TRUE(dims[0] < dims[1] && dims[1] < dims[2] && dims[0] >= 0 && dims[2] < 10);
  const Tensor selection = linear.state_dict().at("selection");
  EXPECT_EQ(selection.shape(), Shape({3, 10}));
  EXPECT_EQ(ortho::sum(selection).item<float>(), 3.0f);
  expect_close(linear.rotation().value(), Tensor::eye(3), 1e-7, 0.0);
  expect_close(linear.weight().value(), linear.fixed_neurons().t(), 1e-7, 0.0);
}

TEST(SOPT, BlockSizeFromDimOrFraction) {
  EXPECT_EQ(OPTLinear(16, 4, {.sopt_fraction = 0.25}).block_size(), 4);
  EXPECT_EQ(OPTLinear(16, 4, {.sopt_fraction = 0.01}).block_size(), 1);
  // p >= d is full OPT, so one p serves layers of every fan-in.
  const OPTConv2d small(1, 4, 3, 1, 1, {.sopt_dim = 16});
  EXPECT_EQ(small.block_size(), 9);
  EXPECT_FALSE(small.stochastic());
  EXPECT_EQ(small.sampled_dims().size(), 9u);
}

TEST(SOPT, StepsTouchOnlyTheSampledDimensionsAndCommitKeepsNeuronNorms) {
  for (const DType dtype : {DType::Float64, DType::Float32}) {
    for (const OPTMethod method : kMethods) {
      Generator gen(2);
      OPTLinear linear(12, 5, {.method = method, .sopt_dim = 4}, false, &gen);
      linear.to(dtype);
      const Tensor v0 = copy(linear.fixed_neurons());
      const std::vector<std::int64_t> dims = linear.sampled_dims();
      const Tensor x = random_tensor({16, 12}, 3, dtype), y = random_tensor({16, 5}, 4, dtype);
      const auto optimizer = optimizer_for(method, linear);
      for (int i = 0; i < 5; ++i) step(linear, *optimizer, x, y);
      const Tensor moved = linear.weight().value().t();  // R V (d, n)
      EXPECT_GT(max_abs_diff(moved, v0), 1e-3) << opt_method_name(method);
      for (const std::int64_t row : complement(dims, 12)) {
        EXPECT_EQ(max_abs_diff(moved.select(0, row), v0.select(0, row)), 0.0)
            << opt_method_name(method) << " row " << row;
      }
      Tensor before;
      {
        autograd::NoGradGuard no_grad;
        before = copy(linear(Variable(x)).value());
      }
      linear.commit();
      const double tol = dtype == DType::Float64 ? 1e-10 : 1e-5;
      const Tensor v1 = linear.fixed_neurons();
      for (const std::int64_t row : complement(dims, 12)) {
        EXPECT_EQ(max_abs_diff(v1.select(0, row), v0.select(0, row)), 0.0);
      }
      // The block restarts at I and the function is unchanged.
      expect_close(linear.rotation().value(), Tensor::eye(4, dtype), tol, 0.0);
      expect_close(linear(Variable(x)).value(), before, tol, tol);
      // Neuron norms (columns of V) and all their angles are kept when the block is orthogonal
      // (OR and Landing are only near the manifold).
      if (method == OPTMethod::Regularized || method == OPTMethod::Landing) continue;
      expect_close(gram(v1), gram(v0), tol, tol);
    }
  }
}

TEST(SOPT, ResampledBlocksComposeToAnOrthogonalMapOfTheInitialV) {
  for (const OPTMethod method : {OPTMethod::GramSchmidt, OPTMethod::Cayley, OPTMethod::OGD}) {
    Generator gen(5), sampler(6);
    OPTConv2d conv(2, 4, 3, 1, 1, {.method = method, .sopt_dim = 5}, true, 1, &gen);
    conv.to(DType::Float64);
    const Tensor v0 = copy(conv.fixed_neurons());
    const Tensor x = random_tensor({2, 2, 5, 5}, 7), y = random_tensor({2, 4, 5, 5}, 8);
    const auto optimizer = optimizer_for(method, conv);
    std::set<std::vector<std::int64_t>> subsets;
    for (int i = 0; i < 20; ++i) {
      step(conv, *optimizer, x, y);
      conv.resample(sampler);
      subsets.insert(conv.sampled_dims());
    }
    EXPECT_GT(subsets.size(), 10u);
    const Tensor v = conv.fixed_neurons();
    EXPECT_GT(max_abs_diff(v, v0), 1e-2) << opt_method_name(method);
    // V^T V unchanged <=> V = Q V0 with Q orthogonal: norms and angles of the neurons kept.
    expect_close(gram(v), gram(v0), 1e-10, 1e-10);
  }
}

TEST(SOPT, FullOPTIgnoresResampleAndCommit) {
  Generator gen(9), sampler(10);
  OPTLinear linear(6, 3, {.method = OPTMethod::Cayley}, true, &gen);
  optim::SGD sgd(linear.parameters(), {.lr = 0.2});
  step(linear, sgd, random_tensor({4, 6}, 11, DType::Float32),
       random_tensor({4, 3}, 12, DType::Float32));
  const Tensor v0 = copy(linear.fixed_neurons()), r0 = copy(linear.rotation().value());
  linear.resample(sampler);
  linear.commit();
  EXPECT_EQ(max_abs_diff(linear.fixed_neurons(), v0), 0.0);
  EXPECT_EQ(max_abs_diff(linear.rotation().value(), r0), 0.0);
}

// The peak bytes of one forward and backward of `conv` on `x`.
std::int64_t step_peak_bytes(OPTConv2d& conv, const Tensor& x) {
  conv.zero_grad();
  reset_peak_memory();
  const std::int64_t base = memory_stats().current_bytes;
  autograd::sum(conv(Variable(x))).backward();
  return memory_stats().peak_bytes - base;
}

TEST(SOPT, UsesLessMemoryThanFullOPT) {
  // d = 16 * 3 * 3 = 144, p = d / 8 = 18; the map's saved tensors are O(d^2) against O(p^2).
  Generator gen(13);
  OPTConv2d full(16, 8, 3, 1, 1, {.method = OPTMethod::GramSchmidt}, true, 1, &gen);
  OPTConv2d sopt(16, 8, 3, 1, 1, {.method = OPTMethod::GramSchmidt, .sopt_fraction = 0.125}, true,
                 1, &gen);
  EXPECT_EQ(sopt.block_size(), 18);
  const Tensor x = random_tensor({1, 16, 4, 4}, 14, DType::Float32);
  const std::int64_t full_peak = step_peak_bytes(full, x), sopt_peak = step_peak_bytes(sopt, x);
  EXPECT_LT(sopt_peak * 10, full_peak) << "S-OPT " << sopt_peak << " B, OPT " << full_peak << " B";
}

}  // namespace
}  // namespace ortho::nn
