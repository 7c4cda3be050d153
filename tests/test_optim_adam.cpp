#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "layers/parameter.h"
#include "optim/adam.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using optim::Adam;
using optim::AdamOptions;
using optim::AdamW;
using optim::AdamWOptions;

AdamWOptions as_adamw(const AdamOptions& o) {
  return {o.lr, o.beta1, o.beta2, o.eps, o.weight_decay};
}

std::vector<double> gradient_at(const std::vector<double>& p, int t) {
  std::vector<double> g(p.size());
  for (std::size_t i = 0; i < p.size(); ++i) {
    g[i] = 0.7 * p[i] - 0.2 * static_cast<double>(i % 5) + 0.03 * t * (i % 2 == 0 ? 1 : -1);
  }
  return g;
}

// torch.optim.Adam / AdamW, written out in double (t counts from 1):
//   Adam:  g += wd * p          AdamW: p *= 1 - lr * wd
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
std::vector<std::vector<double>> reference_adam(std::vector<double> p, const AdamOptions& o,
                                                bool decoupled, int steps) {
  std::vector<double> m(p.size()), v(p.size());
  std::vector<std::vector<double>> history;
  for (int t = 1; t <= steps; ++t) {
    std::vector<double> g = gradient_at(p, t - 1);
    const double bc1 = 1.0 - std::pow(o.beta1, t), bc2 = 1.0 - std::pow(o.beta2, t);
    for (std::size_t i = 0; i < p.size(); ++i) {
      if (decoupled) {
        p[i] *= 1.0 - o.lr * o.weight_decay;
      } else {
        g[i] += o.weight_decay * p[i];
      }
      m[i] = o.beta1 * m[i] + (1.0 - o.beta1) * g[i];
      v[i] = o.beta2 * v[i] + (1.0 - o.beta2) * g[i] * g[i];
      p[i] -= o.lr / bc1 * m[i] / (std::sqrt(v[i]) / std::sqrt(bc2) + o.eps);
    }
    history.push_back(p);
  }
  return history;
}

void run_and_compare(const Tensor& initial, const AdamOptions& o, bool decoupled, double tol) {
  nn::Parameter param(initial);
  std::unique_ptr<Adam> adam = decoupled ? std::make_unique<AdamW>(std::vector{param}, as_adamw(o))
                                         : std::make_unique<Adam>(std::vector{param}, o);
  const auto expected = reference_adam(initial.to_vector<double>(), o, decoupled, 6);
  for (int t = 0; t < 6; ++t) {
    const std::vector<double> g = gradient_at(param.value().to_vector<double>(), t);
    param.set_grad(Tensor::from_vector(g, initial.shape()).to(initial.dtype()));
    adam->step();
    const std::vector<double> actual = param.value().to_vector<double>();
    for (std::size_t i = 0; i < actual.size(); ++i) {
      EXPECT_NEAR(actual[i], expected[t][i], tol)
          << adam->name() << " step " << t << " element " << i;
    }
  }
  EXPECT_EQ(adam->state(param)->step, 6);
}

std::vector<AdamOptions> option_sets() {
  return {AdamOptions{}, AdamOptions{0.01, 0.8, 0.99, 1e-6, 0.0},
          AdamOptions{0.02, 0.9, 0.999, 1e-8, 0.1}, AdamOptions{0.05, 0.0, 0.5, 1e-3, 0.01}};
}

TEST(OptimAdam, AdamMatchesPyTorchFormulas) {
  const Tensor initial64 = testing::random_tensor({5, 3}, 21);
  const Tensor initial32 = testing::random_tensor({41}, 22, DType::Float32);
  for (const AdamOptions& o : option_sets()) {
    run_and_compare(initial64, o, false, 1e-13);
    run_and_compare(initial32, o, false, 2e-5);
  }
}

TEST(OptimAdam, AdamWMatchesPyTorchFormulas) {
  const Tensor initial64 = testing::random_tensor({5, 3}, 23);
  const Tensor initial32 = testing::random_tensor({41}, 24, DType::Float32);
  for (const AdamOptions& o : option_sets()) {
    run_and_compare(initial64, o, true, 1e-13);
    run_and_compare(initial32, o, true, 2e-5);
  }
}

TEST(OptimAdam, LargeAndNonContiguousParameters) {
  run_and_compare(testing::random_tensor({300, 250}, 25), AdamOptions{0.01, 0.9, 0.99, 1e-8, 0.1},
                  true, 1e-13);
  const Tensor strided = testing::random_tensor({6, 4}, 26).t();
  ASSERT_FALSE(strided.is_contiguous());
  for (const AdamOptions& o : option_sets()) {
    run_and_compare(strided, o, false, 1e-13);
    run_and_compare(strided, o, true, 1e-13);
  }
}

