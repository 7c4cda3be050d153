// CPU-vs-CUDA parity of every public op of core/ops/ (and the tensor copies, fills, dtype
// conversions and random draws under them), in float32 and float64, on contiguous, transposed,
// sliced and broadcast inputs. Skips without a GPU.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/ops/batchnorm.h"
#include "core/ops/conv.h"
#include "core/ops/elementwise.h"
#include "core/ops/linalg.h"
#include "core/ops/matmul.h"
#include "core/ops/pool.h"
#include "core/ops/reduce.h"
#include "core/ops/shape_ops.h"
#include "core/ops/softmax.h"
#include "core/random.h"
#include "core/tensor.h"
#include "support/conv_case.h"
#include "support/cuda_test_support.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using testing::ConvCase;
using testing::cuda_matches_cpu;
using testing::gpu;
using testing::grid_tensor;
using testing::matches_cpu;
using testing::matrix_with_gaps;
using testing::random_tensor;
using testing::symmetric_with_gaps;
using testing::to_gpu_keeping_layout;
using testing::well_conditioned;
using Inputs = std::vector<Tensor>;
using Transform = std::function<Tensor(const Tensor&)>;

// ---------------------------------------------------------------------------------------------
// Inputs.

// Values in [-3, 3) with the ones near 0 set to exactly 0 (sign, abs, relu at the kink).
Tensor signed_values(const Tensor& x) {
  const Tensor zero = Tensor::scalar(0.0, x.dtype());
  return mul(where(lt(abs(x), 0.15), zero, x), 3.0);
}

// Values in [0.05, 1.05): inside the domain of log, sqrt, reciprocal and fractional powers.
Tensor positive_values(const Tensor& x) {
  return add(abs(x), 0.05);
}

// Values at least 0.5 away from 0, of either sign: safe denominators.
Tensor away_from_zero(const Tensor& x) {
  return where(lt(x, 0.0), add(x, -0.5), add(x, 0.5));
}

Tensor identity(const Tensor& x) {
  return x;
}

// One input of a parity check, named for the failure message.
struct Named {
  std::string name;
  Tensor value;
};

// The same values under the layouts a kernel must handle: contiguous, transposed, sliced with
// a step, broadcast (stride 0) and large (a grid of many blocks). `domain` maps the base
// tensor before the view is taken.
std::vector<Named> unary_layouts(DType dtype, std::uint64_t seed, const Transform& domain) {
  return {
      {"contiguous", domain(random_tensor({3, 5, 7}, seed, dtype))},
      {"transposed", domain(random_tensor({7, 5, 3}, seed + 1, dtype)).transpose(0, 2)},
      {"sliced",
       domain(random_tensor({3, 10, 8}, seed + 2, dtype)).slice(1, 1, 10, 2).slice(2, 0, 7)},
      {"broadcast", domain(random_tensor({1, 5, 7}, seed + 3, dtype)).expand({3, 5, 7})},
      {"large", domain(random_tensor({1 << 20}, seed + 4, dtype))},
  };
}

// Pairs of operands covering NumPy broadcasting and strided layouts.
struct NamedPair {
  std::string name;
  Tensor a, b;
};

std::vector<NamedPair> binary_layouts(DType dtype, std::uint64_t seed, const Transform& domain_a,
                                      const Transform& domain_b, bool grid) {
  const auto make = [&](const Shape& shape, std::uint64_t s, const Transform& domain) {
    return domain(grid ? grid_tensor(shape, s, dtype) : random_tensor(shape, s, dtype));
  };
  const auto a = [&](const Shape& shape, std::uint64_t s) { return make(shape, s, domain_a); };
  const auto b = [&](const Shape& shape, std::uint64_t s) { return make(shape, s, domain_b); };
  return {
      {"same shape", a({4, 5, 6}, seed), b({4, 5, 6}, seed + 1)},
      {"row broadcast", a({4, 5, 6}, seed + 2), b({6}, seed + 3)},
      {"both broadcast", a({4, 1, 6}, seed + 4), b({1, 5, 1}, seed + 5)},
      {"rank broadcast", a({5, 1}, seed + 6), b({3, 1, 4}, seed + 7)},
      {"scalar right", a({4, 5}, seed + 8), b({}, seed + 9)},
      {"scalar left", a({}, seed + 10), b({4, 5}, seed + 11)},
      {"transposed and sliced", a({6, 5, 4}, seed + 12).permute({2, 1, 0}),
       b({4, 10, 6}, seed + 13).slice(1, 0, 10, 2)},
      {"expanded and transposed", a({1, 5, 6}, seed + 14).expand({4, 5, 6}),
       b({4, 6, 5}, seed + 15).transpose(1, 2)},
      {"large", a({1024, 1024}, seed + 16), b({1024}, seed + 17)},
  };
}

// U diag(s) V^T for (..., m, k), (..., k), (..., k, n) factors.
Tensor from_svd(const Tensor& u, const Tensor& s, const Tensor& vh) {
  return matmul(mul(u, s.unsqueeze(-2)), vh);
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

template <typename T>
class CudaOps : public testing::CudaTest {};
using FloatingTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(CudaOps, FloatingTypes, testing::DTypeNames);

class CudaTensorOps : public testing::CudaTest {};

// ---------------------------------------------------------------------------------------------
// Element-wise.

struct UnaryCase {
  const char* name;
  Transform fn;
  bool positive;  // needs inputs > 0
};

std::vector<UnaryCase> unary_cases() {
  return {
      {"neg", [](const Tensor& x) { return neg(x); }, false},
      {"exp", [](const Tensor& x) { return exp(x); }, false},
      {"log", [](const Tensor& x) { return log(x); }, true},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }, true},
      {"abs", [](const Tensor& x) { return abs(x); }, false},
      {"sign", [](const Tensor& x) { return sign(x); }, false},
      {"square", [](const Tensor& x) { return square(x); }, false},
      {"reciprocal", [](const Tensor& x) { return reciprocal(x); }, true},
      {"relu", [](const Tensor& x) { return relu(x); }, false},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, false},
      {"tanh", [](const Tensor& x) { return tanh(x); }, false},
      {"pow 2", [](const Tensor& x) { return pow(x, 2.0); }, false},
      {"pow 3", [](const Tensor& x) { return pow(x, 3.0); }, false},
      {"pow 0.5", [](const Tensor& x) { return pow(x, 0.5); }, true},
      {"pow -1.5", [](const Tensor& x) { return pow(x, -1.5); }, true},
      {"clamp", [](const Tensor& x) { return clamp(x, -0.5, 0.7); }, false},
      {"affine", [](const Tensor& x) { return affine(x, 1.7, -0.3); }, false},
      {"add scalar", [](const Tensor& x) { return add(x, 2.5); }, false},
      {"mul scalar", [](const Tensor& x) { return mul(x, -1.25); }, false},
      {"operator/ scalar", [](const Tensor& x) { return x / 3.0; }, false},
      {"operator- scalar", [](const Tensor& x) { return x - 1.0; }, false},
      {"operator+ scalar", [](const Tensor& x) { return x + 0.5; }, false},
      {"scalar operator*", [](const Tensor& x) { return 2.0 * x; }, false},
      {"unary operator-", [](const Tensor& x) { return -x; }, false},
  };
}

TYPED_TEST(CudaOps, UnaryOpsOnEveryLayout) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = testing::parity_tolerance<TypeParam>();
  for (const UnaryCase& c : unary_cases()) {
    const Transform domain = c.positive ? Transform(positive_values) : Transform(signed_values);
    for (const Named& input : unary_layouts(dtype, 100, domain)) {
      const Transform fn = c.fn;
      EXPECT_TRUE(
          cuda_matches_cpu([fn](const Inputs& in) { return fn(in[0]); }, {input.value}, tol))
          << c.name << " on a " << input.name << " input";
    }
  }
}

struct BinaryCase {
  const char* name;
  std::function<Tensor(const Tensor&, const Tensor&)> fn;
  Transform domain_a, domain_b;
  bool grid;  // values on a coarse grid, so that ties occur
};

