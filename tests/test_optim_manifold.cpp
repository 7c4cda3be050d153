#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/ops/elementwise.h"
#include "core/ops/linalg.h"
#include "core/ops/matmul.h"
#include "core/ops/reduce.h"
#include "core/ops/shape_ops.h"
#include "core/random.h"
#include "core/tensor.h"
#include "layers/init.h"
#include "optim/manifold.h"
#include "support/procrustes.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using optim::Retraction;
using testing::expect_close;
using testing::max_abs_diff;

constexpr Retraction kRetractions[] = {Retraction::Exp, Retraction::Cayley, Retraction::QR,
                                       Retraction::Polar};

// A point of St(n, p), n >= p, from QR of a Gaussian.
Tensor stiefel_point(std::int64_t n, std::int64_t p, std::uint64_t seed,
                     DType dtype = DType::Float64) {
  Generator gen(seed);
  Tensor x = Tensor::empty({n, p}, dtype);
  nn::init::orthogonal_(x, 1.0, &gen);
  return x;
}

Tensor random_tangent(const Tensor& x, std::uint64_t seed) {
  return optim::project_tangent(x, testing::random_tensor(x.shape(), seed));
}

double inner(const Tensor& a, const Tensor& b) {
  return sum(mul(a, b)).item<double>();
}

double frobenius(const Tensor& a) {
  return std::sqrt(inner(a, a));
}

// (n, p) shapes covering O(p), the dense n <= 2p Stiefel path and the low-rank one.
const std::vector<std::pair<std::int64_t, std::int64_t>> kShapes = {{6, 6}, {5, 3}, {11, 3}};

TEST(Manifold, SkewAndSymSplitAMatrix) {
  const Tensor m = testing::random_tensor({4, 4}, 1);
  expect_close(add(optim::skew(m), optim::sym(m)), m, 1e-15);
  expect_close(optim::skew(m), neg(optim::skew(m).t()), 1e-15);
  expect_close(optim::sym(m), optim::sym(m).t(), 1e-15);
}

TEST(Manifold, DistanceIsZeroOnTheManifoldAndMeasuresTheGram) {
  const Tensor q = stiefel_point(5, 5, 2);
  EXPECT_LT(optim::distance_to_manifold(q).item<double>(), 1e-14);
  // (1 + s) Q: X^T X - I = ((1 + s)^2 - 1) I.
  const double s = 0.1;
  EXPECT_NEAR(optim::distance_to_manifold(mul(q, 1.0 + s)).item<double>(),
              (std::pow(1.0 + s, 2) - 1.0) * std::sqrt(5.0), 1e-13);
  const Tensor batch = stack({q, mul(q, 2.0)}, 0);
  const std::vector<double> d = optim::distance_to_manifold(batch).to_vector<double>();
  ASSERT_EQ(d.size(), 2u);
  EXPECT_NEAR(d[1], 3.0 * std::sqrt(5.0), 1e-12);
}

TEST(Manifold, ManifoldMatrixIsATallViewOfAConvKernel) {
  const Tensor kernel = testing::random_tensor({4, 2, 3, 3}, 3);
  const Tensor wide = optim::manifold_matrix(kernel, nn::Manifold::Stiefel);
  EXPECT_EQ(wide.shape(), Shape({18, 4}));
  EXPECT_TRUE(wide.shares_storage(kernel));
  EXPECT_EQ(wide.select(1, 2).select(0, 5).item<double>(),
            kernel.select(0, 2).select(0, 0).select(0, 1).select(0, 2).item<double>());
  const Tensor tall =
      optim::manifold_matrix(testing::random_tensor({20, 2, 1, 1}, 4), nn::Manifold::Stiefel);
  EXPECT_EQ(tall.shape(), Shape({20, 2}));
  testing::expect_invalid_argument(
      [] {
        optim::manifold_matrix(Tensor::zeros({3, 4}), nn::Manifold::Orthogonal);
      },
      "square");
}

TEST(Manifold, LandingFieldVanishesAtACriticalPointOnTheManifold) {
  const testing::Procrustes problem(12, 5);
  const Tensor x = problem.solution();
  EXPECT_LT(frobenius(optim::landing_field(x, problem.gradient(x), 1.0)), 1e-12);
  // Any G = X S with S symmetric is critical: skew(X S X^T) = 0.
  for (const auto& [n, p] : kShapes) {
    const Tensor q = stiefel_point(n, p, 6);
    const Tensor s = optim::sym(testing::random_tensor({p, p}, 7));
    EXPECT_LT(frobenius(optim::landing_field(q, matmul(q, s), 1.0)), 1e-13) << n << "x" << p;
  }
}

