#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/ops/linalg.h"
#include "core/tensor.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using testing::random_tensor;

// A dense row-major matrix for reference computations written out in the test.
struct Mat {
  std::int64_t rows = 0, cols = 0;
  std::vector<double> v;

  Mat(std::int64_t r, std::int64_t c) : rows(r), cols(c), v(static_cast<std::size_t>(r * c)) {}
  double& operator()(std::int64_t i, std::int64_t j) {
    return v[static_cast<std::size_t>(i * cols + j)];
  }
  double operator()(std::int64_t i, std::int64_t j) const {
    return v[static_cast<std::size_t>(i * cols + j)];
  }
};

Mat identity(std::int64_t n) {
  Mat out(n, n);
  for (std::int64_t i = 0; i < n; ++i) out(i, i) = 1.0;
  return out;
}

Mat product(const Mat& a, const Mat& b) {
  Mat out(a.rows, b.cols);
  for (std::int64_t i = 0; i < a.rows; ++i) {
    for (std::int64_t k = 0; k < a.cols; ++k) {
      for (std::int64_t j = 0; j < b.cols; ++j) out(i, j) += a(i, k) * b(k, j);
    }
  }
  return out;
}

Mat transposed(const Mat& a) {
  Mat out(a.cols, a.rows);
  for (std::int64_t i = 0; i < a.rows; ++i) {
    for (std::int64_t j = 0; j < a.cols; ++j) out(j, i) = a(i, j);
  }
  return out;
}

double max_diff(const Mat& a, const Mat& b) {
  EXPECT_EQ(a.rows, b.rows);
  EXPECT_EQ(a.cols, b.cols);
  double worst = 0.0;
  for (std::size_t i = 0; i < a.v.size(); ++i) worst = std::max(worst, std::abs(a.v[i] - b.v[i]));
  return worst;
}

// Matrix `index` of a (..., rows, cols) tensor.
Mat matrix(const Tensor& t, std::int64_t index = 0) {
  Mat out(t.size(-2), t.size(-1));
  const std::vector<double> all = t.to_vector<double>();
  const auto begin = all.begin() + index * out.rows * out.cols;
  std::copy(begin, begin + out.rows * out.cols, out.v.begin());
  return out;
}

// Entries `index * n .. index * n + n - 1` of a (..., n) tensor.
std::vector<double> vector_of(const Tensor& t, std::int64_t index = 0) {
  const std::int64_t n = t.size(-1);
  const std::vector<double> all = t.to_vector<double>();
  return {all.begin() + index * n, all.begin() + (index + 1) * n};
}

Tensor tensor_of(const Mat& m, DType dtype = DType::Float64) {
  return Tensor::from_vector(m.v, {m.rows, m.cols}).to(dtype);
}

Mat symmetric_matrix(std::int64_t n, std::uint64_t seed) {
  const Mat a = matrix(random_tensor({n, n}, seed));
  Mat s(n, n);
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < n; ++j) s(i, j) = a(i, j) + a(j, i);
  }
  return s;
}

// A random matrix made diagonally dominant, so it is far from singular.
Tensor well_conditioned(const Shape& shape, std::uint64_t seed, DType dtype = DType::Float64) {
  std::vector<double> v = random_tensor(shape, seed).to_vector<double>();
  const std::int64_t n = shape[shape.rank() - 1];
  for (std::size_t b = 0; b < v.size() / static_cast<std::size_t>(n * n); ++b) {
    for (std::int64_t i = 0; i < n; ++i) v[b * static_cast<std::size_t>(n * n) + i * (n + 1)] += n;
  }
  return Tensor::from_vector(v, shape).to(dtype);
}

// exp(A) = V diag(exp(w)) V^T for symmetric A, from the test's own eigendecomposition.
Mat exp_symmetric(const Mat& v, const std::vector<double>& w) {
  Mat scaled = v;
  for (std::int64_t i = 0; i < v.rows; ++i) {
    for (std::int64_t j = 0; j < v.cols; ++j) scaled(i, j) *= std::exp(w[j]);
  }
  return product(scaled, transposed(v));
}

