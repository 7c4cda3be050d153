#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/ops/batchnorm.h"
#include "core/tensor.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using testing::expect_close;
using testing::random_tensor;

// x viewed as (N, C, S) with S = H * W, or 1 for a 2-D input.
struct Dims {
  std::int64_t n, c, s;
  std::size_t at(std::int64_t i, std::int64_t ch, std::int64_t j) const {
    return static_cast<std::size_t>((i * c + ch) * s + j);
  }
};

Dims dims_of(const Shape& shape) {
  return {shape[0], shape[1], shape.rank() == 4 ? shape[2] * shape[3] : 1};
}

struct ReferenceForward {
  std::vector<double> y, mean, invstd;
};

// Plain two-pass statistics in double and y = (x - mean) * invstd * weight + bias.
ReferenceForward reference_train(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                 double eps) {
  const Dims d = dims_of(x.shape());
  const std::vector<double> xv = x.to_vector<double>(), w = weight.to_vector<double>(),
                            b = bias.to_vector<double>();
  ReferenceForward ref{std::vector<double>(xv.size()), {}, {}};
  const double m = static_cast<double>(d.n * d.s);
  for (std::int64_t ch = 0; ch < d.c; ++ch) {
    double sum = 0.0;
    for (std::int64_t i = 0; i < d.n; ++i) {
      for (std::int64_t j = 0; j < d.s; ++j) sum += xv[d.at(i, ch, j)];
    }
    const double mean = sum / m;
    double sq = 0.0;
    for (std::int64_t i = 0; i < d.n; ++i) {
      for (std::int64_t j = 0; j < d.s; ++j)
        sq += (xv[d.at(i, ch, j)] - mean) * (xv[d.at(i, ch, j)] - mean);
    }
    const double invstd = 1.0 / std::sqrt(sq / m + eps);
    ref.mean.push_back(mean);
    ref.invstd.push_back(invstd);
    for (std::int64_t i = 0; i < d.n; ++i) {
      for (std::int64_t j = 0; j < d.s; ++j) {
        const std::size_t k = d.at(i, ch, j);
        ref.y[k] = (xv[k] - mean) * invstd * w[static_cast<std::size_t>(ch)] +
                   b[static_cast<std::size_t>(ch)];
      }
    }
  }
  return ref;
}

std::vector<double> reference_eval(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                   const Tensor& running_mean, const Tensor& running_var,
                                   double eps) {
  const Dims d = dims_of(x.shape());
  const std::vector<double> xv = x.to_vector<double>(), w = weight.to_vector<double>(),
                            b = bias.to_vector<double>(), rm = running_mean.to_vector<double>(),
                            rv = running_var.to_vector<double>();
  std::vector<double> y(xv.size());
  for (std::int64_t i = 0; i < d.n; ++i) {
    for (std::int64_t ch = 0; ch < d.c; ++ch) {
      const auto c = static_cast<std::size_t>(ch);
      for (std::int64_t j = 0; j < d.s; ++j) {
        const std::size_t k = d.at(i, ch, j);
        y[k] = (xv[k] - rm[c]) / std::sqrt(rv[c] + eps) * w[c] + b[c];
      }
    }
  }
  return y;
}

struct ReferenceGrads {
  std::vector<double> input, weight, bias;
};

// gx = weight * invstd / M * (M * g - sum(g) - xhat * sum(g * xhat)).
ReferenceGrads reference_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight,
                                  const Tensor& mean, const Tensor& invstd) {
  const Dims d = dims_of(x.shape());
  const std::vector<double> g = grad_y.to_vector<double>(), xv = x.to_vector<double>(),
                            w = weight.to_vector<double>(), mv = mean.to_vector<double>(),
                            iv = invstd.to_vector<double>();
  ReferenceGrads ref{std::vector<double>(xv.size()), {}, {}};
  const double m = static_cast<double>(d.n * d.s);
  for (std::int64_t ch = 0; ch < d.c; ++ch) {
    const auto c = static_cast<std::size_t>(ch);
    double sum_g = 0.0, sum_g_xhat = 0.0;
    for (std::int64_t i = 0; i < d.n; ++i) {
      for (std::int64_t j = 0; j < d.s; ++j) {
        const std::size_t k = d.at(i, ch, j);
        sum_g += g[k];
        sum_g_xhat += g[k] * (xv[k] - mv[c]) * iv[c];
      }
    }
    ref.weight.push_back(sum_g_xhat);
    ref.bias.push_back(sum_g);
    for (std::int64_t i = 0; i < d.n; ++i) {
      for (std::int64_t j = 0; j < d.s; ++j) {
        const std::size_t k = d.at(i, ch, j);
        const double xhat = (xv[k] - mv[c]) * iv[c];
        ref.input[k] = w[c] * iv[c] / m * (m * g[k] - sum_g - xhat * sum_g_xhat);
      }
    }
  }
  return ref;
}