std::vector<BinaryCase> binary_cases() {
  using F = std::function<Tensor(const Tensor&, const Tensor&)>;
  const Transform any = identity;
  return {
      {"add", F([](const Tensor& a, const Tensor& b) { return add(a, b); }), any, any, false},
      {"sub", F([](const Tensor& a, const Tensor& b) { return sub(a, b); }), any, any, false},
      {"mul", F([](const Tensor& a, const Tensor& b) { return mul(a, b); }), any, any, false},
      {"div", F([](const Tensor& a, const Tensor& b) { return div(a, b); }), any, away_from_zero,
       false},
      {"pow", F([](const Tensor& a, const Tensor& b) { return pow(a, b); }), positive_values, any,
       false},
      {"maximum", F([](const Tensor& a, const Tensor& b) { return maximum(a, b); }), any, any,
       true},
      {"minimum", F([](const Tensor& a, const Tensor& b) { return minimum(a, b); }), any, any,
       true},
      {"eq", F([](const Tensor& a, const Tensor& b) { return eq(a, b); }), any, any, true},
      {"ne", F([](const Tensor& a, const Tensor& b) { return ne(a, b); }), any, any, true},
      {"lt", F([](const Tensor& a, const Tensor& b) { return lt(a, b); }), any, any, true},
      {"le", F([](const Tensor& a, const Tensor& b) { return le(a, b); }), any, any, true},
      {"gt", F([](const Tensor& a, const Tensor& b) { return gt(a, b); }), any, any, true},
      {"ge", F([](const Tensor& a, const Tensor& b) { return ge(a, b); }), any, any, true},
      {"relu_backward", F([](const Tensor& g, const Tensor& x) { return relu_backward(g, x); }),
       any, any, true},
      {"sigmoid_backward",
       F([](const Tensor& g, const Tensor& y) { return sigmoid_backward(g, y); }), any, any, false},
      {"tanh_backward", F([](const Tensor& g, const Tensor& y) { return tanh_backward(g, y); }),
       any, any, false},
      {"operator+", F([](const Tensor& a, const Tensor& b) { return a + b; }), any, any, false},
      {"operator-", F([](const Tensor& a, const Tensor& b) { return a - b; }), any, any, false},
      {"operator*", F([](const Tensor& a, const Tensor& b) { return a * b; }), any, any, false},
      {"operator/", F([](const Tensor& a, const Tensor& b) { return a / b; }), any, away_from_zero,
       false},
  };
}

TYPED_TEST(CudaOps, BinaryOpsBroadcastOverEveryLayout) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = testing::parity_tolerance<TypeParam>();
  for (const BinaryCase& c : binary_cases()) {
    for (const NamedPair& p : binary_layouts(dtype, 200, c.domain_a, c.domain_b, c.grid)) {
      const auto fn = c.fn;
      EXPECT_TRUE(
          cuda_matches_cpu([fn](const Inputs& in) { return fn(in[0], in[1]); }, {p.a, p.b}, tol))
          << c.name << " on " << p.name << " operands " << p.a.shape() << " and " << p.b.shape();
    }
  }
}

TYPED_TEST(CudaOps, ScalarComparisonsAndWhere) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = testing::parity_tolerance<TypeParam>();
  const Tensor x = grid_tensor({6, 5, 4}, 300, dtype).permute({2, 0, 1});
  EXPECT_TRUE(cuda_matches_cpu([](const Inputs& in) { return gt(in[0], 0.25); }, {x}, 0.0));
  EXPECT_TRUE(cuda_matches_cpu([](const Inputs& in) { return lt(in[0], -0.25); }, {x}, 0.0));

  const Tensor a = random_tensor({4, 5, 6}, 301, dtype);
  const Tensor b = random_tensor({6}, 302, dtype);
  const Tensor mask = gt(random_tensor({4, 1, 6}, 303, dtype), 0.0);
  // The condition may be of any dtype: the values' own, another float, or Int64.
  const std::vector<Named> conditions = {
      {"same dtype", mask},
      {"other float dtype", mask.to(dtype == DType::Float32 ? DType::Float64 : DType::Float32)},
      {"int64", mask.to(DType::Int64)},
      {"transposed", gt(random_tensor({6, 5, 4}, 304, dtype), 0.0).permute({2, 1, 0})},
  };
  for (const Named& cond : conditions) {
    EXPECT_TRUE(cuda_matches_cpu([](const Inputs& in) { return where(in[0], in[1], in[2]); },
                                 {cond.value, a, b}, tol))
        << "where with a " << cond.name << " condition";
  }
  EXPECT_TRUE(
      cuda_matches_cpu([](const Inputs& in) { return where(in[0], in[1], in[2]); },
                       {mask.to(DType::Int64), a.transpose(0, 1).contiguous().transpose(0, 1),
                        Tensor::scalar(-7.0, dtype)},
                       tol))
      << "where with a scalar branch";
}

TYPED_TEST(CudaOps, InPlaceUpdatesOfStridedViews) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = testing::parity_tolerance<TypeParam>();
  const Tensor base = random_tensor({6, 8}, 400, dtype);
  const Tensor other = random_tensor({8, 3}, 401, dtype);
  const Tensor row = random_tensor({3}, 402, dtype);
  Tensor cpu = base.clone(), on_gpu = base.to(gpu());
  // self += alpha * other through a transposed, stepped view; then *= alpha and a broadcast add.
  for (Tensor* t : {&cpu, &on_gpu}) {
    Tensor view = t->slice(0, 0, 6, 2).t();  // (8, 3), strides (1, 16)
    const Tensor o = other.to(t->device());
    add_(view, o, 0.5);
    mul_(view, -1.5);
    add_(view, row.to(t->device()), 2.0);
  }
  EXPECT_TRUE(matches_cpu(on_gpu, cpu, tol));
}

// ---------------------------------------------------------------------------------------------
// Reductions.

TYPED_TEST(CudaOps, ReductionsOverEveryDimSetAndLayout) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = testing::parity_tolerance<TypeParam>();
  const std::vector<Named> inputs = {
      {"contiguous", random_tensor({6, 7, 8}, 500, dtype)},
      {"permuted", random_tensor({7, 8, 6}, 501, dtype).permute({2, 0, 1})},
      {"sliced", random_tensor({6, 14, 9}, 502, dtype).slice(1, 0, 14, 2).slice(2, 1, 9)},
      {"ties", grid_tensor({6, 7, 8}, 503, dtype)},
  };
  const std::vector<std::vector<std::int64_t>> dim_sets = {
      {}, {0}, {1}, {2}, {-1}, {0, 2}, {1, 2}, {0, 1}, {2, 0}, {0, 1, 2}};
  using Reduce = std::function<Tensor(const Tensor&, const std::vector<std::int64_t>&, bool)>;
  const std::vector<std::pair<const char*, Reduce>> ops = {
      {"sum", [](const Tensor& x, const auto& d, bool k) { return sum(x, d, k); }},
      {"mean", [](const Tensor& x, const auto& d, bool k) { return mean(x, d, k); }},
      {"amax", [](const Tensor& x, const auto& d, bool k) { return amax(x, d, k); }},
      {"amin", [](const Tensor& x, const auto& d, bool k) { return amin(x, d, k); }},
      {"var", [](const Tensor& x, const auto& d, bool k) { return var(x, d, true, k); }},
      {"biased var", [](const Tensor& x, const auto& d, bool k) { return var(x, d, false, k); }},
  };
  for (const auto& [name, op] : ops) {
    for (const Named& input : inputs) {
      for (const auto& dims : dim_sets) {
        for (bool keepdim : {false, true}) {
          const Reduce f = op;
          EXPECT_TRUE(cuda_matches_cpu([&](const Inputs& in) { return f(in[0], dims, keepdim); },
                                       {input.value}, tol))
              << name << " of a " << input.name << " input over " << dims.size() << " dims (first "
              << (dims.empty() ? -99 : dims[0]) << "), keepdim " << keepdim;
        }
      }
    }
  }
  const Tensor x = inputs[1].value;
  EXPECT_TRUE(cuda_matches_cpu([](const Inputs& in) { return norm(in[0]); }, {x}, tol));
  EXPECT_TRUE(cuda_matches_cpu([](const Inputs& in) { return sum_to(in[0], {7, 1}); }, {x}, tol));
  EXPECT_TRUE(cuda_matches_cpu(
      [](const Inputs& in) {
        return sum_to(in[0], {6, 1, 8});
      },
      {x}, tol));
}

