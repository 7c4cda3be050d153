#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "autograd/variable.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "core/random.h"
#include "core/tensor.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/models/resnet_cifar.h"
#include "layers/orthogonal.h"
#include "optim/landing.h"
#include "optim/manifold.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using autograd::Variable;
using nn::Manifold;

double distance(const nn::Parameter& p) {
  return optim::distance_to_manifold(optim::manifold_matrix(p.value(), p.manifold()))
      .item<double>();
}

TEST(OrthogonalLayers, WeightsAreStiefelTaggedAndStartOnTheManifold) {
  Generator gen(1);
  nn::OrthogonalLinear wide(8, 5, true, &gen), tall(3, 7, false, &gen);
  nn::OrthogonalConv2d conv(4, 6, 3, 1, 1, false, 1, &gen);
  for (const nn::Parameter* w : {&wide.weight(), &tall.weight(), &conv.weight()}) {
    EXPECT_EQ(w->manifold(), Manifold::Stiefel);
    EXPECT_LT(distance(*w), 1e-5);
  }
  EXPECT_EQ(wide.bias().manifold(), Manifold::Euclidean);
  EXPECT_FALSE(tall.bias().defined());
  EXPECT_EQ(conv.weight().shape(), Shape({6, 4, 3, 3}));
}

TEST(OrthogonalLayers, SquareOrthogonalLinearPreservesNorms) {
  Generator gen(2);
  nn::OrthogonalLinear layer(16, 16, false, &gen);
  const Tensor x = randn({5, 16}, DType::Float32, Device::cpu(), &gen);
  const Tensor y = layer(Variable(x)).value();
  testing::expect_close(sqrt(sum(square(y), {1})), sqrt(sum(square(x), {1})), 1e-5);
}

TEST(OrthogonalLayers, MakeOrthogonalConvertsAResNetThroughThePublicApi) {
  Generator gen(3);
  auto model = nn::resnet20(10, &gen);
  EXPECT_EQ(nn::make_orthogonal(*model, nn::OrthogonalLayers::None), 0);
  // 19 3x3 convolutions and two 1x1 shortcut convolutions.
  EXPECT_EQ(nn::make_orthogonal(*model, nn::OrthogonalLayers::Conv, &gen), 21);
  int stiefel = 0;
  for (const auto& [name, p] : model->named_parameters()) {
    if (p.manifold() == Manifold::Stiefel) {
      ++stiefel;
      EXPECT_LT(distance(p), 1e-5) << name;
    }
  }
  EXPECT_EQ(stiefel, 21);
  EXPECT_EQ(model->named_parameters().size(), nn::resnet20(10, &gen)->named_parameters().size());
  EXPECT_EQ(nn::make_orthogonal(*model, nn::OrthogonalLayers::All, &gen), 1);  // fc
  const Variable out =
      (*model)(Variable(randn({2, 3, 32, 32}, DType::Float32, Device::cpu(), &gen)));
  EXPECT_EQ(out.shape(), Shape({2, 10}));
  testing::expect_invalid_argument([] { nn::parse_orthogonal_layers("some"); },
                                   "none, conv or all");
}

TEST(OrthogonalLayers, LandingTrainsAConvAndKeepsItNearTheManifold) {
  Generator gen(4);
  nn::OrthogonalConv2d conv(3, 4, 3, 1, 1, true, 1, &gen);
  const Tensor x = randn({2, 3, 6, 6}, DType::Float32, Device::cpu(), &gen);
  const Tensor target = randn({2, 4, 6, 6}, DType::Float32, Device::cpu(), &gen);
  optim::Landing landing(conv.parameters(), {.lr = 0.05});
  double first = 0.0, last = 0.0;
  for (int t = 0; t < 50; ++t) {
    conv.zero_grad();
    Variable diff = autograd::sub(conv(Variable(x)), Variable(target));
    Variable loss = autograd::mean(autograd::mul(diff, diff));
    loss.backward();
    landing.step();
    (t == 0 ? first : last) = loss.value().item<float>();
  }
  EXPECT_LT(last, first);
  EXPECT_LT(distance(conv.weight()), 1e-2);  // landing trails the manifold by O(lr * gradient)
}

}  // namespace
}  // namespace ortho
