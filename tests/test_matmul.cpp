#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/allocator.h"
#include "core/ops/matmul.h"
#include "core/parallel.h"
#include "core/tensor.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using testing::expect_close;
using testing::max_abs_diff;
using testing::random_tensor;

// NumPy matmul by definition: promote 1-D operands, broadcast the batch dims, then a triple
// loop per batch entry. Computed in float64 from the operands' logical (row-major) values.
Tensor reference_matmul(const Tensor& a, const Tensor& b) {
  std::vector<std::int64_t> sa = a.shape().dims(), sb = b.shape().dims();
  if (sa.size() == 1) sa.insert(sa.begin(), 1);
  if (sb.size() == 1) sb.push_back(1);
  const std::int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
  const std::size_t ra = sa.size() - 2, rb = sb.size() - 2, rank = std::max(ra, rb);
  std::vector<std::int64_t> batch(rank);
  for (std::size_t i = 0; i < rank; ++i) {
    const std::int64_t da = i + ra >= rank ? sa[i + ra - rank] : 1;
    const std::int64_t db = i + rb >= rank ? sb[i + rb - rank] : 1;
    batch[i] = std::max(da, db);
  }
  std::int64_t count = 1;
  for (std::int64_t d : batch) count *= d;
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  std::vector<double> out(static_cast<std::size_t>(count * m * n), 0.0);
  for (std::int64_t t = 0; t < count; ++t) {
    // Flat index of batch entry t inside each operand's own (broadcast) batch dims.
    std::int64_t rest = t, ia = 0, ib = 0, sta = 1, stb = 1;
    for (std::size_t i = rank; i-- > 0;) {
      const std::int64_t idx = rest % batch[i];
      rest /= batch[i];
      if (i + ra >= rank) {
        const std::int64_t size = sa[i + ra - rank];
        ia += (size == 1 ? 0 : idx) * sta;
        sta *= size;
      }
      if (i + rb >= rank) {
        const std::int64_t size = sb[i + rb - rank];
        ib += (size == 1 ? 0 : idx) * stb;
        stb *= size;
      }
    }
    for (std::int64_t r = 0; r < m; ++r) {
      for (std::int64_t c = 0; c < n; ++c) {
        double sum = 0.0;
        for (std::int64_t l = 0; l < k; ++l) {
          sum += x[static_cast<std::size_t>((ia * m + r) * k + l)] *
                 y[static_cast<std::size_t>((ib * k + l) * n + c)];
        }
        out[static_cast<std::size_t>((t * m + r) * n + c)] = sum;
      }
    }
  }
  std::vector<std::int64_t> dims = batch;
  if (a.dim() > 1) dims.push_back(m);
  if (b.dim() > 1) dims.push_back(n);
  return Tensor::from_vector(out, Shape(dims));
}

void expect_matches_reference(const Tensor& a, const Tensor& b) {
  const Tensor c = matmul(a, b);
  EXPECT_EQ(c.dtype(), a.dtype());
  EXPECT_TRUE(c.is_contiguous());
  const double tol = a.dtype() == DType::Float32 ? 1e-5 : 1e-12;
  expect_close(c, reference_matmul(a, b), tol, tol);
}

class MatmulDtype : public ::testing::TestWithParam<DType> {};

TEST_P(MatmulDtype, PlainShapes) {
  const DType dt = GetParam();
  const std::vector<std::pair<Shape, Shape>> cases = {{{5, 7}, {7, 3}},
                                                      {{7}, {7}},
                                                      {{7}, {7, 4}},
                                                      {{4, 7}, {7}},
                                                      {{7}, {3, 7, 2}},
                                                      {{3, 4, 7}, {7}},
                                                      {{3, 4, 7}, {3, 7, 5}},
                                                      {{3, 4, 7}, {7, 5}},
                                                      {{4, 7}, {3, 7, 5}},
                                                      {{2, 1, 4, 5}, {3, 5, 6}},
                                                      {{1, 4, 5}, {2, 3, 5, 2}},
                                                      {{1, 1}, {1, 9}},
                                                      {{33, 65}, {65, 17}},
                                                      {{16, 8, 8}, {16, 8, 8}},
                                                      // Large enough to thread each gemm.
                                                      {{2, 130, 131}, {2, 131, 129}}};
  std::uint64_t seed = 1;
  for (const auto& [sa, sb] : cases) {
    SCOPED_TRACE(sa.to_string() + " x " + sb.to_string());
    expect_matches_reference(random_tensor(sa, seed, dt), random_tensor(sb, seed + 100, dt));
    ++seed;
  }
}

