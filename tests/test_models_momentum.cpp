#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "autograd/variable.h"
#include "core/random.h"
#include "core/tensor.h"
#include "layers/models/basic_block.h"
#include "layers/models/momentum_resnet.h"
#include "layers/models/resnet_cifar.h"
#include "layers/momentum.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using autograd::Variable;
using testing::max_abs_diff;
using testing::random_tensor;

TEST(MomentumResNet, StagesBecomeMomentumRunsAndTransitionsStayOrdinary) {
  Generator gen(1);
  const auto net = nn::momentum_resnet_cifar(20, 10, &gen);
  EXPECT_EQ(net->num_parameters(), 272474);  // ResNet-20's parameters, regrouped
  const auto layer1 = std::dynamic_pointer_cast<nn::MomentumSequential>(net->child("layer1"));
  ASSERT_NE(layer1, nullptr);
  EXPECT_EQ(layer1->size(), 3u);
  EXPECT_DOUBLE_EQ(layer1->gamma(), 0.9);
  EXPECT_TRUE(layer1->options().residual_blocks);
  for (const std::string stage : {"layer2", "layer3"}) {
    const auto seq = std::dynamic_pointer_cast<nn::Sequential>(net->child(stage));
    ASSERT_NE(seq, nullptr);
    ASSERT_EQ(seq->size(), 2u);
    const auto transition = std::dynamic_pointer_cast<nn::BasicBlock>((*seq)[0]);
    ASSERT_NE(transition, nullptr);
    EXPECT_TRUE(transition->has_projection());
    const auto run = std::dynamic_pointer_cast<nn::MomentumSequential>((*seq)[1]);
    ASSERT_NE(run, nullptr);
    EXPECT_EQ(run->size(), 2u);
  }
  const auto names = net->state_dict();
  EXPECT_EQ(names.count("layer1.0.conv1.weight"), 1u);
  EXPECT_EQ(names.count("layer2.1.0.conv1.weight"), 1u);
  EXPECT_EQ(net->forward(Variable(random_tensor({2, 3, 16, 16}, 2, DType::Float32))).shape(),
            (Shape{2, 10}));
}

TEST(MomentumResNet, ToMomentumConvertsOnceAndSharesTheBlocks) {
  Generator gen(1);
  const auto net = nn::resnet_cifar(32, 10, &gen);
  const auto first_block = net->stage(1)->children().front();
  net->eval();
  EXPECT_EQ(nn::to_momentum(*net, 0.8), 3u);
  EXPECT_EQ(nn::to_momentum(*net, 0.8), 0u);
  const auto layer1 = std::dynamic_pointer_cast<nn::MomentumSequential>(net->child("layer1"));
  ASSERT_NE(layer1, nullptr);
  EXPECT_EQ((*layer1)[0], first_block);
  EXPECT_FALSE(layer1->is_training());
}

// With gamma -> 0 and f_n = block_n - identity, a momentum ResNet is its ResNet (the drop-in
// property of the reference package's transform).
TEST(MomentumResNet, TinyGammaGivesBackTheResNet) {
  Generator gen_a(4), gen_b(4);
  const auto plain = nn::resnet20(10, &gen_a);
  nn::MomentumOptions options;
  options.gamma = 1.0 / 65536;
  const auto momentum = nn::momentum_resnet_cifar(20, 10, &gen_b, options);
  const Tensor x = random_tensor({2, 3, 16, 16}, 5, DType::Float32);
  const autograd::NoGradGuard no_grad;
  const Tensor expected = plain->forward(Variable(x)).value();
  EXPECT_LE(max_abs_diff(momentum->forward(Variable(x)).value(), expected), 1e-3);
}

std::vector<Tensor> training_step_grads(bool invertible) {
  Generator gen(7);
  nn::MomentumOptions options;
  options.invertible = invertible;
  const auto net = nn::momentum_resnet_cifar(20, 10, &gen, options);
  const Variable logits = net->forward(Variable(random_tensor({2, 3, 16, 16}, 8, DType::Float32)));
  autograd::sum(autograd::mul(logits, Variable(random_tensor({2, 10}, 9, DType::Float32))))
      .backward();
  std::vector<Tensor> grads;
  for (const nn::Parameter& p : net->parameters()) grads.push_back(p.grad());
  for (const Tensor& b : net->buffers()) grads.push_back(b);
  return grads;
}

TEST(MomentumResNet, InvertibleTrainingStepMatchesStoredActivations) {
  const std::vector<Tensor> stored = training_step_grads(false);
  const std::vector<Tensor> invertible = training_step_grads(true);
  ASSERT_EQ(stored.size(), invertible.size());
  double scale = 0;
  for (const Tensor& g : stored) {
    scale = std::max(scale, max_abs_diff(g, Tensor::zeros(g.shape(), g.dtype())));
  }
  for (std::size_t i = 0; i < stored.size(); ++i) {
    ASSERT_TRUE(invertible[i].defined()) << i;
    EXPECT_LE(max_abs_diff(invertible[i], stored[i]), 1e-4 * scale) << i;
  }
}

}  // namespace
}  // namespace ortho
