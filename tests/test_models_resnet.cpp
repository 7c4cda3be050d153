#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "autograd/ops/elementwise.h"
#include "autograd/variable.h"
#include "core/random.h"
#include "core/tensor.h"
#include "layers/batchnorm2d.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/models/basic_block.h"
#include "layers/models/resnet_cifar.h"
#include "layers/sequential.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using autograd::Variable;
using testing::max_abs_diff;
using testing::random_tensor;

std::vector<std::string> parameter_names(const nn::Module& module) {
  std::vector<std::string> out;
  for (const auto& [name, p] : module.named_parameters()) out.push_back(name);
  return out;
}

bool has_name(const std::vector<std::string>& names, const std::string& name) {
  for (const std::string& n : names) {
    if (n == name) return true;
  }
  return false;
}

TEST(ResNetCifar, ResNet20HasTheOptionBParameterCountAndTenLogits) {
  Generator gen(1);
  const auto net = nn::resnet20(10, &gen);
  // 269,722 with the paper's option-A shortcuts plus two 1x1 conv + BN projections:
  // (16*32 + 2*32) + (32*64 + 2*64) = 2,752.
  EXPECT_EQ(net->num_parameters(), 272474);
  EXPECT_EQ(net->num_stages(), 3);
  for (std::int64_t k = 1; k <= 3; ++k) EXPECT_EQ(net->stage(k)->size(), 3u);
  EXPECT_THROW(net->stage(4), std::invalid_argument);
  const Variable logits = (*net)(Variable(random_tensor({2, 3, 32, 32}, 2, DType::Float32)));
  EXPECT_EQ(logits.shape(), (Shape{2, 10}));
  net->eval();
  EXPECT_EQ((*net)(Variable(random_tensor({1, 3, 32, 32}, 3, DType::Float32))).shape(),
            (Shape{1, 10}));
}

TEST(ResNetCifar, DepthsSixNPlusTwoHaveTheirParameterCounts) {
  EXPECT_EQ(nn::resnet32()->num_parameters(), 466906);
  EXPECT_EQ(nn::resnet56()->num_parameters(), 855770);
  EXPECT_EQ(nn::resnet_cifar(44, 100)->num_parameters(), 661338 + 64 * 90 + 90);
}

TEST(ResNetCifar, ResNet18HasFourStagesOf64To512Channels) {
  const auto net = nn::resnet18_cifar();
  EXPECT_EQ(net->num_parameters(), 11173962);
  EXPECT_EQ(net->num_stages(), 4);
  const TensorMap state = net->state_dict();
  EXPECT_EQ(state.at("conv1.weight").shape(), (Shape{64, 3, 3, 3}));
  EXPECT_EQ(state.count("layer1.0.shortcut.0.weight"), 0u);
  EXPECT_EQ(state.at("layer4.0.shortcut.0.weight").shape(), (Shape{512, 256, 1, 1}));
  EXPECT_EQ(state.at("fc.weight").shape(), (Shape{10, 512}));
}

TEST(ResNetCifar, RejectsDepthsThatAreNotSixNPlusTwo) {
  for (const std::int64_t depth : {21, 2, 0, -4, 19}) {
    EXPECT_THROW(nn::resnet_cifar(depth), std::invalid_argument) << depth;
  }
  EXPECT_THROW(nn::resnet_cifar(20, 0), std::invalid_argument);
  try {
    nn::resnet_cifar(21);
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("21"), std::string::npos) << e.what();
  }
}