TYPED_TEST(CudaOps, LargeReductions) {
  const DType dtype = dtype_of<TypeParam>;
  // Positive values: no cancellation, so 1e-4 in float32 bounds the accumulation error of any
  // summation order (relative error <= n_levels * eps for a tree, and the CPU sums in double).
  const double tol = testing::parity_tolerance<TypeParam>();
  const auto positive = [&](const Shape& shape, std::uint64_t seed) {
    return add(abs(random_tensor(shape, seed, dtype)), 0.5);
  };
  const Tensor flat = positive({1 << 20}, 600);
  for (const auto& [name, op] :
       std::vector<std::pair<const char*, std::function<Tensor(const Tensor&)>>>{
           {"sum", [](const Tensor& x) { return sum(x); }},
           {"mean", [](const Tensor& x) { return mean(x); }},
           {"amax", [](const Tensor& x) { return amax(x); }},
           {"amin", [](const Tensor& x) { return amin(x); }},
           {"var", [](const Tensor& x) { return var(x); }},
           {"norm", [](const Tensor& x) { return norm(x); }}}) {
    const auto f = op;
    EXPECT_TRUE(cuda_matches_cpu([f](const Inputs& in) { return f(in[0]); }, {flat}, tol))
        << name << " of 2^20 elements";
  }
  const Tensor square_matrix = positive({1024, 1024}, 601);
  const Tensor wide = positive({16, 1 << 16}, 602);
  const Tensor middle = positive({3, 1 << 17, 2}, 603);
  const std::vector<std::pair<Tensor, std::vector<std::int64_t>>> cases = {
      {square_matrix, {0}}, {square_matrix, {1}}, {square_matrix.t(), {1}},
      {wide, {1}},          {wide, {0}},          {wide, {}},
      {middle, {1}},        {middle, {0, 1}},     {middle, {1, 2}},
  };
  for (const auto& [x, dims] : cases) {
    const std::vector<std::int64_t> d = dims;
    EXPECT_TRUE(cuda_matches_cpu([d](const Inputs& in) { return sum(in[0], d); }, {x}, tol))
        << "sum of " << x.shape() << " over " << d.size() << " dims";
    EXPECT_TRUE(cuda_matches_cpu([d](const Inputs& in) { return amax(in[0], d); }, {x}, tol))
        << "amax of " << x.shape() << " over " << d.size() << " dims";
    EXPECT_TRUE(cuda_matches_cpu([d](const Inputs& in) { return mean(in[0], d, true); }, {x}, tol))
        << "mean of " << x.shape() << " over " << d.size() << " dims";
  }
}

TYPED_TEST(CudaOps, ArgmaxTakesTheFirstMaximum) {
  const DType dtype = dtype_of<TypeParam>;
  const std::vector<Named> inputs = {
      {"random", random_tensor({6, 7, 8}, 700, dtype)},
      {"ties", grid_tensor({6, 7, 8}, 701, dtype)},
      {"permuted ties", grid_tensor({7, 8, 6}, 702, dtype).permute({2, 0, 1})},
      {"constant", Tensor::full({6, 7, 8}, 0.5, dtype)},
  };
  for (const Named& input : inputs) {
    for (std::int64_t dim : {0, 1, 2, -1}) {
      for (bool keepdim : {false, true}) {
        // Indices are exact: tolerance 0.
        EXPECT_TRUE(cuda_matches_cpu(
            [dim, keepdim](const Inputs& in) { return argmax(in[0], dim, keepdim); }, {input.value},
            0.0))
            << "argmax of a " << input.name << " input along " << dim << ", keepdim " << keepdim;
      }
    }
  }
  const Tensor flat = grid_tensor({1 << 20}, 703, dtype);
  EXPECT_TRUE(cuda_matches_cpu([](const Inputs& in) { return argmax(in[0], 0); }, {flat}, 0.0));
  const Tensor rows = random_tensor({4096, 256}, 704, dtype);
  for (std::int64_t dim : {0, 1}) {
    EXPECT_TRUE(
        cuda_matches_cpu([dim](const Inputs& in) { return argmax(in[0], dim); }, {rows}, 0.0))
        << "argmax of (4096, 256) along " << dim;
  }
}

TYPED_TEST(CudaOps, NaNPropagatesAsOnTheCpu) {
  const DType dtype = dtype_of<TypeParam>;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor x = random_tensor({4, 6, 6}, 800, dtype);
  x.select(0, 1).select(0, 2).select(0, 3).fill_(nan);  // one NaN at (1, 2, 3)
  x.select(0, 3).select(0, 0).select(0, 0).fill_(nan);  // one NaN at (3, 0, 0)
  const Tensor y = random_tensor({4, 6, 6}, 801, dtype);
  const std::vector<std::pair<const char*, testing::TensorFn>> ops = {
      {"amax", [](const Inputs& in) { return amax(in[0], {2}); }},
      {"amin",
       [](const Inputs& in) {
         return amin(in[0], {1, 2});
       }},
      {"sum", [](const Inputs& in) { return sum(in[0], {0}); }},
      {"maximum", [](const Inputs& in) { return maximum(in[0], in[1]); }},
      {"minimum", [](const Inputs& in) { return minimum(in[0], in[1]); }},
      {"argmax", [](const Inputs& in) { return argmax(in[0], 2); }},
      {"max_pool2d", [](const Inputs& in) { return max_pool2d(in[0].unsqueeze(0), {}).output; }},
      {"max_pool2d indices",
       [](const Inputs& in) { return max_pool2d(in[0].unsqueeze(0), {}).indices; }},
  };
  for (const auto& [name, fn] : ops) {
    EXPECT_TRUE(cuda_matches_cpu(fn, {x, y}, testing::parity_tolerance<TypeParam>())) << name;
  }
}

// ---------------------------------------------------------------------------------------------
// Matrix products.

TYPED_TEST(CudaOps, MatmulFoldsTransposesAndBroadcastsBatches) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = testing::parity_tolerance<TypeParam>();
  const auto r = [dtype](const Shape& shape, std::uint64_t seed) {
    return random_tensor(shape, seed, dtype);
  };
  const std::vector<NamedPair> cases = {
      {"matrix x matrix", r({2, 3}, 1), r({3, 4}, 2)},
      {"transposed x transposed", r({3, 2}, 3).t(), r({4, 3}, 4).t()},
      {"vector x matrix", r({3}, 5), r({3, 2}, 6)},
      {"matrix x vector", r({2, 3}, 7), r({3}, 8)},
      {"dot", r({1000}, 9), r({1000}, 10)},
      {"shared right operand", r({2, 2, 3}, 11), r({3, 2}, 12)},
      {"shared left operand", r({2, 3}, 13), r({2, 3, 2}, 14)},
      {"broadcast batch", r({2, 1, 2, 3}, 15), r({3, 3, 2}, 16)},
      {"vector x batch", r({3}, 17), r({2, 3, 2}, 18)},
      {"batch x vector", r({2, 2, 3}, 19), r({3}, 20)},
      {"stepped slice", r({2, 3, 4}, 21).slice(2, 0, 4, 2), r({2, 2, 3}, 22)},
      {"large", r({64, 96}, 23), r({96, 80}, 24)},
      {"large transposed", r({96, 64}, 25).t(), r({80, 96}, 26).t()},
      {"large mixed", r({64, 96}, 27), r({80, 96}, 28).t()},
      {"large batch broadcast", r({3, 1, 32, 48}, 29), r({4, 48, 16}, 30)},
      {"long inner dimension", r({16, 4096}, 31), r({4096, 8}, 32)},
      {"permuted batch", r({5, 7, 3}, 33).permute({1, 0, 2}), r({7, 3, 6}, 34)},
  };
  for (const NamedPair& c : cases) {
    EXPECT_TRUE(
        cuda_matches_cpu([](const Inputs& in) { return matmul(in[0], in[1]); }, {c.a, c.b}, tol))
        << "matmul, " << c.name << ": " << c.a.shape() << " x " << c.b.shape();
  }
  const std::vector<NamedPair> batched = {
      {"plain", r({5, 33, 17}, 40), r({5, 17, 9}, 41)},
      {"transposed", r({5, 17, 33}, 42).transpose(1, 2), r({5, 9, 17}, 43).transpose(1, 2)},
      {"batch-last storage", r({33, 17, 5}, 44).permute({2, 0, 1}), r({5, 17, 9}, 45)},
  };
  for (const NamedPair& c : batched) {
    EXPECT_TRUE(
        cuda_matches_cpu([](const Inputs& in) { return bmm(in[0], in[1]); }, {c.a, c.b}, tol))
        << "bmm, " << c.name;
  }
}

