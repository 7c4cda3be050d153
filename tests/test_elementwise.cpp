#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/ops/elementwise.h"
#include "core/parallel.h"
#include "core/tensor.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using testing::expect_close;
using testing::random_tensor;

using UnaryRef = std::function<double(double)>;
using BinaryRef = std::function<double(double, double)>;

// Reference for an element-wise binary op: broadcast with the (separately tested) copy path,
// then apply `f` in double.
Tensor binary_reference(const Tensor& a, const Tensor& b, const BinaryRef& f) {
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), "reference");
  const std::vector<double> x = a.expand(shape).contiguous().to_vector<double>();
  const std::vector<double> y = b.expand(shape).contiguous().to_vector<double>();
  std::vector<double> out(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) out[i] = f(x[i], y[i]);
  return Tensor::from_vector(out, shape);
}

Tensor unary_reference(const Tensor& a, const UnaryRef& f) {
  std::vector<double> x = a.to_vector<double>();
  for (double& v : x) v = f(v);
  return Tensor::from_vector(x, a.shape());
}

double tolerance(DType dtype) {
  return dtype == DType::Float32 ? 2e-6 : 1e-13;
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

class ElementwiseDType : public ::testing::TestWithParam<DType> {};

TEST_P(ElementwiseDType, UnaryOpsMatchStd) {
  const DType dt = GetParam();
  const Tensor x = random_tensor({5, 7}, 1, dt);
  const Tensor pos = affine(random_tensor({5, 7}, 2, dt), 2.0, 2.5);  // in [0.5, 4.5)
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&)> op;
    UnaryRef ref;
    bool positive;
  };
  const std::vector<Case> cases = {
      {"neg", [](const Tensor& t) { return neg(t); }, [](double v) { return -v; }, false},
      {"exp", [](const Tensor& t) { return exp(t); }, [](double v) { return std::exp(v); }, false},
      {"log", [](const Tensor& t) { return log(t); }, [](double v) { return std::log(v); }, true},
      {"sqrt", [](const Tensor& t) { return sqrt(t); }, [](double v) { return std::sqrt(v); },
       true},
      {"abs", [](const Tensor& t) { return abs(t); }, [](double v) { return std::abs(v); }, false},
      {"sign", [](const Tensor& t) { return sign(t); },
       [](double v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0); }, false},
      {"square", [](const Tensor& t) { return square(t); }, [](double v) { return v * v; }, false},
      {"reciprocal", [](const Tensor& t) { return reciprocal(t); },
       [](double v) { return 1.0 / v; }, true},
      {"relu", [](const Tensor& t) { return relu(t); }, [](double v) { return v > 0 ? v : 0.0; },
       false},
      {"sigmoid", [](const Tensor& t) { return sigmoid(t); },
       [](double v) { return 1.0 / (1.0 + std::exp(-v)); }, false},
      {"tanh", [](const Tensor& t) { return tanh(t); }, [](double v) { return std::tanh(v); },
       false},
      {"pow2", [](const Tensor& t) { return pow(t, 2.0); }, [](double v) { return v * v; }, false},
      {"pow_half", [](const Tensor& t) { return pow(t, 0.5); },
       [](double v) { return std::sqrt(v); }, true},
      {"pow_1.7", [](const Tensor& t) { return pow(t, -1.7); },
       [](double v) { return std::pow(v, -1.7); }, true},
      {"pow1", [](const Tensor& t) { return pow(t, 1.0); }, [](double v) { return v; }, false},
      {"clamp", [](const Tensor& t) { return clamp(t, -0.25, 0.5); },
       [](double v) { return std::min(std::max(v, -0.25), 0.5); }, false},
      {"affine", [](const Tensor& t) { return affine(t, -3.0, 0.5); },
       [](double v) { return -3.0 * v + 0.5; }, false},
      {"add_scalar", [](const Tensor& t) { return add(t, 1.25); },
       [](double v) { return v + 1.25; }, false},
      {"mul_scalar", [](const Tensor& t) { return mul(t, -2.5); },
       [](double v) { return v * -2.5; }, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const Tensor& in = c.positive ? pos : x;
    const Tensor out = c.op(in);
    EXPECT_EQ(out.dtype(), dt);
    EXPECT_EQ(out.shape(), in.shape());
    expect_close(out, unary_reference(in, c.ref), tolerance(dt), tolerance(dt));
    // The same op on a transposed (strided) view.
    expect_close(c.op(in.t()), unary_reference(in.t().contiguous(), c.ref), tolerance(dt),
                 tolerance(dt));
  }
}

