#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "core/parallel.h"
#include "core/tensor.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using testing::expect_close;
using testing::random_tensor;

enum class Kind { Sum, Mean, Max, Min };

// Brute-force reduction of a 4-D tensor over `mask` (bit d set = dim d reduced), keepdim shape.
Tensor reference_reduce(const Tensor& x, unsigned mask, Kind kind) {
  const Shape s = x.shape();
  const std::vector<double> v = x.contiguous().to_vector<double>();
  Shape out_shape = s;
  for (int d = 0; d < 4; ++d) {
    if (mask & (1u << d)) out_shape[d] = 1;
  }
  const double init = kind == Kind::Max   ? -std::numeric_limits<double>::infinity()
                      : kind == Kind::Min ? std::numeric_limits<double>::infinity()
                                          : 0.0;
  std::vector<double> out(static_cast<std::size_t>(out_shape.numel()), init);
  std::vector<double> count(out.size(), 0.0);
  std::size_t k = 0;
  for (std::int64_t i0 = 0; i0 < s[0]; ++i0)
    for (std::int64_t i1 = 0; i1 < s[1]; ++i1)
      for (std::int64_t i2 = 0; i2 < s[2]; ++i2)
        for (std::int64_t i3 = 0; i3 < s[3]; ++i3, ++k) {
          const std::int64_t idx[4] = {i0, i1, i2, i3};
          std::int64_t o = 0;
          for (int d = 0; d < 4; ++d) o = o * out_shape[d] + ((mask & (1u << d)) ? 0 : idx[d]);
          double& acc = out[static_cast<std::size_t>(o)];
          if (kind == Kind::Max)
            acc = std::max(acc, v[k]);
          else if (kind == Kind::Min)
            acc = std::min(acc, v[k]);
          else
            acc += v[k];
          count[static_cast<std::size_t>(o)] += 1;
        }
  if (kind == Kind::Mean) {
    for (std::size_t i = 0; i < out.size(); ++i) out[i] /= count[i];
  }
  return Tensor::from_vector(out, out_shape);
}

