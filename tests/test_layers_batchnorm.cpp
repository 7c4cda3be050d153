#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/variable.h"
#include "core/ops/elementwise.h"
#include "core/tensor.h"
#include "layers/batchnorm2d.h"
#include "layers/sequential.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using autograd::Variable;
using testing::expect_close;
using testing::random_tensor;

// Per-channel statistics of an NCHW float64 tensor, written out.
struct ChannelStats {
  std::vector<double> mean, biased_var, unbiased_var;
};

ChannelStats channel_stats(const Tensor& x) {
  const std::int64_t n = x.size(0), c = x.size(1), hw = x.size(2) * x.size(3);
  const std::vector<double> v = x.to_vector<double>();
  ChannelStats s;
  for (std::int64_t ch = 0; ch < c; ++ch) {
    double sum = 0.0, squares = 0.0;
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::int64_t k = 0; k < hw; ++k)
        sum += v[static_cast<std::size_t>((i * c + ch) * hw + k)];
    }
    const double count = static_cast<double>(n * hw), mean = sum / count;
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::int64_t k = 0; k < hw; ++k) {
        const double d = v[static_cast<std::size_t>((i * c + ch) * hw + k)] - mean;
        squares += d * d;
      }
    }
    s.mean.push_back(mean);
    s.biased_var.push_back(squares / count);
    s.unbiased_var.push_back(squares / (count - 1.0));
  }
  return s;
}

// (x - mean[c]) / sqrt(var[c] + eps) * weight[c] + bias[c].
Tensor normalized(const Tensor& x, const std::vector<double>& mean, const std::vector<double>& var,
                  const std::vector<double>& weight, const std::vector<double>& bias, double eps) {
  const std::int64_t c = x.size(1), hw = x.size(2) * x.size(3);
  std::vector<double> v = x.to_vector<double>();
  for (std::size_t i = 0; i < v.size(); ++i) {
    const auto ch = static_cast<std::size_t>((static_cast<std::int64_t>(i) / hw) % c);
    v[i] = (v[i] - mean[ch]) / std::sqrt(var[ch] + eps) * weight[ch] + bias[ch];
  }
  return Tensor::from_vector(v, x.shape());
}

std::shared_ptr<nn::BatchNorm2d> float64_bn(std::int64_t channels, double eps = 1e-5,
                                            double momentum = 0.1) {
  auto bn = std::make_shared<nn::BatchNorm2d>(channels, eps, momentum);
  bn->to(DType::Float64);
  return bn;
}

TEST(BatchNorm2d, DefaultsFollowPyTorch) {
  const nn::BatchNorm2d bn(4);
  EXPECT_EQ(bn.eps(), 1e-5);
  EXPECT_EQ(bn.momentum(), 0.1);
  EXPECT_EQ(bn.num_batches_tracked(), 0);
  expect_close(bn.weight().value(), Tensor::ones({4}), 0.0, 0.0);
  expect_close(bn.bias().value(), Tensor::zeros({4}), 0.0, 0.0);
  expect_close(bn.running_mean(), Tensor::zeros({4}), 0.0, 0.0);
  expect_close(bn.running_var(), Tensor::ones({4}), 0.0, 0.0);
}

TEST(BatchNorm2d, TrainingNormalizesWithBiasedBatchStatistics) {
  auto bn = float64_bn(3);
  const Tensor weight = random_tensor({3}, 1), bias = random_tensor({3}, 2);
  bn->load_state_dict({{"weight", weight}, {"bias", bias}}, /*strict=*/false);
  const Tensor x = random_tensor({4, 3, 2, 2}, 3);
  const ChannelStats s = channel_stats(x);
  expect_close(bn->forward(Variable(x)).value(),
               normalized(x, s.mean, s.biased_var, weight.to_vector<double>(),
                          bias.to_vector<double>(), 1e-5),
               1e-12, 1e-12);
}

TEST(BatchNorm2d, TrainStepsUpdateRunningStatsWithMomentumAndUnbiasedVariance) {
  auto bn = float64_bn(3);
  std::vector<double> mean(3, 0.0), var(3, 1.0);
  for (int step = 0; step < 2; ++step) {
    const Tensor x = add(mul(random_tensor({2, 3, 3, 2}, 10 + step), 2.0), 0.5);
    bn->forward(Variable(x));
    const ChannelStats s = channel_stats(x);
    for (std::size_t c = 0; c < 3; ++c) {
      mean[c] = 0.9 * mean[c] + 0.1 * s.mean[c];
      var[c] = 0.9 * var[c] + 0.1 * s.unbiased_var[c];
    }
    expect_close(bn->running_mean(), Tensor::from_vector(mean, {3}), 1e-14, 1e-12);
    expect_close(bn->running_var(), Tensor::from_vector(var, {3}), 1e-14, 1e-12);
    EXPECT_EQ(bn->num_batches_tracked(), step + 1);
  }
}