TEST_P(ElementwiseDType, BinaryOpsMatchReference) {
  const DType dt = GetParam();
  const Tensor a = random_tensor({4, 6}, 3, dt);
  const Tensor b = random_tensor({4, 6}, 4, dt);
  // Exact ties for the comparison ops.
  Tensor b_ties = b.clone();
  b_ties.slice(1, 0, 2).copy_(a.slice(1, 0, 2));
  const Tensor pos_a = affine(a, 1.0, 1.5);
  struct Case {
    const char* name;
    std::function<Tensor(const Tensor&, const Tensor&)> op;
    BinaryRef ref;
    bool positive;
  };
  const std::vector<Case> cases = {
      {"add", [](const Tensor& x, const Tensor& y) { return add(x, y); },
       [](double x, double y) { return x + y; }, false},
      {"sub", [](const Tensor& x, const Tensor& y) { return sub(x, y); },
       [](double x, double y) { return x - y; }, false},
      {"mul", [](const Tensor& x, const Tensor& y) { return mul(x, y); },
       [](double x, double y) { return x * y; }, false},
      {"div", [](const Tensor& x, const Tensor& y) { return div(x, y); },
       [](double x, double y) { return x / y; }, false},
      {"pow", [](const Tensor& x, const Tensor& y) { return pow(x, y); },
       [](double x, double y) { return std::pow(x, y); }, true},
      {"maximum", [](const Tensor& x, const Tensor& y) { return maximum(x, y); },
       [](double x, double y) { return std::max(x, y); }, false},
      {"minimum", [](const Tensor& x, const Tensor& y) { return minimum(x, y); },
       [](double x, double y) { return std::min(x, y); }, false},
      {"eq", [](const Tensor& x, const Tensor& y) { return eq(x, y); },
       [](double x, double y) { return x == y ? 1.0 : 0.0; }, false},
      {"ne", [](const Tensor& x, const Tensor& y) { return ne(x, y); },
       [](double x, double y) { return x != y ? 1.0 : 0.0; }, false},
      {"lt", [](const Tensor& x, const Tensor& y) { return lt(x, y); },
       [](double x, double y) { return x < y ? 1.0 : 0.0; }, false},
      {"le", [](const Tensor& x, const Tensor& y) { return le(x, y); },
       [](double x, double y) { return x <= y ? 1.0 : 0.0; }, false},
      {"gt", [](const Tensor& x, const Tensor& y) { return gt(x, y); },
       [](double x, double y) { return x > y ? 1.0 : 0.0; }, false},
      {"ge", [](const Tensor& x, const Tensor& y) { return ge(x, y); },
       [](double x, double y) { return x >= y ? 1.0 : 0.0; }, false},
      {"relu_backward", [](const Tensor& x, const Tensor& y) { return relu_backward(x, y); },
       [](double g, double v) { return v > 0 ? g : 0.0; }, false},
      {"sigmoid_backward", [](const Tensor& x, const Tensor& y) { return sigmoid_backward(x, y); },
       [](double g, double v) { return g * v * (1.0 - v); }, false},
      {"tanh_backward", [](const Tensor& x, const Tensor& y) { return tanh_backward(x, y); },
       [](double g, double v) { return g * (1.0 - v * v); }, false},
      {"operator+", [](const Tensor& x, const Tensor& y) { return x + y; },
       [](double x, double y) { return x + y; }, false},
      {"operator-", [](const Tensor& x, const Tensor& y) { return x - y; },
       [](double x, double y) { return x - y; }, false},
      {"operator*", [](const Tensor& x, const Tensor& y) { return x * y; },
       [](double x, double y) { return x * y; }, false},
      {"operator/", [](const Tensor& x, const Tensor& y) { return x / y; },
       [](double x, double y) { return x / y; }, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const Tensor& x = c.positive ? pos_a : a;
    for (const Tensor* y : std::vector<const Tensor*>{&b, &b_ties}) {
      const Tensor out = c.op(x, *y);
      EXPECT_EQ(out.dtype(), dt);
      expect_close(out, binary_reference(x, *y, c.ref), tolerance(dt), tolerance(dt));
    }
    // Broadcast along both sides, with one operand transposed.
    const Tensor col = x.slice(1, 0, 1);          // (4, 1), strided
    const Tensor row = b.t().slice(1, 2, 3).t();  // (1, 4) view of a transposed tensor
    expect_close(c.op(col, row), binary_reference(col, row, c.ref), tolerance(dt), tolerance(dt));
  }
}

INSTANTIATE_TEST_SUITE_P(Floating, ElementwiseDType,
                         ::testing::Values(DType::Float32, DType::Float64),
                         [](const auto& info) { return dtype_name(info.param); });

TEST(Elementwise, BroadcastingRankDifferencesAndBothSides) {
  const Tensor a = random_tensor({2, 1, 3}, 5);
  const Tensor b = random_tensor({4, 1}, 6);
  const Tensor c = add(a, b);
  EXPECT_EQ(c.shape(), Shape({2, 4, 3}));
  expect_close(c, binary_reference(a, b, std::plus<double>()), 1e-14, 0);
  const Tensor s = Tensor::scalar(2.0, DType::Float64);
  expect_close(mul(s, a), binary_reference(s, a, std::multiplies<double>()), 1e-14, 0);
  const Tensor v = random_tensor({3}, 7);
  expect_close(sub(v, a), binary_reference(v, a, std::minus<double>()), 1e-14, 0);
  // Per-channel bias on NCHW: (1, C, 1, 1) against (N, C, H, W).
  const Tensor x = random_tensor({2, 3, 4, 5}, 8);
  const Tensor bias = random_tensor({1, 3, 1, 1}, 9);
  expect_close(add(x, bias), binary_reference(x, bias, std::plus<double>()), 1e-14, 0);
  expect_close(mul(bias, x), binary_reference(bias, x, std::multiplies<double>()), 1e-14, 0);
}

TEST(Elementwise, StridedSlicedAndPermutedInputs) {
  const Tensor base = random_tensor({6, 8, 5}, 10, DType::Float32);
  const Tensor sliced = base.slice(1, 1, 8, 2);  // (6, 4, 5), step 2
  const Tensor permuted = random_tensor({5, 4, 6}, 11, DType::Float32).permute({2, 1, 0});
  expect_close(mul(sliced, permuted), binary_reference(sliced, permuted, std::multiplies<double>()),
               1e-6, 1e-6);
  expect_close(exp(permuted), unary_reference(permuted, [](double v) { return std::exp(v); }), 1e-6,
               1e-6);
  const Tensor selected = base.select(2, 3);  // (6, 8) with stride 5
  expect_close(relu(selected), unary_reference(selected, [](double v) { return std::max(v, 0.0); }),
               0, 0);
}

TEST(Elementwise, LargeTensorsUseEveryThreadPath) {
  // One merged contiguous row (split into pieces), few long rows, and many short rows.
  for (const Shape& shape : {Shape({200001}), Shape({3, 40001}), Shape({5000, 13})}) {
    SCOPED_TRACE(shape.to_string());
    const Tensor a = random_tensor(shape, 12, DType::Float32);
    const Tensor b = random_tensor({shape[shape.rank() - 1]}, 13, DType::Float32);
    expect_close(add(a, b), binary_reference(a, b, std::plus<double>()), 1e-6, 1e-6);
    const Tensor col =
        random_tensor(shape.rank() == 2 ? Shape({shape[0], 1}) : Shape({1}), 14, DType::Float32);
    expect_close(mul(a, col), binary_reference(a, col, std::multiplies<double>()), 1e-6, 1e-6);
    expect_close(sigmoid(a), unary_reference(a, [](double v) { return 1 / (1 + std::exp(-v)); }),
                 1e-6, 1e-6);
  }
  // Thread count does not change element-wise results.
  const Tensor a = random_tensor({300000}, 15, DType::Float32);
  set_num_threads(1);
  const Tensor one = tanh(a);
  set_num_threads(2);
  const Tensor two = tanh(a);
  EXPECT_EQ(one.to_vector<float>(), two.to_vector<float>());
}

TEST(Elementwise, ScalarComparisonsAndOperators) {
  const Tensor a = Tensor::from_vector<double>({-1.0, 0.0, 0.5, 2.0}, {4});
  EXPECT_EQ(gt(a, 0.0).to_vector<double>(), (std::vector<double>{0, 0, 1, 1}));
  EXPECT_EQ(lt(a, 0.5).to_vector<double>(), (std::vector<double>{1, 1, 0, 0}));
  EXPECT_EQ((a + 1.0).to_vector<double>(), (std::vector<double>{0.0, 1.0, 1.5, 3.0}));
  EXPECT_EQ((a - 1.0).to_vector<double>(), (std::vector<double>{-2.0, -1.0, -0.5, 1.0}));
  EXPECT_EQ((a * 2.0).to_vector<double>(), (std::vector<double>{-2.0, 0.0, 1.0, 4.0}));
  EXPECT_EQ((3.0 * a).to_vector<double>(), (std::vector<double>{-3.0, 0.0, 1.5, 6.0}));
  EXPECT_EQ((a / 2.0).to_vector<double>(), (std::vector<double>{-0.5, 0.0, 0.25, 1.0}));
  EXPECT_EQ((-a).to_vector<double>(), (std::vector<double>{1.0, -0.0, -0.5, -2.0}));
  const Tensor s = gt(Tensor::from_vector<float>({1.0f, -1.0f}, {2}), 0.0);
  EXPECT_EQ(s.dtype(), DType::Float32);
}

TEST(Elementwise, NanPropagatesThroughMaximumAndClamp) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Tensor a = Tensor::from_vector<double>({nan, 1.0, 2.0}, {3});
  const Tensor b = Tensor::from_vector<double>({0.0, nan, 1.0}, {3});
  const std::vector<double> mx = maximum(a, b).to_vector<double>();
  EXPECT_TRUE(std::isnan(mx[0]));
  EXPECT_TRUE(std::isnan(mx[1]));
  EXPECT_EQ(mx[2], 2.0);
  const std::vector<double> mn = minimum(a, b).to_vector<double>();
  EXPECT_TRUE(std::isnan(mn[0]) && std::isnan(mn[1]));
  EXPECT_EQ(mn[2], 1.0);
  EXPECT_TRUE(std::isnan(clamp(a, 0.0, 1.0).to_vector<double>()[0]));
  EXPECT_TRUE(std::isnan(relu(a).to_vector<double>()[0]));
}

