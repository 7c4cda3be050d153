#include <gtest/gtest.h>

#include <vector>

#include "autograd/gradcheck.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "autograd/variable.h"
#include "core/ops/elementwise.h"
#include "support/autograd_support.h"
#include "support/test_support.h"

namespace ortho::autograd {
namespace {

using ortho::testing::expect_close;
using ortho::testing::passes_gradcheck;
using ortho::testing::random_tensor;

using Inputs = std::vector<Variable>;

// Values in [1, 2): away from the poles and branch points of log, sqrt, div, pow.
Tensor positive(const Shape& shape, std::uint64_t seed) {
  return ortho::affine(random_tensor(shape, seed), 0.5, 1.5);
}

// A (3, 4) input laid out transposed, and one taken every other column.
Tensor transposed(std::uint64_t seed) {
  return random_tensor({4, 3}, seed).t();
}
Tensor strided(std::uint64_t seed) {
  return random_tensor({3, 8}, seed).slice(1, 0, 8, 2);
}
Tensor positive_transposed(std::uint64_t seed) {
  return positive({4, 3}, seed).t();
}
Tensor positive_strided(std::uint64_t seed) {
  return positive({3, 8}, seed).slice(1, 0, 8, 2);
}

TEST(GradcheckElementwise, BinaryOpsWithBroadcasting) {
  const auto sum_op = [](const Inputs& in) { return add(in[0], in[1]); };
  const auto sub_op = [](const Inputs& in) { return sub(in[0], in[1]); };
  const auto mul_op = [](const Inputs& in) { return mul(in[0], in[1]); };
  const auto div_op = [](const Inputs& in) { return div(in[0], in[1]); };
  const auto max_op = [](const Inputs& in) { return maximum(in[0], in[1]); };
  const auto min_op = [](const Inputs& in) { return minimum(in[0], in[1]); };
  for (const auto& op :
       {GradcheckFunction(sum_op), GradcheckFunction(sub_op), GradcheckFunction(mul_op),
        GradcheckFunction(max_op), GradcheckFunction(min_op)}) {
    EXPECT_TRUE(passes_gradcheck(op, {random_tensor({2, 3, 4}, 1), random_tensor({3, 1}, 2)}));
    EXPECT_TRUE(passes_gradcheck(op, {random_tensor({4}, 3), random_tensor({2, 1, 4}, 4)}));
    EXPECT_TRUE(passes_gradcheck(op, {random_tensor({}, 5), random_tensor({2, 3}, 6)}));
    EXPECT_TRUE(passes_gradcheck(op, {transposed(7), strided(8)}));
  }
  EXPECT_TRUE(passes_gradcheck(div_op, {random_tensor({2, 3, 4}, 9), positive({3, 1}, 10)}));
  EXPECT_TRUE(passes_gradcheck(div_op, {transposed(11), positive_strided(12)}));
}

TEST(GradcheckElementwise, PowOfTensors) {
  const auto op = [](const Inputs& in) { return pow(in[0], in[1]); };
  EXPECT_TRUE(passes_gradcheck(op, {positive({2, 3}, 13), random_tensor({2, 3}, 14)}));
  EXPECT_TRUE(passes_gradcheck(op, {positive({3, 1}, 15), random_tensor({4}, 16)}));
  EXPECT_TRUE(passes_gradcheck(op, {positive_transposed(34), strided(35)}));
}

TEST(GradcheckElementwise, TiesSplitTheGradient) {
  Variable a(Tensor::full({3}, 0.5, DType::Float64), true);
  Variable b(Tensor::full({3}, 0.5, DType::Float64), true);
  sum(maximum(a, b) + minimum(a, b) * 3.0).backward();
  expect_close(a.grad(), Tensor::full({3}, 2.0, DType::Float64));
  expect_close(b.grad(), Tensor::full({3}, 2.0, DType::Float64));
}

TEST(GradcheckElementwise, UnaryOps) {
  const std::vector<GradcheckFunction> anywhere = {
      [](const Inputs& in) { return neg(in[0]); },
      [](const Inputs& in) { return exp(in[0]); },
      [](const Inputs& in) { return abs(in[0]); },
      [](const Inputs& in) { return square(in[0]); },
      [](const Inputs& in) { return relu(in[0]); },
      [](const Inputs& in) { return sigmoid(in[0]); },
      [](const Inputs& in) { return tanh(in[0]); },
      [](const Inputs& in) { return clamp(in[0], -0.4, 0.3); },
      [](const Inputs& in) { return affine(in[0], -1.5, 0.25); },
      [](const Inputs& in) { return pow(in[0], 3.0); },
      [](const Inputs& in) { return pow(in[0], 2.0); },
      [](const Inputs& in) { return pow(in[0], 0.0); },
      [](const Inputs& in) { return add(in[0], 2.5); },
      [](const Inputs& in) { return mul(in[0], -3.0); },
  };
  for (const GradcheckFunction& op : anywhere) {
    EXPECT_TRUE(passes_gradcheck(op, {random_tensor({2, 5}, 17)}));
    EXPECT_TRUE(passes_gradcheck(op, {transposed(18)}));
    EXPECT_TRUE(passes_gradcheck(op, {strided(19)}));
  }
  const std::vector<GradcheckFunction> positive_only = {
      [](const Inputs& in) { return log(in[0]); },
      [](const Inputs& in) { return sqrt(in[0]); },
      [](const Inputs& in) { return reciprocal(in[0]); },
      [](const Inputs& in) { return pow(in[0], -1.5); },
      [](const Inputs& in) { return pow(in[0], 0.5); },
  };
  for (const GradcheckFunction& op : positive_only) {
    EXPECT_TRUE(passes_gradcheck(op, {positive({2, 5}, 20)}));
    EXPECT_TRUE(passes_gradcheck(op, {positive_transposed(21)}));
    EXPECT_TRUE(passes_gradcheck(op, {positive_strided(33)}));
  }
}

TEST(GradcheckElementwise, WhereRoutesToBothBranches) {
  const Tensor cond = ortho::gt(random_tensor({2, 3}, 22), 0.0);
  const auto op = [cond](const Inputs& in) { return where(cond, in[0], in[1]); };
  EXPECT_TRUE(passes_gradcheck(op, {random_tensor({2, 3}, 23), random_tensor({2, 3}, 24)}));
  EXPECT_TRUE(passes_gradcheck(op, {random_tensor({3}, 25), random_tensor({2, 1}, 26)}));
  EXPECT_TRUE(
      passes_gradcheck(op, {transposed(27).slice(0, 1, 3).slice(1, 0, 3), random_tensor({}, 28)}));
}

TEST(GradcheckElementwise, Operators) {
  const auto op = [](const Inputs& in) {
    const Variable& a = in[0];
    const Variable& b = in[1];
    return (a + b) * (a - b) / (b * b + 1.0) + 2.0 * a - 0.5 / (b * b + 1.0) + (1.0 - a) / 4.0 +
           (-a) * 3.0 + (3.0 + b) - 1.0;
  };
  EXPECT_TRUE(passes_gradcheck(op, {random_tensor({3, 2}, 29), random_tensor({2}, 30)}));
}

TEST(GradcheckElementwise, OpsCompose) {
  const auto op = [](const Inputs& in) {
    return sigmoid(in[0] * in[1]) * tanh(in[0]) + exp(mul(in[1], in[1]) * -1.0);
  };
  EXPECT_TRUE(passes_gradcheck(op, {transposed(31), strided(32)}));
}

}  // namespace
}  // namespace ortho::autograd