TEST_F(CudaTensorOps, Tf32MatmulIsCloseAndTheSwitchIsRestored) {
  const bool before = allow_tf32();
  const Tensor a = random_tensor({128, 256}, 900, DType::Float32);
  const Tensor b = random_tensor({256, 64}, 901, DType::Float32);
  {
    const testing::AllowTf32Guard tf32(true);
    EXPECT_TRUE(allow_tf32());
    // TF32 keeps 10 mantissa bits of each input (2^-11 relative rounding per factor).
    EXPECT_TRUE(
        cuda_matches_cpu([](const Inputs& in) { return matmul(in[0], in[1]); }, {a, b}, 1e-2));
  }
  EXPECT_EQ(allow_tf32(), before);
}

// ---------------------------------------------------------------------------------------------
// Convolution, pooling, batch norm.

std::vector<ConvCase> conv_cases() {
  return {
      {"3x3 pad 1 with bias", {2, 16, 12, 12}, {32, 16, 3, 3}, {1, 1, 1, 1, 1, 1, 1}, true},
      {"stride 2 odd sizes", {2, 8, 13, 11}, {16, 8, 3, 3}, {2, 2, 1, 1, 1, 1, 1}, true},
      {"dilation 2 no bias", {1, 4, 12, 12}, {6, 4, 3, 3}, {1, 1, 2, 2, 2, 2, 1}, false},
      {"4 groups", {2, 8, 9, 9}, {8, 2, 3, 3}, {1, 1, 1, 1, 1, 1, 4}, true},
      {"depthwise stride 2", {2, 8, 10, 10}, {8, 1, 3, 3}, {2, 2, 1, 1, 1, 1, 8}, true},
      {"1x1 stride 2 no bias", {2, 6, 7, 7}, {10, 6, 1, 1}, {2, 2, 0, 0, 1, 1, 1}, false},
      {"5x5 non-square input", {2, 3, 9, 13}, {5, 3, 5, 5}, {1, 1, 2, 2, 1, 1, 1}, true},
      {"3x2 kernel stride 2x1 pad 1x0", {1, 2, 6, 5}, {2, 2, 3, 2}, {2, 1, 1, 0, 1, 1, 1}, false},
      {"ResNet stage", {8, 16, 32, 32}, {16, 16, 3, 3}, {1, 1, 1, 1, 1, 1, 1}, false},
  };
}

TYPED_TEST(CudaOps, Conv2dForwardAndBothBackwards) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = testing::parity_tolerance<TypeParam>();
  std::uint64_t seed = 1000;
  for (const ConvCase& c : conv_cases()) {
    const Conv2dParams p = c.params;
    const Tensor input = random_tensor(c.input, seed++, dtype);
    const Tensor weight = random_tensor(c.weight, seed++, dtype);
    const Tensor bias = c.bias ? random_tensor({c.weight[0]}, seed++, dtype) : Tensor();
    Inputs forward_inputs = {input, weight};
    if (c.bias) forward_inputs.push_back(bias);
    EXPECT_TRUE(cuda_matches_cpu(
        [p](const Inputs& in) { return conv2d(in[0], in[1], in.size() > 2 ? in[2] : Tensor(), p); },
        forward_inputs, tol))
        << "conv2d forward, " << c.name;

    const Shape out_shape = conv2d(input, weight, bias, p).shape();
    const Tensor grad_out = random_tensor(out_shape, seed++, dtype);
    const Shape input_shape = c.input, weight_shape = c.weight;
    EXPECT_TRUE(cuda_matches_cpu(
        [p, input_shape](const Inputs& in) {
          return conv2d_backward_input(in[0], in[1], input_shape, p);
        },
        {grad_out, weight}, tol))
        << "conv2d backward input, " << c.name;
    EXPECT_TRUE(cuda_matches_cpu(
        [p, weight_shape](const Inputs& in) {
          return conv2d_backward_weight(in[0], in[1], weight_shape, p);
        },
        {grad_out, input}, tol))
        << "conv2d backward weight, " << c.name;
  }
  // An NHWC-stored input seen as NCHW (a permuted view).
  const Tensor nhwc = random_tensor({2, 12, 12, 16}, seed++, dtype).permute({0, 3, 1, 2});
  const Tensor weight = random_tensor({8, 16, 3, 3}, seed++, dtype);
  const Conv2dParams p{1, 1, 1, 1, 1, 1, 1};
  EXPECT_TRUE(cuda_matches_cpu([p](const Inputs& in) { return conv2d(in[0], in[1], Tensor(), p); },
                               {nhwc, weight}, tol))
      << "conv2d of a permuted input";
}

struct PoolCase {
  const char* name;
  Shape input;
  Pool2dParams params;
};

std::vector<PoolCase> pool_cases() {
  return {
      {"2x2 stride 2", {2, 3, 8, 8}, {2, 2, 2, 2, 0, 0, true}},
      {"3x3 stride 2 pad 1", {2, 3, 9, 11}, {3, 3, 2, 2, 1, 1, true}},
      {"3x3 stride 1 pad 1 no pad count", {2, 3, 7, 7}, {3, 3, 1, 1, 1, 1, false}},
      {"3x2 stride 2x1 pad 1x1", {1, 4, 7, 6}, {3, 2, 2, 1, 1, 1, true}},
      {"3x2 stride 2x1 pad 1x1 no pad count", {1, 4, 7, 6}, {3, 2, 2, 1, 1, 1, false}},
      {"global", {4, 16, 8, 8}, {8, 8, 8, 8, 0, 0, true}},
      {"large", {16, 32, 32, 32}, {2, 2, 2, 2, 0, 0, true}},
  };
}

TYPED_TEST(CudaOps, MaxPoolingValuesIndicesAndBackward) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = testing::parity_tolerance<TypeParam>();
  std::uint64_t seed = 1100;
  for (const PoolCase& c : pool_cases()) {
    const Pool2dParams p = c.params;
    // Grid values: windows with tied maxima, where the first one (row-major) must win.
    for (bool ties : {false, true}) {
      const Tensor x =
          ties ? grid_tensor(c.input, seed++, dtype) : random_tensor(c.input, seed++, dtype);
      const MaxPoolResult cpu = max_pool2d(x, p);
      const MaxPoolResult cuda = max_pool2d(x.to(gpu()), p);
      EXPECT_TRUE(matches_cpu(cuda.output, cpu.output, tol)) << c.name << ", ties " << ties;
      EXPECT_TRUE(matches_cpu(cuda.indices, cpu.indices, 0.0)) << c.name << ", ties " << ties;
      const Tensor grad = random_tensor(cpu.output.shape(), seed++, dtype);
      const Shape shape = c.input;
      EXPECT_TRUE(matches_cpu(max_pool2d_backward(grad.to(gpu()), cpu.indices.to(gpu()), shape),
                              max_pool2d_backward(grad, cpu.indices, shape), tol))
          << "max_pool2d_backward, " << c.name << ", ties " << ties;
    }
  }
  // A transposed input (the front end hands the kernel a contiguous copy).
  const Tensor t = random_tensor({2, 3, 10, 8}, seed++, dtype).transpose(2, 3);
  EXPECT_TRUE(
      cuda_matches_cpu([](const Inputs& in) { return max_pool2d(in[0], {}).output; }, {t}, tol));
}