Tensor run(Kind kind, const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  switch (kind) {
    case Kind::Sum:
      return sum(x, dims, keepdim);
    case Kind::Mean:
      return mean(x, dims, keepdim);
    case Kind::Max:
      return amax(x, dims, keepdim);
    case Kind::Min:
      return amin(x, dims, keepdim);
  }
  return {};
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

class ReduceDType : public ::testing::TestWithParam<DType> {};

TEST_P(ReduceDType, EveryCombinationOfDimsOf4D) {
  const DType dt = GetParam();
  const double tol = dt == DType::Float32 ? 2e-6 : 1e-12;
  const Tensor contiguous = random_tensor({3, 4, 5, 6}, 1, dt);
  // The same values as a permuted (non-contiguous) view.
  const Tensor permuted = random_tensor({5, 3, 6, 4}, 2, dt).permute({1, 3, 0, 2});
  for (const Tensor* x : {&contiguous, &permuted}) {
    for (unsigned mask = 0; mask < 16; ++mask) {
      std::vector<std::int64_t> dims;
      for (std::int64_t d = 0; d < 4; ++d) {
        if (mask & (1u << d)) dims.push_back(d);
      }
      const unsigned effective = dims.empty() ? 15u : mask;  // an empty list reduces all dims
      for (Kind kind : {Kind::Sum, Kind::Mean, Kind::Max, Kind::Min}) {
        SCOPED_TRACE("mask " + std::to_string(mask) + " kind " +
                     std::to_string(static_cast<int>(kind)));
        const Tensor expected = reference_reduce(*x, effective, kind);
        const Tensor kept = run(kind, *x, dims, true);
        EXPECT_EQ(kept.dtype(), dt);
        expect_close(kept, expected, tol, tol);
        const Tensor dropped = run(kind, *x, dims, false);
        std::vector<std::int64_t> squeezed;
        for (std::int64_t d = 0; d < 4; ++d) {
          if (!(effective & (1u << d))) squeezed.push_back(x->shape()[d]);
        }
        EXPECT_EQ(dropped.shape(), Shape(squeezed));
        expect_close(dropped.reshape(expected.shape()), expected, tol, tol);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Floating, ReduceDType, ::testing::Values(DType::Float32, DType::Float64),
                         [](const auto& info) { return dtype_name(info.param); });

TEST(Reduce, NegativeAndUnorderedDims) {
  const Tensor x = random_tensor({3, 4, 5}, 3);
  expect_close(sum(x, {-1, 0}), sum(x, {0, 2}), 0, 0);
  EXPECT_EQ(sum(x, {-1, 0}).shape(), Shape({4}));
  EXPECT_EQ(sum(x).shape(), Shape({}));
}

TEST(Reduce, LargeFloat32SumsStayAccurate) {
  // 2^20 copies of 0.1f: naive float accumulation drifts by ~1%.
  const std::int64_t n = 1 << 20;
  const Tensor x = Tensor::full({n}, 0.1);
  const double exact = static_cast<double>(n) * static_cast<double>(0.1f);
  EXPECT_NEAR(sum(x).item<float>(), exact, exact * 1e-7);
  EXPECT_NEAR(mean(x).item<float>(), static_cast<double>(0.1f), 1e-8);
  // Leading-dim reduction of (1024, 1024): each column sums 1024 values.
  const Tensor m = Tensor::full({1024, 1024}, 0.1);
  const std::vector<float> cols = sum(m, {0}).to_vector<float>();
  for (float c : cols) ASSERT_NEAR(c, 1024 * static_cast<double>(0.1f), 1e-4);
}

TEST(Reduce, BiasGradientShapes) {
  // Sum over N, H, W of (N, C, H, W), sum over N of a tall (N, C), a wide row, and more.
  struct Case {
    Shape shape;
    std::vector<std::int64_t> dims;
  };
  const std::vector<Case> cases = {{{16, 16, 32, 32}, {0, 2, 3}},
                                   {{100000, 10}, {0}},
                                   {{5, 100000}, {1}},
                                   {{3, 70000}, {0}},
                                   {{300001}, {0}},
                                   {{64, 3000, 2}, {0, 2}},
                                   {{2, 40000, 3}, {1}}};
  for (const Case& c : cases) {
    SCOPED_TRACE(c.shape.to_string());
    const Tensor x = random_tensor(c.shape, 4, DType::Float32);
    const Tensor x64 = x.to(DType::Float64);
    expect_close(sum(x, c.dims), sum(x64, c.dims), 1e-5, 1e-5);
    expect_close(amax(x, c.dims), amax(x64, c.dims), 0, 0);
    // Float64 reference by an independent route: permute the reduced dims last, then sum rows.
    std::vector<std::int64_t> order, kept_shape;
    std::int64_t reduced = 1;
    for (std::int64_t d = 0; d < c.shape.rank(); ++d) {
      if (std::find(c.dims.begin(), c.dims.end(), d) == c.dims.end()) {
        order.push_back(d);
        kept_shape.push_back(c.shape[d]);
      }
    }
    for (std::int64_t d : c.dims) {
      order.push_back(d);
      reduced *= c.shape[d];
    }
    const std::vector<double> moved = x64.permute(order).contiguous().to_vector<double>();
    std::vector<double> ref(moved.size() / static_cast<std::size_t>(reduced), 0.0);
    for (std::size_t i = 0; i < moved.size(); ++i)
      ref[i / static_cast<std::size_t>(reduced)] += moved[i];
    expect_close(sum(x64, c.dims), Tensor::from_vector(ref, Shape(kept_shape)), 1e-9, 1e-12);
  }
}

TEST(Reduce, ThreadCountDoesNotChangeResults) {
  const Tensor x = random_tensor({64, 16, 32, 32}, 5, DType::Float32);
  const Tensor tall = random_tensor({100000, 10}, 6, DType::Float32);
  set_num_threads(1);
  const std::vector<float> a = sum(x, {0, 2, 3}).to_vector<float>();
  const std::vector<float> b = sum(x, {0}).to_vector<float>();
  const std::vector<float> c = sum(tall, {0}).to_vector<float>();
  const float d = sum(x).item<float>();
  set_num_threads(2);
  EXPECT_EQ(a, sum(x, {0, 2, 3}).to_vector<float>());
  EXPECT_EQ(b, sum(x, {0}).to_vector<float>());
  EXPECT_EQ(c, sum(tall, {0}).to_vector<float>());
  EXPECT_EQ(d, sum(x).item<float>());
}

TEST(Reduce, NanPropagatesThroughMaxAndMin) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor x = Tensor::from_vector<double>({1, nan, 3, 4, 5, 6}, {2, 3});
  EXPECT_TRUE(std::isnan(amax(x).item<double>()));
  const std::vector<double> cols = amin(x, {0}).to_vector<double>();
  EXPECT_EQ(cols[0], 1.0);
  EXPECT_TRUE(std::isnan(cols[1]));
  const std::vector<double> rows = amax(x, {1}).to_vector<double>();
  EXPECT_TRUE(std::isnan(rows[0]));
  EXPECT_EQ(rows[1], 6.0);
}

TEST(Reduce, ArgmaxFirstOnTies) {
  const Tensor row = Tensor::from_vector<float>({1, 3, 3, 2}, {4});
  const Tensor r = argmax(row, 0);
  EXPECT_EQ(r.dtype(), DType::Int64);
  EXPECT_EQ(r.shape(), Shape({}));
  EXPECT_EQ(r.item<std::int64_t>(), 1);
  const Tensor m = Tensor::from_vector<double>({5, 1, 7, 5, 9, 7, 2, 9, 0}, {3, 3});
  EXPECT_EQ(argmax(m, 0).to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 1, 0}));
  EXPECT_EQ(argmax(m, 1).to_vector<std::int64_t>(), (std::vector<std::int64_t>{2, 1, 1}));
  EXPECT_EQ(argmax(m, -1, true).shape(), Shape({3, 1}));
  EXPECT_EQ(argmax(m.t(), 1).to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 1, 0}));
  // Middle dim of a 3-D tensor, large enough for the parallel path.
  const Tensor x = random_tensor({8, 50, 300}, 6);
  const std::vector<double> v = x.to_vector<double>();
  const std::vector<std::int64_t> got = argmax(x, 1).to_vector<std::int64_t>();
  for (std::int64_t o = 0; o < 8; ++o) {
    for (std::int64_t j = 0; j < 300; ++j) {
      std::int64_t best = 0;
      for (std::int64_t k = 1; k < 50; ++k) {
        if (v[static_cast<std::size_t>((o * 50 + k) * 300 + j)] >
            v[static_cast<std::size_t>((o * 50 + best) * 300 + j)]) {
          best = k;
        }
      }
      ASSERT_EQ(got[static_cast<std::size_t>(o * 300 + j)], best);
    }
  }
  EXPECT_EQ(argmax(Tensor::scalar(3.0), 0).item<std::int64_t>(), 0);
}

