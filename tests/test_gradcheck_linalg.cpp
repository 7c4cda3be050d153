#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "autograd/gradcheck.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/linalg.h"
#include "autograd/ops/matmul.h"
#include "autograd/ops/reduce.h"
#include "autograd/ops/shape_ops.h"
#include "autograd/ops/views.h"
#include "autograd/variable.h"
#include "core/ops/elementwise.h"
#include "core/ops/linalg.h"
#include "support/autograd_support.h"
#include "support/test_support.h"

namespace ortho::autograd {
namespace {

using ortho::testing::expect_close;
using ortho::testing::passes_gradcheck;
using ortho::testing::random_tensor;

using Inputs = std::vector<Variable>;

// A random (..., n, n) matrix plus 3 I: comfortably invertible.
Tensor well_conditioned(const Shape& shape, std::uint64_t seed) {
  const std::int64_t n = shape[shape.rank() - 1];
  return ortho::add(random_tensor(shape, seed), ortho::mul(Tensor::eye(n, DType::Float64), 3.0));
}

TEST(GradcheckLinalg, Solve) {
  const auto op = [](const Inputs& in) { return solve(in[0], in[1]); };
  EXPECT_TRUE(passes_gradcheck(op, {well_conditioned({3, 3}, 1), random_tensor({3, 2}, 2)}));
  EXPECT_TRUE(
      passes_gradcheck(op, {well_conditioned({3, 3}, 3).t(), random_tensor({2, 3}, 4).t()}));
  EXPECT_TRUE(passes_gradcheck(op, {well_conditioned({2, 3, 3}, 5), random_tensor({3, 1}, 6)}));
  EXPECT_TRUE(passes_gradcheck(op, {well_conditioned({3, 3}, 7), random_tensor({2, 3, 2}, 8)}));
}

TEST(GradcheckLinalg, SolveTriangular) {
  for (bool upper : {true, false}) {
    for (bool left : {true, false}) {
      const auto op = [upper, left](const Inputs& in) {
        return solve_triangular(in[0], in[1], upper, left);
      };
      const Tensor b = left ? random_tensor({3, 2}, 20) : random_tensor({2, 3}, 21);
      // The unread triangle gets a zero gradient, which central differences confirm.
      EXPECT_TRUE(passes_gradcheck(op, {well_conditioned({3, 3}, 22), b}));
      EXPECT_TRUE(passes_gradcheck(op, {well_conditioned({2, 3, 3}, 23).transpose(1, 2), b}));
    }
  }
}

TEST(GradcheckLinalg, Inverse) {
  const auto op = [](const Inputs& in) { return inverse(in[0]); };
  EXPECT_TRUE(passes_gradcheck(op, {well_conditioned({3, 3}, 9)}));
  EXPECT_TRUE(passes_gradcheck(op, {well_conditioned({3, 3}, 10).t()}));
  EXPECT_TRUE(passes_gradcheck(op, {well_conditioned({2, 2, 2}, 11)}));
}

TEST(GradcheckLinalg, MatrixExponential) {
  const auto op = [](const Inputs& in) { return expm(in[0]); };
  // Small norms take a low-degree Padé approximant, large ones scaling and squaring.
  EXPECT_TRUE(passes_gradcheck(op, {ortho::mul(random_tensor({3, 3}, 12), 0.01)}));
  EXPECT_TRUE(passes_gradcheck(op, {ortho::mul(random_tensor({3, 3}, 13), 0.5)}));
  EXPECT_TRUE(passes_gradcheck(op, {ortho::mul(random_tensor({3, 3}, 14), 4.0)}));
  EXPECT_TRUE(passes_gradcheck(op, {random_tensor({3, 3}, 15).t()}));
  Tensor batch = random_tensor({2, 3, 3}, 16);
  Tensor second = batch.select(0, 1);
  mul_(second, 5.0);  // the two matrices need different squaring counts
  EXPECT_TRUE(passes_gradcheck(op, {batch}));
  // Skew-symmetric A (the orthogonal parametrization X = expm(A - A^T)).
  EXPECT_TRUE(passes_gradcheck([](const Inputs& in) { return expm(in[0] - t(in[0])); },
                               {random_tensor({3, 3}, 17)}));
}

TEST(GradcheckLinalg, QR) {
  // Both factors flow into the output, each weighted.
  const auto both = [](const Inputs& in) {
    const QROutput f = qr(in[0]);
    return cat({flatten(f.q), flatten(f.r)}, 0);
  };
  EXPECT_TRUE(passes_gradcheck(both, {random_tensor({3, 3}, 18)}));
  EXPECT_TRUE(passes_gradcheck(both, {random_tensor({5, 3}, 19)}));
  EXPECT_TRUE(passes_gradcheck(both, {random_tensor({3, 4}, 20).t()}));
  EXPECT_TRUE(passes_gradcheck(both, {random_tensor({2, 4, 2}, 21)}));
  EXPECT_TRUE(
      passes_gradcheck([](const Inputs& in) { return qr(in[0]).q; }, {random_tensor({4, 3}, 22)}));
  EXPECT_TRUE(
      passes_gradcheck([](const Inputs& in) { return qr(in[0]).r; }, {random_tensor({4, 3}, 23)}));
  Variable wide(random_tensor({2, 3}, 24), true);
  EXPECT_THROW(qr(wide), std::invalid_argument);
}

// Eigenvalues, and eigenvectors with each column's sign fixed by its first entry (a constant
// of the graph), so the output is a smooth function of the symmetric input X + X^T.
Variable eigh_output(const Variable& x) {
  const EighOutput f = eigh(x + transpose(x, -1, -2));
  const Tensor signs = ortho::sign(f.eigenvectors.value().select(-2, 0)).unsqueeze(-2);
  return cat({flatten(f.eigenvalues), flatten(f.eigenvectors * Variable(signs))}, 0);
}

TEST(GradcheckLinalg, SymmetricEigendecomposition) {
  const auto op = [](const Inputs& in) { return eigh_output(in[0]); };
  EXPECT_TRUE(passes_gradcheck(op, {random_tensor({3, 3}, 25)}));
  EXPECT_TRUE(passes_gradcheck(op, {random_tensor({4, 4}, 26).t()}));
  EXPECT_TRUE(passes_gradcheck(op, {random_tensor({2, 3, 3}, 27)}));
  // Eigenvalues alone, e.g. a spectral penalty.
  EXPECT_TRUE(
      passes_gradcheck([](const Inputs& in) { return eigh(matmul(in[0], t(in[0]))).eigenvalues; },
                       {random_tensor({3, 3}, 28)}));
}

TEST(GradcheckLinalg, SymmetricEigendecompositionGradientIsSymmetric) {
  Variable a(ortho::add(random_tensor({3, 3}, 29), random_tensor({3, 3}, 29).t()), true);
  const EighOutput f = eigh(a);
  sum(f.eigenvectors * f.eigenvectors * 2.0 + f.eigenvalues).backward();
  expect_close(a.grad(), a.grad().t().contiguous(), 1e-12, 1e-12);
}

// Singular values, and singular vectors with each pair's sign fixed by the first entry of its
// left vector (flipping u_i and v_i together leaves a unchanged).
Variable svd_output(const Variable& a) {
  const SVDOutput f = svd(a);
  const Tensor signs = ortho::sign(f.u.value().select(-2, 0));
  const Variable u = f.u * Variable(signs.unsqueeze(-2));
  const Variable vh = f.vh * Variable(signs.unsqueeze(-1));
  return cat({flatten(f.s), flatten(u), flatten(vh)}, 0);
}

TEST(GradcheckLinalg, SingularValueDecomposition) {
  const auto op = [](const Inputs& in) { return svd_output(in[0]); };
  EXPECT_TRUE(passes_gradcheck(op, {random_tensor({3, 3}, 32)}));
  EXPECT_TRUE(passes_gradcheck(op, {random_tensor({4, 2}, 33)}));  // tall
  EXPECT_TRUE(passes_gradcheck(op, {random_tensor({2, 4}, 34)}));  // wide
  EXPECT_TRUE(passes_gradcheck(op, {random_tensor({2, 3, 2}, 35).transpose(1, 2)}));
  EXPECT_TRUE(
      passes_gradcheck([](const Inputs& in) { return svd(in[0]).s; }, {random_tensor({3, 4}, 36)}));
}

TEST(GradcheckLinalg, Trace) {
  const auto op = [](const Inputs& in) { return trace(in[0]) * trace(in[0]); };
  EXPECT_TRUE(passes_gradcheck(op, {random_tensor({3, 3}, 30)}));
  EXPECT_TRUE(passes_gradcheck(op, {random_tensor({2, 3, 3}, 31).transpose(1, 2)}));
}

}  // namespace
}  // namespace ortho::autograd