TYPED_TEST(CudaOps, AveragePoolingAndBackward) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = testing::parity_tolerance<TypeParam>();
  std::uint64_t seed = 1200;
  for (const PoolCase& c : pool_cases()) {
    const Pool2dParams p = c.params;
    const Tensor x = random_tensor(c.input, seed++, dtype);
    EXPECT_TRUE(cuda_matches_cpu([p](const Inputs& in) { return avg_pool2d(in[0], p); }, {x}, tol))
        << "avg_pool2d, " << c.name;
    const Tensor grad = random_tensor(avg_pool2d(x, p).shape(), seed++, dtype);
    const Shape shape = c.input;
    EXPECT_TRUE(cuda_matches_cpu(
        [p, shape](const Inputs& in) { return avg_pool2d_backward(in[0], shape, p); }, {grad}, tol))
        << "avg_pool2d_backward, " << c.name;
  }
}

TYPED_TEST(CudaOps, BatchNormTrainEvalAndBackward) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = testing::parity_tolerance<TypeParam>();
  const double eps = 1e-5;
  std::uint64_t seed = 1300;
  for (const Shape& shape : {Shape{8, 6, 5, 5}, Shape{16, 6}, Shape{32, 16, 16, 16}}) {
    const std::int64_t c = shape[1];
    // Shifted and scaled, so the batch statistics are far from (0, 1).
    const Tensor x = affine(random_tensor(shape, seed++, dtype), 2.0, 3.0);
    const Tensor weight = random_tensor({c}, seed++, dtype);
    const Tensor bias = random_tensor({c}, seed++, dtype);
    const BatchNormResult cpu = batch_norm_train(x, weight, bias, eps);
    const BatchNormResult cuda =
        batch_norm_train(x.to(gpu()), weight.to(gpu()), bias.to(gpu()), eps);
    EXPECT_TRUE(matches_cpu(cuda.output, cpu.output, tol)) << "train output " << shape;
    EXPECT_TRUE(matches_cpu(cuda.mean, cpu.mean, tol)) << "train mean " << shape;
    EXPECT_TRUE(matches_cpu(cuda.invstd, cpu.invstd, tol)) << "train invstd " << shape;

    const Tensor running_mean = random_tensor({c}, seed++, dtype);
    const Tensor running_var = add(abs(random_tensor({c}, seed++, dtype)), 0.5);
    EXPECT_TRUE(cuda_matches_cpu(
        [eps](const Inputs& in) { return batch_norm_eval(in[0], in[1], in[2], in[3], in[4], eps); },
        {x, weight, bias, running_mean, running_var}, tol))
        << "eval " << shape;

    const Tensor grad_y = random_tensor(shape, seed++, dtype);
    const BatchNormGrads g_cpu = batch_norm_backward(grad_y, x, weight, cpu.mean, cpu.invstd);
    const BatchNormGrads g_cuda = batch_norm_backward(
        grad_y.to(gpu()), x.to(gpu()), weight.to(gpu()), cpu.mean.to(gpu()), cpu.invstd.to(gpu()));
    EXPECT_TRUE(matches_cpu(g_cuda.input, g_cpu.input, tol)) << "backward input " << shape;
    EXPECT_TRUE(matches_cpu(g_cuda.weight, g_cpu.weight, tol)) << "backward weight " << shape;
    EXPECT_TRUE(matches_cpu(g_cuda.bias, g_cpu.bias, tol)) << "backward bias " << shape;
  }
}

// ---------------------------------------------------------------------------------------------
// Softmax family.

TYPED_TEST(CudaOps, SoftmaxAndLogSoftmaxAlongEveryDim) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = testing::parity_tolerance<TypeParam>();
  const std::vector<Named> inputs = {
      {"small", mul(random_tensor({4, 7, 9}, 1400, dtype), 3.0)},
      {"long rows", mul(random_tensor({3, 10000}, 1401, dtype), 10.0)},
      {"many rows", mul(random_tensor({4096, 10}, 1402, dtype), 5.0)},
  };
  for (const Named& input : inputs) {
    for (std::int64_t dim = -1; dim < input.value.dim(); ++dim) {
      const Tensor grad = random_tensor(input.value.shape(), 1403, dtype);
      for (bool log_space : {false, true}) {
        const char* name = log_space ? "log_softmax" : "softmax";
        EXPECT_TRUE(cuda_matches_cpu(
            [dim, log_space](const Inputs& in) {
              return log_space ? log_softmax(in[0], dim) : softmax(in[0], dim);
            },
            {input.value}, tol))
            << name << " of " << input.name << " along " << dim;
        const Tensor y = log_space ? log_softmax(input.value, dim) : softmax(input.value, dim);
        EXPECT_TRUE(cuda_matches_cpu(
            [dim, log_space](const Inputs& in) {
              return log_space ? log_softmax_backward(in[0], in[1], dim)
                               : softmax_backward(in[0], in[1], dim);
            },
            {grad, y}, tol))
            << name << " backward of " << input.name << " along " << dim;
      }
    }
  }
}

