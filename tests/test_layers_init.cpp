#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "core/ops/elementwise.h"
#include "core/ops/matmul.h"
#include "core/random.h"
#include "core/tensor.h"
#include "layers/init.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using testing::expect_close;

double max_abs(const Tensor& t) {
  double out = 0.0;
  for (const double x : t.to_vector<double>()) out = std::max(out, std::abs(x));
  return out;
}

TEST(Init, FansAndGains) {
  const nn::init::Fans fans = nn::init::compute_fans(Tensor::empty({8, 4, 3, 3}));
  EXPECT_EQ(fans.fan_in, 36);
  EXPECT_EQ(fans.fan_out, 72);
  EXPECT_THROW(nn::init::compute_fans(Tensor::empty({5})), std::invalid_argument);
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain(nn::init::Nonlinearity::ReLU), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain(nn::init::Nonlinearity::Tanh), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(nn::init::calculate_gain(nn::init::Nonlinearity::LeakyReLU, std::sqrt(5.0)),
                   std::sqrt(1.0 / 3.0));
}

TEST(Init, KaimingHasStdGainOverSqrtFan) {
  Generator gen(1);
  Tensor w = Tensor::empty({64, 32, 3, 3});
  nn::init::kaiming_normal_(w, 0.0, nn::init::FanMode::FanOut, nn::init::Nonlinearity::ReLU, &gen);
  EXPECT_NEAR(testing::population_std(w) / std::sqrt(2.0 / (64 * 9)), 1.0, 0.03);
  nn::init::kaiming_uniform_(w, 0.0, nn::init::FanMode::FanIn, nn::init::Nonlinearity::ReLU, &gen);
  const double bound = std::sqrt(3.0) * std::sqrt(2.0 / (32 * 9));
  EXPECT_LE(max_abs(w), bound);
  EXPECT_NEAR(testing::population_std(w) / std::sqrt(2.0 / (32 * 9)), 1.0, 0.03);
}

TEST(Init, XavierHasStdGainTimesSqrtTwoOverFanSum) {
  Generator gen(2);
  Tensor w = Tensor::empty({200, 100});
  const double expected = 2.0 * std::sqrt(2.0 / 300.0);
  nn::init::xavier_normal_(w, 2.0, &gen);
  EXPECT_NEAR(testing::population_std(w) / expected, 1.0, 0.03);
  nn::init::xavier_uniform_(w, 2.0, &gen);
  EXPECT_LE(max_abs(w), std::sqrt(3.0) * expected);
  EXPECT_NEAR(testing::population_std(w) / expected, 1.0, 0.03);
}

TEST(Init, OrthogonalGivesOrthonormalRowsOrColumnsTimesGain) {
  Generator gen(3);
  for (const Shape& shape : {Shape{5, 5}, Shape{4, 9}, Shape{9, 4}, Shape{6, 2, 3, 3}}) {
    Tensor w = Tensor::empty(shape, DType::Float64);
    nn::init::orthogonal_(w, 1.5, &gen);
    const std::int64_t rows = shape[0], cols = shape.numel() / rows;
    const Tensor m = w.reshape({rows, cols});
    const Tensor gram = rows <= cols ? matmul(m, m.t()) : matmul(m.t(), m);
    expect_close(gram, mul(Tensor::eye(std::min(rows, cols), DType::Float64), 2.25), 1e-12, 0.0);
  }
}

TEST(Init, OrthogonalIsTheSignCorrectedQOfAGaussian) {
  // Same seed, same Gaussian G: Q^T G = R must be upper triangular with a positive diagonal.
  Generator gen(4), replay(4);
  Tensor q = Tensor::empty({6, 4}, DType::Float64);
  nn::init::orthogonal_(q, 1.0, &gen);
  const Tensor g = randn({6, 4}, DType::Float64, Device::cpu(), &replay);
  const std::vector<double> r = matmul(q.t(), g).to_vector<double>();
  for (std::int64_t i = 0; i < 4; ++i) {
    EXPECT_GT(r[static_cast<std::size_t>(i * 4 + i)], 0.0) << "R[" << i << "][" << i << "]";
    for (std::int64_t j = 0; j < i; ++j)
      EXPECT_NEAR(r[static_cast<std::size_t>(i * 4 + j)], 0.0, 1e-12);
  }
}

TEST(Init, DefaultsAndConstants) {
  Generator gen(5);
  Tensor w = Tensor::empty({10, 25}), b = Tensor::empty({10});
  nn::init::default_weight_(w, &gen);
  nn::init::default_bias_(b, 25, &gen);
  EXPECT_LE(max_abs(w), 0.2);
  EXPECT_LE(max_abs(b), 0.2);
  nn::init::constant_(b, 0.5);
  expect_close(b, Tensor::full({10}, 0.5), 0.0, 0.0);
  nn::init::zeros_(b);
  expect_close(b, Tensor::zeros({10}), 0.0, 0.0);
  nn::init::ones_(b);
  expect_close(b, Tensor::ones({10}), 0.0, 0.0);
  EXPECT_THROW(nn::init::orthogonal_(Tensor::empty({3})), std::invalid_argument);
}

}  // namespace
}  // namespace ortho