TEST(ResNetCifar, ParameterNamesFollowPyTorchConventions) {
  const auto net = nn::resnet20();
  const std::vector<std::string> names = parameter_names(*net);
  EXPECT_EQ(names.front(), "conv1.weight");
  EXPECT_EQ(names[1], "bn1.weight");
  EXPECT_EQ(names[3], "layer1.0.conv1.weight");
  EXPECT_EQ(names.back(), "fc.bias");
  for (const std::string name :
       {"layer1.2.bn2.bias", "layer2.0.shortcut.0.weight", "layer2.0.shortcut.1.weight",
        "layer3.0.shortcut.0.weight", "layer3.2.conv2.weight", "fc.weight"}) {
    EXPECT_TRUE(has_name(names, name)) << name;
  }
  for (const std::string name :
       {"conv1.bias", "layer1.0.shortcut.0.weight", "layer2.1.shortcut.0.weight"}) {
    EXPECT_FALSE(has_name(names, name)) << name;
  }
  const TensorMap state = net->state_dict();
  EXPECT_EQ(state.count("layer2.0.shortcut.1.running_var"), 1u);
  EXPECT_EQ(state.count("bn1.num_batches_tracked"), 1u);
  EXPECT_EQ(state.at("layer2.0.shortcut.0.weight").shape(), (Shape{32, 16, 1, 1}));
}

TEST(ResNetCifar, ConvolutionsUseKaimingNormalFanOut) {
  Generator gen(4);
  const auto net = nn::resnet20(10, &gen);
  const TensorMap state = net->state_dict();
  // std = sqrt(2 / fan_out), fan_out = 64 * 3 * 3; 36,864 samples.
  EXPECT_NEAR(testing::population_std(state.at("layer3.1.conv1.weight")) / std::sqrt(2.0 / 576.0),
              1.0, 0.03);
  EXPECT_NEAR(
      testing::population_std(state.at("layer2.0.shortcut.0.weight")) / std::sqrt(2.0 / 32.0), 1.0,
      0.1);
  testing::expect_close(state.at("layer1.0.bn1.weight"), Tensor::ones({16}), 0.0, 0.0);
  testing::expect_close(state.at("layer1.0.bn1.bias"), Tensor::zeros({16}), 0.0, 0.0);
}

TEST(ResNetCifar, SameSeedSameNetwork) {
  Generator a(5), b(5);
  const TensorMap x = nn::resnet20(10, &a)->state_dict(), y = nn::resnet20(10, &b)->state_dict();
  for (const auto& [name, t] : x) EXPECT_EQ(max_abs_diff(t, y.at(name)), 0.0) << name;
}

TEST(ResNetCifar, ReplaceModuleSwapsStagesAndHead) {
  const auto net = nn::resnet20();
  const auto head = std::make_shared<nn::Linear>(64, 5);
  net->replace_module("fc", head);
  const Variable x(random_tensor({2, 3, 16, 16}, 6, DType::Float32));
  EXPECT_EQ((*net)(x).shape(), (Shape{2, 5}));
  EXPECT_TRUE(net->named_parameters().back().second.same(head->bias()));

  auto stage = std::make_shared<nn::Sequential>();
  stage->emplace_back<nn::BasicBlock>(32, 64, 2);
  net->replace_module("layer3", stage);
  EXPECT_EQ(net->stage(3).get(), stage.get());
  EXPECT_EQ((*net)(x).shape(), (Shape{2, 5}));
  EXPECT_EQ(net->num_parameters(),
            272474 - (64 * 10 + 10) + (64 * 5 + 5) - 2 * (2 * 64 * 64 * 9 + 4 * 64));
  EXPECT_THROW(net->replace_module("layer4", stage), std::invalid_argument);
}

TEST(BasicBlock, IsReluOfResidualBranchPlusShortcut) {
  Generator gen(7);
  nn::BasicBlock block(4, 8, 2, &gen);
  block.eval();
  EXPECT_TRUE(block.has_projection());
  EXPECT_EQ(block.shortcut()->size(), 2u);
  const Variable x(random_tensor({2, 4, 6, 6}, 8, DType::Float32));
  const Variable expected =
      autograd::relu(autograd::add(block.f()->forward(x), block.shortcut()->forward(x)));
  const Variable y = block(x);
  EXPECT_EQ(y.shape(), (Shape{2, 8, 3, 3}));
  EXPECT_EQ(max_abs_diff(y.value(), expected.value()), 0.0);
  EXPECT_FALSE(block.f()->is_training()) << "f() shares the block's mode";

  nn::BasicBlock identity(4, 4, 1, &gen);
  EXPECT_FALSE(identity.has_projection());
  EXPECT_THROW(nn::BasicBlock(4, 4, 0), std::invalid_argument);
}

}  // namespace
}  // namespace ortho