TYPED_TEST(CudaOps, CrossEntropyWithLabelSmoothing) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = testing::parity_tolerance<TypeParam>();
  for (const auto& [n, c] :
       std::vector<std::pair<std::int64_t, std::int64_t>>{{16, 10}, {300, 1000}}) {
    const Tensor logits = mul(random_tensor({n, c}, 1500, dtype), 4.0);
    std::vector<std::int64_t> labels(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) labels[static_cast<std::size_t>(i)] = (7 * i + 3) % c;
    const Tensor targets = Tensor::from_vector(labels, {n});
    const Tensor grad_losses = random_tensor({n}, 1501, dtype);
    for (double smoothing : {0.0, 0.1, 0.3}) {
      const CrossEntropyResult cpu = cross_entropy(logits, targets, smoothing);
      const CrossEntropyResult cuda = cross_entropy(logits.to(gpu()), targets.to(gpu()), smoothing);
      EXPECT_TRUE(matches_cpu(cuda.losses, cpu.losses, tol)) << n << "x" << c << " " << smoothing;
      EXPECT_TRUE(matches_cpu(cuda.log_probs, cpu.log_probs, tol))
          << n << "x" << c << " " << smoothing;
      EXPECT_TRUE(
          matches_cpu(cross_entropy_backward(grad_losses.to(gpu()), cpu.log_probs.to(gpu()),
                                             targets.to(gpu()), smoothing),
                      cross_entropy_backward(grad_losses, cpu.log_probs, targets, smoothing), tol))
          << "backward " << n << "x" << c << " " << smoothing;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Linear algebra. Decompositions are compared up to their sign freedom: |Q| and |R| (Q D, D R
// for a diagonal D of signs), eigenvalues and |V|, S and |U|, |Vh|; and the GPU factors must
// rebuild the input.

TYPED_TEST(CudaOps, QrUpToColumnSigns) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = testing::parity_tolerance<TypeParam>();
  const std::vector<Named> inputs = {
      {"tall", random_tensor({7, 4}, 1600, dtype)},
      {"square", random_tensor({5, 5}, 1601, dtype)},
      {"wide", random_tensor({4, 7}, 1602, dtype)},
      {"batched", random_tensor({3, 6, 4}, 1603, dtype)},
      {"transposed", random_tensor({5, 8}, 1604, dtype).t()},
      {"large", random_tensor({96, 64}, 1605, dtype)},
  };
  for (const Named& input : inputs) {
    const QRResult cpu = qr(input.value);
    const QRResult cuda = qr(to_gpu_keeping_layout(input.value));
    EXPECT_TRUE(matches_cpu(abs(cuda.q), abs(cpu.q), tol)) << "|Q| of " << input.name;
    EXPECT_TRUE(matches_cpu(abs(cuda.r), abs(cpu.r), tol)) << "|R| of " << input.name;
    EXPECT_TRUE(matches_cpu(matmul(cuda.q, cuda.r), input.value.contiguous(), tol))
        << "QR of " << input.name;
  }
}

TYPED_TEST(CudaOps, EighUpToEigenvectorSigns) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = testing::parity_tolerance<TypeParam>();
  for (const auto& [batch, n] :
       std::vector<std::pair<std::int64_t, std::int64_t>>{{1, 6}, {3, 5}, {1, 48}}) {
    const Tensor a = symmetric_with_gaps(batch, n, 1700, dtype);
    // Eigenvectors are accurate to about n eps ||A|| / gap = n^2 eps: looser for the 48 x 48
    // case in float32.
    const double vector_tol = dtype == DType::Float32 && n > 16 ? 1e-3 : tol;
    const EighResult cpu = eigh(a);
    const EighResult cuda = eigh(a.to(gpu()));
    EXPECT_TRUE(matches_cpu(cuda.eigenvalues, cpu.eigenvalues, tol)) << batch << "x" << n;
    EXPECT_TRUE(matches_cpu(abs(cuda.eigenvectors), abs(cpu.eigenvectors), vector_tol))
        << batch << "x" << n;
    const Tensor rebuilt = matmul(mul(cuda.eigenvectors, cuda.eigenvalues.unsqueeze(-2)),
                                  cuda.eigenvectors.transpose(-1, -2));
    EXPECT_TRUE(matches_cpu(rebuilt, a, tol)) << "V diag(w) V^T, " << batch << "x" << n;
  }
  // Only the lower triangle is read: garbage above the diagonal changes nothing.
  const Tensor a = symmetric_with_gaps(1, 5, 1710, dtype).squeeze(0);
  const Tensor upper_noise = mul(random_tensor({5, 5}, 1711, dtype), 100.0);
  Tensor garbled = a.clone();
  for (std::int64_t i = 0; i < 5; ++i) {
    garbled.select(0, i).slice(0, i + 1, 5).copy_(upper_noise.select(0, i).slice(0, i + 1, 5));
  }
  EXPECT_TRUE(matches_cpu(eigh(garbled.to(gpu())).eigenvalues, eigh(a).eigenvalues, tol));
}

TYPED_TEST(CudaOps, SvdUpToSingularVectorSigns) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = testing::parity_tolerance<TypeParam>();
  struct SvdCase {
    std::int64_t batch, m, n;
  };
  for (const SvdCase& c : std::vector<SvdCase>{
           {1, 7, 4}, {1, 4, 7}, {1, 5, 5}, {3, 6, 4}, {2, 3, 8}, {1, 64, 40}, {1, 40, 64}}) {
    const Tensor a = matrix_with_gaps(c.batch, c.m, c.n, 1800, dtype);
    // Singular vectors are accurate to about k eps ||A|| / gap = k^2 eps (k = min(m, n)).
    const double vector_tol = dtype == DType::Float32 && std::min(c.m, c.n) > 16 ? 1e-3 : tol;
    const SVDResult cpu = svd(a);
    const SVDResult cuda = svd(a.to(gpu()));
    const std::string name =
        std::to_string(c.batch) + "x" + std::to_string(c.m) + "x" + std::to_string(c.n);
    EXPECT_TRUE(matches_cpu(cuda.s, cpu.s, tol)) << "S of " << name;
    EXPECT_TRUE(matches_cpu(abs(cuda.u), abs(cpu.u), vector_tol)) << "|U| of " << name;
    EXPECT_TRUE(matches_cpu(abs(cuda.vh), abs(cpu.vh), vector_tol)) << "|Vh| of " << name;
    EXPECT_TRUE(matches_cpu(from_svd(cuda.u, cuda.s, cuda.vh), a, tol)) << "U S Vh of " << name;
  }
  // A general random matrix (no prescribed spectrum), transposed: S and the rebuild only.
  const Tensor a = random_tensor({9, 6}, 1810, dtype).t();
  const SVDResult cuda = svd(to_gpu_keeping_layout(a));
  EXPECT_TRUE(matches_cpu(cuda.s, svd(a).s, tol));
  EXPECT_TRUE(matches_cpu(from_svd(cuda.u, cuda.s, cuda.vh), a.contiguous(), tol));
}

TYPED_TEST(CudaOps, SolvesAndInverse) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = testing::parity_tolerance<TypeParam>();
  const auto solve_fn = [](const Inputs& in) { return solve(in[0], in[1]); };
  const std::vector<NamedPair> solves = {
      {"single", well_conditioned({5, 5}, 1900, dtype), random_tensor({5, 3}, 1901, dtype)},
      {"transposed", well_conditioned({5, 5}, 1902, dtype).t(),
       random_tensor({3, 5}, 1903, dtype).t()},
      {"batch broadcast a", well_conditioned({2, 4, 4}, 1904, dtype),
       random_tensor({4, 2}, 1905, dtype)},
      {"batch broadcast b", well_conditioned({4, 4}, 1906, dtype),
       random_tensor({3, 4, 2}, 1907, dtype)},
      {"large", well_conditioned({64, 64}, 1908, dtype), random_tensor({64, 16}, 1909, dtype)},
  };
  for (const NamedPair& c : solves) {
    EXPECT_TRUE(cuda_matches_cpu(solve_fn, {c.a, c.b}, tol)) << "solve, " << c.name;
  }
  for (bool upper : {true, false}) {
    for (bool left : {true, false}) {
      const Tensor a = well_conditioned({6, 6}, 1910, dtype);  // the unread triangle is noise
      const Tensor b =
          left ? random_tensor({6, 4}, 1911, dtype) : random_tensor({4, 6}, 1912, dtype);
      const Tensor batched = well_conditioned({3, 6, 6}, 1913, dtype).transpose(1, 2);
      for (const Tensor& matrix : {a, batched}) {
        EXPECT_TRUE(cuda_matches_cpu(
            [upper, left](const Inputs& in) { return solve_triangular(in[0], in[1], upper, left); },
            {matrix, b}, tol))
            << "solve_triangular upper " << upper << " left " << left << " a " << matrix.shape();
      }
    }
  }
  for (const Tensor& a : {well_conditioned({5, 5}, 1920, dtype),
                          well_conditioned({3, 4, 4}, 1921, dtype).transpose(1, 2),
                          well_conditioned({48, 48}, 1922, dtype)}) {
    EXPECT_TRUE(cuda_matches_cpu([](const Inputs& in) { return inverse(in[0]); }, {a}, tol))
        << "inverse of " << a.shape();
  }
}

TYPED_TEST(CudaOps, SingularSolveThrowsOnBothDevices) {
  const DType dtype = dtype_of<TypeParam>;
  for (Device device : {Device::cpu(), gpu()}) {
    const Tensor singular = Tensor::zeros({3, 3}, dtype, device);
    const Tensor b = Tensor::ones({3, 1}, dtype, device);
    EXPECT_THROW(solve(singular, b), std::runtime_error) << device.to_string();
    EXPECT_THROW(solve_triangular(singular, b, true), std::runtime_error) << device.to_string();
  }
  // The device keeps working after the failure.
  EXPECT_TRUE(cuda_matches_cpu([](const Inputs& in) { return add(in[0], 1.0); },
                               {Tensor::ones({3}, dtype)}, 0.0));
}

TYPED_TEST(CudaOps, MatrixExponentialAndTrace) {
  const DType dtype = dtype_of<TypeParam>;
  const double tol = testing::parity_tolerance<TypeParam>();
  // Norms that select the degree-3, -5..9 and -13 Padé approximants, with and without squaring.
  std::vector<Tensor> inputs;
  for (double scale : {0.001, 0.05, 0.3, 1.0, 3.0}) {
    inputs.push_back(mul(random_tensor({5, 5}, 2000, dtype), scale));
  }
  // A batch whose matrices need different squaring counts.
  inputs.push_back(stack(
      {mul(random_tensor({4, 4}, 2001, dtype), 0.01), mul(random_tensor({4, 4}, 2002, dtype), 0.5),
       mul(random_tensor({4, 4}, 2003, dtype), 4.0)},
      0));
  inputs.push_back(mul(random_tensor({6, 6}, 2004, dtype), 2.0).t());
  for (const Tensor& a : inputs) {
    EXPECT_TRUE(cuda_matches_cpu([](const Inputs& in) { return expm(in[0]); }, {a}, tol))
        << "expm of " << a.shape();
  }
  for (const Tensor& a : {random_tensor({3, 5, 5}, 2010, dtype),
                          random_tensor({5, 5, 3}, 2011, dtype).permute({2, 1, 0})}) {
    EXPECT_TRUE(cuda_matches_cpu([](const Inputs& in) { return trace(in[0]); }, {a}, tol));
  }
}

