#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "autograd/variable.h"
#include "core/ops/elementwise.h"
#include "core/random.h"
#include "core/tensor.h"
#include "layers/activation.h"
#include "layers/batchnorm2d.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/opt.h"
#include "layers/opt_convert.h"
#include "layers/opt_energy.h"
#include "layers/orthogonal.h"
#include "layers/pooling.h"
#include "layers/sequential.h"
#include "optim/sgd.h"
#include "support/test_support.h"

namespace ortho::nn {
namespace {

using autograd::Variable;
using ortho::testing::expect_close;
using ortho::testing::expect_invalid_argument;
using ortho::testing::random_tensor;

// conv (converted), bn, relu, block{grouped conv, orthogonal conv} (both left alone), pool,
// flatten, hidden Linear, relu, fc (the classifier).
std::shared_ptr<Sequential> small_net(Generator* gen) {
  auto net = std::make_shared<Sequential>();
  net->add("conv", std::make_shared<Conv2d>(3, 4, 3, 1, 1, 1, false, 1, gen));
  net->add("bn", std::make_shared<BatchNorm2d>(4));
  net->add("relu", std::make_shared<ReLU>());
  auto block = net->add("block", std::make_shared<Sequential>());
  block->add("grouped", std::make_shared<Conv2d>(4, 4, 3, 1, 1, 2, true, 1, gen));
  block->add("orthogonal", std::make_shared<OrthogonalConv2d>(4, 4, 1, 1, 0, true, 1, gen));
  net->add("pool", std::make_shared<AdaptiveAvgPool2d>(1));
  net->add("flatten", std::make_shared<Flatten>(1));
  net->add("hidden", std::make_shared<Linear>(4, 8, true, gen));
  net->add("relu2", std::make_shared<ReLU>());
  net->add("fc", std::make_shared<Linear>(8, 10, true, gen));
  return net;
}

TEST(MakeOPT, LayersNamesRoundTrip) {
  for (const OPTLayers l : {OPTLayers::All, OPTLayers::Conv, OPTLayers::Classifier}) {
    EXPECT_EQ(parse_opt_layers(opt_layers_name(l)), l);
  }
  expect_invalid_argument([] { parse_opt_layers("fc"); }, "unknown OPT layers 'fc'");
}

TEST(MakeOPT, ConvertsTheChosenLayers) {
  Generator gen(1);
  auto all = small_net(&gen), conv = small_net(&gen), cls = small_net(&gen), none = small_net(&gen);
  EXPECT_EQ(make_opt(*all, {.method = OPTMethod::Cayley}, OPTLayers::All, &gen), 3);
  EXPECT_EQ(make_opt(*conv, {.method = OPTMethod::Cayley}, OPTLayers::Conv, &gen), 1);
  EXPECT_EQ(make_opt(*cls, {.method = OPTMethod::Cayley}, OPTLayers::Classifier, &gen), 1);
  EXPECT_EQ(make_opt(*none, {.method = OPTMethod::None}, OPTLayers::All, &gen), 0);
  EXPECT_EQ(opt_layers(*all).size(), 3u);
  EXPECT_NE(std::dynamic_pointer_cast<OPTConv2d>(conv->child("conv")), nullptr);
  EXPECT_NE(std::dynamic_pointer_cast<OPTLinear>(cls->child("fc")), nullptr);
  EXPECT_EQ(std::dynamic_pointer_cast<OPTLinear>(cls->child("hidden")), nullptr);
  EXPECT_NE(std::dynamic_pointer_cast<OrthogonalConv2d>(all->child("block")->child("orthogonal")),
            nullptr);
  const auto fc = std::dynamic_pointer_cast<OPTLinear>(all->child("fc"));
  EXPECT_EQ(fc->in_features(), 8);
  EXPECT_EQ(fc->out_features(), 10);
  EXPECT_TRUE(fc->bias().defined());
  EXPECT_EQ(all->state_dict().count("fc.V"), 1u);
  // The converted network runs.
  const Tensor x = random_tensor({2, 3, 6, 6}, 2, DType::Float32);
  EXPECT_EQ(all->forward(Variable(x)).shape(), Shape({2, 10}));
  Sequential no_linear;
  no_linear.add("conv", std::make_shared<Conv2d>(3, 4, 3));
  expect_invalid_argument([&] { make_opt(no_linear, {}, OPTLayers::Classifier); },
                          "make_opt: the classifier option needs a Linear layer");
}

TEST(MakeOPT, KeepsTrainEvalModeAndOptions) {
  Generator gen(3);
  auto net = small_net(&gen);
  net->eval();
  make_opt(*net, {.method = OPTMethod::GramSchmidt, .sopt_dim = 2}, OPTLayers::All, &gen);
  for (const auto& layer : opt_layers(*net)) {
    EXPECT_FALSE(layer->is_training());
    EXPECT_EQ(layer->options().method, OPTMethod::GramSchmidt);
    EXPECT_EQ(layer->block_size(), 2);
  }
}

TEST(MakeOPT, PenaltyCoversOnlyRegularizedLayers) {
  Generator gen(4);
  auto gs = small_net(&gen), reg = small_net(&gen);
  make_opt(*gs, {.method = OPTMethod::GramSchmidt}, OPTLayers::All, &gen);
  EXPECT_FALSE(opt_penalty(*gs).defined());
  make_opt(*reg, {.method = OPTMethod::Regularized, .beta = 2.0}, OPTLayers::All, &gen);
  EXPECT_EQ(opt_penalty(*reg).value().item<float>(), 0.0f);  // R = I
  const auto fc = opt_layers(*reg).back();
  Tensor r = fc->named_parameters()[0].second.value();
  r.copy_(ortho::mul(Tensor::eye(8), 2.0));  // R^T R - I = 3 I: 2 * 9 * 8
  EXPECT_FLOAT_EQ(opt_penalty(*reg).value().item<float>(), 144.0f);
}

TEST(MakeOPT, ResampleDrawsNewSubsetsForEveryStochasticLayer) {
  Generator gen(5), sampler(6);
  auto net = small_net(&gen);
  make_opt(*net, {.method = OPTMethod::Cayley, .sopt_dim = 3}, OPTLayers::All, &gen);
  std::vector<std::vector<std::int64_t>> before;
  for (const auto& layer : opt_layers(*net)) before.push_back(layer->sampled_dims());
  int changed = 0;
  for (int i = 0; i < 3; ++i) {
    opt_resample(*net, sampler);
    const auto layers = opt_layers(*net);
    for (std::size_t k = 0; k < layers.size(); ++k)
      changed += layers[k]->sampled_dims() != before[k];
  }
  EXPECT_GT(changed, 0);
}

TEST(MakeOPT, FoldedNetworkGivesTheSameOutputs) {
  Generator gen(7);
  auto net = small_net(&gen);
  make_opt(*net, {.method = OPTMethod::Cayley}, OPTLayers::All, &gen);
  const Tensor x = random_tensor({2, 3, 6, 6}, 8, DType::Float32);
  optim::SGD sgd(net->parameters(), {.lr = 0.1});
  sgd.zero_grad();
  autograd::sum(autograd::square(net->forward(Variable(x)))).backward();
  sgd.step();
  net->eval();
  const Tensor expected = net->forward(Variable(x)).value();
  EXPECT_EQ(fold_opt(*net), 3);
  EXPECT_TRUE(opt_layers(*net).empty());
  EXPECT_NE(std::dynamic_pointer_cast<Linear>(net->child("fc")), nullptr);
  EXPECT_FALSE(net->child("fc")->is_training());
  expect_close(net->forward(Variable(x)).value(), expected, 1e-5, 1e-5);
}

// E_s straight from the definition, pair by pair, in double.
double direct_energy(const Tensor& weight, double s) {
  const std::int64_t n = weight.size(0), m = weight.numel() / n;
  const std::vector<double> w = weight.to(DType::Float64).contiguous().to_vector<double>();
  std::vector<double> unit(w.size());
  for (std::int64_t i = 0; i < n; ++i) {
    double norm = 0.0;
    for (std::int64_t k = 0; k < m; ++k) norm += w[i * m + k] * w[i * m + k];
    for (std::int64_t k = 0; k < m; ++k) unit[i * m + k] = w[i * m + k] / std::sqrt(norm);
  }
  double total = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      if (i == j) continue;
      double d2 = 0.0;
      for (std::int64_t k = 0; k < m; ++k) {
        d2 += (unit[i * m + k] - unit[j * m + k]) * (unit[i * m + k] - unit[j * m + k]);
      }
      total += s == 0.0 ? -0.5 * std::log(d2) : std::pow(d2, -0.5 * s);
    }
  }
  return total / static_cast<double>(n * (n - 1));
}

