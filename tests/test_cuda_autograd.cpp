// CPU-vs-CUDA parity of backward: the same graph of differentiable ops (autograd/ops/) runs on
// CPU leaves and on CUDA leaves of the same values and layouts, and its output and every leaf's
// gradient must agree (relative error 1e-4 in float32, 1e-10 in float64). Skips without a GPU.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "autograd/ops/batchnorm.h"
#include "autograd/ops/conv.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/linalg.h"
#include "autograd/ops/matmul.h"
#include "autograd/ops/pool.h"
#include "autograd/ops/reduce.h"
#include "autograd/ops/shape_ops.h"
#include "autograd/ops/softmax.h"
#include "autograd/ops/views.h"
#include "autograd/variable.h"
#include "core/device.h"
#include "core/ops/elementwise.h"
#include "core/tensor.h"
#include "support/conv_case.h"
#include "support/cuda_test_support.h"
#include "support/test_support.h"

namespace ortho::autograd {
namespace {

using ortho::testing::ConvCase;
using ortho::testing::gpu;
using ortho::testing::grid_tensor;
using ortho::testing::matches_cpu;
using ortho::testing::random_tensor;

using Leaves = std::vector<Variable>;
// A graph of differentiable ops on leaves that live on `device` (where it must also put any
// constant it uses: masks, targets, running statistics).
using Graph = std::function<Variable(const Leaves&, Device)>;
using UnaryGraph = std::function<Variable(const Variable&)>;

// Values in [-3, 3) with the ones near 0 set to exactly 0 (abs and relu at their kinks).
Tensor signed_values(const Tensor& x) {
  const Tensor zero = Tensor::scalar(0.0, x.dtype());
  return ortho::mul(ortho::where(ortho::lt(ortho::abs(x), 0.15), zero, x), 3.0);
}

// Values in [0.05, 1.05): the domain of log, sqrt, reciprocal and fractional powers.
Tensor positive_values(const Tensor& x) {
  return ortho::add(ortho::abs(x), 0.05);
}

// Values at least 0.5 away from 0, of either sign: safe denominators.
Tensor away_from_zero(const Tensor& x) {
  return ortho::where(ortho::lt(x, 0.0), ortho::add(x, -0.5), ortho::add(x, 0.5));
}

struct GraphRun {
  Tensor output;
  std::vector<Tensor> grads;
};

// Runs `graph` on leaves holding `inputs` on `device` (same strides as the CPU tensors), then
// backpropagates sum(output * w) for a fixed random w, so every output element has its own
// cotangent.
GraphRun run_graph(const Graph& graph, const std::vector<Tensor>& inputs, Device device) {
  Leaves leaves;
  for (const Tensor& t : inputs) {
    leaves.emplace_back(ortho::testing::to_device_keeping_layout(t, device), true);
  }
  const Variable out = graph(leaves, device);
  const Tensor weights = random_tensor(out.shape(), 77, out.dtype()).to(device);
  sum(mul(out, Variable(weights))).backward();
  GraphRun run{out.value(), {}};
  for (const Variable& leaf : leaves) run.grads.push_back(leaf.grad());
  return run;
}

// The output and each leaf's gradient of `graph`, CUDA against CPU.
::testing::AssertionResult gradients_match(const Graph& graph, const std::vector<Tensor>& inputs,
                                           double tol) {
  const GraphRun cpu = run_graph(graph, inputs, Device::cpu());
  const GraphRun cuda = run_graph(graph, inputs, gpu());
  const ::testing::AssertionResult output = matches_cpu(cuda.output, cpu.output, tol);
  if (!output) return ::testing::AssertionFailure() << "output: " << output.message();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!cpu.grads[i].defined()) {
      if (!cuda.grads[i].defined()) continue;
      return ::testing::AssertionFailure() << "input " << i << " has a gradient on cuda only";
    }
    const ::testing::AssertionResult grad = matches_cpu(cuda.grads[i], cpu.grads[i], tol);
    if (!grad)
      return ::testing::AssertionFailure() << "gradient of input " << i << ": " << grad.message();
  }
  return ::testing::AssertionSuccess();
}