Tensor vec(const std::vector<double>& v, const Shape& shape) {
  return Tensor::from_vector(v, shape);
}

const std::vector<Shape>& test_shapes() {
  static const std::vector<Shape> shapes = {
      {4, 3, 5, 6},      // small 4-D
      {2, 5, 1, 1},      // spatial 1x1
      {16, 4},           // 2-D (N, C)
      {1, 2, 3, 3},      // batch of one
      {32, 16, 16, 16},  // large enough to run in parallel
      {512, 96},         // large 2-D
  };
  return shapes;
}

class BatchNormTest : public ::testing::TestWithParam<DType> {
 protected:
  DType dtype() const { return GetParam(); }
  double tol() const { return dtype() == DType::Float32 ? 2e-5 : 1e-11; }
};

TEST_P(BatchNormTest, TrainMatchesReference) {
  std::uint64_t seed = 1;
  for (const Shape& shape : test_shapes()) {
    const std::int64_t c = shape[1];
    const Tensor x = random_tensor(shape, seed++, dtype());
    const Tensor w = random_tensor({c}, seed++, dtype());
    const Tensor b = random_tensor({c}, seed++, dtype());
    const BatchNormResult got = batch_norm_train(x, w, b, 1e-5);
    const ReferenceForward ref = reference_train(x, w, b, 1e-5);
    EXPECT_EQ(got.output.dtype(), dtype());
    EXPECT_EQ(got.mean.shape(), Shape({c}));
    EXPECT_EQ(got.invstd.shape(), Shape({c}));
    expect_close(got.output, vec(ref.y, shape), tol(), tol());
    expect_close(got.mean, vec(ref.mean, {c}), tol(), tol());
    expect_close(got.invstd, vec(ref.invstd, {c}), tol(), tol());
  }
}

TEST_P(BatchNormTest, EvalMatchesReference) {
  std::uint64_t seed = 50;
  for (const Shape& shape : test_shapes()) {
    const std::int64_t c = shape[1];
    const Tensor x = random_tensor(shape, seed++, dtype());
    const Tensor w = random_tensor({c}, seed++, dtype());
    const Tensor b = random_tensor({c}, seed++, dtype());
    const Tensor rm = random_tensor({c}, seed++, dtype());
    std::vector<double> var = random_tensor({c}, seed++).to_vector<double>();
    for (double& v : var) v = 0.5 + v * v;
    const Tensor rv = vec(var, {c}).to(dtype());
    const Tensor y = batch_norm_eval(x, w, b, rm, rv, 1e-3);
    EXPECT_EQ(y.dtype(), dtype());
    expect_close(y, vec(reference_eval(x, w, b, rm, rv, 1e-3), shape), tol(), tol());
  }
}

TEST_P(BatchNormTest, BackwardMatchesReference) {
  std::uint64_t seed = 100;
  for (const Shape& shape : test_shapes()) {
    const std::int64_t c = shape[1];
    const Tensor x = random_tensor(shape, seed++, dtype());
    const Tensor w = random_tensor({c}, seed++, dtype());
    const Tensor b = random_tensor({c}, seed++, dtype());
    const Tensor g = random_tensor(shape, seed++, dtype());
    const BatchNormResult fwd = batch_norm_train(x, w, b, 1e-5);
    const BatchNormGrads got = batch_norm_backward(g, x, w, fwd.mean, fwd.invstd);
    const ReferenceGrads ref = reference_backward(g, x, w, fwd.mean, fwd.invstd);
    EXPECT_EQ(got.input.dtype(), dtype());
    // Channel sums over up to 4096 float32 values: a looser absolute bound than elementwise.
    const double sum_tol = dtype() == DType::Float32 ? 1e-3 : 1e-10;
    expect_close(got.input, vec(ref.input, shape), tol(), tol());
    expect_close(got.weight, vec(ref.weight, {c}), sum_tol, tol());
    expect_close(got.bias, vec(ref.bias, {c}), sum_tol, tol());
  }
}

