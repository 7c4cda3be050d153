#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/ops/conv.h"
#include "core/parallel.h"
#include "core/tensor.h"
#include "support/conv_case.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using testing::ConvCase;
using testing::expect_close;
using testing::random_tensor;

Conv2dParams make_params(std::int64_t stride_h, std::int64_t stride_w, std::int64_t pad_h,
                         std::int64_t pad_w, std::int64_t dilation_h = 1,
                         std::int64_t dilation_w = 1, std::int64_t groups = 1) {
  Conv2dParams p;
  p.stride_h = stride_h;
  p.stride_w = stride_w;
  p.pad_h = pad_h;
  p.pad_w = pad_w;
  p.dilation_h = dilation_h;
  p.dilation_w = dilation_w;
  p.groups = groups;
  return p;
}

// A direct convolution: for every output, input and weight index the term
// x[n, c, oy*s - p + i*d, ox*s - p + j*d] * w[o, c - g*cg, i, j] is visited once, adding
// to the output in forward and, as its adjoint, to grad_input and grad_weight in backward.
struct DirectConv {
  Shape in, wt, out;
  Conv2dParams p;

  DirectConv(const Shape& input, const Shape& weight, const Conv2dParams& params)
      : in(input), wt(weight), p(params) {
    const auto size = [](std::int64_t x, std::int64_t k, std::int64_t s, std::int64_t pad,
                         std::int64_t d) { return (x + 2 * pad - d * (k - 1) - 1) / s + 1; };
    out = Shape{in[0], wt[0], size(in[2], wt[2], p.stride_h, p.pad_h, p.dilation_h),
                size(in[3], wt[3], p.stride_w, p.pad_w, p.dilation_w)};
  }

  // fn(flat input index, flat weight index, flat output index) for every valid term.
  template <typename Fn>
  void for_each_term(Fn&& fn) const {
    const std::int64_t cg = wt[1], og = wt[0] / p.groups;
    for (std::int64_t n = 0; n < out[0]; ++n)
      for (std::int64_t o = 0; o < out[1]; ++o)
        for (std::int64_t oy = 0; oy < out[2]; ++oy)
          for (std::int64_t ox = 0; ox < out[3]; ++ox)
            for (std::int64_t c = 0; c < cg; ++c)
              for (std::int64_t i = 0; i < wt[2]; ++i)
                for (std::int64_t j = 0; j < wt[3]; ++j) {
                  const std::int64_t iy = oy * p.stride_h - p.pad_h + i * p.dilation_h;
                  const std::int64_t ix = ox * p.stride_w - p.pad_w + j * p.dilation_w;
                  if (iy < 0 || iy >= in[2] || ix < 0 || ix >= in[3]) continue;
                  const std::int64_t ci = (o / og) * cg + c;
                  fn(static_cast<std::size_t>(((n * in[1] + ci) * in[2] + iy) * in[3] + ix),
                     static_cast<std::size_t>(((o * cg + c) * wt[2] + i) * wt[3] + j),
                     static_cast<std::size_t>(((n * out[1] + o) * out[2] + oy) * out[3] + ox));
                }
  }

  Tensor forward(const Tensor& x, const Tensor& w, const Tensor& b) const {
    const std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>();
    std::vector<double> y(static_cast<std::size_t>(out.numel()), 0.0);
    for_each_term(
        [&](std::size_t xi, std::size_t wi, std::size_t yi) { y[yi] += xv[xi] * wv[wi]; });
    if (b.defined()) {
      const std::vector<double> bv = b.to_vector<double>();
      const std::int64_t plane = out[2] * out[3];
      for (std::size_t e = 0; e < y.size(); ++e) {
        y[e] += bv[static_cast<std::size_t>((static_cast<std::int64_t>(e) / plane) % out[1])];
      }
    }
    return Tensor::from_vector(y, out);
  }

  Tensor backward_input(const Tensor& gy, const Tensor& w) const {
    const std::vector<double> gv = gy.to_vector<double>(), wv = w.to_vector<double>();
    std::vector<double> gx(static_cast<std::size_t>(in.numel()), 0.0);
    for_each_term(
        [&](std::size_t xi, std::size_t wi, std::size_t yi) { gx[xi] += gv[yi] * wv[wi]; });
    return Tensor::from_vector(gx, in);
  }