// A graph of one op applied to the first leaf.
Graph unary(const UnaryGraph& op) {
  return [op](const Leaves& in, Device) { return op(in[0]); };
}

template <typename T>
class CudaAutograd : public ortho::testing::CudaTest {};
using FloatingTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(CudaAutograd, FloatingTypes, ortho::testing::DTypeNames);

class CudaAutogradGraphs : public ortho::testing::CudaTest {};

// ---------------------------------------------------------------------------------------------
// Element-wise.

struct UnaryCase {
  const char* name;
  UnaryGraph op;
  bool positive;
};

std::vector<UnaryCase> unary_cases() {
  return {
      {"neg", [](const Variable& x) { return neg(x); }, false},
      {"exp", [](const Variable& x) { return exp(x); }, false},
      {"log", [](const Variable& x) { return log(x); }, true},
      {"sqrt", [](const Variable& x) { return sqrt(x); }, true},
      {"abs", [](const Variable& x) { return abs(x); }, false},
      {"square", [](const Variable& x) { return square(x); }, false},
      {"reciprocal", [](const Variable& x) { return reciprocal(x); }, true},
      {"relu", [](const Variable& x) { return relu(x); }, false},
      {"sigmoid", [](const Variable& x) { return sigmoid(x); }, false},
      {"tanh", [](const Variable& x) { return tanh(x); }, false},
      {"pow 3", [](const Variable& x) { return pow(x, 3.0); }, false},
      {"pow 0.5", [](const Variable& x) { return pow(x, 0.5); }, true},
      {"clamp", [](const Variable& x) { return clamp(x, -0.5, 0.7); }, false},
      {"affine", [](const Variable& x) { return affine(x, 1.7, -0.3); }, false},
      {"add scalar", [](const Variable& x) { return add(x, 2.0); }, false},
      {"mul scalar", [](const Variable& x) { return mul(x, -1.5); }, false},
      {"x + c", [](const Variable& x) { return x + 1.0; }, false},
      {"c + x", [](const Variable& x) { return 1.0 + x; }, false},
      {"x - c", [](const Variable& x) { return x - 2.0; }, false},
      {"c - x", [](const Variable& x) { return 2.0 - x; }, false},
      {"x * c", [](const Variable& x) { return x * 3.0; }, false},
      {"c * x", [](const Variable& x) { return 3.0 * x; }, false},
      {"x / c", [](const Variable& x) { return x / 4.0; }, false},
      {"c / x", [](const Variable& x) { return 2.0 / x; }, true},
      {"-x", [](const Variable& x) { return -x; }, false},
  };
}

TYPED_TEST(CudaAutograd, UnaryOps) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = ortho::testing::parity_tolerance<TypeParam>();
  for (const UnaryCase& c : unary_cases()) {
    const auto domain = c.positive ? positive_values : signed_values;
    const std::vector<Tensor> inputs = {
        domain(random_tensor({3, 4, 5}, 10, dtype)),
        domain(random_tensor({5, 4, 3}, 11, dtype)).transpose(0, 2),
        domain(random_tensor({1 << 16}, 12, dtype)),
    };
    for (const Tensor& x : inputs) {
      EXPECT_TRUE(gradients_match(unary(c.op), {x}, tol)) << c.name << " of " << x.shape();
    }
  }
}

struct BinaryCase {
  const char* name;
  std::function<Variable(const Variable&, const Variable&)> op;
  Tensor (*domain_a)(const Tensor&);
  Tensor (*domain_b)(const Tensor&);
  bool grid;  // tied values (maximum / minimum split the gradient of a tie)
};

Tensor same(const Tensor& x) {
  return x;
}

