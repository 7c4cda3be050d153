#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops/conv.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "autograd/variable.h"
#include "core/ops/elementwise.h"
#include "core/ops/matmul.h"
#include "core/ops/reduce.h"
#include "core/random.h"
#include "core/tensor.h"
#include "layers/init.h"
#include "layers/parametrized_orthogonal.h"
#include "support/module_gradcheck.h"
#include "support/test_support.h"

namespace ortho::nn {
namespace {

using autograd::Variable;
using ortho::testing::expect_close;
using ortho::testing::expect_invalid_argument;
using ortho::testing::module_passes_gradcheck;
using ortho::testing::random_tensor;

constexpr OrthogonalMap kMaps[] = {OrthogonalMap::Cayley, OrthogonalMap::MatrixExp,
                                   OrthogonalMap::Householder, OrthogonalMap::Bjorck,
                                   OrthogonalMap::Trivialization};

// ||W W^T - I||_F for a wide W, ||W^T W - I||_F for a tall one.
double distance_to_manifold(const Tensor& w) {
  const Tensor wide = w.size(0) <= w.size(1) ? w : w.t();
  const Tensor gram = ortho::matmul(wide, wide.t());
  return ortho::norm(ortho::sub(gram, Tensor::eye(wide.size(0), w.dtype())))
      .to(DType::Float64)
      .item<double>();
}

// Converts to float64; a trivialization is only as orthogonal as its base, drawn in float32, so
// the base is redrawn in float64.
void to_float64(ParametrizedOrthogonal& layer) {
  layer.to(DType::Float64);
  TensorMap state = layer.state_dict();
  if (!state.contains("base")) return;
  Tensor base = Tensor::empty(state.at("base").shape(), DType::Float64);
  Generator gen(0);
  init::orthogonal_(base, 1.0, &gen);
  state["base"] = base;
  layer.load_state_dict(state);
}

TEST(ParametrizedOrthogonal, WeightsAreOrthogonalForEveryMapAndShape) {
  // (in, out): wide (rows orthonormal), tall (columns orthonormal), square.
  const std::vector<std::pair<std::int64_t, std::int64_t>> shapes = {{7, 4}, {3, 6}, {5, 5}};
  for (const OrthogonalMap map : kMaps) {
    for (const auto& [in, out] : shapes) {
      Generator gen(1);
      ParametrizedOrthogonalLinear linear(in, out, {map}, true, &gen);
      const Tensor w32 = linear.weight().value();
      EXPECT_EQ(w32.shape(), Shape({out, in}));
      EXPECT_LT(distance_to_manifold(w32), 1e-5)
          << static_cast<int>(map) << " " << in << "->" << out;
      to_float64(linear);
      EXPECT_LT(distance_to_manifold(linear.weight().value()), 1e-10)
          << static_cast<int>(map) << " " << in << "->" << out;
    }
  }
}

TEST(ParametrizedOrthogonal, StaysOrthogonalAfterGradientSteps) {
  for (const OrthogonalMap map : kMaps) {
    Generator gen(2);
    ParametrizedOrthogonalLinear linear(6, 4, {map}, true, &gen);
    to_float64(linear);
    const Tensor x = random_tensor({8, 6}, 3), target = random_tensor({8, 4}, 4);
    for (int step = 0; step < 5; ++step) {
      linear.zero_grad();
      const Variable loss = autograd::sum(autograd::square(linear(Variable(x)) - Variable(target)));
      loss.backward();
      for (Parameter& p : linear.parameters()) {
        Tensor value = p.value();
        add_(value, p.grad(), -0.05);
      }
    }
    EXPECT_LT(distance_to_manifold(linear.weight().value()), 1e-10) << static_cast<int>(map);
  }
}

TEST(ParametrizedOrthogonal, TrivializationStartsAtItsBase) {
  Generator gen(5);
  ParametrizedOrthogonalConv2d conv(2, 3, 3, 1, 1, {OrthogonalMap::Trivialization}, false, &gen);
  const TensorMap state = conv.state_dict();
  EXPECT_EQ(state.at("base").shape(), Shape({3, 18}));
  EXPECT_EQ(ortho::testing::max_abs_diff(state.at("generator"), Tensor::zeros({18, 18})), 0.0);
  expect_close(conv.weight().value(), state.at("base"), 1e-7, 0.0);
  EXPECT_LT(distance_to_manifold(state.at("base")), 1e-5);
  EXPECT_EQ(conv.parameters().size(), 1u);  // the base is a buffer, not trained
}

TEST(ParametrizedOrthogonal, LinearComputesXWTransposePlusBias) {
  Generator gen(6);
  ParametrizedOrthogonalLinear linear(5, 3, {OrthogonalMap::Householder}, true, &gen);
  const Tensor x = random_tensor({2, 4, 5}, 7, DType::Float32);
  const Tensor expected =
      ortho::add(ortho::matmul(x, linear.weight().value().t()), linear.bias().value());
  expect_close(linear(Variable(x)).value(), expected, 1e-6, 1e-6);
  EXPECT_FALSE(ParametrizedOrthogonalLinear(5, 3, {OrthogonalMap::Cayley}, false).bias().defined());
}

TEST(ParametrizedOrthogonal, ConvUsesTheReshapedWeightBothWays) {
  // Wide: out 3 <= in*k*k 18 (rows orthonormal); tall: out 10 > in*k*k 2 (columns).
  for (const auto& [in, out, k] : std::vector<std::array<std::int64_t, 3>>{{2, 3, 3}, {2, 10, 1}}) {
    Generator gen(8);
    ParametrizedOrthogonalConv2d conv(in, out, k, 2, k / 2, {OrthogonalMap::Cayley}, true, &gen);
    const Tensor w = conv.weight().value();
    EXPECT_EQ(w.shape(), Shape({out, in * k * k}));
    EXPECT_LT(distance_to_manifold(w), 1e-5);
    const Tensor x = random_tensor({2, in, 5, 5}, 9, DType::Float32);
    const Variable expected = autograd::conv2d(Variable(x), Variable(w.reshape({out, in, k, k})),
                                               conv.bias(), conv.params());
    expect_close(conv(Variable(x)).value(), expected.value(), 1e-6, 1e-6);
  }
}

TEST(ParametrizedOrthogonal, GradientsMatchFiniteDifferences) {
  for (const OrthogonalMap map : kMaps) {
    Generator gen(10);
    ParametrizedOrthogonalLinear linear(4, 3, {map, 8, 2}, true, &gen);
    linear.to(DType::Float64);
    EXPECT_TRUE(module_passes_gradcheck(linear, random_tensor({2, 4}, 11)))
        << static_cast<int>(map);
    ParametrizedOrthogonalConv2d conv(1, 3, 2, 1, 0, {map}, true, &gen);
    conv.to(DType::Float64);
    EXPECT_TRUE(module_passes_gradcheck(conv, random_tensor({1, 1, 3, 3}, 12)))
        << static_cast<int>(map);
  }
}

TEST(ParametrizedOrthogonal, StateDictRoundTrip) {
  for (const OrthogonalMap map : kMaps) {
    Generator a_gen(13), b_gen(14);
    ParametrizedOrthogonalConv2d a(2, 4, 3, 1, 1, {map}, true, &a_gen);
    ParametrizedOrthogonalConv2d b(2, 4, 3, 1, 1, {map}, true, &b_gen);
    b.load_state_dict(a.state_dict());
    EXPECT_EQ(ortho::testing::max_abs_diff(a.weight().value(), b.weight().value()), 0.0);
    const Tensor x = random_tensor({1, 2, 4, 4}, 15, DType::Float32);
    EXPECT_EQ(ortho::testing::max_abs_diff(a(Variable(x)).value(), b(Variable(x)).value()), 0.0);
  }
}

TEST(ParametrizedOrthogonal, BadShapesNameTheLayer) {
  ParametrizedOrthogonalLinear linear(4, 3);
  expect_invalid_argument(
      [&] {
        linear(Variable(Tensor::zeros({2, 5})));
      },
      "ParametrizedOrthogonalLinear: input [2, 5] does not end in in_features 4");
  ParametrizedOrthogonalConv2d conv(3, 8, 3);
  expect_invalid_argument(
      [&] {
        conv(Variable(Tensor::zeros({1, 2, 8, 8})));
      },
      "ParametrizedOrthogonalConv2d: input [1, 2, 8, 8] is not NCHW with 3");
  expect_invalid_argument([] { ParametrizedOrthogonalConv2d(3, 8, 0); },
                          "ParametrizedOrthogonalConv2d: invalid configuration");
  expect_invalid_argument([] { ParametrizedOrthogonalLinear(0, 3); },
                          "ParametrizedOrthogonal: weight (3, 0) must have positive sizes");
  expect_invalid_argument(
      [] {
        ParametrizedOrthogonalLinear(4, 3, {OrthogonalMap::Bjorck, 5, 0});
      },
      "bjorck_order >= 1");
}

}  // namespace
}  // namespace ortho::nn
