#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "autograd/gradcheck.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "autograd/variable.h"
#include "support/autograd_support.h"
#include "support/test_support.h"

namespace ortho::autograd {
namespace {

using ortho::testing::expect_close;
using ortho::testing::passes_gradcheck;
using ortho::testing::random_tensor;

using Inputs = std::vector<Variable>;
using Dims = std::vector<std::int64_t>;

struct ReduceCase {
  Dims dims;
  bool keepdim;
};

const std::vector<ReduceCase> kCases = {{{}, false},     {{1}, false}, {{1}, true},
                                        {{0, 2}, false}, {{-1}, true}, {{0, 1, 2}, true}};

// A (2, 3, 4) input laid out as a permuted view.
Tensor permuted(std::uint64_t seed) {
  return random_tensor({4, 2, 3}, seed).permute({1, 2, 0});
}

TEST(GradcheckReduce, SumAndMean) {
  for (const ReduceCase& c : kCases) {
    const auto sum_op = [c](const Inputs& in) { return sum(in[0], c.dims, c.keepdim); };
    const auto mean_op = [c](const Inputs& in) { return mean(in[0], c.dims, c.keepdim); };
    for (const GradcheckFunction& op : {GradcheckFunction(sum_op), GradcheckFunction(mean_op)}) {
      EXPECT_TRUE(passes_gradcheck(op, {random_tensor({2, 3, 4}, 1)}));
      EXPECT_TRUE(passes_gradcheck(op, {permuted(2)}));
    }
  }
  EXPECT_TRUE(
      passes_gradcheck([](const Inputs& in) { return sum(in[0]); }, {random_tensor({}, 3)}));
  EXPECT_TRUE(
      passes_gradcheck([](const Inputs& in) { return mean(in[0], {0}); }, {random_tensor({}, 4)}));
}

TEST(GradcheckReduce, AmaxAndAmin) {
  for (const ReduceCase& c : kCases) {
    const auto max_op = [c](const Inputs& in) { return amax(in[0], c.dims, c.keepdim); };
    const auto min_op = [c](const Inputs& in) { return amin(in[0], c.dims, c.keepdim); };
    for (const GradcheckFunction& op : {GradcheckFunction(max_op), GradcheckFunction(min_op)}) {
      EXPECT_TRUE(passes_gradcheck(op, {random_tensor({2, 3, 4}, 5)}));
      EXPECT_TRUE(passes_gradcheck(op, {permuted(6)}));
    }
  }
}

TEST(GradcheckReduce, TiedExtremesShareTheGradient) {
  Variable x(Tensor::from_vector(std::vector<double>{1, 3, 3, -2, -2, 0}, {2, 3}), true);
  sum(amax(x, {1}) + amin(x, {1})).backward();
  expect_close(x.grad(),
               Tensor::from_vector(std::vector<double>{1, 0.5, 0.5, 0.5, 0.5, 1}, {2, 3}));
}

TEST(GradcheckReduce, Variance) {
  for (const ReduceCase& c : kCases) {
    for (const bool unbiased : {true, false}) {
      const auto op = [c, unbiased](const Inputs& in) {
        return var(in[0], c.dims, unbiased, c.keepdim);
      };
      EXPECT_TRUE(passes_gradcheck(op, {random_tensor({2, 3, 4}, 7)}));
      EXPECT_TRUE(passes_gradcheck(op, {permuted(8)}));
    }
  }
}

TEST(GradcheckReduce, SumToAndNorm) {
  const auto to_row = [](const Inputs& in) { return sum_to(in[0], {3, 1}); };
  const auto to_scalar = [](const Inputs& in) { return sum_to(in[0], {}); };
  const auto unchanged = [](const Inputs& in) { return sum_to(in[0], {2, 3, 4}); };
  for (const GradcheckFunction& op :
       {GradcheckFunction(to_row), GradcheckFunction(to_scalar), GradcheckFunction(unchanged)}) {
    EXPECT_TRUE(passes_gradcheck(op, {permuted(9)}));
  }
  EXPECT_TRUE(passes_gradcheck([](const Inputs& in) { return norm(in[0] * 2.0); }, {permuted(10)}));
  Variable zero(Tensor::zeros({3}, DType::Float64), true);
  norm(zero).backward();
  expect_close(zero.grad(), Tensor::zeros({3}, DType::Float64));
}

TEST(GradcheckReduce, ReductionsCompose) {
  // A layer-norm-like expression: centered values over their standard deviation.
  const auto op = [](const Inputs& in) {
    const Variable centered = in[0] - mean(in[0], {-1}, true);
    return centered / sqrt(var(in[0], {-1}, false, true) + 1e-5);
  };
  EXPECT_TRUE(passes_gradcheck(op, {permuted(11)}));
}

}  // namespace
}  // namespace ortho::autograd
