#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "layers/parameter.h"
#include "optim/sgd.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using optim::SGD;
using optim::SGDOptions;

// A gradient that depends on the current value and the step, so a wrong update diverges.
std::vector<double> gradient_at(const std::vector<double>& p, int t) {
  std::vector<double> g(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) {
    g[i] = 0.5 * p[i] - 0.1 * static_cast<double>(i + 1) + 0.05 * t;
  }
  return g;
}

// torch.optim.SGD, written out in double:
//   d = g + wd * p; b = d (first) or mu * b + (1 - damp) * d; d = nesterov ? d + mu * b : b;
//   p -= lr * d
std::vector<std::vector<double>> reference_sgd(std::vector<double> p, const SGDOptions& o,
                                               int steps) {
  std::vector<double> buf(p.size());
  std::vector<std::vector<double>> history;
  for (int t = 0; t < steps; ++t) {
    const std::vector<double> g = gradient_at(p, t);
    for (std::size_t i = 0; i < p.size(); ++i) {
      double d = g[i] + o.weight_decay * p[i];
      if (o.momentum != 0.0) {
        buf[i] = t == 0 ? d : o.momentum * buf[i] + (1.0 - o.dampening) * d;
        d = o.nesterov ? d + o.momentum * buf[i] : buf[i];
      }
      p[i] -= o.lr * d;
    }
    history.push_back(p);
  }
  return history;
}

void run_and_compare(const Tensor& initial, const SGDOptions& o, double tol) {
  nn::Parameter param(initial);
  SGD sgd({param}, o);
  const std::vector<double> start = initial.to_vector<double>();
  const auto expected = reference_sgd(start, o, 5);
  for (int t = 0; t < 5; ++t) {
    const std::vector<double> g = gradient_at(param.value().to_vector<double>(), t);
    param.set_grad(Tensor::from_vector(g, initial.shape()).to(initial.dtype()));
    sgd.step();
    const std::vector<double> actual = param.value().contiguous().to_vector<double>();
    for (std::size_t i = 0; i < actual.size(); ++i) {
      EXPECT_NEAR(actual[i], expected[t][i], tol) << "step " << t << " element " << i;
    }
  }
}

std::vector<SGDOptions> option_sets() {
  return {SGDOptions{0.1, 0.0, 0.0, 0.0, false},  SGDOptions{0.1, 0.9, 0.0, 0.0, false},
          SGDOptions{0.05, 0.9, 0.3, 0.0, false}, SGDOptions{0.1, 0.8, 0.0, 0.0, true},
          SGDOptions{0.1, 0.9, 0.0, 0.01, true},  SGDOptions{0.2, 0.5, 0.1, 0.05, false}};
}

TEST(OptimSGD, MatchesPyTorchFormulasFloat64) {
  const Tensor initial = testing::random_tensor({3, 4}, 7);
  for (const SGDOptions& o : option_sets()) run_and_compare(initial, o, 1e-13);
}

TEST(OptimSGD, MatchesPyTorchFormulasFloat32) {
  const Tensor initial = testing::random_tensor({37}, 8, DType::Float32);
  for (const SGDOptions& o : option_sets()) run_and_compare(initial, o, 1e-5);
}

TEST(OptimSGD, LargeParameterTakesParallelPath) {
  const Tensor initial = testing::random_tensor({70000}, 9);
  run_and_compare(initial, SGDOptions{0.1, 0.9, 0.0, 0.01, true}, 1e-13);
}

TEST(OptimSGD, NonContiguousParameterUsesCompositePath) {
  const Tensor initial = testing::random_tensor({4, 3}, 10).t();
  ASSERT_FALSE(initial.is_contiguous());
  for (const SGDOptions& o : option_sets()) run_and_compare(initial, o, 1e-13);
}

TEST(OptimSGD, SkipsParametersWithoutGradient) {
  nn::Parameter a(Tensor::full({3}, 1.0, DType::Float64));
  nn::Parameter b(Tensor::full({3}, 2.0, DType::Float64));
  SGD sgd({a, b}, {.lr = 0.5, .momentum = 0.9});
  a.set_grad(Tensor::full({3}, 1.0, DType::Float64));
  sgd.step();
  EXPECT_EQ(a.value().to_vector<double>(), std::vector<double>(3, 0.5));
  EXPECT_EQ(b.value().to_vector<double>(), std::vector<double>(3, 2.0));
  EXPECT_EQ(sgd.state(b), nullptr);
  ASSERT_NE(sgd.state(a), nullptr);
  EXPECT_EQ(sgd.state(a)->step, 1);
  sgd.zero_grad();
  EXPECT_FALSE(a.grad().defined());
  sgd.step();  // nothing has a gradient: nothing moves
  EXPECT_EQ(a.value().to_vector<double>(), std::vector<double>(3, 0.5));
  EXPECT_EQ(sgd.state(a)->step, 1);
}

