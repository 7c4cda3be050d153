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

TEST(Umbrella, LayersAndModels) {
  Generator gen(0);
  const auto net = nn::momentum_resnet_cifar(8, 10, &gen);
  EXPECT_EQ(net->forward(autograd::Variable(Tensor::zeros({2, 3, 8, 8}))).shape(), (Shape{2, 10}));
}

TEST(Umbrella, OrthogonalOverParameterizedTraining) {
  Generator gen(0);
  const auto net = nn::cnn6(10, &gen);
  EXPECT_EQ(nn::make_opt(*net, {.method = nn::OPTMethod::Cayley}, nn::OPTLayers::Classifier, &gen),
            1);
  const auto fc = nn::opt_layers(*net).front();
  EXPECT_GT(nn::hyperspherical_energy(fc->weight().value()), 0.0);
}

}  // namespace
}  // namespace ortho
