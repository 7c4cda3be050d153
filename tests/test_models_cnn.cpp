#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "autograd/variable.h"
#include "core/random.h"
#include "core/tensor.h"
#include "layers/conv2d.h"
#include "layers/models/cnn_cifar.h"
#include "layers/opt.h"
#include "layers/opt_convert.h"
#include "support/test_support.h"

namespace ortho::nn {
namespace {

using autograd::Variable;

TEST(CNNCifar, ParameterCountsOfThePaperModels) {
  EXPECT_EQ(cnn6(10)->num_parameters(), 253002);
  EXPECT_EQ(cnn6(100)->num_parameters(), 258852);
  EXPECT_EQ(cnn9(10)->num_parameters(), 363978);
  EXPECT_EQ(wide_cnn9(10)->num_parameters(), 2972490);
  EXPECT_EQ(wide_cnn9(100)->num_parameters(), 2995620);
}

TEST(CNNCifar, LayoutAndForward) {
  Generator gen(1);
  const auto net = cnn6(10, &gen);
  std::vector<std::string> names;
  for (const auto& [name, child] : net->named_children()) names.push_back(name);
  const std::vector<std::string> expected = {
      "conv1_0", "bn1_0",   "relu1_0", "conv1_1", "bn1_1",   "relu1_1", "pool1",   "conv2_0",
      "bn2_0",   "relu2_0", "conv2_1", "bn2_1",   "relu2_1", "pool2",   "conv3_0", "bn3_0",
      "relu3_0", "conv3_1", "bn3_1",   "relu3_1", "pool3",   "fc6",     "flatten", "fc"};
  EXPECT_EQ(names, expected);
  const auto fc6 = std::dynamic_pointer_cast<Conv2d>(net->child("fc6"));
  EXPECT_EQ(fc6->kernel_size(), 4);
  EXPECT_FALSE(fc6->bias().defined());
  // The authors' init: N(0, 2 / fan_in).
  const auto conv = std::dynamic_pointer_cast<Conv2d>(net->child("conv2_1"));
  EXPECT_NEAR(ortho::testing::population_std(conv->weight().value()), std::sqrt(2.0 / 576.0),
              0.003);
  const Tensor x = ortho::testing::random_tensor({2, 3, 32, 32}, 2, DType::Float32);
  EXPECT_EQ(net->forward(Variable(x)).shape(), Shape({2, 10}));
  EXPECT_EQ(cnn9(10, &gen)->named_children().size(), 3u * (3 * 3 + 1) + 3);
}

TEST(CNNCifar, OPTCoversEveryConvOrTheClassifier) {
  Generator gen(3);
  const auto conv = cnn6(10, &gen), all = cnn6(10, &gen), cls = cnn6(10, &gen);
  EXPECT_EQ(make_opt(*conv, {.method = OPTMethod::OGD}, OPTLayers::Conv, &gen), 7);
  EXPECT_EQ(make_opt(*all, {.method = OPTMethod::OGD}, OPTLayers::All, &gen), 8);
  EXPECT_EQ(make_opt(*cls, {.method = OPTMethod::OGD}, OPTLayers::Classifier, &gen), 1);
  const auto fc6 = std::dynamic_pointer_cast<OPTConv2d>(conv->child("fc6"));
  ASSERT_NE(fc6, nullptr);
  EXPECT_EQ(fc6->fan_in(), 1024);
  const Tensor x = ortho::testing::random_tensor({1, 3, 32, 32}, 4, DType::Float32);
  EXPECT_EQ(conv->forward(Variable(x)).shape(), Shape({1, 10}));
}

TEST(CNNCifar, BadConfigurationIsRejected) {
  ortho::testing::expect_invalid_argument([] { CNNCifar({}, 2); },
                                          "CNNCifar: need at least one stage");
}

}  // namespace
}  // namespace ortho::nn