std::vector<BinaryCase> binary_cases() {
  using F = std::function<Variable(const Variable&, const Variable&)>;
  return {
      {"add", F([](const Variable& a, const Variable& b) { return add(a, b); }), same, same, false},
      {"sub", F([](const Variable& a, const Variable& b) { return sub(a, b); }), same, same, false},
      {"mul", F([](const Variable& a, const Variable& b) { return mul(a, b); }), same, same, false},
      {"div", F([](const Variable& a, const Variable& b) { return div(a, b); }), same,
       away_from_zero, false},
      {"pow", F([](const Variable& a, const Variable& b) { return pow(a, b); }), positive_values,
       same, false},
      {"maximum", F([](const Variable& a, const Variable& b) { return maximum(a, b); }), same, same,
       true},
      {"minimum", F([](const Variable& a, const Variable& b) { return minimum(a, b); }), same, same,
       true},
      {"a + b", F([](const Variable& a, const Variable& b) { return a + b; }), same, same, false},
      {"a - b", F([](const Variable& a, const Variable& b) { return a - b; }), same, same, false},
      {"a * b", F([](const Variable& a, const Variable& b) { return a * b; }), same, same, false},
      {"a / b", F([](const Variable& a, const Variable& b) { return a / b; }), same, away_from_zero,
       false},
  };
}

TYPED_TEST(CudaAutograd, BinaryOpsSumGradientsBackOverBroadcastDims) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = ortho::testing::parity_tolerance<TypeParam>();
  struct Shapes {
    Shape a, b;
    bool transpose_a;
  };
  const std::vector<Shapes> shapes = {{{4, 5, 6}, {4, 5, 6}, false},
                                      {{4, 1, 6}, {5, 1}, false},
                                      {{4, 5, 6}, {}, false},
                                      {{6, 5, 4}, {4, 5, 1}, true},
                                      {{256, 512}, {512}, false}};
  std::uint64_t seed = 100;
  for (const BinaryCase& c : binary_cases()) {
    for (const Shapes& s : shapes) {
      const auto make = [&](const Shape& shape) {
        return c.grid ? grid_tensor(shape, seed++, dtype) : random_tensor(shape, seed++, dtype);
      };
      Tensor a = c.domain_a(make(s.a));
      if (s.transpose_a) a = a.transpose(0, 2);
      const Tensor b = c.domain_b(make(s.b));
      const auto op = c.op;
      EXPECT_TRUE(
          gradients_match([op](const Leaves& in, Device) { return op(in[0], in[1]); }, {a, b}, tol))
          << c.name << " of " << a.shape() << " and " << b.shape();
    }
  }
}

TYPED_TEST(CudaAutograd, WhereSendsGradientsToTheChosenBranch) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = ortho::testing::parity_tolerance<TypeParam>();
  const Tensor cond = ortho::gt(random_tensor({4, 1, 6}, 200, dtype), 0.0);
  const Graph graph = [cond](const Leaves& in, Device device) {
    return where(cond.to(device), in[0], in[1]);
  };
  EXPECT_TRUE(gradients_match(
      graph, {random_tensor({4, 5, 6}, 201, dtype), random_tensor({6}, 202, dtype)}, tol));
}

// ---------------------------------------------------------------------------------------------
// Reductions.

