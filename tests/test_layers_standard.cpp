#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/variable.h"
#include "core/ops/elementwise.h"
#include "core/ops/matmul.h"
#include "core/random.h"
#include "core/tensor.h"
#include "layers/conv2d.h"
#include "layers/dropout.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/pooling.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using autograd::Variable;
using testing::expect_close;
using testing::random_tensor;

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no std::invalid_argument thrown";
}

void expect_mentions(const std::string& message, const std::vector<std::string>& parts) {
  for (const std::string& part : parts) {
    EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
  }
}

TEST(Linear, ComputesXWTransposePlusBiasWithPyTorchDefaultInit) {
  Generator gen(1);
  nn::Linear linear(16, 3, true, &gen);
  EXPECT_EQ(linear.weight().shape(), (Shape{3, 16}));
  EXPECT_EQ(linear.bias().shape(), Shape{3});
  for (const float w : linear.weight().value().to_vector<float>()) EXPECT_LE(std::abs(w), 0.25f);
  for (const float b : linear.bias().value().to_vector<float>()) EXPECT_LE(std::abs(b), 0.25f);
  const Tensor x = random_tensor({2, 16}, 2, DType::Float32);
  const Tensor expected = add(matmul(x, linear.weight().value().t()), linear.bias().value());
  expect_close(linear(Variable(x)).value(), expected, 1e-6, 1e-6);
  EXPECT_FALSE(nn::Linear(2, 2, /*bias=*/false).bias().defined());
}

TEST(Linear, SameSeedSameWeights) {
  Generator a(3), b(3);
  EXPECT_EQ(nn::Linear(4, 4, true, &a).weight().value().to_vector<float>(),
            nn::Linear(4, 4, true, &b).weight().value().to_vector<float>());
}

TEST(Layers, ShapeMismatchesNameTheLayerAndTheShapes) {
  nn::Linear linear(4, 3);
  expect_mentions(message_of([&] {
                    linear(Variable(Tensor::zeros({2, 5})));
                  }),
                  {"Linear", "[2, 5]", "4"});
  nn::Conv2d conv(3, 8, 3);
  expect_mentions(message_of([&] {
                    conv(Variable(Tensor::zeros({1, 2, 8, 8})));
                  }),
                  {"Conv2d", "[1, 2, 8, 8]", "3 channels"});
  expect_mentions(message_of([&] {
                    conv(Variable(Tensor::zeros({3, 8, 8})));
                  }),
                  {"Conv2d", "[3, 8, 8]"});
  nn::MaxPool2d max_pool(2);
  expect_mentions(message_of([&] {
                    max_pool(Variable(Tensor::zeros({4, 4})));
                  }),
                  {"MaxPool2d", "[4, 4]"});
  nn::AvgPool2d avg_pool(2);
  expect_mentions(message_of([&] {
                    avg_pool(Variable(Tensor::zeros({1, 4, 4})));
                  }),
                  {"AvgPool2d", "[1, 4, 4]"});
  nn::AdaptiveAvgPool2d adaptive(1);
  expect_mentions(message_of([&] {
                    adaptive(Variable(Tensor::zeros({2, 3})));
                  }),
                  {"AdaptiveAvgPool2d", "[2, 3]"});
  nn::Linear float64(2, 2);
  float64.to(DType::Float64);
  EXPECT_THROW(float64(Variable(Tensor::zeros({1, 2}))), std::invalid_argument);
}

TEST(Layers, RejectInvalidConfigurations) {
  EXPECT_THROW(nn::Linear(0, 3), std::invalid_argument);
  EXPECT_THROW(nn::Conv2d(3, 8, 0), std::invalid_argument);
  EXPECT_THROW(nn::Conv2d(3, 8, 3, 1, 1, /*groups=*/2), std::invalid_argument);
  EXPECT_THROW(nn::Conv2d(4, 8, 3, /*stride=*/0), std::invalid_argument);
  EXPECT_THROW(nn::MaxPool2d(2, 1, /*padding=*/2), std::invalid_argument);
  EXPECT_THROW(nn::AvgPool2d(0), std::invalid_argument);
  EXPECT_THROW(nn::AdaptiveAvgPool2d(0), std::invalid_argument);
  EXPECT_THROW(nn::Dropout(1.5), std::invalid_argument);
}

TEST(Conv2d, ShapesFollowStridePaddingAndGroups) {
  nn::Conv2d conv(4, 6, 3, /*stride=*/2, /*padding=*/1, /*groups=*/2);
  EXPECT_EQ(conv.weight().shape(), (Shape{6, 2, 3, 3}));
  EXPECT_EQ(conv.bias().shape(), Shape{6});
  EXPECT_EQ(conv(Variable(Tensor::zeros({2, 4, 7, 7}))).shape(), (Shape{2, 6, 4, 4}));
  // Default init bounds: 1 / sqrt(fan_in) with fan_in = 2 * 3 * 3.
  const float bound = 1.0f / std::sqrt(18.0f);
  for (const float w : conv.weight().value().to_vector<float>()) EXPECT_LE(std::abs(w), bound);
}