  Tensor backward_weight(const Tensor& gy, const Tensor& x) const {
    const std::vector<double> gv = gy.to_vector<double>(), xv = x.to_vector<double>();
    std::vector<double> gw(static_cast<std::size_t>(wt.numel()), 0.0);
    for_each_term(
        [&](std::size_t xi, std::size_t wi, std::size_t yi) { gw[wi] += gv[yi] * xv[xi]; });
    return Tensor::from_vector(gw, wt);
  }
};

std::vector<ConvCase> conv_cases() {
  return {
      {"3x3 pad 1", {3, 4, 6, 5}, {5, 4, 3, 3}, make_params(1, 1, 1, 1), true},
      {"3x3 pad 1 single image", {1, 4, 6, 5}, {5, 4, 3, 3}, make_params(1, 1, 1, 1), false},
      {"3x3 stride 2", {2, 3, 7, 8}, {4, 3, 3, 3}, make_params(2, 2, 1, 1), true},
      {"3x3 stride 2 single image", {1, 3, 8, 8}, {4, 3, 3, 3}, make_params(2, 2, 1, 1), false},
      {"1x1", {3, 6, 4, 5}, {4, 6, 1, 1}, make_params(1, 1, 0, 0), true},
      {"1x1 groups 2", {2, 6, 4, 5}, {4, 3, 1, 1}, make_params(1, 1, 0, 0, 1, 1, 2), false},
      {"1x1 stride 2", {3, 4, 7, 6}, {6, 4, 1, 1}, make_params(2, 2, 0, 0), false},
      {"1x1 pad 1 crops on the way back",
       {2, 3, 4, 4},
       {2, 3, 1, 1},
       make_params(1, 1, 1, 1),
       true},
      {"dilation 2", {2, 2, 9, 8}, {3, 2, 3, 3}, make_params(1, 1, 2, 2, 2, 2), true},
      {"dilation and stride", {2, 2, 9, 9}, {3, 2, 3, 2}, make_params(2, 1, 1, 0, 2, 3), false},
      {"groups 2", {2, 4, 5, 5}, {6, 2, 3, 3}, make_params(1, 1, 1, 1, 1, 1, 2), true},
      {"depthwise", {3, 4, 6, 6}, {4, 1, 3, 3}, make_params(1, 1, 1, 1, 1, 1, 4), true},
      {"depthwise multiplier 2 stride 2",
       {2, 3, 7, 7},
       {6, 1, 3, 3},
       make_params(2, 2, 1, 1, 1, 1, 3),
       false},
      {"asymmetric", {2, 3, 6, 9}, {2, 3, 2, 4}, make_params(2, 1, 0, 2), true},
      {"pad beyond kernel", {2, 2, 5, 5}, {3, 2, 2, 2}, make_params(1, 1, 2, 2), false},
      {"kernel covers input", {2, 3, 3, 3}, {2, 3, 3, 3}, make_params(1, 1, 0, 0), true},
      // Wide planes of many channels: the column matrix is unfolded a few rows at a time.
      {"column blocks", {2, 64, 6, 64}, {3, 64, 3, 3}, make_params(1, 1, 1, 1), true},
      // At least 48 channels x kernel columns per group: only horizontal taps are unfolded.
      {"row unfold", {2, 16, 5, 5}, {16, 16, 3, 3}, make_params(1, 1, 1, 1), true},
      {"row unfold 5x3", {2, 16, 8, 7}, {4, 16, 5, 3}, make_params(1, 1, 2, 1), false},
      {"row unfold dilation groups",
       {2, 32, 7, 6},
       {8, 16, 3, 3},
       make_params(1, 1, 2, 1, 2, 1, 2),
       true},
      {"row unfold stride_w 2", {2, 16, 6, 9}, {20, 16, 3, 3}, make_params(1, 2, 1, 0), false},
      // Vertical stride: each input-row phase is unfolded apart.
      {"phases stride 2", {2, 16, 9, 8}, {5, 16, 3, 3}, make_params(2, 2, 1, 1), true},
      {"phases stride 2 dilation 2",
       {2, 16, 11, 7},
       {3, 16, 3, 3},
       make_params(2, 1, 2, 1, 2, 1),
       false},
      {"phases stride 3 kernel 5", {2, 16, 13, 6}, {3, 16, 5, 3}, make_params(3, 1, 2, 1), true},
      {"column blocks stride 2", {3, 64, 9, 40}, {2, 64, 3, 3}, make_params(2, 2, 1, 1), false},
      // Wide output planes: row unfolding, phases and row blocks at ResNet-like sizes.
      {"wide plane row unfold", {2, 16, 32, 33}, {4, 16, 3, 3}, make_params(1, 1, 1, 1), true},
      {"wide plane stride 2", {2, 16, 64, 66}, {3, 16, 3, 3}, make_params(2, 2, 1, 1), false},
      {"wide plane column blocks", {2, 64, 34, 32}, {2, 64, 3, 3}, make_params(1, 1, 1, 1), true},
      {"wide plane 1x1 stride 2", {2, 3, 64, 64}, {2, 3, 1, 1}, make_params(2, 2, 0, 0), false},
      // Horizontal strides: each input row is split into stride phase segments first.
      {"stride_w 3 dilation_w 2 pad 2",
       {2, 3, 7, 11},
       {4, 3, 3, 3},
       make_params(1, 3, 1, 2, 1, 2),
       true},
      {"row unfold stride 2 odd width groups",
       {2, 32, 9, 11},
       {8, 16, 3, 3},
       make_params(2, 2, 1, 1, 1, 1, 2),
       false},
      {"stride_w 4 pad 3", {2, 2, 5, 10}, {3, 2, 2, 5}, make_params(1, 4, 0, 3), true},
  };
}

