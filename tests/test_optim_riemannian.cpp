#include <gtest/gtest.h>

#include <cstdint>

#include "core/ops/elementwise.h"
#include "core/serialize.h"
#include "core/tensor.h"
#include "layers/init.h"
#include "layers/parameter.h"
#include "optim/manifold.h"
#include "optim/riemannian.h"
#include "optim/sgd.h"
#include "support/procrustes.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using nn::Manifold;
using nn::Parameter;
using optim::Retraction;
using testing::max_abs_diff;

double distance(const Parameter& x) {
  return optim::distance_to_manifold(optim::manifold_matrix(x.value(), x.manifold()))
      .item<double>();
}

TEST(RiemannianSGD, EveryRetractionSolvesProcrustesOnTheManifold) {
  const testing::Procrustes problem(12, 1);
  for (Retraction r : {Retraction::Exp, Retraction::Cayley, Retraction::QR, Retraction::Polar}) {
    Parameter x(problem.start(2), Manifold::Orthogonal);
    optim::RiemannianSGD rsgd({x}, {.lr = 0.1, .retraction = r});
    for (int t = 0; t < 300; ++t) {
      x.set_grad(problem.gradient(x.value()));
      rsgd.step();
      ASSERT_LT(distance(x), 1e-12) << optim::retraction_name(r) << " iteration " << t;
    }
    EXPECT_LT(max_abs_diff(x.value(), problem.solution()), 1e-6) << optim::retraction_name(r);
  }
}

TEST(RiemannianSGD, MomentumConvergesAndStiefelKernelsStayOnTheirManifold) {
  const testing::Procrustes problem(10, 3);
  Parameter x(problem.start(4), Manifold::Orthogonal);
  optim::RiemannianSGD rsgd({x}, {.lr = 0.02, .momentum = 0.9});
  for (int t = 0; t < 400; ++t) {
    x.set_grad(problem.gradient(x.value()));
    rsgd.step();
  }
  EXPECT_LT(max_abs_diff(x.value(), problem.solution()), 1e-6);

  Generator gen(5);
  Tensor kernel = Tensor::empty({3, 2, 3, 3}, DType::Float64);
  nn::init::orthogonal_(kernel, 1.0, &gen);
  Parameter w(kernel, Manifold::Stiefel);
  optim::RiemannianSGD stiefel({w}, {.lr = 0.05, .momentum = 0.5, .retraction = Retraction::Exp});
  for (int t = 0; t < 20; ++t) {
    w.set_grad(testing::random_tensor({3, 2, 3, 3}, 6 + t));
    stiefel.step();
    ASSERT_LT(distance(w), 1e-12);
  }
}

TEST(RiemannianSGD, EuclideanParametersGetTorchSGDAndStateResumes) {
  Parameter e(testing::random_tensor({4}, 7), Manifold::Euclidean);
  Parameter reference(e.value().clone(), Manifold::Euclidean);
  optim::RiemannianSGD rsgd({e}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1});
  optim::SGD sgd({reference}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1});
  for (int t = 0; t < 4; ++t) {
    const Tensor g = testing::random_tensor({4}, 8 + t);
    e.set_grad(g);
    reference.set_grad(g.clone());
    rsgd.step();
    sgd.step();
  }
  EXPECT_EQ(max_abs_diff(e.value(), reference.value()), 0.0);

  const testing::Procrustes problem(6, 9);
  Parameter x(problem.start(10), Manifold::Orthogonal);
  Parameter y(x.value().clone(), Manifold::Orthogonal);
  optim::RiemannianSGD first({x}, {.lr = 0.05, .momentum = 0.9, .retraction = Retraction::QR});
  optim::RiemannianSGD second({y}, {.lr = 0.05, .momentum = 0.9, .retraction = Retraction::QR});
  x.set_grad(problem.gradient(x.value()));
  first.step();
  second.load_state_dict(first.state_dict());
  Tensor y_value = y.value();
  y_value.copy_(x.value());
  for (Parameter* p : {&x, &y}) p->set_grad(problem.gradient(p->value()));
  first.step();
  second.step();
  EXPECT_EQ(max_abs_diff(x.value(), y.value()), 0.0);
}

TEST(RiemannianSGD, RejectsBadOptions) {
  Parameter x(Tensor::eye(3, DType::Float64), Manifold::Orthogonal);
  testing::expect_invalid_argument([&] { optim::RiemannianSGD({x}, {.lr = -1.0}); },
                                   "RiemannianSGD: invalid lr");
  optim::RiemannianSGD rsgd({x});
  testing::expect_invalid_argument([&] { rsgd.set_option(0, "retraction", 7.0); }, "retraction");
}

}  // namespace
}  // namespace ortho