TEST(OptimSGD, MinimizesQuadratic) {
  // f(x) = 0.5 * sum(c_i * (x_i - t_i)^2), gradient c * (x - t).
  const std::vector<double> c = {1.0, 2.0, 0.5, 3.0}, target = {1.0, -2.0, 0.5, 3.0};
  nn::Parameter x(Tensor::zeros({4}, DType::Float32));
  SGD sgd({x}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  for (int it = 0; it < 300; ++it) {
    const std::vector<float> v = x.value().to_vector<float>();
    std::vector<float> g(4);
    for (int i = 0; i < 4; ++i) g[i] = static_cast<float>(c[i] * (v[i] - target[i]));
    x.set_grad(Tensor::from_vector(g, {4}));
    sgd.step();
  }
  const std::vector<float> v = x.value().to_vector<float>();
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(v[i], target[i], 1e-4);
}

TEST(OptimSGD, PerGroupOptions) {
  nn::Parameter w(Tensor::full({2}, 1.0, DType::Float64));
  nn::Parameter bias(Tensor::full({2}, 1.0, DType::Float64));
  SGD sgd({w}, {.lr = 0.1, .weight_decay = 0.5});
  sgd.add_param_group({bias}, {.lr = 0.01});
  ASSERT_EQ(sgd.num_groups(), 2u);
  EXPECT_EQ(sgd.lr(0), 0.1);
  EXPECT_EQ(sgd.lr(1), 0.01);
  w.set_grad(Tensor::full({2}, 1.0, DType::Float64));
  bias.set_grad(Tensor::full({2}, 1.0, DType::Float64));
  sgd.step();
  EXPECT_DOUBLE_EQ(w.value().to_vector<double>()[0], 1.0 - 0.1 * (1.0 + 0.5));
  EXPECT_DOUBLE_EQ(bias.value().to_vector<double>()[0], 1.0 - 0.01);
  sgd.set_lr(1, 0.2);
  EXPECT_EQ(sgd.lr(1), 0.2);
  sgd.set_lr(0.3);
  EXPECT_EQ(sgd.lr(0), 0.3);
  EXPECT_EQ(sgd.lr(1), 0.3);
}

TEST(OptimSGD, ManifoldParametersAreUpdatedAsEuclidean) {
  nn::Parameter q(Tensor::eye(2, DType::Float64), nn::Manifold::Orthogonal);
  SGD sgd({q}, {.lr = 0.5});
  q.set_grad(Tensor::ones({2, 2}, DType::Float64));
  sgd.step();
  EXPECT_EQ(q.value().to_vector<double>(), (std::vector<double>{0.5, -0.5, -0.5, 0.5}));
}

TEST(OptimSGD, RejectsInvalidOptions) {
  nn::Parameter p(Tensor::zeros({2}));
  testing::expect_invalid_argument([&] { SGD({p}, {.lr = -0.1}); }, "SGD: invalid learning rate");
  testing::expect_invalid_argument([&] { SGD({p}, {.momentum = -0.5}); }, "SGD: invalid momentum");
  testing::expect_invalid_argument([&] { SGD({p}, {.weight_decay = -1.0}); },
                                   "SGD: invalid weight_decay");
  testing::expect_invalid_argument([&] { SGD({p}, {.nesterov = true}); }, "SGD: Nesterov");
  testing::expect_invalid_argument(
      [&] { SGD({p}, {.momentum = 0.9, .dampening = 0.1, .nesterov = true}); }, "SGD: Nesterov");
  testing::expect_invalid_argument([&] { SGD({}, {}); }, "SGD: a parameter group needs");
  testing::expect_invalid_argument(
      [&] {
        SGD({p, p}, {});
      },
      "SGD: a parameter appears in more than one group");
  testing::expect_invalid_argument([&] { SGD({nn::Parameter()}, {}); },
                                   "SGD: parameter is undefined");
  SGD sgd({p}, {.lr = 0.1});
  testing::expect_invalid_argument([&] { sgd.add_param_group({p}, {}); },
                                   "SGD: a parameter appears");
  testing::expect_invalid_argument([&] { sgd.set_lr(0, -1.0); }, "SGD: invalid learning rate");
  testing::expect_invalid_argument([&] { sgd.set_option(0, "beta1", 0.5); },
                                   "SGD: unknown option 'beta1'");
  testing::expect_invalid_argument([&] { sgd.lr(3); }, "SGD: parameter group 3 out of range");
  EXPECT_EQ(sgd.lr(0), 0.1);
}

}  // namespace
}  // namespace ortho
