#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "core/ops/softmax.h"
#include "core/tensor.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using testing::expect_close;
using testing::random_tensor;

// Softmax of each row of a (rows, cols) array, in double, straight from the definition.
std::vector<double> reference_softmax(const std::vector<double>& x, std::int64_t cols, bool log) {
  std::vector<double> y(x.size());
  for (std::size_t r = 0; r < x.size() / static_cast<std::size_t>(cols); ++r) {
    const double* row = x.data() + r * static_cast<std::size_t>(cols);
    double m = row[0];
    for (std::int64_t c = 1; c < cols; ++c) m = std::max(m, row[c]);
    double s = 0;
    for (std::int64_t c = 0; c < cols; ++c) s += std::exp(row[c] - m);
    for (std::int64_t c = 0; c < cols; ++c) {
      const double v = row[c] - m - std::log(s);
      y[r * static_cast<std::size_t>(cols) + static_cast<std::size_t>(c)] = log ? v : std::exp(v);
    }
  }
  return y;
}

template <typename Fn>
void expect_throws_with(Fn&& fn, const std::vector<std::string>& pieces) {
  try {
    fn();
    ADD_FAILURE() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    for (const std::string& p : pieces) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
          << "message '" << e.what() << "' lacks '" << p << "'";
    }
  }
}

// Central finite differences of scalar f at x (float64), one coordinate at a time.
std::vector<double> numeric_gradient(const std::function<double(const Tensor&)>& f,
                                     const Tensor& x) {
  const double h = 1e-6;
  std::vector<double> v = x.to_vector<double>();
  std::vector<double> grad(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    const double keep = v[i];
    v[i] = keep + h;
    const double up = f(Tensor::from_vector(v, x.shape()));
    v[i] = keep - h;
    const double down = f(Tensor::from_vector(v, x.shape()));
    v[i] = keep;
    grad[i] = (up - down) / (2 * h);
  }
  return grad;
}

class SoftmaxDType : public ::testing::TestWithParam<DType> {};

TEST_P(SoftmaxDType, RowsSumToOneAndMatchReference) {
  const DType dt = GetParam();
  const double tol = dt == DType::Float32 ? 1e-6 : 1e-14;
  const Tensor x = mul(random_tensor({6, 11}, 1, dt), 5.0);
  const Tensor y = softmax(x);
  EXPECT_EQ(y.dtype(), dt);
  const std::vector<double> xv = x.to_vector<double>();
  expect_close(y, Tensor::from_vector(reference_softmax(xv, 11, false), {6, 11}), tol, tol);
  expect_close(log_softmax(x), Tensor::from_vector(reference_softmax(xv, 11, true), {6, 11}),
               tol * 10, tol);
  expect_close(sum(y, {1}), Tensor::ones({6}, DType::Float64), tol * 10, 0);
}

TEST_P(SoftmaxDType, StableForLargeLogits) {
  const DType dt = GetParam();
  const Tensor x =
      Tensor::from_vector<double>({1000, 1001, 1002, -1000, -1001, -1e4}, {2, 3}).to(dt);
  const std::vector<double> y = softmax(x).to_vector<double>();
  const std::vector<double> ly = log_softmax(x).to_vector<double>();
  for (std::size_t i = 0; i < y.size(); ++i) {
    EXPECT_TRUE(std::isfinite(y[i])) << i;
    EXPECT_TRUE(std::isfinite(ly[i])) << i;
  }
  const std::vector<double> ref = reference_softmax(x.to_vector<double>(), 3, false);
  const std::vector<double> lref = reference_softmax(x.to_vector<double>(), 3, true);
  for (std::size_t i = 0; i < y.size(); ++i) {
    EXPECT_NEAR(y[i], ref[i], 1e-6);
    EXPECT_NEAR(ly[i], lref[i], 1e-4 + 1e-6 * std::abs(lref[i]));
  }
}

INSTANTIATE_TEST_SUITE_P(Floating, SoftmaxDType, ::testing::Values(DType::Float32, DType::Float64),
                         [](const auto& info) { return dtype_name(info.param); });

TEST(Softmax, OtherDimsMatchTransposedLastDim) {
  const Tensor x = random_tensor({3, 4, 5}, 2);
  for (std::int64_t d : {0, 1, -2}) {
    SCOPED_TRACE(d);
    const Tensor moved = x.transpose(d, 2).contiguous();
    expect_close(softmax(x, d), softmax(moved).transpose(d, 2), 1e-15, 0);
    expect_close(log_softmax(x, d), log_softmax(moved).transpose(d, 2), 1e-15, 0);
    expect_close(sum(softmax(x, d), {d}), Tensor::ones(sum(x, {d}).shape(), DType::Float64), 1e-14,
                 0);
  }
  // Many rows take the parallel path.
  const Tensor big = random_tensor({5000, 10}, 3, DType::Float32);
  expect_close(
      softmax(big),
      Tensor::from_vector(reference_softmax(big.to_vector<double>(), 10, false), {5000, 10}), 1e-6,
      1e-6);
}

