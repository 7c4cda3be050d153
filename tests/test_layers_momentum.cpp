#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <vector>

#include "autograd/engine.h"
#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "autograd/variable.h"
#include "core/ops/elementwise.h"
#include "core/random.h"
#include "core/tensor.h"
#include "layers/batchnorm2d.h"
#include "layers/conv2d.h"
#include "layers/momentum.h"
#include "layers/momentum_state.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using autograd::Variable;
using nn::MomentumArithmetic;
using nn::MomentumOptions;
using nn::MomentumSequential;
using testing::max_abs_diff;
using testing::random_tensor;

// f(x) = tanh(bn(conv(x))): a smooth random block with batch norm.
class ConvBnTanh : public nn::Module {
 public:
  ConvBnTanh(std::int64_t channels, Generator& gen) {
    conv_ = register_module(
        "conv", std::make_shared<nn::Conv2d>(channels, channels, 3, 1, 1, 1, false, 1, &gen));
    bn_ = register_module("bn", std::make_shared<nn::BatchNorm2d>(channels));
  }
  Variable forward(const Variable& x) override { return autograd::tanh((*bn_)((*conv_)(x))); }

 private:
  std::shared_ptr<nn::Conv2d> conv_;
  std::shared_ptr<nn::BatchNorm2d> bn_;
};

constexpr std::int64_t kChannels = 3;

std::vector<std::shared_ptr<nn::Module>> random_blocks(std::size_t depth, DType dtype,
                                                       std::uint64_t seed = 5) {
  Generator gen(seed);
  std::vector<std::shared_ptr<nn::Module>> blocks;
  for (std::size_t n = 0; n < depth; ++n) {
    blocks.push_back(std::make_shared<ConvBnTanh>(kChannels, gen));
    blocks.back()->to(dtype);
  }
  return blocks;
}

std::shared_ptr<MomentumSequential> random_stage(std::size_t depth, DType dtype,
                                                 const MomentumOptions& options) {
  return std::make_shared<MomentumSequential>(random_blocks(depth, dtype), options);
}

MomentumOptions options_for(bool invertible, MomentumArithmetic arithmetic,
                            nn::InitialVelocity initial = nn::InitialVelocity::Zero) {
  MomentumOptions options;
  options.invertible = invertible;
  options.arithmetic = arithmetic;
  options.initial_velocity = initial;
  return options;
}

Tensor stage_input(DType dtype) {
  return random_tensor({4, kChannels, 5, 5}, 11, dtype);
}

double max_abs(const Tensor& t) {
  return max_abs_diff(t, Tensor::zeros(t.shape(), t.dtype()));
}

// max |a - b| / max |b|.
double relative_error(const Tensor& a, const Tensor& b) {
  return max_abs_diff(a, b) / std::max(max_abs(b), 1e-300);
}

// Runs the blocks forward through a state, then rewinds it, and returns the largest relative
// difference between a reconstructed block input and the forward's, over all blocks.
double reconstruction_error(std::size_t depth, DType dtype, MomentumArithmetic arithmetic,
                            nn::InitialVelocity initial = nn::InitialVelocity::Zero) {
  const auto blocks = random_blocks(depth, dtype);
  auto state = nn::make_momentum_state(stage_input(dtype), nn::momentum_fraction(0.9), arithmetic,
                                       false, initial);
  const autograd::NoGradGuard no_grad;
  std::vector<Tensor> inputs;
  for (const auto& block : blocks) {
    inputs.push_back(state->position());
    state->advance(block->forward(Variable(inputs.back())).value());
  }
  const nn::FreezeRunningStatsGuard frozen;
  double error = 0;
  for (std::size_t n = depth; n-- > 0;) {
    state->rewind_position();
    const Tensor x = state->position();
    error = std::max(error, relative_error(x, inputs[n]));
    state->rewind_velocity(blocks[n]->forward(Variable(x)).value());
  }
  // v_0 = 0 again, to the rounding of the last inverse step (divided by gamma once more).
  EXPECT_LE(max_abs(state->velocity()), 2 * error * max_abs(inputs[0]) + 1e-300);
  return error;
}