TEST(Reduce, VarianceBiasedAndUnbiased) {
  const Tensor x = random_tensor({4, 7}, 7);
  const std::vector<double> v = x.to_vector<double>();
  std::vector<double> unbiased(4), biased(4);
  for (int i = 0; i < 4; ++i) {
    double m = 0;
    for (int j = 0; j < 7; ++j) m += v[static_cast<std::size_t>(i * 7 + j)] / 7;
    double ss = 0;
    for (int j = 0; j < 7; ++j) {
      const double d = v[static_cast<std::size_t>(i * 7 + j)] - m;
      ss += d * d;
    }
    unbiased[static_cast<std::size_t>(i)] = ss / 6;
    biased[static_cast<std::size_t>(i)] = ss / 7;
  }
  expect_close(var(x, {1}), Tensor::from_vector(unbiased, {4}), 1e-14, 1e-12);
  expect_close(var(x, {1}, false, true), Tensor::from_vector(biased, {4, 1}), 1e-14, 1e-12);
  EXPECT_TRUE(std::isnan(var(Tensor::ones({1}, DType::Float64)).item<double>()));
  EXPECT_NEAR(var(x.to(DType::Float32)).item<float>(), var(x).item<double>(), 1e-6);
}

TEST(Reduce, SumToUndoesBroadcasting) {
  const Tensor x = random_tensor({2, 3, 4}, 8);
  expect_close(sum_to(x, {3, 1}), sum(x, {0, 2}, true).reshape({3, 1}), 1e-14, 0);
  expect_close(sum_to(x, {1, 4}), sum(x, {0, 1}, true).reshape({1, 4}), 1e-14, 0);
  expect_close(sum_to(x, {4}), sum(x, {0, 1}), 1e-14, 0);
  expect_close(sum_to(x, {}), sum(x), 1e-14, 0);
  expect_close(sum_to(x, {1, 1, 1}), sum(x, {}, true), 1e-14, 0);
  EXPECT_TRUE(sum_to(x, {2, 3, 4}).shares_storage(x));
  const Tensor ones = Tensor::ones({1, 3, 4}, DType::Float64);
  EXPECT_EQ(sum_to(ones, {3, 4}).shape(), Shape({3, 4}));
  expect_throws_with([&] { sum_to(x, {5}); }, {"sum_to", "[2, 3, 4]", "[5]"});
  expect_throws_with([&] { sum_to(x, {1, 2, 3, 4}); }, {"sum_to"});
}

