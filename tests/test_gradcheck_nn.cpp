#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "autograd/gradcheck.h"
#include "autograd/ops/batchnorm.h"
#include "autograd/ops/conv.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/matmul.h"
#include "autograd/ops/pool.h"
#include "autograd/ops/reduce.h"
#include "autograd/ops/softmax.h"
#include "autograd/variable.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "core/ops/softmax.h"
#include "support/autograd_support.h"
#include "support/conv_case.h"
#include "support/test_support.h"

namespace ortho::autograd {
namespace {

using ortho::testing::ConvCase;
using ortho::testing::expect_close;
using ortho::testing::passes_gradcheck;
using ortho::testing::random_tensor;

using Inputs = std::vector<Variable>;

TEST(GradcheckNN, MatmulShapes) {
  const auto op = [](const Inputs& in) { return matmul(in[0], in[1]); };
  const std::vector<std::vector<Tensor>> cases = {
      {random_tensor({2, 3}, 1), random_tensor({3, 4}, 2)},
      {random_tensor({3, 2}, 3).t(), random_tensor({4, 3}, 4).t()},  // transposed layouts
      {random_tensor({3}, 5), random_tensor({3, 2}, 6)},             // 1-D promotion
      {random_tensor({2, 3}, 7), random_tensor({3}, 8)},
      {random_tensor({3}, 9), random_tensor({3}, 10)},
      {random_tensor({2, 2, 3}, 11), random_tensor({3, 2}, 12)},        // shared right operand
      {random_tensor({2, 3}, 13), random_tensor({2, 3, 2}, 14)},        // shared left operand
      {random_tensor({2, 1, 2, 3}, 15), random_tensor({3, 3, 2}, 16)},  // broadcast batch
      {random_tensor({3}, 17), random_tensor({2, 3, 2}, 18)},
      {random_tensor({2, 2, 3}, 19), random_tensor({3}, 20)},
      {random_tensor({2, 3, 4}, 21).slice(2, 0, 4, 2), random_tensor({2, 2, 3}, 22)},
  };
  for (const std::vector<Tensor>& inputs : cases) EXPECT_TRUE(passes_gradcheck(op, inputs));
}

TEST(GradcheckNN, Bmm) {
  const auto op = [](const Inputs& in) { return bmm(in[0], in[1]); };
  EXPECT_TRUE(passes_gradcheck(op, {random_tensor({2, 3, 4}, 23), random_tensor({2, 4, 2}, 24)}));
  EXPECT_TRUE(passes_gradcheck(op, {random_tensor({2, 4, 3}, 25).transpose(1, 2),
                                    random_tensor({2, 2, 4}, 26).transpose(1, 2)}));
}

TEST(GradcheckNN, Conv2dWithStridePaddingDilationGroupsAndBias) {
  // Batches of one but for the first case: a batch of two runs the backend's per-image
  // threading, which costs far more than these tiny convolutions on a busy machine.
  const std::vector<ConvCase> cases = {
      {"3x3 batch 2", {2, 2, 4, 4}, {2, 2, 3, 3}, {}, true},
      {"stride 2x1 pad 1x0", {1, 2, 6, 5}, {2, 2, 3, 2}, {2, 1, 1, 0, 1, 1, 1}, false},
      {"dilation 2 pad 2", {1, 2, 6, 6}, {2, 2, 3, 3}, {1, 1, 2, 2, 2, 2, 1}, true},
      {"2 groups", {1, 4, 4, 4}, {4, 2, 3, 3}, {1, 1, 1, 1, 1, 1, 2}, true},
      {"depthwise stride 2", {1, 4, 5, 5}, {4, 1, 3, 3}, {2, 2, 1, 1, 1, 1, 4}, true},
      {"1x1", {1, 3, 3, 3}, {2, 3, 1, 1}, {}, true},
  };
  for (const ConvCase& c : cases) {
    const Conv2dParams params = c.params;
    std::vector<Tensor> inputs = {random_tensor(c.input, 27), random_tensor(c.weight, 28)};
    if (c.bias) inputs.push_back(random_tensor({c.weight[0]}, 29));
    EXPECT_TRUE(passes_gradcheck(
        [params](const Inputs& in) {
          return conv2d(in[0], in[1], in.size() > 2 ? in[2] : Variable(), params);
        },
        inputs))
        << c.name << ": input " << c.input << " weight " << c.weight;
  }
  // A channels-last input view and an input that needs no gradient.
  const Tensor nhwc = random_tensor({1, 4, 4, 2}, 30).permute({0, 3, 1, 2});
  EXPECT_TRUE(passes_gradcheck([](const Inputs& in) { return conv2d(in[0], in[1], in[2], {}); },
                               {nhwc, random_tensor({2, 2, 3, 3}, 31), random_tensor({2}, 32)}));
  const Variable constant_input(random_tensor({1, 2, 4, 4}, 33));
  EXPECT_TRUE(passes_gradcheck(
      [constant_input](const Inputs& in) { return conv2d(constant_input, in[0], {}, {}); },
      {random_tensor({3, 2, 3, 3}, 34)}));
}

TEST(GradcheckNN, Pooling) {
  const std::vector<Pool2dParams> cases = {
      {2, 2, 2, 2, 0, 0, true},
      {3, 3, 2, 2, 1, 1, true},
      {3, 3, 2, 2, 1, 1, false},
      {3, 2, 1, 2, 1, 0, true},
  };
  for (const Pool2dParams& p : cases) {
    const auto max_op = [p](const Inputs& in) { return max_pool2d(in[0], p); };
    const auto avg_op = [p](const Inputs& in) { return avg_pool2d(in[0], p); };
    for (const GradcheckFunction& op : {GradcheckFunction(max_op), GradcheckFunction(avg_op)}) {
      EXPECT_TRUE(passes_gradcheck(op, {random_tensor({2, 2, 5, 6}, 35)}));
      EXPECT_TRUE(passes_gradcheck(op, {random_tensor({2, 6, 5, 2}, 36).permute({0, 3, 2, 1})}));
    }
  }
}

TEST(GradcheckNN, BatchNormTrain) {
  const auto op = [](const Inputs& in) {
    return batch_norm_train(in[0], in[1], in[2], 1e-5).output;
  };
  EXPECT_TRUE(passes_gradcheck(
      op, {random_tensor({3, 2, 2, 3}, 37), random_tensor({2}, 38), random_tensor({2}, 39)}));
  EXPECT_TRUE(
      passes_gradcheck(op, {random_tensor({3, 4}, 40).permute({1, 0}).t().t().permute({1, 0}),
                            random_tensor({4}, 41), random_tensor({4}, 42)}));
  EXPECT_TRUE(passes_gradcheck(op, {random_tensor({2, 3, 3, 2}, 43).permute({0, 3, 1, 2}),
                                    random_tensor({2}, 44), random_tensor({2}, 45)}));
}

TEST(GradcheckNN, BatchNormTrainExposesBatchStatistics) {
  const Tensor x = random_tensor({4, 3, 2, 2}, 46);
  const BatchNormOutput out =
      batch_norm_train(Variable(x), Variable(Tensor::ones({3}, DType::Float64)),
                       Variable(Tensor::zeros({3}, DType::Float64)), 1e-5);
  expect_close(out.mean, ortho::mean(x, {0, 2, 3}), 1e-12, 1e-12);
  expect_close(out.var, ortho::var(x, {0, 2, 3}, false), 1e-9, 1e-9);
  expect_close(out.invstd, ortho::reciprocal(ortho::sqrt(ortho::add(out.var, 1e-5))), 1e-9, 1e-9);
}

TEST(GradcheckNN, BatchNormEval) {
  const Tensor running_mean = random_tensor({2}, 47);
  const Tensor running_var = ortho::affine(random_tensor({2}, 48), 0.25, 1.0);
  const auto op = [=](const Inputs& in) {
    return batch_norm_eval(in[0], in[1], in[2], running_mean, running_var, 1e-5);
  };
  EXPECT_TRUE(passes_gradcheck(
      op, {random_tensor({2, 2, 3, 3}, 49), random_tensor({2}, 50), random_tensor({2}, 51)}));
  EXPECT_TRUE(passes_gradcheck(
      op, {random_tensor({2, 3}, 52).t(), random_tensor({2}, 53), random_tensor({2}, 54)}));
}

TEST(GradcheckNN, SoftmaxAndLogSoftmax) {
  for (const std::int64_t dim : {-1, 0, 1}) {
    const auto soft = [dim](const Inputs& in) { return softmax(in[0], dim); };
    const auto log_soft = [dim](const Inputs& in) { return log_softmax(in[0], dim); };
    for (const GradcheckFunction& op : {GradcheckFunction(soft), GradcheckFunction(log_soft)}) {
      EXPECT_TRUE(passes_gradcheck(op, {random_tensor({3, 4, 2}, 55)}));
      EXPECT_TRUE(passes_gradcheck(op, {random_tensor({2, 4, 3}, 56).permute({2, 1, 0})}));
    }
  }
}

TEST(GradcheckNN, CrossEntropyWithLabelSmoothing) {
  const Tensor targets = Tensor::from_vector(std::vector<std::int64_t>{2, 0, 3, 3}, {4});
  for (const double smoothing : {0.0, 0.1, 0.5}) {
    const auto op = [&targets, smoothing](const Inputs& in) {
      return cross_entropy(in[0], targets, smoothing);
    };
    EXPECT_TRUE(passes_gradcheck(op, {ortho::mul(random_tensor({4, 5}, 57), 3.0)}));
    EXPECT_TRUE(passes_gradcheck(op, {random_tensor({5, 4}, 58).t()}));
  }
  // The mean over the batch: equal to averaging log-softmax at the targets.
  const Tensor logits = random_tensor({4, 5}, 59);
  const Variable loss = cross_entropy(Variable(logits), targets);
  const std::vector<double> lp = ortho::log_softmax(logits).to_vector<double>();
  const double expected = -(lp[0 * 5 + 2] + lp[1 * 5 + 0] + lp[2 * 5 + 3] + lp[3 * 5 + 3]) / 4.0;
  EXPECT_NEAR(loss.value().item<double>(), expected, 1e-12);
}

TEST(GradcheckNN, ASmallNetworkEndToEnd) {
  const Tensor targets = Tensor::from_vector(std::vector<std::int64_t>{1, 0}, {2});
  const auto op = [&targets](const Inputs& in) {
    const Variable h = relu(
        batch_norm_train(conv2d(in[0], in[1], in[2], {1, 1, 1, 1, 1, 1, 1}), in[3], in[4], 1e-5)
            .output);
    const Variable pooled = mean(max_pool2d(h, {2, 2, 2, 2, 0, 0, true}), {2, 3});
    return cross_entropy(matmul(pooled, in[5]), targets, 0.1);
  };
  EXPECT_TRUE(
      passes_gradcheck(op, {random_tensor({2, 1, 4, 4}, 60), random_tensor({2, 1, 3, 3}, 61),
                            random_tensor({2}, 62), ortho::affine(random_tensor({2}, 63), 0.2, 1.0),
                            random_tensor({2}, 64), random_tensor({2, 3}, 65)}));
}

}  // namespace
}  // namespace ortho::autograd