TEST_P(BatchNormTest, NonContiguousOperands) {
  const Tensor base = random_tensor({3, 4, 5, 6}, 7, dtype());
  const Tensor x = base.transpose(2, 3);  // (3, 4, 6, 5)
  const Tensor w2 = random_tensor({4, 2}, 8, dtype());
  const Tensor w = w2.select(1, 0);  // strided (4)
  const Tensor b = w2.select(1, 1);
  const BatchNormResult got = batch_norm_train(x, w, b, 1e-5);
  const BatchNormResult want =
      batch_norm_train(x.contiguous(), w.contiguous(), b.contiguous(), 1e-5);
  expect_close(got.output, want.output, 0.0, 0.0);
  const Tensor g = random_tensor({3, 4, 5, 6}, 9, dtype()).transpose(2, 3);
  const BatchNormGrads gg = batch_norm_backward(g, x, w, got.mean, got.invstd);
  const BatchNormGrads gw =
      batch_norm_backward(g.contiguous(), x.contiguous(), w.contiguous(), got.mean, got.invstd);
  expect_close(gg.input, gw.input, 0.0, 0.0);
  expect_close(gg.weight, gw.weight, 0.0, 0.0);
  const Tensor rv = Tensor::ones({4}, dtype());
  expect_close(
      batch_norm_eval(x, w, b, b, rv, 1e-5),
      batch_norm_eval(x.contiguous(), w.contiguous(), b.contiguous(), b.contiguous(), rv, 1e-5),
      0.0, 0.0);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, BatchNormTest, ::testing::Values(DType::Float32, DType::Float64),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return dtype_name(info.param);
                         });

// Loss sum(y * r) of training-mode batch norm, in float64.
double loss(const Tensor& x, const Tensor& w, const Tensor& b, const std::vector<double>& r) {
  const std::vector<double> y = batch_norm_train(x, w, b, 1e-5).output.to_vector<double>();
  double total = 0.0;
  for (std::size_t i = 0; i < y.size(); ++i) total += y[i] * r[i];
  return total;
}

// Central difference of the loss along every element of `target` (one of x, w, b).
std::vector<double> numeric_grad(const Tensor& x, const Tensor& w, const Tensor& b,
                                 const std::vector<double>& r, int target) {
  const Tensor& t = target == 0 ? x : (target == 1 ? w : b);
  const std::vector<double> base = t.to_vector<double>();
  const double h = 1e-5;
  std::vector<double> grad(base.size());
  for (std::size_t i = 0; i < base.size(); ++i) {
    std::vector<double> plus = base, minus = base;
    plus[i] += h;
    minus[i] -= h;
    const Tensor tp = vec(plus, t.shape()), tm = vec(minus, t.shape());
    const double lp = loss(target == 0 ? tp : x, target == 1 ? tp : w, target == 2 ? tp : b, r);
    const double lm = loss(target == 0 ? tm : x, target == 1 ? tm : w, target == 2 ? tm : b, r);
    grad[i] = (lp - lm) / (2 * h);
  }
  return grad;
}

TEST(BatchNorm, BackwardMatchesFiniteDifferences) {
  for (const Shape& shape : {Shape{3, 2, 2, 3}, Shape{5, 3}}) {
    const std::int64_t c = shape[1];
    const Tensor x = random_tensor(shape, 11);
    const Tensor w = random_tensor({c}, 12);
    const Tensor b = random_tensor({c}, 13);
    const Tensor r = random_tensor(shape, 14);
    const std::vector<double> rv = r.to_vector<double>();
    const BatchNormResult fwd = batch_norm_train(x, w, b, 1e-5);
    const BatchNormGrads got = batch_norm_backward(r, x, w, fwd.mean, fwd.invstd);
    expect_close(got.input, vec(numeric_grad(x, w, b, rv, 0), shape), 1e-7, 1e-6);
    expect_close(got.weight, vec(numeric_grad(x, w, b, rv, 1), {c}), 1e-7, 1e-6);
    expect_close(got.bias, vec(numeric_grad(x, w, b, rv, 2), {c}), 1e-7, 1e-6);
  }
}