TEST(Softmax, BackwardMatchesFormulaAndFiniteDifferences) {
  const Tensor x = random_tensor({3, 5}, 4);
  const Tensor w = random_tensor({3, 5}, 5);
  for (bool log : {false, true}) {
    SCOPED_TRACE(log ? "log_softmax" : "softmax");
    auto f = [&](const Tensor& in) {
      return sum(mul(w, log ? log_softmax(in) : softmax(in))).item<double>();
    };
    const Tensor y = log ? log_softmax(x) : softmax(x);
    const Tensor g = log ? log_softmax_backward(w, y) : softmax_backward(w, y);
    expect_close(g, Tensor::from_vector(numeric_gradient(f, x), x.shape()), 1e-8, 1e-6);
    // Along dim 0 as well.
    auto f0 = [&](const Tensor& in) {
      return sum(mul(w, log ? log_softmax(in, 0) : softmax(in, 0))).item<double>();
    };
    const Tensor y0 = log ? log_softmax(x, 0) : softmax(x, 0);
    const Tensor g0 = log ? log_softmax_backward(w, y0, 0) : softmax_backward(w, y0, 0);
    expect_close(g0, Tensor::from_vector(numeric_gradient(f0, x), x.shape()), 1e-8, 1e-6);
  }
  // Direct formulas in float32.
  const Tensor xf = random_tensor({4, 6}, 6, DType::Float32);
  const Tensor gf = random_tensor({4, 6}, 7, DType::Float32);
  const Tensor yf = softmax(xf);
  const Tensor expected = mul(yf, sub(gf, sum(mul(gf, yf), {1}, true)));
  expect_close(softmax_backward(gf, yf), expected, 1e-6, 1e-5);
  const Tensor lyf = log_softmax(xf);
  expect_close(log_softmax_backward(gf, lyf), sub(gf, mul(exp(lyf), sum(gf, {1}, true))), 1e-6,
               1e-5);
}

// Direct formula: loss_i = -sum_c q_c log p_c with q = (1 - eps) onehot + eps / C.
std::vector<double> reference_cross_entropy(const Tensor& logits,
                                            const std::vector<std::int64_t>& targets, double eps) {
  const std::int64_t n = logits.shape()[0], c = logits.shape()[1];
  const std::vector<double> lp = reference_softmax(logits.to_vector<double>(), c, true);
  std::vector<double> loss(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    double l = 0;
    for (std::int64_t k = 0; k < c; ++k) {
      const double q = (k == targets[static_cast<std::size_t>(i)] ? 1 - eps : 0) + eps / c;
      l -= q * lp[static_cast<std::size_t>(i * c + k)];
    }
    loss[static_cast<std::size_t>(i)] = l;
  }
  return loss;
}

TEST(CrossEntropy, MatchesDirectFormulaWithAndWithoutSmoothing) {
  const Tensor logits = mul(random_tensor({7, 10}, 8), 4.0);
  const std::vector<std::int64_t> t = {0, 9, 3, 3, 5, 1, 7};
  const Tensor targets = Tensor::from_vector(t, {7});
  for (double eps : {0.0, 0.1, 0.5}) {
    SCOPED_TRACE(eps);
    const CrossEntropyResult r = cross_entropy(logits, targets, eps);
    EXPECT_EQ(r.losses.shape(), Shape({7}));
    expect_close(r.losses, Tensor::from_vector(reference_cross_entropy(logits, t, eps), {7}), 1e-13,
                 1e-13);
    expect_close(r.log_probs, log_softmax(logits), 1e-14, 0);
    const CrossEntropyResult rf = cross_entropy(logits.to(DType::Float32), targets, eps);
    EXPECT_EQ(rf.losses.dtype(), DType::Float32);
    expect_close(rf.losses, r.losses, 1e-5, 1e-5);
  }
}