TEST(BatchNorm2d, CustomMomentumAndEps) {
  auto bn = float64_bn(2, /*eps=*/1e-3, /*momentum=*/0.5);
  const Tensor x = random_tensor({3, 2, 2, 2}, 20);
  const ChannelStats s = channel_stats(x);
  expect_close(bn->forward(Variable(x)).value(),
               normalized(x, s.mean, s.biased_var, {1.0, 1.0}, {0.0, 0.0}, 1e-3), 1e-12, 1e-12);
  expect_close(bn->running_mean(),
               Tensor::from_vector(std::vector<double>{0.5 * s.mean[0], 0.5 * s.mean[1]}, {2}),
               1e-14, 1e-12);
  expect_close(
      bn->running_var(),
      Tensor::from_vector(
          std::vector<double>{0.5 + 0.5 * s.unbiased_var[0], 0.5 + 0.5 * s.unbiased_var[1]}, {2}),
      1e-14, 1e-12);
}

TEST(BatchNorm2d, EvalUsesRunningStatsAndLeavesThemUnchanged) {
  auto bn = float64_bn(2);
  const std::vector<double> rm = {0.3, -0.2}, rv = {0.5, 2.0}, w = {1.5, -0.5}, b = {0.1, 0.2};
  bn->load_state_dict({{"running_mean", Tensor::from_vector(rm, {2})},
                       {"running_var", Tensor::from_vector(rv, {2})},
                       {"weight", Tensor::from_vector(w, {2})},
                       {"bias", Tensor::from_vector(b, {2})}},
                      /*strict=*/false);
  bn->eval();
  const Tensor x = random_tensor({2, 2, 3, 3}, 30);
  expect_close(bn->forward(Variable(x)).value(), normalized(x, rm, rv, w, b, 1e-5), 1e-12, 1e-12);
  expect_close(bn->running_mean(), Tensor::from_vector(rm, {2}), 0.0, 0.0);
  expect_close(bn->running_var(), Tensor::from_vector(rv, {2}), 0.0, 0.0);
  EXPECT_EQ(bn->num_batches_tracked(), 0);
  // A single value per channel is fine in evaluation.
  EXPECT_EQ(bn->forward(Variable(random_tensor({1, 2, 1, 1}, 31))).shape(), (Shape{1, 2, 1, 1}));
}

TEST(BatchNorm2d, ModeOfAnEnclosingSequentialReachesIt) {
  nn::Sequential outer;
  auto inner = outer.emplace_back<nn::Sequential>();
  auto bn = inner->emplace_back<nn::BatchNorm2d>(2);
  outer.to(DType::Float64);
  outer.eval();
  const Tensor x = random_tensor({2, 2, 2, 2}, 40);
  expect_close(outer(Variable(x)).value(), normalized(x, {0, 0}, {1, 1}, {1, 1}, {0, 0}, 1e-5),
               1e-12, 1e-12);
  EXPECT_EQ(bn->num_batches_tracked(), 0);
  outer.train();
  outer(Variable(x));
  EXPECT_EQ(bn->num_batches_tracked(), 1);
}

TEST(BatchNorm2d, RejectsBadInputAndConfiguration) {
  nn::BatchNorm2d bn(3);
  const auto message = [&](const Tensor& x) -> std::string {
    try {
      bn.forward(Variable(x));
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "no exception";
  };
  const std::string wrong_channels = message(Tensor::zeros({2, 4, 2, 2}));
  EXPECT_NE(wrong_channels.find("BatchNorm2d"), std::string::npos) << wrong_channels;
  EXPECT_NE(wrong_channels.find("[2, 4, 2, 2]"), std::string::npos) << wrong_channels;
  EXPECT_NE(message(Tensor::zeros({2, 3})).find("BatchNorm2d"), std::string::npos);
  const std::string single = message(Tensor::zeros({1, 3, 1, 1}));
  EXPECT_NE(single.find("more than one value per channel"), std::string::npos) << single;
  EXPECT_EQ(bn.num_batches_tracked(), 0);
  EXPECT_THROW(nn::BatchNorm2d(0), std::invalid_argument);
  EXPECT_THROW(nn::BatchNorm2d(2, 1e-5, 1.5), std::invalid_argument);
  EXPECT_THROW(nn::BatchNorm2d(2, 0.0), std::invalid_argument);
}

}  // namespace
}  // namespace ortho