TEST(Reduce, NormIsFrobenius) {
  const Tensor x = Tensor::from_vector<double>({3, 4, 0, 12}, {2, 2});
  EXPECT_DOUBLE_EQ(norm(x).item<double>(), 13.0);
  EXPECT_EQ(norm(x).shape(), Shape({}));
  EXPECT_NEAR(norm(x.to(DType::Float32)).item<float>(), 13.0, 1e-6);
}

TEST(Reduce, EmptyAndScalarInputs) {
  const Tensor e = Tensor::zeros({0, 3}, DType::Float64);
  EXPECT_EQ(sum(e, {0}).to_vector<double>(), (std::vector<double>{0, 0, 0}));
  EXPECT_TRUE(std::isnan(mean(e).item<double>()));
  EXPECT_EQ(sum(e, {1}).shape(), Shape({0}));
  expect_throws_with([&] { amax(e); }, {"amax", "[0, 3]"});
  expect_throws_with([&] { argmax(e, 0); }, {"argmax", "[0, 3]"});
  const Tensor s = Tensor::scalar(2.5, DType::Float64);
  EXPECT_EQ(sum(s).item<double>(), 2.5);
  EXPECT_EQ(amax(s, {0}).item<double>(), 2.5);
  EXPECT_EQ(sum(s, {-1}).item<double>(), 2.5);
  EXPECT_EQ(argmax(s, -1).item<std::int64_t>(), 0);
  EXPECT_EQ(mean(Tensor::ones({1, 1, 1}), {1}, true).shape(), Shape({1, 1, 1}));
}

TEST(Reduce, ErrorsNameTheOp) {
  const Tensor x = Tensor::zeros({2, 3});
  expect_throws_with([&] { sum(x, {0, -2}); }, {"sum", "repeated", "[2, 3]"});
  expect_throws_with([&] { mean(x, {2}); }, {"mean", "dim 2"});
  expect_throws_with([&] { amin(Tensor::zeros({2}, DType::Int64)); }, {"amin", "int64"});
  expect_throws_with([&] { argmax(Tensor::zeros({2}, DType::Int64), 0); }, {"argmax", "int64"});
  expect_throws_with([&] { argmax(x, 3); }, {"argmax"});
  expect_throws_with([&] { var(x, {5}); }, {"var"});
  expect_throws_with([&] { norm(Tensor()); }, {"norm"});
}

}  // namespace
}  // namespace ortho