TEST_P(MatmulDtype, TransposedAndStridedViews) {
  const DType dt = GetParam();
  const Tensor a = random_tensor({6, 4}, 1, dt), b = random_tensor({5, 6}, 2, dt);
  expect_matches_reference(a.t(), b.t());  // both column-major
  expect_matches_reference(a.t(), random_tensor({6, 3}, 3, dt));
  expect_matches_reference(random_tensor({3, 5}, 4, dt), b);
  const Tensor a3 = random_tensor({3, 6, 4}, 5, dt), b3 = random_tensor({3, 5, 6}, 6, dt);
  expect_matches_reference(a3.transpose(-1, -2), b3.transpose(-1, -2));
  // Batch dims that do not merge (permuted): a loop of batched calls.
  const Tensor p = random_tensor({4, 3, 2, 5}, 7, dt).permute({1, 0, 2, 3});
  expect_matches_reference(p, random_tensor({3, 1, 5, 2}, 8, dt));
  // Neither layout (every other column): copied, still correct.
  expect_matches_reference(random_tensor({4, 10}, 9, dt).slice(1, 0, 10, 2),
                           random_tensor({5, 3}, 10, dt));
  // Row stride wider than the row (a column slice): row-major with ld > cols.
  expect_matches_reference(random_tensor({4, 9}, 11, dt).slice(1, 2, 7),
                           random_tensor({5, 3}, 12, dt));
  // Broadcast (stride-0) operands and strided vectors.
  expect_matches_reference(random_tensor({1, 5}, 13, dt).expand({4, 5}),
                           random_tensor({5, 2}, 14, dt));
  expect_matches_reference(random_tensor({12}, 15, dt).slice(0, 0, 12, 3),
                           random_tensor({4, 3}, 16, dt));
}

INSTANTIATE_TEST_SUITE_P(Dtypes, MatmulDtype, ::testing::Values(DType::Float32, DType::Float64));

TEST(Matmul, TransposedViewsAreNotCopied) {
  const Tensor a = random_tensor({64, 32}, 1, DType::Float32);
  const Tensor b = random_tensor({48, 64}, 2, DType::Float32);
  const Tensor a3 = random_tensor({4, 64, 32}, 3, DType::Float32);
  const Tensor w = random_tensor({64, 32}, 4, DType::Float32);
  const auto allocations = [] { return memory_stats().allocations; };

  std::int64_t before = allocations();
  const Tensor c = matmul(a.t(), b.t());
  EXPECT_EQ(allocations() - before, 1);
  EXPECT_EQ(c.shape(), Shape({32, 48}));

  before = allocations();
  const Tensor c3 = matmul(a3.transpose(-1, -2), w);
  EXPECT_EQ(allocations() - before, 1);
  EXPECT_EQ(c3.shape(), Shape({4, 32, 32}));

  before = allocations();
  const Tensor c4 = bmm(a3, a3.transpose(1, 2));
  EXPECT_EQ(allocations() - before, 1);
  expect_close(c4, reference_matmul(a3, a3.transpose(1, 2)), 1e-4, 1e-5);
}