TEST(Elementwise, WhereBroadcastsAllThree) {
  const Tensor cond = Tensor::from_vector<double>({1.0, 0.0, 1.0}, {3});
  const Tensor a = random_tensor({2, 1}, 16);
  const Tensor b = random_tensor({2, 3}, 17);
  const Tensor out = where(cond, a, b);
  ASSERT_EQ(out.shape(), Shape({2, 3}));
  const std::vector<double> av = a.to_vector<double>(), bv = b.to_vector<double>();
  const std::vector<double> ov = out.to_vector<double>();
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j) {
      EXPECT_EQ(ov[static_cast<std::size_t>(i * 3 + j)],
                j == 1 ? bv[static_cast<std::size_t>(i * 3 + j)] : av[static_cast<std::size_t>(i)]);
    }
  }
  // An Int64 condition and a float mask from a comparison both select.
  const Tensor icond = Tensor::from_vector<std::int64_t>({0, 5, 0}, {3});
  EXPECT_EQ(where(icond, a, b).to_vector<double>()[1], av[0]);
  const Tensor x = random_tensor({50, 40}, 18, DType::Float32);
  expect_close(where(gt(x, 0.0), x, mul(x, 0.1)),
               unary_reference(x, [](double v) { return v > 0 ? v : 0.1 * v; }), 1e-6, 1e-6);
}