// sum_k A^k / k! until the terms vanish: exact enough in double for ||A|| up to a few.
Mat exp_taylor(const Mat& a) {
  Mat sum = identity(a.rows), term = identity(a.rows);
  for (int k = 1; k < 60; ++k) {
    term = product(term, a);
    for (double& x : term.v) x /= k;
    for (std::size_t i = 0; i < sum.v.size(); ++i) sum.v[i] += term.v[i];
  }
  return sum;
}

Mat scaled_to_norm(const Mat& a, double one_norm) {
  double current = 0.0;
  for (std::int64_t j = 0; j < a.cols; ++j) {
    double col = 0.0;
    for (std::int64_t i = 0; i < a.rows; ++i) col += std::abs(a(i, j));
    current = std::max(current, col);
  }
  Mat out = a;
  for (double& x : out.v) x *= one_norm / current;
  return out;
}

void expect_orthonormal_columns(const Mat& q, double tol) {
  EXPECT_LT(max_diff(product(transposed(q), q), identity(q.cols)), tol);
}

template <typename Fn>
void expect_invalid(Fn&& fn, const std::string& op) {
  try {
    fn();
    ADD_FAILURE() << op << ": expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(op + ":"), std::string::npos) << e.what();
  }
}

// ---- QR -------------------------------------------------------------------------------------

void check_qr(const Tensor& a, double tol) {
  const QRResult f = qr(a);
  const std::int64_t m = a.size(-2), n = a.size(-1), k = std::min(m, n);
  const std::int64_t batch = a.numel() / (m * n);
  ASSERT_EQ(f.q.size(-2), m);
  ASSERT_EQ(f.q.size(-1), k);
  ASSERT_EQ(f.r.size(-2), k);
  ASSERT_EQ(f.r.size(-1), n);
  for (std::int64_t b = 0; b < batch; ++b) {
    const Mat q = matrix(f.q, b), r = matrix(f.r, b);
    expect_orthonormal_columns(q, tol);
    EXPECT_LT(max_diff(product(q, r), matrix(a.contiguous(), b)), tol);
    for (std::int64_t i = 0; i < k; ++i) {
      for (std::int64_t j = 0; j < i; ++j) EXPECT_EQ(r(i, j), 0.0);
    }
  }
}

TEST(Linalg, QrTallWideSquareAndBatched) {
  check_qr(random_tensor({6, 3}, 1), 1e-12);
  check_qr(random_tensor({3, 6}, 2), 1e-12);
  check_qr(random_tensor({5, 5}, 3), 1e-12);
  check_qr(random_tensor({2, 3, 7, 4}, 4), 1e-12);
  check_qr(random_tensor({40, 3, 5}, 5), 1e-12);  // many small matrices: the parallel path
  check_qr(random_tensor({4, 6}, 6).t(), 1e-12);  // a transposed (non-contiguous) view
}

TEST(Linalg, QrFloat32) {
  const QRResult f = qr(random_tensor({3, 8, 5}, 7, DType::Float32));
  EXPECT_EQ(f.q.dtype(), DType::Float32);
  check_qr(random_tensor({3, 8, 5}, 7, DType::Float32), 1e-5);
}

// ---- eigh -----------------------------------------------------------------------------------

TEST(Linalg, EighReconstructsAscending) {
  const Mat a = symmetric_matrix(6, 11);
  const EighResult f = eigh(tensor_of(a));
  const Mat v = matrix(f.eigenvectors);
  const std::vector<double> w = vector_of(f.eigenvalues);
  EXPECT_TRUE(std::is_sorted(w.begin(), w.end()));
  expect_orthonormal_columns(v, 1e-12);
  Mat vw = v;
  for (std::int64_t i = 0; i < 6; ++i) {
    for (std::int64_t j = 0; j < 6; ++j) vw(i, j) *= w[static_cast<std::size_t>(j)];
  }
  EXPECT_LT(max_diff(product(vw, transposed(v)), a), 1e-12);
  // Each column is an eigenvector: A v_j = w_j v_j.
  const Mat av = product(a, v);
  EXPECT_LT(max_diff(av, vw), 1e-12);
}