TYPED_TEST(CudaAutograd, Reductions) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = ortho::testing::parity_tolerance<TypeParam>();
  const std::vector<Tensor> inputs = {
      random_tensor({5, 6, 7}, 300, dtype), random_tensor({6, 7, 5}, 301, dtype).permute({2, 0, 1}),
      grid_tensor({5, 6, 7}, 302, dtype),  // ties: amax / amin split the gradient evenly
  };
  const std::vector<std::vector<std::int64_t>> dim_sets = {{}, {0}, {2}, {-1}, {0, 2}, {1, 2}};
  using Reduce = std::function<Variable(const Variable&, const std::vector<std::int64_t>&, bool)>;
  const std::vector<std::pair<const char*, Reduce>> ops = {
      {"sum", [](const Variable& x, const auto& d, bool k) { return sum(x, d, k); }},
      {"mean", [](const Variable& x, const auto& d, bool k) { return mean(x, d, k); }},
      {"amax", [](const Variable& x, const auto& d, bool k) { return amax(x, d, k); }},
      {"amin", [](const Variable& x, const auto& d, bool k) { return amin(x, d, k); }},
      {"var", [](const Variable& x, const auto& d, bool k) { return var(x, d, true, k); }},
      {"biased var", [](const Variable& x, const auto& d, bool k) { return var(x, d, false, k); }},
  };
  for (const auto& [name, op] : ops) {
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      for (const auto& dims : dim_sets) {
        for (bool keepdim : {false, true}) {
          const Reduce f = op;
          const std::vector<std::int64_t> d = dims;
          EXPECT_TRUE(gradients_match(
              [f, d, keepdim](const Leaves& in, Device) { return f(in[0], d, keepdim); },
              {inputs[i]}, tol))
              << name << " of input " << i << " over " << d.size() << " dims, keepdim " << keepdim;
        }
      }
    }
  }
  EXPECT_TRUE(gradients_match(unary([](const Variable& x) { return norm(x); }), {inputs[1]}, tol));
  EXPECT_TRUE(gradients_match(unary([](const Variable& x) {
                                return sum_to(x, {6, 1});
                              }),
                              {inputs[1]}, tol));
  // A large full reduction: its gradient is a broadcast of one value.
  EXPECT_TRUE(gradients_match(unary([](const Variable& x) { return mean(x); }),
                              {random_tensor({1 << 20}, 303, dtype)}, tol));
}

// ---------------------------------------------------------------------------------------------
// Products, convolution, pooling, normalization, softmax.

TYPED_TEST(CudaAutograd, MatmulAndBmm) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = ortho::testing::parity_tolerance<TypeParam>();
  const auto r = [dtype](const Shape& shape, std::uint64_t seed) {
    return random_tensor(shape, seed, dtype);
  };
  const std::vector<std::vector<Tensor>> cases = {
      {r({2, 3}, 1), r({3, 4}, 2)},
      {r({3, 2}, 3).t(), r({4, 3}, 4).t()},
      {r({3}, 5), r({3, 2}, 6)},
      {r({2, 3}, 7), r({3}, 8)},
      {r({3}, 9), r({3}, 10)},
      {r({2, 2, 3}, 11), r({3, 2}, 12)},
      {r({2, 3}, 13), r({2, 3, 2}, 14)},
      {r({2, 1, 2, 3}, 15), r({3, 3, 2}, 16)},
      {r({2, 3, 4}, 21).slice(2, 0, 4, 2), r({2, 2, 3}, 22)},
      {r({64, 96}, 23), r({80, 96}, 24).t()},
  };
  for (const std::vector<Tensor>& inputs : cases) {
    EXPECT_TRUE(
        gradients_match([](const Leaves& in, Device) { return matmul(in[0], in[1]); }, inputs, tol))
        << "matmul of " << inputs[0].shape() << " and " << inputs[1].shape();
  }
  EXPECT_TRUE(gradients_match([](const Leaves& in, Device) { return bmm(in[0], in[1]); },
                              {r({3, 5, 4}, 30).transpose(1, 2), r({3, 5, 6}, 31)}, tol));
}