TEST(Elementwise, InPlaceOnStridedViews) {
  Tensor base = random_tensor({4, 6}, 19);
  const std::vector<double> before = base.to_vector<double>();
  Tensor col = base.slice(1, 2, 3);  // (4, 1), stride 6
  const Tensor other = random_tensor({1}, 20);
  add_(col, other, -2.0);
  Tensor tview = base.t().slice(0, 4, 6);  // (2, 4), transposed strides
  mul_(tview, 3.0);
  const std::vector<double> after = base.to_vector<double>();
  const double o = other.item<double>();
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 6; ++j) {
      const std::size_t k = static_cast<std::size_t>(i * 6 + j);
      double want = before[k];
      if (j == 2) want += -2.0 * o;
      if (j >= 4) want *= 3.0;
      EXPECT_DOUBLE_EQ(after[k], want) << i << "," << j;
    }
  }
  // Row broadcast into a full matrix, and a big contiguous axpy.
  Tensor m = Tensor::zeros({3, 4}, DType::Float64);
  add_(m, Tensor::arange(4, DType::Float64));
  EXPECT_EQ(m.to_vector<double>()[7], 3.0);
  Tensor big = random_tensor({100000}, 21, DType::Float32);
  const Tensor big0 = big.clone();
  const Tensor dir = random_tensor({100000}, 22, DType::Float32);
  add_(big, dir, 0.5);
  expect_close(big, binary_reference(big0, dir, [](double x, double y) { return x + 0.5 * y; }),
               1e-6, 1e-6);
}