// ---------------------------------------------------------------------------------------------
// Random numbers: the CUDA backend draws with the CPU's Philox mapping.

TYPED_TEST(CudaOps, RandomDrawsMatchTheCpuForTheSameSeed) {
  const DType dtype = dtype_of<TypeParam>;
  const bool single = dtype == DType::Float32;
  // rand and bernoulli map Philox words to values without rounding: bit-identical. uniform on
  // [low, high) rounds low + span * u (the GPU may fuse it into one FMA) and normal calls
  // log/sqrt/cos/sin, whose last bits differ between libm and CUDA's: a few ulps.
  const double uniform_tol = single ? 1e-6 : 1e-14;
  const double normal_tol = single ? 1e-6 : 1e-13;
  for (std::int64_t n : {1, 3, 5, 1001, 1 << 20}) {
    Generator on_cpu(42), on_gpu(42);
    // Consecutive draws of one generator: the offsets advance alike.
    for (int round = 0; round < 2; ++round) {
      EXPECT_TRUE(matches_cpu(rand({n}, dtype, gpu(), &on_gpu),
                              rand({n}, dtype, Device::cpu(), &on_cpu), 0.0))
          << "rand, n = " << n << ", round " << round;
      EXPECT_TRUE(matches_cpu(uniform({n}, -2.0, 3.0, dtype, gpu(), &on_gpu),
                              uniform({n}, -2.0, 3.0, dtype, Device::cpu(), &on_cpu), uniform_tol))
          << "uniform, n = " << n << ", round " << round;
      EXPECT_TRUE(matches_cpu(randn({n}, dtype, gpu(), &on_gpu),
                              randn({n}, dtype, Device::cpu(), &on_cpu), normal_tol))
          << "randn, n = " << n << ", round " << round;
      EXPECT_TRUE(matches_cpu(normal({n}, 1.5, 0.25, dtype, gpu(), &on_gpu),
                              normal({n}, 1.5, 0.25, dtype, Device::cpu(), &on_cpu), normal_tol))
          << "normal, n = " << n << ", round " << round;
      EXPECT_TRUE(matches_cpu(bernoulli({n}, 0.3, dtype, gpu(), &on_gpu),
                              bernoulli({n}, 0.3, dtype, Device::cpu(), &on_cpu), 0.0))
          << "bernoulli, n = " << n << ", round " << round;
    }
    EXPECT_EQ(on_gpu.state().offset, on_cpu.state().offset);
  }
  // Multi-dimensional shapes draw in row-major order, as on the CPU.
  Generator a(7), b(7);
  EXPECT_TRUE(matches_cpu(rand({3, 5, 7}, dtype, gpu(), &a),
                          rand({3, 5, 7}, dtype, Device::cpu(), &b), 0.0));
}

TEST_F(CudaTensorOps, ManualSeedSeedsTheCudaDefaultGenerator) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    manual_seed(1234);
    const Tensor on_cpu = rand({4099}, dtype);
    const Tensor on_gpu = rand({4099}, dtype, gpu());
    EXPECT_TRUE(matches_cpu(on_gpu, on_cpu, 0.0)) << dtype_name(dtype);
    const Tensor mask_cpu = bernoulli({777}, 0.5, dtype);
    const Tensor mask_gpu = bernoulli({777}, 0.5, dtype, gpu());
    EXPECT_TRUE(matches_cpu(mask_gpu, mask_cpu, 0.0)) << dtype_name(dtype);
  }
}

// ---------------------------------------------------------------------------------------------
// Copies, views, fills and dtype conversions.

TEST_F(CudaTensorOps, RoundTripsThroughTheDeviceAreExact) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const Tensor x = random_tensor({3, 17, 5}, 2100, dtype);
    const Tensor on_gpu = x.to(gpu());
    EXPECT_TRUE(on_gpu.device().is_cuda());
    EXPECT_EQ(on_gpu.dtype(), dtype);
    EXPECT_TRUE(on_gpu.to(gpu()).shares_storage(on_gpu)) << "to() the same device is a no-op";
    EXPECT_EQ(testing::max_abs_diff(on_gpu.to(Device::cpu()), x), 0.0);
    EXPECT_EQ(on_gpu.to_vector<double>(), x.to_vector<double>());
  }
  const std::vector<std::int64_t> big = {
      0, -1, 1, (std::int64_t{1} << 53) + 1, -(std::int64_t{1} << 62), std::int64_t{1} << 40};
  const Tensor ints = Tensor::from_vector(big, {6});
  EXPECT_EQ(ints.to(gpu()).to(Device::cpu()).to_vector<std::int64_t>(), big);
  EXPECT_EQ(Tensor::from_vector(big, {2, 3}, gpu()).to_vector<std::int64_t>(), big);
  EXPECT_EQ(Tensor::scalar(2.5, DType::Float64, gpu()).item<double>(), 2.5);
  // A transposed GPU view comes back in its logical (row-major) order.
  const Tensor m = random_tensor({4, 6}, 2101, DType::Float32);
  EXPECT_EQ(to_gpu_keeping_layout(m).t().to_vector<float>(), m.t().contiguous().to_vector<float>());
}

TEST_F(CudaTensorOps, ContiguousCopiesOfEveryView) {
  const Tensor base = random_tensor({4, 6, 8}, 2200, DType::Float32);
  const std::vector<std::pair<const char*, Transform>> views = {
      {"permute",
       [](const Tensor& x) {
         return x.permute({2, 0, 1});
       }},
      {"transpose", [](const Tensor& x) { return x.transpose(0, 2); }},
      {"stepped slice", [](const Tensor& x) { return x.slice(2, 1, 8, 3); }},
      {"select", [](const Tensor& x) { return x.select(1, 4); }},
      {"expand",
       [](const Tensor& x) {
         return x.slice(0, 0, 1).expand({5, 6, 8});
       }},
      {"unsqueeze", [](const Tensor& x) { return x.unsqueeze(1).transpose(0, 1); }},
      {"reshape of a transpose",
       [](const Tensor& x) {
         return x.transpose(0, 1).reshape({6, 32});
       }},
      {"flatten of a slice", [](const Tensor& x) { return x.slice(1, 0, 6, 2).flatten(); }},
  };
  for (const auto& [name, view] : views) {
    const Transform v = view;
    EXPECT_TRUE(
        cuda_matches_cpu([v](const Inputs& in) { return v(in[0]).contiguous(); }, {base}, 0.0))
        << "contiguous of " << name;
    EXPECT_TRUE(cuda_matches_cpu([v](const Inputs& in) { return v(in[0]).clone(); }, {base}, 0.0))
        << "clone of " << name;
    const Tensor copy = v(base.to(gpu())).contiguous();
    EXPECT_TRUE(copy.is_contiguous()) << name;
  }
}