TYPED_TEST(CudaAutograd, Conv2dWithStridePaddingDilationGroupsAndBias) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = ortho::testing::parity_tolerance<TypeParam>();
  const std::vector<ConvCase> cases = {
      {"3x3 pad 1 with bias", {2, 4, 8, 8}, {6, 4, 3, 3}, {1, 1, 1, 1, 1, 1, 1}, true},
      {"3x2 kernel stride 2x1 pad 1x0", {2, 3, 9, 7}, {4, 3, 3, 2}, {2, 1, 1, 0, 1, 1, 1}, false},
      {"dilation 2 with bias", {1, 2, 8, 8}, {3, 2, 3, 3}, {1, 1, 2, 2, 2, 2, 1}, true},
      {"2 groups with bias", {2, 4, 6, 6}, {4, 2, 3, 3}, {1, 1, 1, 1, 1, 1, 2}, true},
      {"depthwise stride 2", {2, 4, 7, 7}, {4, 1, 3, 3}, {2, 2, 1, 1, 1, 1, 4}, false},
      {"1x1 stride 2", {2, 8, 16, 16}, {16, 8, 1, 1}, {2, 2, 0, 0, 1, 1, 1}, false},
      {"ResNet stage", {4, 16, 16, 16}, {16, 16, 3, 3}, {1, 1, 1, 1, 1, 1, 1}, false},
  };
  std::uint64_t seed = 400;
  for (const ConvCase& c : cases) {
    const Conv2dParams p = c.params;
    std::vector<Tensor> inputs = {random_tensor(c.input, seed++, dtype),
                                  random_tensor(c.weight, seed++, dtype)};
    if (c.bias) inputs.push_back(random_tensor({c.weight[0]}, seed++, dtype));
    EXPECT_TRUE(gradients_match(
        [p](const Leaves& in, Device) {
          return conv2d(in[0], in[1], in.size() > 2 ? in[2] : Variable(), p);
        },
        inputs, tol))
        << c.name << ": input " << c.input << " weight " << c.weight;
  }
}

TYPED_TEST(CudaAutograd, Pooling) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = ortho::testing::parity_tolerance<TypeParam>();
  const std::vector<Pool2dParams> params = {{2, 2, 2, 2, 0, 0, true},
                                            {3, 3, 2, 2, 1, 1, true},
                                            {3, 3, 1, 1, 1, 1, false},
                                            {3, 2, 2, 1, 1, 1, false}};
  std::uint64_t seed = 500;
  for (const Pool2dParams& p : params) {
    // Grid values: tied maxima, whose gradient goes to the first one on both devices.
    for (bool ties : {false, true}) {
      const Tensor x = ties ? grid_tensor({2, 3, 9, 8}, seed++, dtype)
                            : random_tensor({2, 3, 9, 8}, seed++, dtype);
      EXPECT_TRUE(
          gradients_match([p](const Leaves& in, Device) { return max_pool2d(in[0], p); }, {x}, tol))
          << "max_pool2d " << p.kernel_h << "x" << p.kernel_w << ", ties " << ties;
    }
    EXPECT_TRUE(gradients_match([p](const Leaves& in, Device) { return avg_pool2d(in[0], p); },
                                {random_tensor({2, 3, 9, 8}, seed++, dtype)}, tol))
        << "avg_pool2d " << p.kernel_h << "x" << p.kernel_w;
  }
}

TYPED_TEST(CudaAutograd, BatchNormTrainAndEval) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = ortho::testing::parity_tolerance<TypeParam>();
  for (const Shape& shape : {Shape{8, 5, 4, 4}, Shape{12, 5}}) {
    const std::vector<Tensor> inputs = {ortho::affine(random_tensor(shape, 600, dtype), 2.0, 1.0),
                                        random_tensor({5}, 601, dtype),
                                        random_tensor({5}, 602, dtype)};
    EXPECT_TRUE(gradients_match(
        [](const Leaves& in, Device) { return batch_norm_train(in[0], in[1], in[2], 1e-5).output; },
        inputs, tol))
        << "train " << shape;
    const Tensor running_mean = random_tensor({5}, 603, dtype);
    const Tensor running_var = ortho::add(ortho::abs(random_tensor({5}, 604, dtype)), 0.5);
    EXPECT_TRUE(gradients_match(
        [running_mean, running_var](const Leaves& in, Device device) {
          return batch_norm_eval(in[0], in[1], in[2], running_mean.to(device),
                                 running_var.to(device), 1e-5);
        },
        inputs, tol))
        << "eval " << shape;
  }
}