TEST(CrossEntropy, BackwardMatchesFiniteDifferences) {
  const Tensor logits = random_tensor({4, 6}, 9);
  const std::vector<std::int64_t> t = {5, 0, 2, 2};
  const Tensor targets = Tensor::from_vector(t, {4});
  const Tensor g = random_tensor({4}, 10);
  for (double eps : {0.0, 0.2}) {
    SCOPED_TRACE(eps);
    auto f = [&](const Tensor& in) {
      return sum(mul(g, cross_entropy(in, targets, eps).losses)).item<double>();
    };
    const CrossEntropyResult r = cross_entropy(logits, targets, eps);
    const Tensor grad = cross_entropy_backward(g, r.log_probs, targets, eps);
    expect_close(grad, Tensor::from_vector(numeric_gradient(f, logits), logits.shape()), 1e-8,
                 1e-6);
    // grad = g_i * (p - q) exactly.
    std::vector<double> p = softmax(logits).to_vector<double>();
    const std::vector<double> gv = g.to_vector<double>();
    for (std::size_t i = 0; i < 4; ++i) {
      for (std::size_t k = 0; k < 6; ++k) {
        const double q = (static_cast<std::int64_t>(k) == t[i] ? 1 - eps : 0) + eps / 6;
        p[i * 6 + k] = gv[i] * (p[i * 6 + k] - q);
      }
    }
    expect_close(grad, Tensor::from_vector(p, logits.shape()), 1e-14, 1e-12);
  }
  // A batch large enough for the parallel path.
  const Tensor big = random_tensor({4000, 10}, 11, DType::Float32);
  std::vector<std::int64_t> bt(4000);
  for (std::size_t i = 0; i < bt.size(); ++i) bt[i] = static_cast<std::int64_t>((i * 7) % 10);
  const Tensor btargets = Tensor::from_vector(bt, {4000});
  const CrossEntropyResult br = cross_entropy(big, btargets, 0.1);
  expect_close(br.losses, Tensor::from_vector(reference_cross_entropy(big, bt, 0.1), {4000}), 1e-5,
               1e-5);
  const Tensor bg = cross_entropy_backward(Tensor::ones({4000}), br.log_probs, btargets, 0.1);
  expect_close(sum(bg, {1}), Tensor::zeros({4000}), 1e-6, 0);
}

TEST(CrossEntropy, ErrorsNameTheOpIndexAndClasses) {
  const Tensor logits = Tensor::zeros({3, 10});
  expect_throws_with(
      [&] {
        cross_entropy(logits, Tensor::from_vector<std::int64_t>({1, 12, 0}, {3}));
      },
      {"cross_entropy", "12", "index 1", "10"});
  expect_throws_with(
      [&] {
        cross_entropy(logits, Tensor::from_vector<std::int64_t>({-1, 2, 0}, {3}));
      },
      {"cross_entropy", "-1", "10"});
  const Tensor lp =
      cross_entropy(logits, Tensor::from_vector<std::int64_t>({1, 2, 3}, {3})).log_probs;
  expect_throws_with(
      [&] {
        cross_entropy_backward(Tensor::ones({3}), lp,
                               Tensor::from_vector<std::int64_t>({1, 2, 10}, {3}));
      },
      {"cross_entropy", "10"});
  expect_throws_with([&] { cross_entropy(logits, Tensor::zeros({3})); },
                     {"cross_entropy", "int64"});
  expect_throws_with(
      [&] {
        cross_entropy(logits, Tensor::from_vector<std::int64_t>({1, 2}, {2}));
      },
      {"cross_entropy", "[2]", "[3, 10]"});
  expect_throws_with(
      [&] { cross_entropy(Tensor::zeros({10}), Tensor::from_vector<std::int64_t>({1}, {1})); },
      {"cross_entropy", "[10]"});
  expect_throws_with(
      [&] {
        cross_entropy(logits, Tensor::from_vector<std::int64_t>({1, 2, 3}, {3}), 1.0);
      },
      {"cross_entropy", "label_smoothing"});
  expect_throws_with(
      [&] {
        cross_entropy_backward(Tensor::ones({2}), lp,
                               Tensor::from_vector<std::int64_t>({1, 2, 3}, {3}));
      },
      {"cross_entropy_backward", "[2]", "[3, 10]"});
}

TEST(Softmax, ErrorsAndEdgeCases) {
  expect_throws_with([&] { softmax(Tensor::zeros({2, 3}), 2); }, {"softmax", "dim 2"});
  expect_throws_with([&] { log_softmax(Tensor::zeros({2}, DType::Int64)); },
                     {"log_softmax", "int64"});
  expect_throws_with(
      [&] {
        softmax_backward(Tensor::zeros({2, 3}), Tensor::zeros({3, 2}));
      },
      {"softmax_backward", "[2, 3]", "[3, 2]"});
  EXPECT_EQ(softmax(Tensor::scalar(4.0)).item<float>(), 1.0f);
  EXPECT_EQ(softmax(Tensor::zeros({0, 4})).shape(), Shape({0, 4}));
  EXPECT_EQ(cross_entropy(Tensor::zeros({0, 4}), Tensor::zeros({0}, DType::Int64)).losses.numel(),
            0);
}

}  // namespace
}  // namespace ortho