TEST(MomentumFraction, CommonGammasAreExactFractions) {
  EXPECT_EQ(nn::momentum_fraction(0.9).num, 9);
  EXPECT_EQ(nn::momentum_fraction(0.9).den, 10);
  EXPECT_EQ(nn::momentum_fraction(0.99).den, 100);
  EXPECT_EQ(nn::momentum_fraction(0.5).num, 1);
  const nn::MomentumFraction pi = nn::momentum_fraction(M_PI - 3.0);
  EXPECT_LE(pi.den, 65536);
  EXPECT_NEAR(pi.value(), M_PI - 3.0, 1e-9);
  for (double bad : {0.0, 1.0, -0.5, 1e-7, 1.0 - 1e-7}) {
    testing::expect_invalid_argument([&] { (void)nn::momentum_fraction(bad); }, "gamma");
  }
}

TEST(MomentumState, ExactArithmeticReconstructsEveryInputBitForBit) {
  EXPECT_EQ(reconstruction_error(12, DType::Float64, MomentumArithmetic::Exact), 0.0);
  EXPECT_EQ(reconstruction_error(12, DType::Float32, MomentumArithmetic::Exact), 0.0);
}

TEST(MomentumState, FloatArithmeticReconstructsFloat64To1e10) {
  EXPECT_LE(reconstruction_error(12, DType::Float64, MomentumArithmetic::Float), 1e-10);
}

TEST(MomentumState, FirstBlockInitialVelocityReconstructsLikeZero) {
  const nn::InitialVelocity first = nn::InitialVelocity::FirstBlock;
  EXPECT_EQ(reconstruction_error(12, DType::Float32, MomentumArithmetic::Exact, first), 0.0);
  EXPECT_LE(reconstruction_error(12, DType::Float64, MomentumArithmetic::Float, first), 1e-10);
}

// Small gamma makes the bit store grow by log2(100) bits per step, so it spills to a fresh
// store every nine steps or so; the inverse must find every spilled one again.
TEST(MomentumState, ExactArithmeticSurvivesBitStoreSpills) {
  const Shape shape{64};
  auto state = nn::make_momentum_state(random_tensor(shape, 1), nn::momentum_fraction(0.01),
                                       MomentumArithmetic::Exact);
  std::vector<Tensor> positions, steps;
  for (std::uint64_t n = 0; n < 60; ++n) {
    positions.push_back(state->position());
    steps.push_back(mul(random_tensor(shape, 100 + n), 10.0));
    state->advance(steps.back());
  }
  for (std::size_t n = steps.size(); n-- > 0;) {
    state->rewind_position();
    ASSERT_EQ(max_abs_diff(state->position(), positions[n]), 0.0) << "step " << n;
    state->rewind_velocity(steps[n]);
  }
  EXPECT_EQ(max_abs(state->velocity()), 0.0);
}

TEST(MomentumState, ExactArithmeticRejectsNonFiniteAndHugeValues) {
  const Shape shape{3};
  auto state = nn::make_momentum_state(Tensor::zeros(shape, DType::Float64),
                                       nn::momentum_fraction(0.9), MomentumArithmetic::Exact);
  EXPECT_THROW(state->advance(Tensor::full(shape, NAN, DType::Float64)), std::runtime_error);
  EXPECT_THROW(nn::make_momentum_state(Tensor::full(shape, 1e9, DType::Float64),
                                       nn::momentum_fraction(0.9), MomentumArithmetic::Exact),
               std::runtime_error);
}

// Float arithmetic divides the rounding error by gamma at every inverse step; exact arithmetic
// has none. Prints the figures quoted in docs/architecture.md.
TEST(MomentumState, Float32ReconstructionErrorAgainstDepth) {
  for (std::size_t depth : {10u, 25u, 50u, 100u}) {
    const double exact = reconstruction_error(depth, DType::Float32, MomentumArithmetic::Exact);
    const double floating = reconstruction_error(depth, DType::Float32, MomentumArithmetic::Float);
    std::printf(
        "float32 gamma 0.9 depth %3zu: relative reconstruction error float %.3g, exact %g\n", depth,
        floating, exact);
    EXPECT_EQ(exact, 0.0);
  }
}