TEST(BatchNorm, Float32StatisticsWithLargeMean) {
  // Values around 1000 with spread 0.01: a naive float32 E[x^2] - E[x]^2 loses every digit.
  std::vector<double> values = random_tensor({64, 2, 4, 4}, 21).to_vector<double>();
  for (double& v : values) v = 1000.0 + 0.01 * v;
  const Tensor x = vec(values, {64, 2, 4, 4}).to(DType::Float32);
  const Tensor w = Tensor::ones({2}), b = Tensor::zeros({2});
  const BatchNormResult got = batch_norm_train(x, w, b, 0.0);
  const ReferenceForward ref = reference_train(x, w, b, 0.0);
  expect_close(got.mean, vec(ref.mean, {2}), 0.0, 1e-7);
  expect_close(got.invstd, vec(ref.invstd, {2}), 0.0, 1e-5);
}

TEST(BatchNorm, ConstantChannelGivesBias) {
  const Tensor x = Tensor::full({4, 2, 3, 3}, 2.5);
  const Tensor w = Tensor::ones({2});
  const Tensor b = vec({0.5, -1.0}, {2}).to(DType::Float32);
  const BatchNormResult got = batch_norm_train(x, w, b, 1e-5);
  const std::vector<double> y = got.output.to_vector<double>();
  for (std::size_t i = 0; i < y.size(); ++i) EXPECT_EQ(y[i], (i / 9) % 2 == 0 ? 0.5 : -1.0);
  EXPECT_EQ(got.mean.to_vector<double>(), (std::vector<double>{2.5, 2.5}));
}

TEST(BatchNorm, ZeroChannels) {
  const Tensor x = Tensor::empty({4, 0, 3, 3});
  const Tensor none = Tensor::empty({0});
  EXPECT_EQ(batch_norm_train(x, none, none, 1e-5).output.shape(), x.shape());
  EXPECT_EQ(batch_norm_eval(x, none, none, none, none, 1e-5).shape(), x.shape());
  EXPECT_EQ(batch_norm_backward(x, x, none, none, none).input.shape(), x.shape());
}

// Expects std::invalid_argument whose message contains every piece of `needles`.
void expect_invalid(const std::vector<std::string>& needles, const std::function<void()>& fn) {
  try {
    fn();
    ADD_FAILURE() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    for (const std::string& needle : needles) {
      EXPECT_NE(message.find(needle), std::string::npos) << message << " lacks " << needle;
    }
  }
}

TEST(BatchNormErrors, Train) {
  const Tensor x = Tensor::zeros({2, 3, 4, 4});
  const Tensor w = Tensor::ones({3}), b = Tensor::zeros({3});
  const std::string op = "batch_norm";
  expect_invalid({op, "[2, 3, 4]"}, [&] {
    batch_norm_train(Tensor::zeros({2, 3, 4}), w, b, 1e-5);
  });
  expect_invalid({op, "[2]"}, [&] { batch_norm_train(Tensor::zeros({2}), w, b, 1e-5); });
  expect_invalid({op, "int64"}, [&] {
    batch_norm_train(Tensor::zeros({2, 3, 4, 4}, DType::Int64), w, b, 1e-5);
  });
  expect_invalid({op}, [&] { batch_norm_train(Tensor(), w, b, 1e-5); });
  expect_invalid({op, "weight", "[4]", "[2, 3, 4, 4]"},
                 [&] { batch_norm_train(x, Tensor::ones({4}), b, 1e-5); });
  expect_invalid({op, "weight", "[3, 1]"}, [&] {
    batch_norm_train(x, Tensor::ones({3, 1}), b, 1e-5);
  });
  expect_invalid({op, "bias", "[2]", "[2, 3, 4, 4]"},
                 [&] { batch_norm_train(x, w, Tensor::zeros({2}), 1e-5); });
  expect_invalid({op, "weight", "undefined"}, [&] { batch_norm_train(x, Tensor(), b, 1e-5); });
  expect_invalid({op, "dtype"},
                 [&] { batch_norm_train(x, w, Tensor::zeros({3}, DType::Float64), 1e-5); });
  expect_invalid({op, "eps"}, [&] { batch_norm_train(x, w, b, -1e-5); });
  expect_invalid({op, "eps"}, [&] { batch_norm_train(x, w, b, std::nan("")); });
  expect_invalid({op, "[0, 3, 4, 4]"}, [&] {
    batch_norm_train(Tensor::zeros({0, 3, 4, 4}), w, b, 1e-5);
  });
}

