// The umbrella header compiles on its own and exposes the core, autograd and data APIs.
#include <gtest/gtest.h>

#include "ortho.h"

namespace ortho {
namespace {

TEST(Umbrella, TensorAndAutogradTogether) {
  autograd::Variable x(Tensor::full({2, 2}, 3.0, DType::Float64), true);
  autograd::Variable y = autograd::sum(autograd::mul(x, x));
  y.backward();
  EXPECT_EQ(y.value().item<double>(), 36.0);
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{6, 6, 6, 6}));
}

}  // namespace
}  // namespace ortho