TEST(Manifold, LandingFieldIsNonzeroOffTheManifoldOrAwayFromCriticalPoints) {
  const testing::Procrustes problem(12, 5);
  const Tensor q = stiefel_point(12, 12, 8);
  EXPECT_GT(frobenius(optim::landing_field(q, problem.gradient(q), 1.0)), 1e-3);
  const Tensor off = mul(problem.solution(), 1.1);
  EXPECT_GT(frobenius(optim::landing_field(off, problem.gradient(off), 1.0)), 1e-3);
}

TEST(Manifold, LandingFieldTermsAreOrthogonalAndSumToTheField) {
  for (const auto& [n, p] : kShapes) {
    const Tensor x = add(stiefel_point(n, p, 9), mul(testing::random_tensor({n, p}, 10), 0.3));
    const Tensor g = testing::random_tensor({n, p}, 11);
    const Tensor relative = optim::relative_gradient(x, g);
    const Tensor normal = optim::normal_field(x, 0.7);
    EXPECT_LT(std::abs(inner(relative, normal)), 1e-13 * frobenius(relative) * frobenius(normal));
    expect_close(optim::landing_field(x, g, 0.7), add(relative, normal), 1e-13);
    // skew(G X^T) X written with the n x n matrix.
    expect_close(relative, matmul(optim::skew(matmul(g, x.t())), x), 1e-13);
  }
}

TEST(Manifold, LandingFieldInFloat32MatchesFloat64) {
  const Tensor x = add(stiefel_point(9, 4, 12), mul(testing::random_tensor({9, 4}, 13), 0.1));
  const Tensor g = testing::random_tensor({9, 4}, 14);
  const Tensor f64 = optim::landing_field(x, g, 1.0);
  const Tensor f32 = optim::landing_field(x.to(DType::Float32), g.to(DType::Float32), 1.0);
  EXPECT_EQ(f32.dtype(), DType::Float32);
  EXPECT_LT(max_abs_diff(f32, f64), 1e-5);
}

TEST(Manifold, EveryRetractionLandsOnTheManifold) {
  for (const auto& [n, p] : kShapes) {
    const Tensor x = stiefel_point(n, p, 15);
    const Tensor z = mul(random_tangent(x, 16), 0.8);
    for (Retraction r : kRetractions) {
      const Tensor y = optim::retract(r, x, z);
      EXPECT_LT(optim::distance_to_manifold(y).item<double>(), 1e-12)
          << optim::retraction_name(r) << " " << n << "x" << p;
    }
  }
}

TEST(Manifold, RetractionsAreFirstOrderAccurate) {
  for (const auto& [n, p] : kShapes) {
    const Tensor x = stiefel_point(n, p, 17);
    const Tensor z = random_tangent(x, 18);
    for (Retraction r : kRetractions) {
      const double t = 1e-4;
      const Tensor error = sub(optim::retract(r, x, mul(z, t)), add(x, mul(z, t)));
      EXPECT_LT(frobenius(error), 10.0 * t * t * frobenius(z) * frobenius(z))
          << optim::retraction_name(r) << " " << n << "x" << p;
    }
  }
}

TEST(Manifold, ExpAndCayleyMatchTheirDenseFormulas) {
  // n > 2p takes the low-rank path; compare with exp(A) X and the Cayley transform of A.
  const Tensor x = stiefel_point(11, 3, 19);
  const Tensor z = random_tangent(x, 20);
  const Tensor pz = sub(z, mul(matmul(x, matmul(x.t(), z)), 0.5));
  const Tensor a = sub(matmul(pz, x.t()), matmul(x, pz.t()));
  expect_close(matmul(a, x), z, 1e-13);
  expect_close(optim::retract(Retraction::Exp, x, z), matmul(expm(a), x), 1e-12);
  const Tensor eye = Tensor::eye(11, DType::Float64);
  const Tensor cayley = solve(sub(eye, mul(a, 0.5)), matmul(add(eye, mul(a, 0.5)), x));
  expect_close(optim::retract(Retraction::Cayley, x, z), cayley, 1e-12);
}