TEST(BatchNormErrors, Eval) {
  const Tensor x = Tensor::zeros({2, 3});
  const Tensor w = Tensor::ones({3}), b = Tensor::zeros({3});
  const std::string op = "batch_norm";
  expect_invalid({op, "running_mean", "[2]", "[2, 3]"},
                 [&] { batch_norm_eval(x, w, b, Tensor::zeros({2}), w, 1e-5); });
  expect_invalid({op, "running_var", "[4]"},
                 [&] { batch_norm_eval(x, w, b, b, Tensor::ones({4}), 1e-5); });
  expect_invalid({op, "dtype"},
                 [&] { batch_norm_eval(x, w, b, b, Tensor::ones({3}, DType::Float64), 1e-5); });
  expect_invalid({op, "weight"}, [&] { batch_norm_eval(x, Tensor::ones({2}), b, b, w, 1e-5); });
  expect_invalid({op, "bias"}, [&] { batch_norm_eval(x, w, Tensor(), b, w, 1e-5); });
  expect_invalid({op, "[2, 3, 1]"}, [&] {
    batch_norm_eval(Tensor::zeros({2, 3, 1}), w, b, b, w, 1e-5);
  });
  expect_invalid({op, "eps"}, [&] { batch_norm_eval(x, w, b, b, w, -1.0); });
  // Eval needs no batch statistics, so an empty batch is fine.
  EXPECT_EQ(batch_norm_eval(Tensor::zeros({0, 3}), w, b, b, w, 1e-5).shape(), Shape({0, 3}));
}

TEST(BatchNormErrors, Backward) {
  const Tensor x = Tensor::zeros({2, 3, 4, 4});
  const Tensor w = Tensor::ones({3}), m = Tensor::zeros({3}), inv = Tensor::ones({3});
  const std::string op = "batch_norm_backward";
  expect_invalid({op, "[2, 3, 4, 5]", "[2, 3, 4, 4]"}, [&] {
    batch_norm_backward(Tensor::zeros({2, 3, 4, 5}), x, w, m, inv);
  });
  expect_invalid({op, "dtype"}, [&] { batch_norm_backward(x.to(DType::Float64), x, w, m, inv); });
  expect_invalid({op}, [&] { batch_norm_backward(Tensor(), x, w, m, inv); });
  expect_invalid({op, "weight", "[2]"},
                 [&] { batch_norm_backward(x, x, Tensor::ones({2}), m, inv); });
  expect_invalid({op, "mean", "[4]"},
                 [&] { batch_norm_backward(x, x, w, Tensor::zeros({4}), inv); });
  expect_invalid({op, "invstd", "[3, 3]"}, [&] {
    batch_norm_backward(x, x, w, m, Tensor::ones({3, 3}));
  });
  expect_invalid({op, "dtype"}, [&] { batch_norm_backward(x, x, w, m, inv.to(DType::Float64)); });
  expect_invalid({op, "[2, 3, 16]"}, [&] {
    batch_norm_backward(x.reshape({2, 3, 16}), x.reshape({2, 3, 16}), w, m, inv);
  });
  const Tensor empty = Tensor::zeros({0, 3});
  expect_invalid({op, "[0, 3]"}, [&] { batch_norm_backward(empty, empty, w, m, inv); });
}

}  // namespace
}  // namespace ortho