TYPED_TEST(CudaAutograd, SoftmaxLogSoftmaxAndCrossEntropy) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = ortho::testing::parity_tolerance<TypeParam>();
  const Tensor x = ortho::mul(random_tensor({4, 6, 5}, 700, dtype), 3.0);
  for (std::int64_t dim : {0, 1, 2, -1}) {
    EXPECT_TRUE(
        gradients_match([dim](const Leaves& in, Device) { return softmax(in[0], dim); }, {x}, tol))
        << "softmax along " << dim;
    EXPECT_TRUE(gradients_match([dim](const Leaves& in, Device) { return log_softmax(in[0], dim); },
                                {x}, tol))
        << "log_softmax along " << dim;
  }
  const Tensor targets =
      Tensor::from_vector(std::vector<std::int64_t>{3, 0, 9, 9, 1, 4, 7, 2}, {8});
  const Tensor logits = ortho::mul(random_tensor({8, 10}, 701, dtype), 4.0);
  for (double smoothing : {0.0, 0.1, 0.4}) {
    EXPECT_TRUE(gradients_match(
        [targets, smoothing](const Leaves& in, Device device) {
          return cross_entropy(in[0], targets.to(device), smoothing);
        },
        {logits}, tol))
        << "cross_entropy, smoothing " << smoothing;
  }
  // Logits of a transposed layout.
  EXPECT_TRUE(
      gradients_match([targets](const Leaves& in,
                                Device device) { return cross_entropy(in[0], targets.to(device)); },
                      {ortho::mul(random_tensor({10, 8}, 702, dtype), 4.0).t()}, tol));
}

// ---------------------------------------------------------------------------------------------
// Linear algebra. Multi-output decompositions are reduced to sign-invariant quantities (Q * Q
// elementwise, R * R, eigenvalues, V * V, S, U * U, Vh * Vh), since Q D and D R (D a diagonal of
// signs) are as valid a QR as Q and R, and so for the eigen and singular vectors.

Variable flat(const Variable& x) {
  return flatten(x);
}

TYPED_TEST(CudaAutograd, Decompositions) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = ortho::testing::parity_tolerance<TypeParam>();
  const Graph qr_graph = [](const Leaves& in, Device) {
    const QROutput f = qr(in[0]);
    return cat({flat(square(f.q)), flat(square(f.r)), flat(matmul(f.q, f.r))}, 0);
  };
  for (const Tensor& a :
       {random_tensor({6, 4}, 800, dtype), random_tensor({5, 5}, 801, dtype),
        random_tensor({2, 5, 3}, 802, dtype), random_tensor({4, 7}, 803, dtype).t()}) {
    EXPECT_TRUE(gradients_match(qr_graph, {a}, tol)) << "qr of " << a.shape();
  }
  const Graph eigh_graph = [](const Leaves& in, Device) {
    const EighOutput f = eigh(in[0]);
    return cat({flat(f.eigenvalues), flat(square(f.eigenvectors))}, 0);
  };
  for (const Tensor& a : {ortho::testing::symmetric_with_gaps(1, 5, 810, dtype).squeeze(0),
                          ortho::testing::symmetric_with_gaps(3, 4, 811, dtype)}) {
    EXPECT_TRUE(gradients_match(eigh_graph, {a}, tol)) << "eigh of " << a.shape();
  }
  const Graph svd_graph = [](const Leaves& in, Device) {
    const SVDOutput f = svd(in[0]);
    return cat({flat(f.s), flat(square(f.u)), flat(square(f.vh))}, 0);
  };
  for (const Tensor& a : {ortho::testing::matrix_with_gaps(1, 6, 4, 820, dtype).squeeze(0),
                          ortho::testing::matrix_with_gaps(1, 3, 5, 821, dtype).squeeze(0),
                          ortho::testing::matrix_with_gaps(2, 4, 4, 822, dtype)}) {
    EXPECT_TRUE(gradients_match(svd_graph, {a}, tol)) << "svd of " << a.shape();
  }
}

