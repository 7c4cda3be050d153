#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "autograd/variable.h"
#include "core/ops/elementwise.h"
#include "core/ops/matmul.h"
#include "core/ops/reduce.h"
#include "core/random.h"
#include "core/tensor.h"
#include "layers/opt.h"
#include "layers/orthogonal_maps.h"
#include "optim/landing.h"
#include "optim/optimizer.h"
#include "optim/riemannian.h"
#include "optim/sgd.h"
#include "support/module_gradcheck.h"
#include "support/test_support.h"

namespace ortho::nn {
namespace {

using autograd::Variable;
using ortho::testing::expect_close;
using ortho::testing::expect_invalid_argument;
using ortho::testing::max_abs_diff;
using ortho::testing::module_passes_gradcheck;
using ortho::testing::random_tensor;

constexpr OPTMethod kMethods[] = {
    OPTMethod::GramSchmidt, OPTMethod::Householder, OPTMethod::Lowdin, OPTMethod::Cayley,
    OPTMethod::OGD,         OPTMethod::Regularized, OPTMethod::Landing};
constexpr OPTMethod kMaps[] = {OPTMethod::GramSchmidt, OPTMethod::Householder, OPTMethod::Lowdin,
                               OPTMethod::Cayley};

// The optimizer each method is meant for (layers/opt.h).
std::unique_ptr<optim::Optimizer> optimizer_for(OPTMethod method, const Module& layer, double lr) {
  if (method == OPTMethod::OGD) {
    return std::make_unique<optim::RiemannianSGD>(layer.parameters(),
                                                  optim::RiemannianSGDOptions{.lr = lr});
  }
  if (method == OPTMethod::Landing) {
    return std::make_unique<optim::Landing>(layer.parameters(), optim::LandingOptions{.lr = lr});
  }
  return std::make_unique<optim::SGD>(layer.parameters(), optim::SGDOptions{.lr = lr});
}

// Squared error of the layer on (x, y) plus the OR penalty, one optimizer step per call.
double step(Module& layer, optim::Optimizer& optimizer, const Tensor& x, const Tensor& y) {
  optimizer.zero_grad();
  Variable loss = autograd::mean(autograd::square(layer(Variable(x)) - Variable(y)));
  const Variable penalty = dynamic_cast<OPTLayer&>(layer).orthogonality_penalty();
  if (penalty.defined()) loss = loss + penalty;
  loss.backward();
  optimizer.step();
  return loss.value().to(DType::Float64).item<double>();
}

std::string label(OPTMethod method, DType dtype) {
  return opt_method_name(method) + " " + dtype_name(dtype);
}

TEST(OPT, MethodNamesRoundTrip) {
  for (const OPTMethod m :
       {OPTMethod::None, OPTMethod::GramSchmidt, OPTMethod::Householder, OPTMethod::Lowdin,
        OPTMethod::Cayley, OPTMethod::OGD, OPTMethod::Regularized, OPTMethod::Landing}) {
    EXPECT_EQ(parse_opt_method(opt_method_name(m)), m);
  }
  EXPECT_EQ(opt_method_name(OPTMethod::Regularized), "or");
  expect_invalid_argument([] { parse_opt_method("qr"); }, "unknown OPT method 'qr'");
}

TEST(OPT, StartsAtTheIdentitySoTheWeightIsTheRandomV) {
  for (const OPTMethod method : kMethods) {
    Generator gen(1);
    OPTLinear linear(7, 5, {.method = method}, true, &gen);
    const Tensor v = linear.fixed_neurons();
    EXPECT_EQ(v.shape(), Shape({7, 5}));
    expect_close(linear.rotation().value(), Tensor::eye(7), 1e-6, 0.0);
    expect_close(linear.weight().value(), v.t(), 1e-6, 0.0);
    // V ~ N(0, 2 / d): the authors' fixed neurons.
    EXPECT_NEAR(ortho::testing::population_std(v), std::sqrt(2.0 / 7.0), 0.25);
    EXPECT_EQ(linear.block_size(), 7);
    EXPECT_FALSE(linear.stochastic());
  }
}

TEST(OPT, ParametersAndManifoldTagsPerMethod) {
  const std::vector<std::pair<OPTMethod, std::string>> names = {
      {OPTMethod::GramSchmidt, "matrix"}, {OPTMethod::Householder, "reflectors"},
      {OPTMethod::Lowdin, "matrix"},      {OPTMethod::Cayley, "generator"},
      {OPTMethod::OGD, "rotation"},       {OPTMethod::Regularized, "rotation"},
      {OPTMethod::Landing, "rotation"}};
  for (const auto& [method, name] : names) {
    OPTConv2d conv(1, 4, 3, 1, 1, {.method = method}, false);  // d = 9
    const auto params = conv.named_parameters();
    ASSERT_EQ(params.size(), 1u) << opt_method_name(method);
    EXPECT_EQ(params[0].first, name);
    // Householder: 2 * ceil(9 / 2) = 10 reflectors in equal pairs.
    EXPECT_EQ(params[0].second.shape(),
              method == OPTMethod::Householder ? Shape({10, 9}) : Shape({9, 9}));
    const bool tagged = method == OPTMethod::OGD || method == OPTMethod::Landing;
    EXPECT_EQ(params[0].second.manifold(), tagged ? Manifold::Orthogonal : Manifold::Euclidean);
    EXPECT_EQ(conv.buffers().size(), 1u);  // V only
  }
}

TEST(OPT, RotationStaysOrthogonalAndVFixedOverManySteps) {
  for (const DType dtype : {DType::Float64, DType::Float32}) {
    for (const OPTMethod method : kMethods) {
      if (method == OPTMethod::Regularized) continue;  // approximate by design: see below
      Generator gen(2);
      OPTLinear linear(6, 6, {.method = method}, false, &gen);
      linear.to(dtype);
      const Tensor v0 = ortho::mul(linear.fixed_neurons(), 1.0);
      // A reachable target x R* V, R* in SO(6): Landing lands on the manifold as the loss
      // gradient vanishes.
      const Tensor teacher = cayley(Variable(random_tensor({6, 6}, 3, dtype))).value();
      const Tensor x = random_tensor({16, 6}, 4, dtype);
      const Tensor y = ortho::matmul(x, ortho::matmul(teacher, v0));
      const auto optimizer =
          optimizer_for(method, linear, method == OPTMethod::Landing ? 0.5 : 0.2);
      const double first = step(linear, *optimizer, x, y);
      double last = first;
      // Landing's distance shrinks with the loss gradient, so it gets longer to land.
      const int steps = method == OPTMethod::Landing ? 1000 : 200;
      for (int i = 0; i < steps; ++i) last = step(linear, *optimizer, x, y);
      EXPECT_LT(last, 0.1 * first) << label(method, dtype);
      EXPECT_EQ(max_abs_diff(linear.fixed_neurons(), v0), 0.0) << label(method, dtype);
      EXPECT_LT(linear.orthogonality_error(), dtype == DType::Float64 ? 1e-10 : 1e-5)
          << label(method, dtype);
      EXPECT_GT(max_abs_diff(linear.rotation().value(), Tensor::eye(6, dtype)), 1e-2)
          << label(method, dtype) << ": R did not move";
    }
  }
}

TEST(OPT, OrthogonalityPenaltyHasItsGradientAndPullsRBack) {
  OPTLinear linear(5, 3, {.method = OPTMethod::Regularized, .beta = 0.5});
  linear.to(DType::Float64);
  Parameter r = linear.named_parameters()[0].second;
  Tensor value = r.value();
  value.copy_(
      ortho::add(Tensor::eye(5, DType::Float64), ortho::mul(random_tensor({5, 5}, 5), 0.2)));
  // d/dR beta ||R^T R - I||^2 = 4 beta R (R^T R - I).
  linear.zero_grad();
  linear.orthogonality_penalty().backward();
  const Tensor residual =
      ortho::sub(ortho::matmul(value.t(), value), Tensor::eye(5, DType::Float64));
  expect_close(r.grad(), ortho::mul(ortho::matmul(value, residual), 2.0), 1e-12, 1e-10);
  const double before = linear.orthogonality_error();
  optim::SGD sgd({r}, {.lr = 0.05});
  for (int i = 0; i < 200; ++i) {
    sgd.zero_grad();
    linear.orthogonality_penalty().backward();
    sgd.step();
  }
  EXPECT_LT(linear.orthogonality_error(), 1e-3 * before);
  EXPECT_FALSE(OPTLinear(5, 3, {.method = OPTMethod::Cayley}).orthogonality_penalty().defined());
}

TEST(OPT, RegularizedTrainingKeepsRNearTheManifold) {
  Generator gen(6);
  OPTLinear linear(6, 4, {.method = OPTMethod::Regularized, .beta = 1.0}, true, &gen);
  linear.to(DType::Float64);
  const Tensor x = random_tensor({16, 6}, 7), y = random_tensor({16, 4}, 8);
  optim::SGD sgd(linear.parameters(), {.lr = 0.05});
  for (int i = 0; i < 300; ++i) step(linear, sgd, x, y);
  EXPECT_GT(linear.orthogonality_error(), 0.0);
  EXPECT_LT(linear.orthogonality_error(), 0.1);
}

TEST(OPT, GradientsThroughTheMapsMatchFiniteDifferences) {
  for (const OPTMethod method : kMaps) {
    for (const std::int64_t sopt : {0, 3}) {
      Generator gen(9);
      OPTLinear linear(5, 3, {.method = method, .sopt_dim = sopt}, true, &gen);
      linear.to(DType::Float64);
      const Tensor x = random_tensor({4, 5}, 10);
      EXPECT_TRUE(module_passes_gradcheck(linear, x, /*check_input=*/false))
          << opt_method_name(method) << " at I";
      // And away from the identity, after a few steps.
      optim::SGD sgd(linear.parameters(), {.lr = 0.3});
      for (int i = 0; i < 3; ++i) step(linear, sgd, x, random_tensor({4, 3}, 11));
      EXPECT_GT(
          max_abs_diff(linear.rotation().value(), Tensor::eye(linear.block_size(), DType::Float64)),
          1e-3);
      EXPECT_TRUE(module_passes_gradcheck(linear, x, /*check_input=*/false))
          << opt_method_name(method);
    }
    Generator gen(12);
    OPTConv2d conv(1, 3, 2, 1, 0, {.method = method}, true, 1, &gen);
    conv.to(DType::Float64);
    EXPECT_TRUE(
        module_passes_gradcheck(conv, random_tensor({1, 1, 3, 3}, 13), /*check_input=*/false))
        << opt_method_name(method) << " conv";
  }
}

TEST(OPT, FoldedLayersGiveTheSameOutputs) {
  for (const OPTMethod method : kMethods) {
    Generator gen(14);
    OPTLinear linear(6, 4, {.method = method}, true, &gen);
    OPTConv2d conv(2, 5, 3, 2, 1, {.method = method}, true, 1, &gen);
    const Tensor x = random_tensor({8, 6}, 15, DType::Float32);
    const Tensor image = random_tensor({2, 2, 7, 7}, 16, DType::Float32);
    const auto linear_opt = optimizer_for(method, linear, 0.1);
    const auto conv_opt = optimizer_for(method, conv, 0.1);
    for (int i = 0; i < 5; ++i) {
      step(linear, *linear_opt, x, random_tensor({8, 4}, 17, DType::Float32));
      step(conv, *conv_opt, image, random_tensor({2, 5, 4, 4}, 18, DType::Float32));
    }
    const auto plain_linear = linear.fold();
    const auto plain_conv = conv.fold();
    EXPECT_EQ(plain_linear->parameters().size(), 2u);
    expect_close(plain_linear->forward(Variable(x)).value(), linear(Variable(x)).value(), 1e-5,
                 1e-5);
    expect_close(plain_conv->forward(Variable(image)).value(), conv(Variable(image)).value(), 1e-5,
                 1e-5);
    EXPECT_EQ(plain_conv->params().stride_h, 2);
    EXPECT_EQ(plain_conv->params().pad_h, 1);
  }
  OPTLinear no_bias(3, 2, {}, false);
  EXPECT_FALSE(no_bias.fold()->bias().defined());
}

TEST(OPT, ConvKernelIsTheReshapedWeight) {
  Generator gen(19);
  OPTConv2d conv(2, 3, 3, 1, 1, {.method = OPTMethod::Cayley}, false, 1, &gen);
  EXPECT_EQ(conv.fan_in(), 18);
  EXPECT_EQ(conv.weight().shape(), Shape({3, 18}));
  const Tensor x = random_tensor({1, 2, 5, 5}, 20, DType::Float32);
  expect_close(conv(Variable(x)).value(), conv.fold()->forward(Variable(x)).value(), 1e-6, 1e-6);
}

TEST(OPT, StateDictRoundTripKeepsV) {
  for (const OPTMethod method : kMethods) {
    for (const std::int64_t sopt : {0, 4}) {
      Generator a_gen(21), b_gen(22);
      OPTConv2d a(2, 4, 3, 1, 1, {.method = method, .sopt_dim = sopt}, true, 1, &a_gen);
      OPTConv2d b(2, 4, 3, 1, 1, {.method = method, .sopt_dim = sopt}, true, 1, &b_gen);
      const TensorMap state = a.state_dict();
      ASSERT_TRUE(state.contains("V"));
      EXPECT_EQ(state.contains("selection"), sopt > 0);
      b.load_state_dict(state);
      EXPECT_EQ(max_abs_diff(a.fixed_neurons(), b.fixed_neurons()), 0.0);
      EXPECT_EQ(a.sampled_dims(), b.sampled_dims());
      const Tensor x = random_tensor({1, 2, 4, 4}, 23, DType::Float32);
      EXPECT_EQ(max_abs_diff(a(Variable(x)).value(), b(Variable(x)).value()), 0.0)
          << opt_method_name(method);
    }
  }
}

TEST(OPT, BadInputsNameTheLayerAndShapes) {
  OPTLinear linear(4, 3);
  expect_invalid_argument(
      [&] {
        linear(Variable(Tensor::zeros({2, 5})));
      },
      "OPTLinear: input [2, 5] does not end in in_features 4");
  OPTConv2d conv(3, 8, 3);
  expect_invalid_argument(
      [&] {
        conv(Variable(Tensor::zeros({1, 2, 8, 8})));
      },
      "OPTConv2d: input [1, 2, 8, 8] is not NCHW with 3 channels");
  expect_invalid_argument([] { OPTConv2d(3, 8, 0); }, "OPTConv2d: invalid configuration");
  expect_invalid_argument([] { OPTLinear(0, 3); }, "OPTLinear: weight (3, 0)");
  expect_invalid_argument([] { OPTLinear(4, 3, {.method = OPTMethod::None}); },
                          "OPTLinear: method 'none' is not an OPT method");
  expect_invalid_argument([] { OPTLinear(4, 3, {.sopt_dim = -1}); }, "OPTLinear: need sopt_dim");
  expect_invalid_argument([] { OPTLinear(4, 3, {.sopt_dim = 2, .sopt_fraction = 0.5}); },
                          "not both");
  expect_invalid_argument([] { OPTLinear(4, 3, {.beta = -1.0}); }, "beta must be >= 0");
}

}  // namespace
}  // namespace ortho::nn