TEST(Linalg, EighReadsOnlyTheLowerTriangle) {
  const Mat a = symmetric_matrix(5, 12);
  Mat garbage = a;
  for (std::int64_t i = 0; i < 5; ++i) {
    for (std::int64_t j = i + 1; j < 5; ++j) garbage(i, j) = 100.0 + static_cast<double>(i + j);
  }
  const std::vector<double> w = vector_of(eigh(tensor_of(a)).eigenvalues);
  const std::vector<double> w_garbage = vector_of(eigh(tensor_of(garbage)).eigenvalues);
  for (std::size_t i = 0; i < w.size(); ++i) EXPECT_NEAR(w[i], w_garbage[i], 1e-12);
}

TEST(Linalg, EighBatchedAndFloat32) {
  std::vector<double> values;
  for (std::uint64_t b = 0; b < 12; ++b) {
    const Mat s = symmetric_matrix(4, 20 + b);
    values.insert(values.end(), s.v.begin(), s.v.end());
  }
  for (DType dtype : {DType::Float64, DType::Float32}) {
    const double tol = dtype == DType::Float64 ? 1e-12 : 2e-5;
    const Tensor a = Tensor::from_vector(values, {3, 4, 4, 4}).to(dtype);
    const EighResult f = eigh(a);
    EXPECT_EQ(f.eigenvalues.shape(), Shape({3, 4, 4}));
    EXPECT_EQ(f.eigenvectors.shape(), Shape({3, 4, 4, 4}));
    for (std::int64_t b = 0; b < 12; ++b) {
      const Mat v = matrix(f.eigenvectors, b);
      const std::vector<double> w = vector_of(f.eigenvalues, b);
      EXPECT_TRUE(std::is_sorted(w.begin(), w.end()));
      Mat vw = v;
      for (std::int64_t i = 0; i < 4; ++i) {
        for (std::int64_t j = 0; j < 4; ++j) vw(i, j) *= w[static_cast<std::size_t>(j)];
      }
      EXPECT_LT(max_diff(product(vw, transposed(v)), matrix(a, b)), tol);
    }
  }
}

// ---- SVD ------------------------------------------------------------------------------------

void check_svd(const Tensor& a, double tol) {
  const SVDResult f = svd(a);
  const std::int64_t m = a.size(-2), n = a.size(-1), k = std::min(m, n);
  const std::int64_t batch = a.numel() / (m * n);
  ASSERT_EQ(f.u.size(-1), k);
  ASSERT_EQ(f.s.size(-1), k);
  ASSERT_EQ(f.vh.size(-2), k);
  for (std::int64_t b = 0; b < batch; ++b) {
    const Mat u = matrix(f.u, b), vh = matrix(f.vh, b);
    const std::vector<double> s = vector_of(f.s, b);
    EXPECT_TRUE(std::is_sorted(s.rbegin(), s.rend()));
    EXPECT_GE(s.back(), 0.0);
    expect_orthonormal_columns(u, tol);
    expect_orthonormal_columns(transposed(vh), tol);
    Mat us = u;
    for (std::int64_t i = 0; i < m; ++i) {
      for (std::int64_t j = 0; j < k; ++j) us(i, j) *= s[static_cast<std::size_t>(j)];
    }
    EXPECT_LT(max_diff(product(us, vh), matrix(a.contiguous(), b)), tol);
  }
}

TEST(Linalg, SvdReconstructsWithOrthonormalFactors) {
  check_svd(random_tensor({7, 4}, 30), 1e-12);
  check_svd(random_tensor({4, 7}, 31), 1e-12);
  check_svd(random_tensor({2, 5, 5}, 32), 1e-12);
  check_svd(random_tensor({6, 3, 4}, 33, DType::Float32), 1e-5);
}

// ---- solve and inverse ----------------------------------------------------------------------

TEST(Linalg, SolveResidual) {
  const Tensor a = well_conditioned({6, 6}, 40);
  const Tensor b = random_tensor({6, 3}, 41);
  const Tensor x = solve(a, b);
  EXPECT_EQ(x.shape(), Shape({6, 3}));
  EXPECT_LT(max_diff(product(matrix(a), matrix(x)), matrix(b)), 1e-12);
}