TEST(Pooling, MaxAndAvgPoolValues) {
  const Tensor x = Tensor::arange(16, DType::Float32).reshape({1, 1, 4, 4});
  expect_close(nn::MaxPool2d(2)(Variable(x)).value(),
               Tensor::from_vector<float>({5, 7, 13, 15}, {1, 1, 2, 2}), 0.0, 0.0);
  expect_close(nn::AvgPool2d(2)(Variable(x)).value(),
               Tensor::from_vector<float>({2.5, 4.5, 10.5, 12.5}, {1, 1, 2, 2}), 0.0, 0.0);
  // Corner window of a 3x3, stride 2, padding 1 average: 4 real elements of 9 (or of 4).
  const float corner = (0 + 1 + 4 + 5) / 9.0f;
  EXPECT_FLOAT_EQ(nn::AvgPool2d(3, 2, 1)(Variable(x)).value().to_vector<float>()[0], corner);
  EXPECT_FLOAT_EQ(nn::AvgPool2d(3, 2, 1, false)(Variable(x)).value().to_vector<float>()[0], 2.5f);
}

TEST(Pooling, AdaptiveAvgPoolUsesPyTorchBins) {
  const Tensor x = Tensor::arange(25, DType::Float64).reshape({1, 1, 5, 5});
  // torch.nn.AdaptiveAvgPool2d(3)(torch.arange(25.).reshape(1, 1, 5, 5)): rows and columns
  // [0, 2), [1, 4), [3, 5).
  expect_close(nn::AdaptiveAvgPool2d(3)(Variable(x)).value(),
               Tensor::from_vector<double>({3, 4.5, 6, 10.5, 12, 13.5, 18, 19.5, 21}, {1, 1, 3, 3}),
               1e-12, 0.0);
  expect_close(nn::AdaptiveAvgPool2d(1)(Variable(x)).value(),
               Tensor::full({1, 1, 1, 1}, 12.0, DType::Float64), 1e-12, 0.0);
  const Tensor y = Tensor::arange(4, DType::Float64).reshape({1, 1, 2, 2});
  expect_close(nn::AdaptiveAvgPool2d(3)(Variable(y)).value(),
               Tensor::from_vector<double>({0, 0.5, 1, 1, 1.5, 2, 2, 2.5, 3}, {1, 1, 3, 3}), 1e-12,
               0.0);
  EXPECT_EQ(nn::AdaptiveAvgPool2d(2, 3)(Variable(Tensor::zeros({2, 3, 8, 9}))).shape(),
            (Shape{2, 3, 2, 3}));
}

TEST(Flatten, KeepsTheBatchDimension) {
  EXPECT_EQ(nn::Flatten()(Variable(Tensor::zeros({2, 3, 4, 5}))).shape(), (Shape{2, 60}));
  EXPECT_EQ(nn::Flatten(1, 2)(Variable(Tensor::zeros({2, 3, 4, 5}))).shape(), (Shape{2, 12, 5}));
}

TEST(Dropout, IsTheIdentityInEvalMode) {
  nn::Dropout dropout(0.5);
  dropout.eval();
  const Variable x(random_tensor({4, 8}, 4, DType::Float32));
  EXPECT_EQ(dropout(x).value().to_vector<float>(), x.value().to_vector<float>());
}

TEST(Dropout, ZeroesOrScalesByOneOverKeepProbabilityInTraining) {
  Generator gen(5);
  nn::Dropout dropout(0.25, &gen);
  ASSERT_TRUE(dropout.is_training());
  const Variable x(Tensor::ones({64, 64}), /*requires_grad=*/true);
  const Variable y = dropout(x);
  std::int64_t kept = 0;
  for (const float v : y.value().to_vector<float>()) {
    EXPECT_TRUE(v == 0.0f || std::abs(v - 1.0f / 0.75f) < 1e-6f) << v;
    kept += v != 0.0f;
  }
  EXPECT_NEAR(static_cast<double>(kept) / 4096.0, 0.75, 0.05);
  // The gradient goes through the same mask and scale.
  y.backward(Tensor::ones({64, 64}));
  EXPECT_EQ(x.grad().to_vector<float>(), y.value().to_vector<float>());
  EXPECT_EQ(nn::Dropout(0.0)(x).value().to_vector<float>(), x.value().to_vector<float>());
}

}  // namespace
}  // namespace ortho