struct StageGrads {
  Tensor input, output;
  std::vector<Tensor> params;
};

// Output and gradients of L = sum(stage(x) * w) for a fresh stage of `depth` random blocks.
StageGrads stage_grads(std::size_t depth, DType dtype, const MomentumOptions& options) {
  const auto stage = random_stage(depth, dtype, options);
  const Variable x(stage_input(dtype), true);
  const Variable out = stage->forward(x);
  const Tensor w = random_tensor(out.shape(), 21, dtype);
  autograd::sum(autograd::mul(out, Variable(w))).backward();
  StageGrads grads{x.grad(), out.value(), {}};
  for (const nn::Parameter& p : stage->parameters()) grads.params.push_back(p.grad());
  return grads;
}

void expect_same_grads(const StageGrads& actual, const StageGrads& expected, double tolerance) {
  EXPECT_LE(relative_error(actual.output, expected.output), tolerance);
  EXPECT_LE(relative_error(actual.input, expected.input), tolerance);
  ASSERT_EQ(actual.params.size(), expected.params.size());
  for (std::size_t i = 0; i < actual.params.size(); ++i) {
    ASSERT_TRUE(actual.params[i].defined()) << "parameter " << i;
    EXPECT_LE(relative_error(actual.params[i], expected.params[i]), tolerance) << "parameter " << i;
  }
}

TEST(MomentumSequential, InvertibleGradientsEqualStoredOnesInFloat64) {
  const StageGrads stored =
      stage_grads(10, DType::Float64, options_for(false, MomentumArithmetic::Exact));
  expect_same_grads(stage_grads(10, DType::Float64, options_for(true, MomentumArithmetic::Exact)),
                    stored, 1e-8);
  expect_same_grads(stage_grads(10, DType::Float64, options_for(true, MomentumArithmetic::Float)),
                    stored, 1e-8);
}

TEST(MomentumSequential, FirstBlockInitialVelocityGradientsEqualStoredOnes) {
  const nn::InitialVelocity first = nn::InitialVelocity::FirstBlock;
  const StageGrads stored =
      stage_grads(10, DType::Float64, options_for(false, MomentumArithmetic::Exact, first));
  for (MomentumArithmetic arithmetic : {MomentumArithmetic::Exact, MomentumArithmetic::Float}) {
    expect_same_grads(stage_grads(10, DType::Float64, options_for(true, arithmetic, first)), stored,
                      1e-8);
  }
}

TEST(MomentumSequential, Float32GradientsAtDepth100StayWithin1e3OfStored) {
  const StageGrads stored =
      stage_grads(100, DType::Float32, options_for(false, MomentumArithmetic::Exact));
  expect_same_grads(stage_grads(100, DType::Float32, options_for(true, MomentumArithmetic::Exact)),
                    stored, 1e-3);
}

// The running statistics of every BatchNorm after one forward + backward: the recomputation
// must leave them as the forward set them.
std::vector<Tensor> running_stats_after_step(const MomentumOptions& options, bool backward) {
  const auto stage = random_stage(6, DType::Float64, options);
  const Variable out = stage->forward(Variable(stage_input(DType::Float64), true));
  if (backward) autograd::sum(out).backward();
  std::vector<Tensor> stats;
  for (const auto& [name, buffer] : stage->named_buffers()) stats.push_back(buffer.clone());
  return stats;
}