TEST(Linalg, SolveBatchedAndBroadcast) {
  const Tensor a = well_conditioned({4, 5, 5}, 42);
  const Tensor b = random_tensor({4, 5, 2}, 43);
  const Tensor x = solve(a, b);
  for (std::int64_t i = 0; i < 4; ++i) {
    EXPECT_LT(max_diff(product(matrix(a, i), matrix(x, i)), matrix(b, i)), 1e-12);
  }
  // One matrix against a batch of right-hand sides.
  const Tensor a1 = well_conditioned({5, 5}, 44);
  const Tensor xb = solve(a1, b);
  EXPECT_EQ(xb.shape(), Shape({4, 5, 2}));
  for (std::int64_t i = 0; i < 4; ++i) {
    EXPECT_LT(max_diff(product(matrix(a1), matrix(xb, i)), matrix(b, i)), 1e-12);
  }
  // A transposed (non-contiguous) right-hand side.
  const Tensor bt = random_tensor({2, 5}, 45).t();
  EXPECT_LT(max_diff(product(matrix(a1), matrix(solve(a1, bt))), matrix(bt.contiguous())), 1e-12);
}

TEST(Linalg, SolveFloat32) {
  const Tensor a = well_conditioned({3, 6, 6}, 46, DType::Float32);
  const Tensor b = random_tensor({3, 6, 4}, 47, DType::Float32);
  const Tensor x = solve(a, b);
  EXPECT_EQ(x.dtype(), DType::Float32);
  for (std::int64_t i = 0; i < 3; ++i) {
    EXPECT_LT(max_diff(product(matrix(a, i), matrix(x, i)), matrix(b, i)), 1e-5);
  }
}

// Only one triangle of the matrix is read: the other is filled with garbage.
Tensor with_garbage_triangle(const Tensor& a, bool upper) {
  std::vector<double> v = a.to_vector<double>();
  const std::int64_t n = a.size(-1);
  for (std::size_t base = 0; base < v.size(); base += static_cast<std::size_t>(n * n)) {
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::int64_t j = 0; j < n; ++j) {
        if (upper ? j < i : j > i) v[base + static_cast<std::size_t>(i * n + j)] = 1e3;
      }
    }
  }
  return Tensor::from_vector(v, a.shape()).to(a.dtype());
}

// The triangle of m that solve_triangular reads, the rest zero.
Mat triangle(const Mat& m, bool upper) {
  Mat out = m;
  for (std::int64_t i = 0; i < m.rows; ++i) {
    for (std::int64_t j = 0; j < m.cols; ++j) {
      if (upper ? j < i : j > i) out(i, j) = 0.0;
    }
  }
  return out;
}

TEST(Linalg, SolveTriangularLeftAndRightUpperAndLower) {
  for (DType dtype : {DType::Float64, DType::Float32}) {
    const double tol = dtype == DType::Float64 ? 1e-12 : 1e-5;
    for (bool upper : {true, false}) {
      const Tensor a = with_garbage_triangle(well_conditioned({2, 5, 5}, 52, dtype), upper);
      const Tensor b_left = random_tensor({2, 5, 3}, 53, dtype);
      const Tensor b_right = random_tensor({2, 3, 5}, 54, dtype);
      const Tensor x_left = solve_triangular(a, b_left, upper, /*left=*/true);
      const Tensor x_right = solve_triangular(a, b_right, upper, /*left=*/false);
      EXPECT_EQ(x_left.shape(), b_left.shape());
      EXPECT_EQ(x_right.shape(), b_right.shape());
      for (std::int64_t i = 0; i < 2; ++i) {
        const Mat t = triangle(matrix(a, i), upper);
        EXPECT_LT(max_diff(product(t, matrix(x_left, i)), matrix(b_left, i)), tol);
        EXPECT_LT(max_diff(product(matrix(x_right, i), t), matrix(b_right, i)), tol);
      }
    }
  }
}

