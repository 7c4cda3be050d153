#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/variable.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "core/random.h"
#include "core/tensor.h"
#include "layers/activation.h"
#include "layers/batchnorm2d.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/loss.h"
#include "layers/models/basic_block.h"
#include "layers/module.h"
#include "layers/pooling.h"
#include "layers/sequential.h"
#include "support/autograd_support.h"
#include "support/module_gradcheck.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using autograd::Variable;
using testing::module_passes_gradcheck;
using testing::random_tensor;

template <typename M>
M& in_float64(M& module) {
  module.to(DType::Float64);
  return module;
}

TEST(LayersGradcheck, LinearWithBias) {
  Generator gen(1);
  nn::Linear linear(4, 3, /*bias=*/true, &gen);
  EXPECT_TRUE(module_passes_gradcheck(in_float64(linear), random_tensor({2, 4}, 2)));
}

TEST(LayersGradcheck, LinearOnLeadingBatchDimsWithoutBias) {
  Generator gen(3);
  nn::Linear linear(3, 2, /*bias=*/false, &gen);
  EXPECT_TRUE(module_passes_gradcheck(in_float64(linear), random_tensor({2, 3, 3}, 4)));
}

TEST(LayersGradcheck, Conv2dStridePaddingGroupsBias) {
  Generator gen(5);
  nn::Conv2d conv(4, 6, 3, /*stride=*/2, /*padding=*/1, /*groups=*/2, /*bias=*/true, 1, &gen);
  EXPECT_TRUE(module_passes_gradcheck(in_float64(conv), random_tensor({2, 4, 5, 5}, 6)));
}

TEST(LayersGradcheck, Conv2dWithoutBias) {
  Generator gen(7);
  nn::Conv2d conv(2, 3, 1, 1, 0, 1, /*bias=*/false, 1, &gen);
  EXPECT_TRUE(module_passes_gradcheck(in_float64(conv), random_tensor({1, 2, 3, 3}, 8)));
}

TEST(LayersGradcheck, BatchNorm2dTrainMode) {
  nn::BatchNorm2d bn(3);
  in_float64(bn);
  // Non-trivial affine parameters so their gradients are exercised away from 1 and 0.
  bn.load_state_dict({{"weight", random_tensor({3}, 9)}, {"bias", random_tensor({3}, 10)}},
                     /*strict=*/false);
  ASSERT_TRUE(bn.is_training());
  EXPECT_TRUE(module_passes_gradcheck(bn, random_tensor({2, 3, 2, 3}, 11)));
}

TEST(LayersGradcheck, BatchNorm2dEvalMode) {
  nn::BatchNorm2d bn(2);
  in_float64(bn);
  bn.load_state_dict(
      {{"running_mean", random_tensor({2}, 12)}, {"running_var", add(random_tensor({2}, 13), 1.5)}},
      /*strict=*/false);
  bn.eval();
  EXPECT_TRUE(module_passes_gradcheck(bn, random_tensor({2, 2, 2, 2}, 14)));
}

TEST(LayersGradcheck, MaxPool2d) {
  nn::MaxPool2d pool(3, 2, 1);
  EXPECT_TRUE(module_passes_gradcheck(pool, random_tensor({2, 2, 5, 5}, 15)));
}

TEST(LayersGradcheck, AvgPool2dCountingAndExcludingPadding) {
  nn::AvgPool2d with_pad(3, 2, 1, /*count_include_pad=*/true);
  nn::AvgPool2d without_pad(3, 2, 1, /*count_include_pad=*/false);
  EXPECT_TRUE(module_passes_gradcheck(with_pad, random_tensor({1, 2, 5, 5}, 16)));
  EXPECT_TRUE(module_passes_gradcheck(without_pad, random_tensor({1, 2, 5, 5}, 17)));
}

TEST(LayersGradcheck, AdaptiveAvgPool2dGlobalDividingAndGeneral) {
  nn::AdaptiveAvgPool2d global(1), dividing(2), general(3, 2), larger(3);
  EXPECT_TRUE(module_passes_gradcheck(global, random_tensor({2, 2, 3, 3}, 18)));
  EXPECT_TRUE(module_passes_gradcheck(dividing, random_tensor({1, 2, 4, 6}, 19)));
  EXPECT_TRUE(module_passes_gradcheck(general, random_tensor({1, 2, 5, 7}, 20)));
  EXPECT_TRUE(module_passes_gradcheck(larger, random_tensor({1, 1, 2, 2}, 21)));
}

TEST(LayersGradcheck, ReluAndFlatten) {
  nn::Sequential net;
  net.emplace_back<nn::ReLU>();
  net.emplace_back<nn::Flatten>();
  EXPECT_TRUE(module_passes_gradcheck(net, random_tensor({2, 2, 2, 3}, 22)));
}

TEST(LayersGradcheck, CrossEntropyLossWithLabelSmoothing) {
  const Tensor targets = Tensor::from_vector<std::int64_t>({2, 0, 3}, {3});
  for (const double smoothing : {0.0, 0.2}) {
    const nn::CrossEntropyLoss loss(smoothing);
    EXPECT_TRUE(testing::passes_gradcheck(
        [&](const std::vector<Variable>& in) { return loss(in[0], targets); },
        {random_tensor({3, 4}, 23)}))
        << "label_smoothing " << smoothing;
  }
}

TEST(LayersGradcheck, BasicBlockWithProjectionShortcut) {
  Generator gen(24);
  nn::BasicBlock block(2, 4, /*stride=*/2, &gen);
  ASSERT_TRUE(block.has_projection());
  EXPECT_TRUE(module_passes_gradcheck(in_float64(block), random_tensor({2, 2, 4, 4}, 25)));
}

TEST(LayersGradcheck, BasicBlockWithIdentityShortcut) {
  Generator gen(26);
  nn::BasicBlock block(2, 2, /*stride=*/1, &gen);
  ASSERT_FALSE(block.has_projection());
  EXPECT_TRUE(module_passes_gradcheck(in_float64(block), random_tensor({2, 2, 3, 3}, 27)));
}

}  // namespace
}  // namespace ortho