TEST(MomentumSequential, BatchNormRunningStatsUpdateOncePerTrainingStep) {
  for (MomentumArithmetic arithmetic : {MomentumArithmetic::Exact, MomentumArithmetic::Float}) {
    const MomentumOptions invertible = options_for(true, arithmetic);
    const std::vector<Tensor> stored =
        running_stats_after_step(options_for(false, arithmetic), true);
    const std::vector<Tensor> forward_only = running_stats_after_step(invertible, false);
    const std::vector<Tensor> stepped = running_stats_after_step(invertible, true);
    ASSERT_EQ(stepped.size(), stored.size());
    for (std::size_t i = 0; i < stepped.size(); ++i) {
      EXPECT_EQ(max_abs_diff(stepped[i], forward_only[i]), 0.0) << "buffer " << i;
      // Exact arithmetic rounds the input to 2^-32: the statistics match to that.
      EXPECT_LE(max_abs_diff(stepped[i], stored[i]), 1e-9) << "buffer " << i;
      if (stepped[i].dtype() == DType::Int64) {
        EXPECT_EQ(stepped[i].item<std::int64_t>(), 1);
      }
    }
  }
}

TEST(MomentumSequential, GradcheckOfTheInvertibleBackward) {
  for (MomentumArithmetic arithmetic : {MomentumArithmetic::Float, MomentumArithmetic::Exact}) {
    const auto stage = random_stage(3, DType::Float64, options_for(true, arithmetic));
    autograd::GradcheckOptions options;
    if (arithmetic == MomentumArithmetic::Exact) {
      // Differences of values rounded to 2^-32 need a wider step than the default 1e-6.
      options.eps = 1e-4;
      options.rtol = 1e-3;
    }
    const autograd::GradcheckResult result =
        autograd::gradcheck([&](const std::vector<Variable>& in) { return stage->forward(in[0]); },
                            {random_tensor({2, kChannels, 3, 3}, 4)}, options);
    EXPECT_TRUE(result.passed) << (arithmetic == MomentumArithmetic::Exact ? "exact: " : "float: ")
                               << result.summary();
  }
}

TEST(MomentumSequential, ForwardMatchesTheRecurrenceAndRunsWithoutGraph) {
  Generator gen(2);
  const auto block = std::make_shared<ConvBnTanh>(kChannels, gen);
  block->to(DType::Float64);
  MomentumSequential stage({block, block}, 0.5);
  EXPECT_DOUBLE_EQ(stage.gamma(), 0.5);
  EXPECT_TRUE(stage.invertible());
  const Tensor x = stage_input(DType::Float64);
  const autograd::NoGradGuard no_grad;
  const Tensor f0 = block->forward(Variable(x)).value();
  const Tensor x1 = add(x, mul(f0, 0.5));
  const Tensor v1 = mul(f0, 0.5);
  const Tensor x2 = add(x1, add(mul(v1, 0.5), mul(block->forward(Variable(x1)).value(), 0.5)));
  EXPECT_LE(max_abs_diff(stage.forward(Variable(x)).value(), x2), 1e-8);
  stage.eval();
  EXPECT_EQ(stage.forward(Variable(x)).shape(), x.shape());
}

// v_0 = f_0(x_0): v_1 = f_0(x_0), then the recurrence as before.
TEST(MomentumSequential, FirstBlockInitialVelocityStepsTheFirstBlockUndamped) {
  Generator gen(2);
  const auto block = std::make_shared<ConvBnTanh>(kChannels, gen);
  block->to(DType::Float64);
  MomentumOptions options;
  options.gamma = 0.5;
  options.initial_velocity = nn::InitialVelocity::FirstBlock;
  MomentumSequential stage({block, block}, options);
  const Tensor x = stage_input(DType::Float64);
  const autograd::NoGradGuard no_grad;
  const Tensor v1 = block->forward(Variable(x)).value();
  const Tensor x1 = add(x, v1);
  const Tensor x2 = add(x1, add(mul(v1, 0.5), mul(block->forward(Variable(x1)).value(), 0.5)));
  EXPECT_LE(max_abs_diff(stage.forward(Variable(x)).value(), x2), 1e-8);
}

TEST(MomentumSequential, ShapeChangingBlocksAreRejected) {
  Generator gen(3);
  MomentumSequential stage(
      {std::make_shared<nn::Conv2d>(kChannels, 2, 1, 1, 0, 1, false, 1, &gen)});
  testing::expect_invalid_argument(
      [&] { (void)stage.forward(Variable(stage_input(DType::Float32))); }, "keep the shape");
}

}  // namespace
}  // namespace ortho