TYPED_TEST(CudaAutograd, SolvesInverseExpmAndTrace) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = ortho::testing::parity_tolerance<TypeParam>();
  const auto well = [dtype](const Shape& shape, std::uint64_t seed) {
    return ortho::testing::well_conditioned(shape, seed, dtype);
  };
  EXPECT_TRUE(gradients_match([](const Leaves& in, Device) { return solve(in[0], in[1]); },
                              {well({4, 4}, 900), random_tensor({4, 3}, 901, dtype)}, tol));
  EXPECT_TRUE(gradients_match(
      [](const Leaves& in, Device) { return solve(in[0], in[1]); },
      {well({2, 4, 4}, 902).transpose(1, 2), random_tensor({4, 2}, 903, dtype)}, tol));
  for (bool upper : {true, false}) {
    for (bool left : {true, false}) {
      const Tensor b = left ? random_tensor({5, 3}, 910, dtype) : random_tensor({3, 5}, 911, dtype);
      for (const Tensor& a : {well({5, 5}, 912), well({2, 5, 5}, 913).transpose(1, 2)}) {
        EXPECT_TRUE(gradients_match(
            [upper, left](const Leaves& in, Device) {
              return solve_triangular(in[0], in[1], upper, left);
            },
            {a, b}, tol))
            << "solve_triangular upper " << upper << " left " << left << " a " << a.shape();
      }
    }
  }
  EXPECT_TRUE(gradients_match(unary([](const Variable& a) { return inverse(a); }),
                              {well({5, 5}, 920)}, tol));
  for (double scale : {0.01, 0.5, 3.0}) {
    EXPECT_TRUE(gradients_match(unary([](const Variable& a) { return expm(a); }),
                                {ortho::mul(random_tensor({2, 4, 4}, 930, dtype), scale)}, tol))
        << "expm, scale " << scale;
  }
  EXPECT_TRUE(gradients_match(unary([](const Variable& a) { return trace(a); }),
                              {random_tensor({3, 4, 4}, 940, dtype).transpose(1, 2)}, tol));
}

// ---------------------------------------------------------------------------------------------
// Joins, views and copies.

TYPED_TEST(CudaAutograd, JoinsViewsAndCopies) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = ortho::testing::parity_tolerance<TypeParam>();
  const Tensor x = random_tensor({4, 6, 5}, 1000, dtype);
  EXPECT_TRUE(gradients_match(
      [](const Leaves& in, Device) {
        return cat({in[0], mul(in[1], in[1]), in[0]}, 1);
      },
      {x, random_tensor({4, 2, 5}, 1001, dtype)}, tol));
  EXPECT_TRUE(gradients_match(
      [](const Leaves& in, Device) {
        return stack({in[0], exp(in[1])}, 2);
      },
      {x, random_tensor({5, 6, 4}, 1002, dtype).transpose(0, 2)}, tol));
  EXPECT_TRUE(
      gradients_match([](const Leaves& in, Device) { return pad2d(in[0], 1, 0, 2, 3); }, {x}, tol));

  const std::vector<std::pair<const char*, UnaryGraph>> views = {
      {"reshape",
       [](const Variable& v) {
         return reshape(v, {6, 20});
       }},
      {"view",
       [](const Variable& v) {
         return view(v, {24, 5});
       }},
      {"permute",
       [](const Variable& v) {
         return permute(v, {2, 0, 1});
       }},
      {"transpose", [](const Variable& v) { return transpose(v, 0, 2); }},
      {"t", [](const Variable& v) { return t(select(v, 0, 1)); }},
      {"slice", [](const Variable& v) { return slice(v, 1, 1, 6, 2); }},
      {"select", [](const Variable& v) { return select(v, 2, 3); }},
      {"expand",
       [](const Variable& v) {
         return expand(slice(v, 0, 0, 1), {3, 6, 5});
       }},
      {"squeeze / unsqueeze", [](const Variable& v) { return squeeze(unsqueeze(v, 1), 1); }},
      {"flatten", [](const Variable& v) { return flatten(v, 1); }},
      {"contiguous", [](const Variable& v) { return contiguous(transpose(v, 0, 1)); }},
      {"clone", [](const Variable& v) { return mul(clone(v), v); }},
      {"to dtype and back",
       [](const Variable& v) {
         const DType other = v.dtype() == DType::Float32 ? DType::Float64 : DType::Float32;
         return to(square(to(v, other)), v.dtype());
       }},
  };
  for (const auto& [name, op] : views) {
    // Every view of an op's output: the gradient must flow back through the strides.
    const UnaryGraph f = op;
    EXPECT_TRUE(gradients_match(unary([f](const Variable& v) { return f(tanh(v)); }), {x}, tol))
        << name;
    EXPECT_TRUE(gradients_match(unary(f), {x}, tol)) << name << " of a leaf";
  }
}