TEST(Matmul, GramMatricesOfOneBufferAreExactAndSymmetric) {
  // X X^T and X^T X of one buffer take the syrk path; both triangles must hold the product.
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const Tensor x = random_tensor({37, 21}, 5, dtype);
    const double tol = dtype == DType::Float32 ? 1e-4 : 1e-12;
    const Tensor outer = matmul(x, x.t());
    const Tensor inner = matmul(x.t(), x);
    expect_close(outer, reference_matmul(x, x.t()), tol, tol);
    expect_close(inner, reference_matmul(x.t(), x), tol, tol);
    EXPECT_EQ(max_abs_diff(outer, outer.t().contiguous()), 0.0);
    EXPECT_EQ(max_abs_diff(inner, inner.t().contiguous()), 0.0);
    const Tensor batch = random_tensor({3, 6, 4}, 6, dtype);
    expect_close(matmul(batch.transpose(-1, -2), batch),
                 reference_matmul(batch.transpose(-1, -2), batch), tol, tol);
  }
}

TEST(Matmul, EmptyInnerDimensionGivesZeros) {
  const Tensor c = matmul(Tensor::ones({3, 0}), Tensor::ones({0, 2}));
  EXPECT_EQ(c.shape(), Shape({3, 2}));
  for (float v : c.to_vector<float>()) EXPECT_EQ(v, 0.0f);
  EXPECT_EQ(matmul(Tensor::ones({0, 4}), Tensor::ones({4, 2})).shape(), Shape({0, 2}));
  EXPECT_EQ(matmul(Tensor::ones({2, 0, 4}), Tensor::ones({4, 2})).shape(), Shape({2, 0, 2}));
}

TEST(Matmul, BmmMatchesReference) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    const Tensor a = random_tensor({5, 3, 4}, 1, dt), b = random_tensor({5, 4, 2}, 2, dt);
    const double tol = dt == DType::Float32 ? 1e-5 : 1e-12;
    expect_close(bmm(a, b), reference_matmul(a, b), tol, tol);
  }
}

void expect_invalid(const std::function<void()>& fn, const std::string& op) {
  try {
    fn();
    ADD_FAILURE() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(op), std::string::npos) << e.what();
  }
}

TEST(Matmul, Errors) {
  const Tensor a = Tensor::ones({2, 3}), b = Tensor::ones({4, 5});
  expect_invalid([&] { matmul(a, b); }, "matmul");
  try {
    matmul(a, b);
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("[2, 3] and [4, 5]"), std::string::npos) << e.what();
  }
  expect_invalid([&] { matmul(Tensor::scalar(1.0), a); }, "matmul");
  expect_invalid([&] { matmul(Tensor::ones({2, 2, 3}), Tensor::ones({3, 3, 4})); }, "matmul");
  expect_invalid([&] { matmul(a, Tensor::ones({3, 2}, DType::Float64)); }, "matmul");
  expect_invalid(
      [&] {
        matmul(Tensor::ones({2, 3}, DType::Int64), Tensor::ones({3, 2}, DType::Int64));
      },
      "matmul");
  expect_invalid([&] { matmul(Tensor(), a); }, "matmul");
  expect_invalid([&] { bmm(Tensor::ones({2, 3}), Tensor::ones({3, 2})); }, "bmm");
  expect_invalid([&] { bmm(Tensor::ones({2, 2, 3}), Tensor::ones({3, 3, 2})); }, "bmm");
  expect_invalid([&] { bmm(Tensor::ones({2, 2, 3}), Tensor::ones({2, 4, 2})); }, "bmm");
  expect_invalid(
      [&] {
        bmm(Tensor::ones({2, 2, 3}), Tensor::ones({2, 3, 2}, DType::Float64));
      },
      "bmm");
}

}  // namespace
}  // namespace ortho

namespace ortho {
namespace {

TEST(BlasKernels, NamedAndOnlyOverriddenForTheGenericFallback) {
  const std::string kernel = blas_kernel_name();
  EXPECT_FALSE(kernel.empty());
  const std::string recommended = recommended_blas_coretype();
  if (kernel != "Prescott" && kernel != "prescott") {
    EXPECT_TRUE(recommended.empty());
  }
  EXPECT_TRUE(recommended.empty() || recommended == "SkylakeX" || recommended == "Haswell");
}

}  // namespace
}  // namespace ortho
