#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/ops/elementwise.h"
#include "core/ops/matmul.h"
#include "core/ops/reduce.h"
#include "core/random.h"
#include "core/serialize.h"
#include "core/tensor.h"
#include "layers/init.h"
#include "layers/parameter.h"
#include "optim/landing.h"
#include "optim/manifold.h"
#include "optim/sgd.h"
#include "support/procrustes.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using nn::Manifold;
using nn::Parameter;
using testing::max_abs_diff;

Parameter orthogonal_parameter(std::int64_t rows, std::int64_t cols, std::uint64_t seed,
                               Manifold manifold = Manifold::Orthogonal) {
  Generator gen(seed);
  Tensor value = Tensor::empty({rows, cols}, DType::Float64);
  nn::init::orthogonal_(value, 1.0, &gen);
  return Parameter(value, manifold);
}

double distance(const Parameter& x) {
  return optim::distance_to_manifold(optim::manifold_matrix(x.value(), x.manifold()))
      .item<double>();
}

// Runs `iterations` full-gradient steps of `optimizer` on the Procrustes problem.
template <typename Optimizer>
void minimize(const testing::Procrustes& problem, Parameter& x, Optimizer& optimizer,
              int iterations) {
  for (int t = 0; t < iterations; ++t) {
    x.set_grad(problem.gradient(x.value()));
    optimizer.step();
  }
}

Parameter procrustes_start(const testing::Procrustes& problem, std::uint64_t seed) {
  return Parameter(problem.start(seed), Manifold::Orthogonal);
}

TEST(Landing, ConvergesToTheProcrustesSolutionAndLandsOnTheManifold) {
  const testing::Procrustes problem(40, 1);
  Parameter x = procrustes_start(problem, 2);
  optim::Landing landing({x}, {.lr = 0.1});
  minimize(problem, x, landing, 500);
  EXPECT_LT(max_abs_diff(x.value(), problem.solution()), 1e-6);
  EXPECT_LT(distance(x), 1e-6);
}

TEST(Landing, SafeStepKeepsTheDistanceUnderEpsilonAtEveryIteration) {
  const testing::Procrustes problem(20, 3);
  const double epsilon = 0.1;
  double unsafe_peak = 0.0;
  for (bool safe : {true, false}) {
    Parameter x = orthogonal_parameter(20, 20, 4);
    optim::Landing landing({x}, {.lr = 1.0, .safe_step = safe, .epsilon = epsilon});
    double peak = 0.0;
    for (int t = 0; t < 200 && std::isfinite(peak); ++t) {
      x.set_grad(mul(problem.gradient(x.value()), 5.0));
      landing.step();
      peak = std::max(peak, distance(x));
      if (safe) {
        ASSERT_LE(distance(x), epsilon) << "iteration " << t;
      }
    }
    if (!safe) unsafe_peak = peak;
  }
  EXPECT_GT(unsafe_peak, epsilon);  // without the cap this step size leaves the band
}

TEST(Landing, MomentumAndAdamVariantsConverge) {
  const testing::Procrustes problem(16, 5);
  Parameter x = procrustes_start(problem, 6);
  optim::Landing heavy({x}, {.lr = 0.02, .momentum = 0.9});
  minimize(problem, x, heavy, 600);
  EXPECT_LT(max_abs_diff(x.value(), problem.solution()), 1e-6);
  EXPECT_LT(distance(x), 1e-6);

  Parameter y = procrustes_start(problem, 6);
  optim::LandingAdam adam({y}, {.lr = 0.01});
  minimize(problem, y, adam, 1000);
  adam.set_lr(0.001);  // Adam's constant-step noise floor is ~lr
  minimize(problem, y, adam, 1000);
  EXPECT_LT(problem.loss(y.value()) - problem.loss(problem.solution()), 1e-3);
  EXPECT_LT(distance(y), 1e-3);
}

TEST(Landing, StiefelConvKernelStaysNearItsManifoldAndDescends) {
  // A (4, 2, 3, 3) kernel: rows orthonormal in the (4, 18) view. f(W) = ||W - T||^2.
  Generator gen(7);
  Tensor value = Tensor::empty({4, 2, 3, 3}, DType::Float64);
  nn::init::orthogonal_(value, 1.0, &gen);
  Parameter w(value, Manifold::Stiefel);
  const Tensor target = testing::random_tensor({4, 2, 3, 3}, 8);
  const auto loss = [&] { return sum(square(sub(w.value(), target))).item<double>(); };
  const double before = loss();
  optim::Landing landing({w}, {.lr = 0.1});
  for (int t = 0; t < 300; ++t) {
    w.set_grad(mul(sub(w.value(), target), 2.0));
    landing.step();
    ASSERT_LE(distance(w), 0.5);
  }
  EXPECT_LT(loss(), before);
  EXPECT_LT(distance(w), 1e-6);
  // At the end the relative gradient vanishes: W is the polar factor-like critical point.
  const Tensor x = optim::manifold_matrix(w.value(), Manifold::Stiefel);
  const Tensor g = optim::manifold_matrix(mul(sub(w.value(), target), 2.0), Manifold::Stiefel);
  EXPECT_LT(sum(square(optim::relative_gradient(x, g))).item<double>(), 1e-10);
}