TEST(HypersphericalEnergy, MatchesTheDefinition) {
  const Tensor w = random_tensor({6, 3, 2, 2}, 9);
  for (const double s : {0.0, 1.0, 2.0}) {
    EXPECT_NEAR(hyperspherical_energy(w, s), direct_energy(w, s), 1e-10) << s;
  }
  // Scale-free: only the neurons' directions count.
  EXPECT_NEAR(hyperspherical_energy(ortho::mul(w, 3.0)), direct_energy(w, 1.0), 1e-10);
  // Two orthonormal neurons: distance sqrt(2) both ways.
  EXPECT_NEAR(hyperspherical_energy(Tensor::eye(2, DType::Float64)), 1.0 / std::sqrt(2.0), 1e-12);
  const Tensor twins = Tensor::ones({2, 3});
  EXPECT_EQ(hyperspherical_energy(twins), std::numeric_limits<double>::infinity());
}

TEST(HypersphericalEnergy, OPTKeepsTheEnergyOfV) {
  Generator gen(10);
  OPTLinear linear(8, 6, {.method = OPTMethod::Cayley}, true, &gen);
  linear.to(DType::Float64);
  optim::SGD sgd(linear.parameters(), {.lr = 0.5});
  const Tensor x = random_tensor({8, 8}, 11), y = random_tensor({8, 6}, 12);
  for (int i = 0; i < 10; ++i) {
    sgd.zero_grad();
    autograd::sum(autograd::square(linear(Variable(x)) - Variable(y))).backward();
    sgd.step();
  }
  const Tensor w = linear.weight().value();
  EXPECT_GT(ortho::testing::max_abs_diff(w, linear.fixed_neurons().t()), 1e-2);
  EXPECT_NEAR(hyperspherical_energy(w), hyperspherical_energy(linear.fixed_neurons().t()), 1e-10);
}