TEST(Manifold, QRRetractionIsTheSignFixedQFactor) {
  const Tensor x = stiefel_point(7, 4, 21);
  const Tensor z = random_tangent(x, 22);
  const Tensor y = optim::retract(Retraction::QR, x, z);
  // R = Y^T (X + Z) is upper triangular with a positive diagonal.
  const std::vector<double> r = matmul(y.t(), add(x, z)).to_vector<double>();
  for (int i = 0; i < 4; ++i) {
    EXPECT_GT(r[i * 4 + i], 0.0);
    for (int j = 0; j < i; ++j) EXPECT_NEAR(r[i * 4 + j], 0.0, 1e-12);
  }
}

TEST(Manifold, RiemannianGradientMatchesFiniteDifferencesAlongTangentCurves) {
  // f(X) = ||A X - B||^2 + tr(X^T C X) on St(n, p): d/dt f(R(X, t Z)) at 0 = <grad f(X), Z>.
  for (const auto& [n, p] : kShapes) {
    const Tensor a = testing::random_tensor({n + 2, n}, 23);
    const Tensor b = testing::random_tensor({n + 2, p}, 24);
    const Tensor c = testing::random_tensor({n, n}, 25);
    const auto f = [&](const Tensor& x) {
      return sum(square(sub(matmul(a, x), b))).item<double>() +
             sum(mul(x, matmul(c, x))).item<double>();
    };
    const Tensor x = stiefel_point(n, p, 26);
    const Tensor g = add(mul(matmul(a.t(), sub(matmul(a, x), b)), 2.0), matmul(add(c, c.t()), x));
    const Tensor grad = optim::project_tangent(x, g);
    const Tensor z = random_tangent(x, 27);
    for (Retraction r : kRetractions) {
      const double h = 1e-5;
      const double numeric =
          (f(optim::retract(r, x, mul(z, h))) - f(optim::retract(r, x, mul(z, -h)))) / (2 * h);
      EXPECT_NEAR(numeric, inner(grad, z), 1e-7 * (1.0 + std::abs(numeric)))
          << optim::retraction_name(r) << " " << n << "x" << p;
    }
  }
}

TEST(Manifold, RetractionsWorkOnBatchesOfMatrices) {
  const Tensor x = stack({stiefel_point(4, 4, 28), stiefel_point(4, 4, 29)}, 0);
  const Tensor z = mul(optim::project_tangent(x, testing::random_tensor({2, 4, 4}, 30)), 0.5);
  for (Retraction r : kRetractions) {
    const Tensor y = optim::retract(r, x, z);
    EXPECT_EQ(y.shape(), x.shape());
    EXPECT_LT(amax(optim::distance_to_manifold(y)).item<double>(), 1e-12);
    expect_close(y.select(0, 1), optim::retract(r, x.select(0, 1), z.select(0, 1)), 1e-13);
  }
}

TEST(Manifold, SafeStepSizeKeepsTheBoundUnderEpsilon) {
  const double lambda = 1.0, epsilon = 0.5;
  for (double d : {0.0, 0.1, 0.4}) {
    for (double g : {0.1, 1.0, 10.0}) {
      const double eta = optim::safe_step_size(d, g, lambda, epsilon);
      EXPECT_GT(eta, 0.0);
      EXPECT_LE(eta, 1.0 / (2.0 * lambda));
      EXPECT_LE(d + 2.0 * eta * lambda * d * (d - 1.0) + eta * eta * g * g, epsilon + 1e-12);
    }
  }
  EXPECT_EQ(optim::safe_step_size(0.1, 0.0, 0.0, epsilon), std::numeric_limits<double>::infinity());
}

TEST(Manifold, BadInputsNameTheFunctionAndShapes) {
  const Tensor x = stiefel_point(5, 3, 31);
  testing::expect_invalid_argument(
      [&] {
        optim::landing_field(x, Tensor::zeros({5, 4}), 1.0);
      },
      "landing_field");
  testing::expect_invalid_argument([&] { optim::retract(Retraction::QR, x.t(), x.t()); },
                                   "retract: expected tall");
  testing::expect_invalid_argument([] { optim::parse_retraction("svd"); }, "cayley");
}

}  // namespace
}  // namespace ortho