TEST(Landing, EuclideanParametersGetTorchSGD) {
  Parameter x = orthogonal_parameter(3, 3, 9);
  Parameter e(testing::random_tensor({5}, 10), Manifold::Euclidean);
  Parameter reference(e.value().clone(), Manifold::Euclidean);
  optim::Landing landing({x, e}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01});
  optim::SGD sgd({reference}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01});
  for (int t = 0; t < 5; ++t) {
    const Tensor g = testing::random_tensor({5}, 11 + t);
    x.set_grad(testing::random_tensor({3, 3}, 20 + t));
    e.set_grad(g);
    reference.set_grad(g.clone());
    landing.step();
    sgd.step();
  }
  EXPECT_EQ(max_abs_diff(e.value(), reference.value()), 0.0);
}

TEST(Landing, StateDictResumesBitExactly) {
  const testing::Procrustes problem(8, 12);
  Parameter x = procrustes_start(problem, 13);
  optim::Landing landing({x}, {.lr = 0.05, .momentum = 0.9});
  minimize(problem, x, landing, 5);
  const TensorMap saved = landing.state_dict();
  Parameter y(x.value().clone(), Manifold::Orthogonal);
  optim::Landing resumed({y}, {.lr = 0.05, .momentum = 0.9});
  resumed.load_state_dict(saved);
  minimize(problem, x, landing, 5);
  minimize(problem, y, resumed, 5);
  EXPECT_EQ(max_abs_diff(x.value(), y.value()), 0.0);
}

TEST(Landing, BatchedOrthogonalMatricesTakeTheirOwnSafeSteps) {
  // Two 5x5 matrices in one (2, 5, 5) parameter; the second's gradient is 100x larger.
  Generator gen(14);
  Tensor value = Tensor::empty({2, 5, 5}, DType::Float64);
  nn::init::orthogonal_(value.select(0, 0), 1.0, &gen);
  nn::init::orthogonal_(value.select(0, 1), 1.0, &gen);
  Parameter x(value, Manifold::Orthogonal);
  optim::Landing landing({x}, {.lr = 0.5, .epsilon = 0.05});
  Tensor g = testing::random_tensor({2, 5, 5}, 15);
  Tensor second = g.select(0, 1);
  mul_(second, 100.0);
  x.set_grad(g);
  landing.step();
  const std::vector<double> d = optim::distance_to_manifold(x.value()).to_vector<double>();
  EXPECT_LE(d[0], 0.05);
  EXPECT_LE(d[1], 0.05);
  EXPECT_GT(d[1], 1e-3);
}

TEST(Landing, RejectsBadOptions) {
  Parameter x = orthogonal_parameter(3, 3, 16);
  testing::expect_invalid_argument([&] { optim::Landing({x}, {.lambda = -1.0}); }, "lambda");
  testing::expect_invalid_argument(
      [&] { optim::Landing({x}, {.safe_step = true, .epsilon = 0.0}); }, "epsilon");
  testing::expect_invalid_argument([&] { optim::LandingAdam({x}, {.beta1 = 1.0}); }, "beta1");
  testing::expect_invalid_argument([&] { optim::LandingSAGA({x}, 0); }, "num_terms");
}

// f(X) = (1/m) sum_i ||a_i^T X - b_i^T||^2 over the m rows of a Procrustes problem: the same
// minimizer, as a finite sum.
Tensor row_gradient(const testing::Procrustes& problem, const Tensor& x, std::int64_t i) {
  const Tensor a = problem.a.slice(0, i, i + 1), b = problem.b.slice(0, i, i + 1);
  return mul(matmul(a.t(), sub(matmul(a, x), b)), 2.0 * static_cast<double>(problem.a.size(0)));
}

TEST(LandingSAGA, ConvergesOnAFiniteSumWhereStochasticLandingStalls) {
  const std::int64_t p = 10;
  const testing::Procrustes problem(p, 17);
  Generator sampler(18);
  Parameter x = procrustes_start(problem, 19);
  Parameter y = procrustes_start(problem, 19);
  optim::LandingSAGA saga({x}, p, {.lr = 0.01});
  optim::Landing sgd({y}, {.lr = 0.01});
  for (int t = 0; t < 6000; ++t) {
    const auto i = static_cast<std::int64_t>(sampler.next_u64() % static_cast<std::uint64_t>(p));
    saga.set_term(i);
    x.set_grad(row_gradient(problem, x.value(), i));
    saga.step();
    y.set_grad(row_gradient(problem, y.value(), i));
    sgd.step();
  }
  EXPECT_LT(max_abs_diff(x.value(), problem.solution()), 1e-6);
  EXPECT_LT(distance(x), 1e-6);
  EXPECT_GT(max_abs_diff(y.value(), problem.solution()), 1e-4);
}

TEST(LandingSAGA, NeedsATermBeforeEachStepAndSavesItsTable) {
  Parameter x = orthogonal_parameter(3, 3, 20);
  optim::LandingSAGA saga({x}, 4);
  x.set_grad(testing::random_tensor({3, 3}, 21));
  testing::expect_invalid_argument([&] { saga.step(); }, "set_term");
  testing::expect_invalid_argument([&] { saga.set_term(4); }, "outside");
  saga.set_term(2);
  saga.step();
  const TensorMap state = saga.state_dict();
  EXPECT_EQ(state.at("state.0.0.gradient_table").shape(), Shape({4, 3, 3}));
  optim::LandingSAGA other({Parameter(x.value().clone(), Manifold::Orthogonal)}, 4);
  other.load_state_dict(state);
  optim::LandingSAGA wrong({Parameter(x.value().clone(), Manifold::Orthogonal)}, 5);
  testing::expect_invalid_argument([&] { wrong.load_state_dict(state); }, "num_terms");
}

}  // namespace
}  // namespace ortho