TEST(Linalg, SolveTriangularBroadcastsAndTakesViews) {
  const Tensor a = well_conditioned({4, 4}, 55).t();  // a transposed view
  const Tensor b = random_tensor({3, 4, 2}, 56);
  const Tensor x = solve_triangular(a, b, /*upper=*/false);
  EXPECT_EQ(x.shape(), Shape({3, 4, 2}));
  const Mat t = triangle(matrix(a.contiguous()), false);
  for (std::int64_t i = 0; i < 3; ++i) {
    EXPECT_LT(max_diff(product(t, matrix(x, i)), matrix(b, i)), 1e-12);
  }
}

TEST(Linalg, InverseResidual) {
  for (DType dtype : {DType::Float64, DType::Float32}) {
    const double tol = dtype == DType::Float64 ? 1e-12 : 1e-5;
    const Tensor a = well_conditioned({5, 4, 4}, 48, dtype);
    const Tensor inv = inverse(a);
    EXPECT_EQ(inv.shape(), a.shape());
    for (std::int64_t i = 0; i < 5; ++i) {
      EXPECT_LT(max_diff(product(matrix(a, i), matrix(inv, i)), identity(4)), tol);
      EXPECT_LT(max_diff(product(matrix(inv, i), matrix(a, i)), identity(4)), tol);
    }
  }
}

