#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "autograd/ops/matmul.h"
#include "autograd/ops/views.h"
#include "autograd/variable.h"
#include "core/ops/elementwise.h"
#include "core/ops/linalg.h"
#include "core/ops/matmul.h"
#include "core/ops/reduce.h"
#include "core/ops/shape_ops.h"
#include "core/tensor.h"
#include "layers/orthogonal_maps.h"
#include "support/autograd_support.h"
#include "support/test_support.h"

namespace ortho::nn {
namespace {

using autograd::Variable;
using ortho::testing::expect_close;
using ortho::testing::expect_invalid_argument;
using ortho::testing::passes_gradcheck;
using ortho::testing::random_tensor;

using Inputs = std::vector<Variable>;

// ||X X^T - I||_F for a wide X, ||X^T X - I||_F for a tall one.
double distance_to_manifold(const Tensor& x) {
  const Tensor wide = x.size(0) <= x.size(1) ? x : x.t();
  const Tensor gram = ortho::matmul(wide, wide.t());
  return ortho::norm(ortho::sub(gram, Tensor::eye(wide.size(0), x.dtype())))
      .to(DType::Float64)
      .item<double>();
}

Tensor apply(Variable (*map)(const Variable&), const Tensor& x) {
  return map(Variable(x)).value();
}

TEST(OrthogonalMaps, CayleyIsOrthogonalAndIdentityAtZero) {
  EXPECT_LT(distance_to_manifold(apply(cayley, random_tensor({6, 6}, 1))), 1e-10);
  EXPECT_LT(distance_to_manifold(apply(cayley, random_tensor({6, 6}, 2, DType::Float32))), 1e-5);
  expect_close(apply(cayley, Tensor::zeros({4, 4}, DType::Float64)), Tensor::eye(4, DType::Float64),
               0.0, 0.0);
}

TEST(OrthogonalMaps, CayleyMatchesExponentialToSecondOrder) {
  // The [1/1] Padé approximant: || cayley(tA) - exp(skew(tA)) || = O(t^3).
  const Tensor a = random_tensor({5, 5}, 3);
  const double small = ortho::testing::max_abs_diff(
      apply(cayley, ortho::mul(a, 1e-2)), apply(matrix_exp_orthogonal, ortho::mul(a, 1e-2)));
  const double smaller = ortho::testing::max_abs_diff(
      apply(cayley, ortho::mul(a, 1e-3)), apply(matrix_exp_orthogonal, ortho::mul(a, 1e-3)));
  EXPECT_GT(small / smaller, 500.0);
}

TEST(OrthogonalMaps, MatrixExpIsOrthogonalAndExpOfSkew) {
  EXPECT_LT(distance_to_manifold(apply(matrix_exp_orthogonal, random_tensor({6, 6}, 4))), 1e-10);
  EXPECT_LT(
      distance_to_manifold(apply(matrix_exp_orthogonal, random_tensor({6, 6}, 5, DType::Float32))),
      1e-5);
  expect_close(apply(matrix_exp_orthogonal, Tensor::zeros({4, 4}, DType::Float64)),
               Tensor::eye(4, DType::Float64), 0.0, 0.0);
  const Tensor a = random_tensor({4, 4}, 6);
  const Tensor skew = ortho::mul(ortho::sub(a, a.t()), 0.5);
  expect_close(apply(matrix_exp_orthogonal, skew), ortho::expm(skew), 1e-14, 0.0);
}

// The n x n product of the reflections, formed explicitly.
Tensor reflections_reference(const Tensor& v) {
  const std::int64_t n = v.size(1);
  Tensor q = Tensor::eye(n, DType::Float64);
  for (std::int64_t i = 0; i < v.size(0); ++i) {
    const Tensor vi = v.slice(0, i, i + 1);
    const Tensor outer = ortho::matmul(vi.t(), vi);
    const Tensor h =
        ortho::sub(Tensor::eye(n, DType::Float64),
                   ortho::mul(outer, 2.0 / ortho::sum(ortho::square(vi)).item<double>()));
    q = ortho::matmul(q, h);
  }
  return q;
}

TEST(OrthogonalMaps, HouseholderProductMatchesExplicitReflections) {
  const Tensor v = random_tensor({3, 5}, 7);
  const Tensor full = householder_product(Variable(v)).value();
  expect_close(full, reflections_reference(v), 1e-14, 0.0);
  EXPECT_LT(distance_to_manifold(full), 1e-10);
  // Stiefel rows: the first rows of the same product.
  const Tensor rows = householder_product(Variable(v), 2).value();
  expect_close(rows, full.slice(0, 0, 2), 1e-14, 0.0);
  EXPECT_LT(distance_to_manifold(rows), 1e-10);
  EXPECT_LT(distance_to_manifold(
                householder_product(Variable(random_tensor({4, 4}, 8, DType::Float32))).value()),
            1e-5);
  // A reflection applied twice is the identity.
  const Tensor twice = ortho::stack({v.select(0, 0), v.select(0, 0)}, 0);
  expect_close(householder_product(Variable(twice)).value(), Tensor::eye(5, DType::Float64), 1e-14,
               0.0);
}

TEST(OrthogonalMaps, BjorckReachesThePolarFactorTallAndWide) {
  const Tensor wide = random_tensor({3, 6}, 9);
  const Tensor polar = lowdin(Variable(wide)).value();
  for (std::int64_t order : {1, 2, 3}) {
    const Tensor w = bjorck(Variable(wide), 20, order).value();
    EXPECT_LT(distance_to_manifold(w), 1e-10) << "order " << order;
    expect_close(w, polar, 1e-10, 0.0);
  }
  const Tensor tall = bjorck(Variable(wide.t()), 20).value();
  EXPECT_EQ(tall.shape(), Shape({6, 3}));
  expect_close(tall, polar.t(), 1e-10, 0.0);
  EXPECT_LT(
      distance_to_manifold(bjorck(Variable(random_tensor({5, 5}, 10, DType::Float32)), 20).value()),
      1e-5);
  // A matrix already on the manifold is a fixed point (the scaling leaves it unchanged).
  expect_close(bjorck(Variable(polar), 3).value(), polar, 1e-14, 0.0);
}

TEST(OrthogonalMaps, GramSchmidtMatchesQR) {
  const Tensor p = random_tensor({4, 6}, 11);
  const Tensor q = gram_schmidt(Variable(p)).value();
  EXPECT_LT(distance_to_manifold(q), 1e-10);
  // Rows of GS(P) are the columns of Q in P^T = Q R with diag(R) > 0.
  const QRResult f = ortho::qr(p.t());
  const Tensor signs =
      ortho::sign(ortho::sum(ortho::mul(f.r, Tensor::eye(4, DType::Float64)), {1}));
  expect_close(q, ortho::mul(f.q, signs.unsqueeze(0)).t(), 1e-12, 0.0);
  EXPECT_LT(distance_to_manifold(
                gram_schmidt(Variable(random_tensor({5, 5}, 12, DType::Float32))).value()),
            1e-5);
}

// Textbook modified Gram-Schmidt of the rows of a float64 p x n matrix, on plain values.
Tensor reference_gram_schmidt(const Tensor& p) {
  const std::int64_t rows = p.size(0), n = p.size(1);
  std::vector<double> q = p.contiguous().to_vector<double>();
  const auto at = [&](std::int64_t i, std::int64_t j) -> double& {
    return q[static_cast<std::size_t>(i * n + j)];
  };
  for (std::int64_t i = 0; i < rows; ++i) {
    for (std::int64_t j = 0; j < i; ++j) {
      double dot = 0.0;
      for (std::int64_t c = 0; c < n; ++c) dot += at(i, c) * at(j, c);
      for (std::int64_t c = 0; c < n; ++c) at(i, c) -= dot * at(j, c);
    }
    double norm = 0.0;
    for (std::int64_t c = 0; c < n; ++c) norm += at(i, c) * at(i, c);
    norm = std::sqrt(norm);
    for (std::int64_t c = 0; c < n; ++c) at(i, c) /= norm;
  }
  return Tensor::from_vector(q, {rows, n});
}

TEST(OrthogonalMaps, GramSchmidtMatchesTextbookGramSchmidt) {
  for (const Tensor& p :
       {random_tensor({5, 7}, 17), random_tensor({6, 6}, 18), random_tensor({1, 4}, 19)}) {
    expect_close(gram_schmidt(Variable(p)).value(), reference_gram_schmidt(p), 1e-12, 0.0);
  }
}

TEST(OrthogonalMaps, GramSchmidtStaysOrthogonalWhenIllConditioned) {
  // Rows nearly parallel: one Gram-Schmidt pass would lose orthogonality.
  Tensor p = ortho::add(ortho::mul(random_tensor({4, 6}, 13), 1e-7), random_tensor({1, 6}, 14));
  EXPECT_LT(distance_to_manifold(gram_schmidt(Variable(p)).value()), 1e-10);
}

TEST(OrthogonalMaps, LowdinIsTheClosestOrthonormalRows) {
  const Tensor p = random_tensor({3, 5}, 15);
  const Tensor l = lowdin(Variable(p)).value();
  EXPECT_LT(distance_to_manifold(l), 1e-10);
  const SVDResult f = ortho::svd(p);
  expect_close(l, ortho::matmul(f.u, f.vh), 1e-12, 0.0);
  EXPECT_LT(
      distance_to_manifold(lowdin(Variable(random_tensor({4, 4}, 16, DType::Float32))).value()),
      1e-5);
  // Already orthonormal rows: unchanged.
  expect_close(lowdin(Variable(l)).value(), l, 1e-14, 0.0);
}

TEST(OrthogonalMaps, Gradcheck) {
  const auto check = [](autograd::GradcheckFunction f, std::vector<Tensor> in) {
    EXPECT_TRUE(passes_gradcheck(f, in));
  };
  check([](const Inputs& in) { return cayley(in[0]); }, {random_tensor({4, 4}, 20)});
  check([](const Inputs& in) { return matrix_exp_orthogonal(in[0]); }, {random_tensor({4, 4}, 21)});
  check([](const Inputs& in) { return householder_product(in[0]); }, {random_tensor({3, 4}, 22)});
  check([](const Inputs& in) { return householder_product(in[0], 2); },
        {random_tensor({2, 4}, 23)});
  check([](const Inputs& in) { return bjorck(in[0], 15, 1); }, {random_tensor({3, 5}, 24)});
  check([](const Inputs& in) { return bjorck(in[0], 10, 2); }, {random_tensor({5, 3}, 25)});
  check([](const Inputs& in) { return gram_schmidt(in[0]); }, {random_tensor({3, 4}, 26)});
  check([](const Inputs& in) { return lowdin(in[0]); }, {random_tensor({3, 4}, 27)});
  check([](const Inputs& in) { return lowdin(in[0]); }, {random_tensor({3, 3}, 28)});
}

TEST(OrthogonalMaps, LowdinGradientAtTheIdentityIsFinite) {
  // OPT's LS starts at R = I, where P P^T has one repeated eigenvalue.
  EXPECT_TRUE(passes_gradcheck([](const Inputs& in) { return lowdin(in[0]); },
                               {Tensor::eye(3, DType::Float64)}));
  EXPECT_TRUE(passes_gradcheck([](const Inputs& in) { return gram_schmidt(in[0]); },
                               {Tensor::eye(3, DType::Float64)}));
}

TEST(OrthogonalMaps, BadShapesNameTheFunctionAndShape) {
  const Variable wide(random_tensor({2, 3}, 30));
  const Variable tall(random_tensor({3, 2}, 31));
  const Variable cube(random_tensor({2, 2, 2}, 32));
  expect_invalid_argument([&] { cayley(wide); }, "cayley: expected a square matrix, got [2, 3]");
  expect_invalid_argument([&] { matrix_exp_orthogonal(cube); },
                          "matrix_exp_orthogonal: expected a 2-D matrix, got [2, 2, 2]");
  expect_invalid_argument([&] { householder_product(wide, 4); },
                          "householder_product: rows 4 outside [1, n] for reflectors [2, 3]");
  expect_invalid_argument([&] { bjorck(wide, 5, 0); }, "bjorck: need iterations >= 0");
  expect_invalid_argument([&] { gram_schmidt(tall); }, "gram_schmidt: expected p x n with p <= n");
  expect_invalid_argument([&] { lowdin(tall); }, "[3, 2]");
  expect_invalid_argument(
      [&] {
        lowdin(Variable(Tensor::zeros({2, 3}, DType::Float64)));
      },
      "lowdin: P P^T is singular");
}

}  // namespace
}  // namespace ortho::nn