TEST(OptimAdam, FirstStepMovesByLearningRate) {
  // With bias correction the first step is lr * sign(g) (up to eps), whatever |g| is.
  nn::Parameter p(Tensor::zeros({3}, DType::Float64));
  Adam adam({p}, {.lr = 0.1, .eps = 0.0});
  p.set_grad(Tensor::from_vector<double>({1e-3, -5.0, 42.0}, {3}));
  adam.step();
  const std::vector<double> v = p.value().to_vector<double>();
  EXPECT_NEAR(v[0], -0.1, 1e-15);
  EXPECT_NEAR(v[1], 0.1, 1e-15);
  EXPECT_NEAR(v[2], -0.1, 1e-15);
}

TEST(OptimAdam, SkipsParametersWithoutGradientAndKeepsOwnStepCounts) {
  nn::Parameter a(Tensor::ones({2}, DType::Float64));
  nn::Parameter b(Tensor::ones({2}, DType::Float64));
  AdamW adamw({a, b});
  EXPECT_EQ(adamw.name(), "AdamW");
  EXPECT_EQ(adamw.option(0, "weight_decay"), 0.01);
  EXPECT_EQ(AdamW({nn::Parameter(Tensor::ones({1}))}, {.lr = 0.1}).option(0, "weight_decay"), 0.01);
  a.set_grad(Tensor::ones({2}, DType::Float64));
  adamw.step();
  adamw.step();
  b.set_grad(Tensor::ones({2}, DType::Float64));
  adamw.step();
  EXPECT_EQ(adamw.state(a)->step, 3);
  EXPECT_EQ(adamw.state(b)->step, 1);
  adamw.zero_grad();
  const std::vector<double> before = a.value().to_vector<double>();
  adamw.step();  // no gradients: no decay either
  EXPECT_EQ(a.value().to_vector<double>(), before);
  EXPECT_EQ(adamw.state(a)->step, 3);
}

TEST(OptimAdam, MinimizesQuadratic) {
  const std::vector<double> c = {1.0, 10.0, 0.1}, target = {0.5, -1.0, 2.0};
  nn::Parameter x(Tensor::zeros({3}, DType::Float64));
  Adam adam({x}, {.lr = 0.05});
  for (int it = 0; it < 2000; ++it) {
    const std::vector<double> v = x.value().to_vector<double>();
    std::vector<double> g(3);
    for (int i = 0; i < 3; ++i) g[i] = c[i] * (v[i] - target[i]);
    x.set_grad(Tensor::from_vector(g, {3}));
    adam.step();
    if (it == 1500) adam.set_lr(0.005);
  }
  const std::vector<double> v = x.value().to_vector<double>();
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(v[i], target[i], 1e-2);
}

TEST(OptimAdam, PerGroupOptions) {
  nn::Parameter w(Tensor::ones({2}, DType::Float64));
  nn::Parameter bias(Tensor::ones({2}, DType::Float64));
  AdamW adamw({w}, {.lr = 0.1, .weight_decay = 0.5});
  adamw.add_param_group({bias}, {.lr = 0.01, .weight_decay = 0.0});
  w.set_grad(Tensor::zeros({2}, DType::Float64));
  bias.set_grad(Tensor::ones({2}, DType::Float64));
  adamw.step();
  // A zero gradient leaves only the decoupled decay: w *= 1 - 0.1 * 0.5. The bias, undecayed,
  // moves by its own lr on the first step: 0.01 * g / (|g| + eps).
  EXPECT_DOUBLE_EQ(w.value().to_vector<double>()[0], 0.95);
  EXPECT_NEAR(bias.value().to_vector<double>()[0], 1.0 - 0.01 / (1.0 + 1e-8), 1e-15);
}

TEST(OptimAdam, RejectsInvalidOptions) {
  nn::Parameter p(Tensor::zeros({2}));
  testing::expect_invalid_argument([&] { Adam({p}, {.lr = -1e-3}); },
                                   "Adam: invalid learning rate");
  testing::expect_invalid_argument([&] { AdamW({p}, {.lr = -1e-3}); },
                                   "AdamW: invalid learning rate");
  testing::expect_invalid_argument([&] { Adam({p}, {.beta1 = 1.0}); }, "Adam: invalid beta1");
  testing::expect_invalid_argument([&] { AdamW({p}, {.beta2 = -0.1}); }, "AdamW: invalid beta2");
  testing::expect_invalid_argument([&] { Adam({p}, {.eps = -1.0}); }, "Adam: invalid eps");
  testing::expect_invalid_argument([&] { AdamW({p}, {.weight_decay = -0.1}); },
                                   "AdamW: invalid weight_decay");
  testing::expect_invalid_argument([&] { Adam({}, {}); }, "Adam: a parameter group needs");
  Adam adam({p});
  testing::expect_invalid_argument([&] { adam.set_option(0, "beta1", 2.0); },
                                   "Adam: invalid beta1");
  testing::expect_invalid_argument([&] { adam.set_option(0, "momentum", 0.9); },
                                   "Adam: unknown option");
  testing::expect_invalid_argument([&] { adam.set_option(0, "decoupled_weight_decay", 1.0); },
                                   "Adam: option 'decoupled_weight_decay' must be 0");
  EXPECT_EQ(adam.option(0, "beta1"), 0.9);
}

}  // namespace
}  // namespace ortho
