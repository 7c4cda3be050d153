#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "autograd/gradcheck.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "autograd/ops/shape_ops.h"
#include "autograd/ops/views.h"
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

// A (2, 3, 4) input, contiguous and as a permuted view.
std::vector<Tensor> layouts(std::uint64_t seed) {
  return {random_tensor({2, 3, 4}, seed), random_tensor({4, 2, 3}, seed + 1).permute({1, 2, 0})};
}

// Views pass gradients through unchanged, so each check multiplies by x to make the
// gradient depend on where every element went.
void expect_view_gradcheck(const std::function<Variable(const Variable&)>& view) {
  for (const Tensor& x : layouts(1)) {
    EXPECT_TRUE(passes_gradcheck([&](const Inputs& in) { return view(in[0]) * view(in[0]); }, {x}));
  }
}

TEST(GradcheckViews, ShapeViews) {
  expect_view_gradcheck([](const Variable& x) { return reshape(x, {4, -1}); });
  expect_view_gradcheck([](const Variable& x) { return reshape(x, {24}); });
  expect_view_gradcheck([](const Variable& x) { return flatten(x, 1); });
  expect_view_gradcheck([](const Variable& x) { return flatten(x); });
  expect_view_gradcheck([](const Variable& x) { return unsqueeze(x, 1); });
  expect_view_gradcheck([](const Variable& x) { return squeeze(unsqueeze(x, -1), -1); });
  expect_view_gradcheck([](const Variable& x) { return contiguous(x); });
  expect_view_gradcheck([](const Variable& x) { return clone(x); });
  expect_view_gradcheck([](const Variable& x) { return view(contiguous(x), {6, 4}); });
}

TEST(GradcheckViews, LayoutViews) {
  expect_view_gradcheck([](const Variable& x) { return permute(x, {2, 0, 1}); });
  expect_view_gradcheck([](const Variable& x) { return permute(x, {-1, 1, 0}); });
  expect_view_gradcheck([](const Variable& x) { return transpose(x, 0, 2); });
  expect_view_gradcheck([](const Variable& x) { return t(select(x, 0, 1)); });
  expect_view_gradcheck([](const Variable& x) { return select(x, 1, -1); });
  expect_view_gradcheck([](const Variable& x) { return slice(x, 2, 1, 4); });
  expect_view_gradcheck([](const Variable& x) { return slice(x, -1, 0, 4, 2); });
  expect_view_gradcheck([](const Variable& x) { return slice(slice(x, 0, 1, 2), 1, -2, 3); });
}

TEST(GradcheckViews, ExpandSumsTheGradientBack) {
  const auto op = [](const Inputs& in) { return expand(in[0], {2, 3, 4}) * in[1]; };
  EXPECT_TRUE(passes_gradcheck(op, {random_tensor({3, 1}, 3), layouts(4)[1]}));
  EXPECT_TRUE(passes_gradcheck(op, {random_tensor({1, 4}, 5).t().t(), layouts(6)[0]}));
}

TEST(GradcheckViews, DtypeConversionRoundTrips) {
  Variable x(random_tensor({3}, 7), true);
  const Variable y = to(x, DType::Float32);
  EXPECT_EQ(y.dtype(), DType::Float32);
  sum(y * y).backward();
  EXPECT_EQ(x.grad().dtype(), DType::Float64);
  expect_close(x.grad(),
               ortho::mul(random_tensor({3}, 7).to(DType::Float32).to(DType::Float64), 2.0), 1e-6,
               1e-6);
  EXPECT_TRUE(passes_gradcheck(
      [](const Inputs& in) { return to(to(in[0], DType::Float64), Device::cpu()) * in[0]; },
      {layouts(8)[1]}));
  EXPECT_THROW(to(x, DType::Int64), std::invalid_argument);
}

TEST(GradcheckViews, CatStackAndPad) {
  const auto cat_op = [](const Inputs& in) { return cat({in[0], in[1], in[0]}, 1); };
  EXPECT_TRUE(passes_gradcheck(cat_op, {random_tensor({2, 3}, 9), random_tensor({4, 2}, 10).t()}));
  const auto cat_last = [](const Inputs& in) { return cat({in[0], in[1]}, -1) * 1.5; };
  EXPECT_TRUE(passes_gradcheck(cat_last, {layouts(11)[1], random_tensor({2, 3, 1}, 12)}));
  const auto stack_op = [](const Inputs& in) {
    return stack({in[0], in[1]}, 1) * stack({in[1], in[0]}, 1);
  };
  EXPECT_TRUE(passes_gradcheck(stack_op, {layouts(13)[0], layouts(14)[1]}));
  const auto stack_last = [](const Inputs& in) { return stack({in[0], in[1], in[1]}, -1); };
  EXPECT_TRUE(
      passes_gradcheck(stack_last, {random_tensor({2, 2}, 15), random_tensor({2, 2}, 16).t()}));
  const auto pad_op = [](const Inputs& in) { return pad2d(in[0], 1, 0, 2, 1) * 2.0; };
  for (const Tensor& x : layouts(17)) EXPECT_TRUE(passes_gradcheck(pad_op, {x}));
  const auto pad_4d = [](const Inputs& in) { return pad2d(in[0], 1, 1, 1, 1); };
  EXPECT_TRUE(passes_gradcheck(pad_4d, {random_tensor({1, 2, 3, 3}, 18)}));
}

}  // namespace
}  // namespace ortho::autograd
