#include "support/test_support.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace ortho::testing {

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double worst = 0.0;
  for (std::size_t i = 0; i < std::min(x.size(), y.size()); ++i) {
    worst = std::max(worst, std::abs(x[i] - y[i]));
  }
  return worst;
}

void expect_close(const Tensor& actual, const Tensor& expected, double atol, double rtol) {
  ASSERT_EQ(actual.shape(), expected.shape());
  const std::vector<double> x = actual.to_vector<double>(), y = expected.to_vector<double>();
  for (std::size_t i = 0; i < x.size(); ++i) {
    ASSERT_NEAR(x[i], y[i], atol + rtol * std::abs(y[i])) << "at flat index " << i;
  }
}

Tensor random_tensor(const Shape& shape, std::uint64_t seed, DType dtype) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<double> values(static_cast<std::size_t>(shape.numel()));
  for (double& v : values) v = dist(rng);
  return Tensor::from_vector(values, shape).to(dtype);
}

}  // namespace ortho::testing