TEST(HypersphericalEnergy, PerLayerOfANetwork) {
  Generator gen(13);
  auto net = small_net(&gen);
  make_opt(*net, {.method = OPTMethod::OGD}, OPTLayers::Classifier, &gen);
  const auto energies = hyperspherical_energies(*net);
  const std::vector<std::string> names = {"conv", "block.grouped", "block.orthogonal", "hidden",
                                          "fc"};
  ASSERT_EQ(energies.size(), names.size());
  for (std::size_t i = 0; i < names.size(); ++i) EXPECT_EQ(energies[i].first, names[i]);
  const auto conv = std::dynamic_pointer_cast<Conv2d>(net->child("conv"));
  EXPECT_NEAR(energies[0].second, direct_energy(conv->weight().value(), 1.0), 1e-6);
  const auto fc = std::dynamic_pointer_cast<OPTLinear>(net->child("fc"));
  EXPECT_NEAR(energies[4].second, direct_energy(fc->fixed_neurons().t(), 1.0), 1e-6);
}

TEST(HypersphericalEnergy, BadInputsAreRejected) {
  expect_invalid_argument(
      [] {
        hyperspherical_energy(Tensor::ones({1, 4}));
      },
      "hyperspherical_energy: need at least 2 neurons");
  expect_invalid_argument([] { hyperspherical_energy(Tensor::ones({3, 4}), -1.0); }, "s >= 0");
  expect_invalid_argument(
      [] {
        hyperspherical_energy(Tensor::zeros({3, 4}));
      },
      "a neuron of weight [3, 4] is zero");
}

}  // namespace
}  // namespace ortho::nn