// ---------------------------------------------------------------------------------------------
// Graphs that cross devices, and gradient accumulation.

TEST_F(CudaAutogradGraphs, GradientsComeBackAcrossDevices) {
  const double tol = 1e-4;
  const Tensor x = random_tensor({5, 7}, 1100, DType::Float32);
  const Tensor w = random_tensor({7, 3}, 1101, DType::Float32);
  const auto loss = [](const Variable& a, const Variable& b) {
    return sum(square(tanh(matmul(a, b))));
  };
  // The reference: everything on the CPU.
  Variable x_ref(x, true), w_ref(w, true);
  loss(x_ref, w_ref).backward();

  // CPU leaves, computation on the GPU, loss back on the CPU.
  Variable x_cpu(x, true), w_cpu(w, true);
  const Variable out = to(loss(to(x_cpu, gpu()), to(w_cpu, gpu())), Device::cpu());
  EXPECT_TRUE(out.device().is_cpu());
  out.backward();
  ASSERT_TRUE(x_cpu.grad().defined());
  EXPECT_TRUE(x_cpu.grad().device().is_cpu());
  EXPECT_LE(ortho::testing::relative_error(x_cpu.grad(), x_ref.grad()), tol);
  EXPECT_LE(ortho::testing::relative_error(w_cpu.grad(), w_ref.grad()), tol);

  // GPU leaves, part of the computation on the CPU.
  Variable x_gpu(x.to(gpu()), true), w_gpu(w.to(gpu()), true);
  const Variable product = to(matmul(x_gpu, w_gpu), Device::cpu());
  to(sum(square(tanh(product))), gpu()).backward();
  EXPECT_TRUE(matches_cpu(x_gpu.grad(), x_ref.grad(), tol));
  EXPECT_TRUE(matches_cpu(w_gpu.grad(), w_ref.grad(), tol));
}

TEST_F(CudaAutogradGraphs, GradientsAccumulateOverUsesAndBackwardCalls) {
  const double tol = 1e-4;
  const Tensor x = random_tensor({6, 4}, 1200, DType::Float32);
  std::vector<Tensor> grads;
  for (Device device : {Device::cpu(), gpu()}) {
    Variable leaf(x.to(device), true);
    for (int pass = 0; pass < 2; ++pass) {
      // The leaf is used five times in one graph, and two graphs backpropagate into it.
      const Variable y =
          add(mul(sigmoid(leaf), leaf), matmul(matmul(leaf, transpose(leaf, 0, 1)), leaf));
      sum(mul(y, Variable(random_tensor(y.shape(), 1201 + pass, DType::Float32).to(device))))
          .backward();
    }
    grads.push_back(leaf.grad());
  }
  EXPECT_TRUE(matches_cpu(grads[1], grads[0], tol));
}

}  // namespace
}  // namespace ortho::autograd