TEST(Elementwise, ErrorsNameTheOpAndShapes) {
  const Tensor a = Tensor::zeros({2, 3});
  const Tensor b = Tensor::zeros({4});
  expect_throws_with([&] { add(a, b); }, {"add", "[2, 3]", "[4]"});
  expect_throws_with([&] { mul(a, Tensor::zeros({2, 3}, DType::Float64)); }, {"mul", "float64"});
  expect_throws_with([&] { exp(Tensor::zeros({2}, DType::Int64)); }, {"exp", "int64"});
  expect_throws_with(
      [&] { add(Tensor::zeros({2}, DType::Int64), Tensor::zeros({2}, DType::Int64)); },
      {"add", "int64"});
  expect_throws_with([&] { clamp(a, 1.0, 0.0); }, {"clamp"});
  expect_throws_with([&] { where(Tensor::zeros({5}), a, a); }, {"where", "[5]"});
  Tensor small = Tensor::zeros({3});
  expect_throws_with([&] { add_(small, a); }, {"add_", "[3]", "[2, 3]"});
  Tensor expanded = Tensor::zeros({1, 3}).expand({4, 3});
  expect_throws_with([&] { add_(expanded, Tensor::zeros({4, 3})); }, {"add_", "[4, 3]"});
  expect_throws_with([&] { mul_(expanded, 2.0); }, {"mul_"});
  expect_throws_with([&] { relu_backward(a, b); }, {"relu_backward", "[2, 3]"});
  EXPECT_THROW(add(a, Tensor()), std::invalid_argument);
}

TEST(Elementwise, EmptyTensors) {
  const Tensor e = Tensor::zeros({0, 3});
  EXPECT_EQ(add(e, Tensor::zeros({3})).shape(), Shape({0, 3}));
  EXPECT_EQ(exp(e).numel(), 0);
  Tensor f = Tensor::zeros({0});
  add_(f, Tensor::zeros({1}));
  EXPECT_EQ(f.numel(), 0);
}

}  // namespace
}  // namespace ortho