TEST(Linalg, SingularMatricesThrowRuntimeError) {
  const Tensor singular =
      Tensor::from_vector(std::vector<double>{1, 2, 3, 2, 4, 6, 1, 0, 1}, {3, 3});
  const Tensor b = random_tensor({3, 1}, 50);
  try {
    solve(singular, b);
    ADD_FAILURE() << "solve of a singular matrix did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("solve: matrix is singular"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(inverse(singular), std::runtime_error);
  try {
    solve_triangular(Tensor::from_vector(std::vector<double>{1, 2, 0, 0}, {2, 2}), b.slice(0, 0, 2),
                     /*upper=*/true);
    ADD_FAILURE() << "solve_triangular with a zero pivot did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("solve_triangular: matrix is singular"), std::string::npos)
        << e.what();
  }
  // The failing matrix of a batch is named.
  std::vector<double> batch = well_conditioned({3, 3}, 51).to_vector<double>();
  const std::vector<double> bad = singular.to_vector<double>();
  batch.insert(batch.end(), bad.begin(), bad.end());
  try {
    inverse(Tensor::from_vector(batch, {2, 3, 3}));
    ADD_FAILURE() << "inverse of a singular batch did not throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("matrix 1 of the batch"), std::string::npos) << e.what();
  }
}

TEST(Linalg, NaNInputsThrowRuntimeError) {
  const Tensor nan = Tensor::full({3, 3}, std::nan(""), DType::Float64);
  EXPECT_THROW(qr(nan), std::runtime_error);
  EXPECT_THROW(eigh(nan), std::runtime_error);
  EXPECT_THROW(svd(nan), std::runtime_error);
  EXPECT_THROW(inverse(nan), std::runtime_error);
}

TEST(Linalg, EmptyBatchesAndMatrices) {
  EXPECT_EQ(inverse(Tensor::zeros({0, 3, 3}, DType::Float64)).shape(), Shape({0, 3, 3}));
  EXPECT_EQ(solve(Tensor::eye(3, DType::Float64), Tensor::zeros({3, 0}, DType::Float64)).shape(),
            Shape({3, 0}));
  EXPECT_EQ(solve_triangular(Tensor::eye(3, DType::Float64), Tensor::zeros({0, 3}, DType::Float64),
                             true, /*left=*/false)
                .shape(),
            Shape({0, 3}));
  const QRResult f = qr(Tensor::zeros({2, 0, 4}, DType::Float64));
  EXPECT_EQ(f.q.shape(), Shape({2, 0, 0}));
  EXPECT_EQ(f.r.shape(), Shape({2, 0, 4}));
  EXPECT_EQ(expm(Tensor::zeros({0, 0}, DType::Float64)).shape(), Shape({0, 0}));
}

// ---- expm -----------------------------------------------------------------------------------

TEST(Linalg, ExpmOfSymmetricMatchesEigendecomposition) {
  for (double norm : {0.5, 4.0, 30.0}) {
    const Mat a = scaled_to_norm(symmetric_matrix(5, 60), norm);
    const EighResult f = eigh(tensor_of(a));
    const Mat expected = exp_symmetric(matrix(f.eigenvectors), vector_of(f.eigenvalues));
    double scale = 0.0;
    for (double x : expected.v) scale = std::max(scale, std::abs(x));
    EXPECT_LT(max_diff(matrix(expm(tensor_of(a))), expected), 1e-12 * scale) << "norm " << norm;
  }
}

TEST(Linalg, ExpmOfGeneralMatrixMatchesTaylorAtEveryDegree) {
  // One-norms inside the thresholds of degrees 3, 5, 7, 9 and 13, and one that needs squaring.
  const Mat base = matrix(random_tensor({5, 5}, 61));
  for (double norm : {0.01, 0.2, 0.9, 2.0, 5.0, 8.0}) {
    const Mat a = scaled_to_norm(base, norm);
    const Mat expected = exp_taylor(a);
    double scale = 0.0;
    for (double x : expected.v) scale = std::max(scale, std::abs(x));
    EXPECT_LT(max_diff(matrix(expm(tensor_of(a))), expected), 1e-13 * scale) << "norm " << norm;
  }
}

TEST(Linalg, ExpmOfSkewSymmetricIsOrthogonal) {
  const Mat g = matrix(random_tensor({6, 6}, 62));
  for (double norm : {0.3, 3.0, 40.0}) {
    Mat skew(6, 6);
    for (std::int64_t i = 0; i < 6; ++i) {
      for (std::int64_t j = 0; j < 6; ++j) skew(i, j) = g(i, j) - g(j, i);
    }
    const Mat q = matrix(expm(tensor_of(scaled_to_norm(skew, norm))));
    EXPECT_LT(max_diff(product(transposed(q), q), identity(6)), 1e-12) << "norm " << norm;
  }
}

TEST(Linalg, ExpmOfLargeNormMatricesNeedsScalingAndSquaring) {
  // A rotation generator: exp([[0, t], [-t, 0]]) = [[cos t, sin t], [-sin t, cos t]].
  const double t = 50.0;
  const Mat rotation = matrix(expm(Tensor::from_vector(std::vector<double>{0, t, -t, 0}, {2, 2})));
  Mat expected(2, 2);
  expected.v = {std::cos(t), std::sin(t), -std::sin(t), std::cos(t)};
  EXPECT_LT(max_diff(rotation, expected), 1e-12);
  // A non-normal upper-triangular matrix: exp = [[e^a, b (e^a - e^c) / (a - c)], [0, e^c]].
  const double a = 3.0, b = 40.0, c = -2.0;
  const Mat upper = matrix(expm(Tensor::from_vector(std::vector<double>{a, b, 0, c}, {2, 2})));
  const double off = b * (std::exp(a) - std::exp(c)) / (a - c);
  EXPECT_NEAR(upper(0, 0), std::exp(a), 1e-13 * std::exp(a));
  EXPECT_NEAR(upper(0, 1), off, 1e-13 * off);
  EXPECT_NEAR(upper(1, 0), 0.0, 1e-13);
  EXPECT_NEAR(upper(1, 1), std::exp(c), 1e-13);
}

TEST(Linalg, ExpmBatchedScalesEachMatrixOnItsOwn) {
  // A batch mixing a tiny and a large norm gives each matrix what it alone would give.
  const Mat small = scaled_to_norm(matrix(random_tensor({4, 4}, 63)), 0.05);
  const Mat large = scaled_to_norm(matrix(random_tensor({4, 4}, 64)), 20.0);
  std::vector<double> values = small.v;
  values.insert(values.end(), large.v.begin(), large.v.end());
  values.insert(values.end(), small.v.begin(), small.v.end());
  const Tensor batch = expm(Tensor::from_vector(values, {3, 1, 4, 4}));
  EXPECT_EQ(batch.shape(), Shape({3, 1, 4, 4}));
  const Mat expect_small = matrix(expm(tensor_of(small)));
  const Mat expect_large = matrix(expm(tensor_of(large)));
  double scale = 0.0;
  for (double x : expect_large.v) scale = std::max(scale, std::abs(x));
  EXPECT_LT(max_diff(matrix(batch, 0), expect_small), 1e-14);
  EXPECT_LT(max_diff(matrix(batch, 1), expect_large), 1e-13 * scale);
  EXPECT_LT(max_diff(matrix(batch, 2), expect_small), 1e-14);
  EXPECT_LT(max_diff(expect_small, exp_taylor(small)), 1e-14);
}

TEST(Linalg, ExpmFloat32) {
  const Mat a = scaled_to_norm(matrix(random_tensor({5, 5}, 65)), 6.0);
  const Tensor e = expm(tensor_of(a, DType::Float32));
  EXPECT_EQ(e.dtype(), DType::Float32);
  const Mat expected = exp_taylor(a);
  double scale = 0.0;
  for (double x : expected.v) scale = std::max(scale, std::abs(x));
  EXPECT_LT(max_diff(matrix(e), expected), 1e-5 * scale);
}

// ---- trace ----------------------------------------------------------------------------------

TEST(Linalg, TraceOfBatchesAndViews) {
  const Tensor a = random_tensor({2, 3, 4, 4}, 70);
  const Tensor tr = trace(a);
  EXPECT_EQ(tr.shape(), Shape({2, 3}));
  for (std::int64_t b = 0; b < 6; ++b) {
    const Mat m = matrix(a, b);
    double expected = 0.0;
    for (std::int64_t i = 0; i < 4; ++i) expected += m(i, i);
    EXPECT_NEAR(tr.to_vector<double>()[static_cast<std::size_t>(b)], expected, 1e-14);
  }
  const Tensor square = random_tensor({5, 5}, 71);
  EXPECT_EQ(trace(square).dim(), 0);
  EXPECT_NEAR(trace(square.t()).item<double>(), trace(square).item<double>(), 1e-14);
  EXPECT_NEAR(trace(Tensor::eye(7, DType::Float32)).item<float>(), 7.0f, 0.0f);
}

// ---- argument errors ------------------------------------------------------------------------

TEST(Linalg, ShapeErrorsNameTheOp) {
  const Tensor vec = random_tensor({4}, 80);
  const Tensor rect = random_tensor({3, 4}, 81);
  const Tensor sq = well_conditioned({3, 3}, 82);
  expect_invalid([&] { qr(vec); }, "qr");
  expect_invalid([&] { svd(vec); }, "svd");
  expect_invalid([&] { eigh(rect); }, "eigh");
  expect_invalid([&] { inverse(rect); }, "inverse");
  expect_invalid([&] { expm(rect); }, "expm");
  expect_invalid([&] { trace(rect); }, "trace");
  expect_invalid([&] { trace(vec); }, "trace");
  expect_invalid([&] { solve(rect, random_tensor({3, 1}, 83)); }, "solve");
  expect_invalid([&] { solve(sq, random_tensor({4, 1}, 84)); }, "solve");
  expect_invalid([&] { solve(sq, random_tensor({3}, 85)); }, "solve");
  expect_invalid([&] { solve(sq, random_tensor({3, 1}, 86, DType::Float32)); }, "solve");
  expect_invalid(
      [&] {
        solve(well_conditioned({2, 3, 3}, 87), random_tensor({4, 3, 1}, 88));
      },
      "solve");
  expect_invalid(
      [&] {
        solve_triangular(rect, random_tensor({3, 1}, 89), true);
      },
      "solve_triangular");
  expect_invalid(
      [&] {
        solve_triangular(sq, random_tensor({4, 1}, 90), true);
      },
      "solve_triangular");
  expect_invalid(
      [&] {
        solve_triangular(sq, random_tensor({3, 1}, 91), true, /*left=*/false);
      },
      "solve_triangular");
  expect_invalid(
      [&] {
        solve_triangular(sq, random_tensor({3, 1}, 92, DType::Float32), true);
      },
      "solve_triangular");
  expect_invalid([&] { qr(Tensor::zeros({3, 3}, DType::Int64)); }, "qr");
  expect_invalid([&] { expm(Tensor()); }, "expm");
}

}  // namespace
}  // namespace ortho