TEST_F(CudaTensorOps, DtypeConversionsRoundAndTruncateAsOnTheCpu) {
  const Tensor wide = mul(random_tensor({5, 40}, 2300), 100.0);  // float64 in [-100, 100)
  const std::vector<std::pair<DType, DType>> conversions = {
      {DType::Float64, DType::Float32}, {DType::Float32, DType::Float64},
      {DType::Float64, DType::Int64},   {DType::Float32, DType::Int64},
      {DType::Int64, DType::Float32},   {DType::Int64, DType::Float64},
  };
  for (const auto& [from, to] : conversions) {
    const Tensor source = wide.to(from);
    const DType target = to;
    for (bool transposed : {false, true}) {
      const Tensor input = transposed ? source.t() : source;
      EXPECT_TRUE(
          cuda_matches_cpu([target](const Inputs& in) { return in[0].to(target); }, {input}, 0.0))
          << dtype_name(from) << " -> " << dtype_name(to) << (transposed ? " (transposed)" : "");
    }
  }
  // Integers past float precision round to nearest even on both devices.
  const std::vector<std::int64_t> big = {(1 << 24) + 1, (1 << 24) + 3, -((1 << 24) + 1),
                                         (std::int64_t{1} << 53) + 1};
  const Tensor ints = Tensor::from_vector(big, {4});
  for (DType target : {DType::Float32, DType::Float64}) {
    EXPECT_EQ(ints.to(gpu()).to(target).to_vector<double>(), ints.to(target).to_vector<double>())
        << dtype_name(target);
  }
  // Truncation toward zero for negative non-integers.
  const Tensor fractions = Tensor::from_vector(std::vector<double>{-2.7, -0.5, 0.5, 2.7}, {4});
  EXPECT_EQ(fractions.to(gpu()).to(DType::Int64).to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{-2, 0, 0, 2}));
}

TEST_F(CudaTensorOps, CopyIntoViewsAcrossDevicesAndDtypes) {
  const Tensor source = random_tensor({3, 8}, 2400, DType::Float64);
  Tensor cpu = Tensor::zeros({8, 6}, DType::Float32);
  Tensor on_gpu = Tensor::zeros({8, 6}, DType::Float32, gpu());
  // A CPU float64 source into a transposed, stepped float32 view on each device.
  cpu.slice(1, 0, 6, 2).t().copy_(source);
  on_gpu.slice(1, 0, 6, 2).t().copy_(source);
  EXPECT_TRUE(matches_cpu(on_gpu, cpu, 0.0));
  // A broadcast GPU row into a CPU view, and a GPU view into a CPU tensor.
  const Tensor row = random_tensor({6}, 2401, DType::Float32);
  cpu.slice(0, 2, 5).copy_(row.to(gpu()));
  on_gpu.slice(0, 2, 5).copy_(row.to(gpu()));
  EXPECT_TRUE(matches_cpu(on_gpu, cpu, 0.0));
  Tensor back = Tensor::empty({6, 8}, DType::Float64);
  back.copy_(on_gpu.t());
  EXPECT_EQ(back.to_vector<double>(), cpu.t().to(DType::Float64).contiguous().to_vector<double>());
}

TEST_F(CudaTensorOps, FillsAndFactories) {
  for (DType dtype : {DType::Float32, DType::Float64, DType::Int64}) {
    EXPECT_TRUE(
        matches_cpu(Tensor::zeros({3, 4}, dtype, gpu()), Tensor::zeros({3, 4}, dtype), 0.0));
    EXPECT_TRUE(matches_cpu(Tensor::ones({5}, dtype, gpu()), Tensor::ones({5}, dtype), 0.0));
    EXPECT_TRUE(matches_cpu(Tensor::full({2, 3}, -7.0, dtype, gpu()),
                            Tensor::full({2, 3}, -7.0, dtype), 0.0));
    EXPECT_TRUE(matches_cpu(Tensor::eye(5, dtype, gpu()), Tensor::eye(5, dtype), 0.0));
    EXPECT_TRUE(matches_cpu(Tensor::arange(100, dtype, gpu()), Tensor::arange(100, dtype), 0.0));
    EXPECT_TRUE(matches_cpu(Tensor::scalar(3.0, dtype, gpu()), Tensor::scalar(3.0, dtype), 0.0));
    // fill_ through a stepped, transposed view writes only its elements.
    Tensor cpu = Tensor::zeros({6, 7}, dtype), on_gpu = Tensor::zeros({6, 7}, dtype, gpu());
    cpu.slice(0, 1, 6, 2).t().fill_(4.0);
    on_gpu.slice(0, 1, 6, 2).t().fill_(4.0);
    EXPECT_TRUE(matches_cpu(on_gpu, cpu, 0.0)) << dtype_name(dtype);
    on_gpu.zero_();
    EXPECT_TRUE(matches_cpu(on_gpu, Tensor::zeros({6, 7}, dtype), 0.0)) << dtype_name(dtype);
  }
  Tensor large = Tensor::empty({1 << 22}, DType::Float32, gpu());
  large.fill_(0.25);
  EXPECT_EQ(sum(large).item<double>(), 0.25 * (1 << 22));
}

TEST_F(CudaTensorOps, JoinsAndPadding) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const Tensor a = random_tensor({2, 3, 4}, 2500, dtype);
    const Tensor b = random_tensor({4, 5, 2}, 2501, dtype).permute({2, 1, 0});  // (2, 5, 4)
    const Tensor c = random_tensor({2, 1, 4}, 2502, dtype);
    EXPECT_TRUE(cuda_matches_cpu(
        [](const Inputs& in) {
          return cat({in[0], in[1], in[2]}, 1);
        },
        {a, b, c}, 0.0));
    EXPECT_TRUE(cuda_matches_cpu(
        [](const Inputs& in) {
          return cat({in[0], in[1]}, -1);
        },
        {a.transpose(1, 2), random_tensor({2, 4, 5}, 2503, dtype)}, 0.0));
    EXPECT_TRUE(cuda_matches_cpu(
        [](const Inputs& in) {
          return stack({in[0], in[1]}, 0);
        },
        {a, a.slice(2, 0, 4).contiguous()}, 0.0));
    EXPECT_TRUE(cuda_matches_cpu(
        [](const Inputs& in) {
          return stack({in[0], in[1]}, 2);
        },
        {a, b.slice(1, 0, 3)}, 0.0));
    EXPECT_TRUE(cuda_matches_cpu([](const Inputs& in) { return pad2d(in[0], 1, 2, 3, 0); },
                                 {random_tensor({2, 3, 5, 4}, 2504, dtype)}, 0.0));
    EXPECT_TRUE(cuda_matches_cpu([](const Inputs& in) { return pad2d(in[0], 0, 1, 1, 1); },
                                 {random_tensor({3, 5, 4}, 2505, dtype).transpose(1, 2)}, 0.0));
  }
}

TEST_F(CudaTensorOps, EmptyTensors) {
  const Tensor empty = Tensor::zeros({0, 4}, DType::Float32);
  EXPECT_TRUE(cuda_matches_cpu([](const Inputs& in) { return add(in[0], in[0]); }, {empty}, 0.0));
  EXPECT_TRUE(cuda_matches_cpu([](const Inputs& in) { return sum(in[0], {0}); }, {empty}, 0.0));
  EXPECT_TRUE(cuda_matches_cpu([](const Inputs& in) { return mean(in[0], {0}); }, {empty}, 0.0))
      << "mean over an empty dim is NaN on both devices";
  EXPECT_TRUE(
      cuda_matches_cpu([](const Inputs& in) { return matmul(in[0].t(), in[0]); }, {empty}, 0.0))
      << "a product over an empty inner dim is zero";
  EXPECT_EQ(Tensor::empty({0}, DType::Float64, gpu()).to(Device::cpu()).numel(), 0);
}

TEST_F(CudaTensorOps, MixingDevicesIsRejected) {
  const Tensor on_cpu = Tensor::ones({3}), on_gpu = Tensor::ones({3}, DType::Float32, gpu());
  testing::expect_invalid_argument([&] { add(on_cpu, on_gpu); }, "different devices");
  testing::expect_invalid_argument([&] { matmul(on_gpu.unsqueeze(0), on_cpu.unsqueeze(1)); },
                                   "different devices");
  testing::expect_invalid_argument([&] { where(gt(on_cpu, 0.0), on_gpu, on_gpu); }, "condition on");
  const Tensor targets = Tensor::zeros({1}, DType::Int64);
  testing::expect_invalid_argument([&] { cross_entropy(on_gpu.unsqueeze(0), targets); },
                                   "targets on");
}

}  // namespace
}  // namespace ortho