class ConvDtype : public ::testing::TestWithParam<DType> {};

TEST_P(ConvDtype, ForwardAndBackwardMatchDirectConvolution) {
  const DType dt = GetParam();
  const double tol = dt == DType::Float32 ? 2e-5 : 1e-12;
  std::uint64_t seed = 1;
  for (const ConvCase& c : conv_cases()) {
    SCOPED_TRACE(c.name);
    const DirectConv ref(c.input, c.weight, c.params);
    const Tensor x = random_tensor(c.input, seed, dt);
    const Tensor w = random_tensor(c.weight, seed + 1, dt);
    const Tensor b = c.bias ? random_tensor({c.weight[0]}, seed + 2, dt) : Tensor();
    const Tensor gy = random_tensor(ref.out, seed + 3, dt);
    seed += 4;

    const Tensor y = conv2d(x, w, b, c.params);
    EXPECT_EQ(y.dtype(), dt);
    expect_close(y, ref.forward(x, w, b), tol, tol);
    expect_close(conv2d_backward_input(gy, w, c.input, c.params), ref.backward_input(gy, w), tol,
                 tol);
    expect_close(conv2d_backward_weight(gy, x, c.weight, c.params), ref.backward_weight(gy, x), tol,
                 tol);
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, ConvDtype, ::testing::Values(DType::Float32, DType::Float64));

TEST(Conv2d, NonContiguousOperands) {
  const Conv2dParams p = make_params(1, 1, 1, 1);
  const Tensor x = random_tensor({4, 3, 5, 6}, 1).transpose(2, 3);  // (4, 3, 6, 5)
  const Tensor w = random_tensor({2, 3, 3, 3}, 2);
  const DirectConv ref(x.shape(), w.shape(), p);
  const Tensor gy = random_tensor({4, 2, 5, 6}, 3).transpose(2, 3);
  expect_close(conv2d(x, w, Tensor(), p), ref.forward(x, w, Tensor()), 1e-12, 1e-12);
  expect_close(
      conv2d_backward_input(gy, w.transpose(2, 3).contiguous().transpose(2, 3), x.shape(), p),
      ref.backward_input(gy, w), 1e-12, 1e-12);
  expect_close(conv2d_backward_weight(gy, x, w.shape(), p), ref.backward_weight(gy, x), 1e-12,
               1e-12);
}

TEST(Conv2d, ThreadCountDoesNotChangeResults) {
  const Conv2dParams p = make_params(1, 1, 1, 1);
  const Tensor x = random_tensor({5, 3, 6, 6}, 1, DType::Float32);
  const Tensor w = random_tensor({4, 3, 3, 3}, 2, DType::Float32);
  const Tensor gy = random_tensor({5, 4, 6, 6}, 3, DType::Float32);
  const int saved = num_threads();
  std::vector<Tensor> results;
  for (int threads : {1, 3}) {
    set_num_threads(threads);
    results.push_back(conv2d(x, w, Tensor(), p));
    results.push_back(conv2d_backward_input(gy, w, x.shape(), p));
    results.push_back(conv2d_backward_weight(gy, x, w.shape(), p));
  }
  set_num_threads(saved);
  for (std::size_t i = 0; i < 3; ++i) expect_close(results[i + 3], results[i], 1e-5, 1e-5);
}

TEST(Conv2d, OutputSize) {
  EXPECT_EQ(conv_output_size(32, 3, 1, 1, 1, "conv2d"), 32);
  EXPECT_EQ(conv_output_size(32, 3, 2, 1, 1, "conv2d"), 16);
  EXPECT_EQ(conv_output_size(32, 1, 2, 0, 1, "conv2d"), 16);
  EXPECT_EQ(conv_output_size(9, 3, 1, 0, 4, "conv2d"), 1);
  EXPECT_THROW(conv_output_size(8, 3, 1, 0, 4, "conv2d"), std::invalid_argument);
  EXPECT_THROW(conv_output_size(8, 3, 0, 0, 1, "conv2d"), std::invalid_argument);
}

void expect_invalid(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected std::invalid_argument containing " << needle;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(Conv2d, Errors) {
  const Tensor x = Tensor::ones({2, 4, 6, 6});
  const Tensor w = Tensor::ones({6, 4, 3, 3});
  const Conv2dParams p = make_params(1, 1, 1, 1);
  expect_invalid([&] { conv2d(Tensor::ones({4, 6, 6}), w, Tensor(), p); }, "conv2d");
  expect_invalid([&] { conv2d(x, Tensor::ones({6, 4, 3}), Tensor(), p); }, "conv2d");
  expect_invalid([&] { conv2d(x, Tensor::ones({6, 3, 3, 3}), Tensor(), p); }, "[2, 4, 6, 6]");
  expect_invalid(
      [&] {
        conv2d(x, Tensor::ones({6, 2, 3, 3}), Tensor(), make_params(1, 1, 1, 1, 1, 1, 4));
      },
      "divisible");
  expect_invalid([&] { conv2d(x, w, Tensor::ones({5}), p); }, "bias");
  expect_invalid([&] { conv2d(x, w, Tensor::ones({6}, DType::Float64), p); }, "conv2d");
  expect_invalid(
      [&] {
        conv2d(x, Tensor::ones({6, 4, 3, 3}, DType::Float64), Tensor(), p);
      },
      "conv2d");
  expect_invalid(
      [&] {
        conv2d(Tensor::ones({2, 4, 6, 6}, DType::Int64), w, Tensor(), p);
      },
      "conv2d");
  expect_invalid([&] { conv2d(Tensor(), w, Tensor(), p); }, "conv2d");
  expect_invalid([&] { conv2d(x, w, Tensor(), make_params(0, 1, 1, 1)); }, "stride");
  expect_invalid([&] { conv2d(x, w, Tensor(), make_params(1, 1, -1, 1)); }, "padding");
  expect_invalid([&] { conv2d(x, w, Tensor(), make_params(1, 1, 1, 1, 0, 1)); }, "dilation");
  expect_invalid([&] { conv2d(x, w, Tensor(), make_params(1, 1, 1, 1, 1, 1, 0)); }, "groups");
  expect_invalid([&] { conv2d(x, Tensor::ones({6, 4, 9, 3}), Tensor(), p); }, "output size");

  const Tensor gy = Tensor::ones({2, 6, 6, 6});
  expect_invalid(
      [&] {
        conv2d_backward_input(Tensor::ones({2, 6, 5, 6}), w, x.shape(), p);
      },
      "conv2d_backward_input");
  expect_invalid([&] { conv2d_backward_input(gy, w, Shape{4, 6, 6}, p); }, "conv2d_backward_input");
  expect_invalid(
      [&] {
        conv2d_backward_input(gy, Tensor::ones({6, 4, 3, 3}, DType::Float64), x.shape(), p);
      },
      "conv2d_backward_input");
  expect_invalid(
      [&] {
        conv2d_backward_weight(Tensor::ones({2, 5, 6, 6}), x, w.shape(), p);
      },
      "conv2d_backward_weight");
  expect_invalid(
      [&] {
        conv2d_backward_weight(gy, x, Shape{6, 4, 3}, p);
      },
      "conv2d_backward_weight");
  expect_invalid(
      [&] {
        conv2d_backward_weight(gy, Tensor::ones({2, 4, 6, 6}, DType::Float64), w.shape(), p);
      },
      "conv2d_backward_weight");
}

}  // namespace
}  // namespace ortho
