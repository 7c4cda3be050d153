#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/ops/pool.h"
#include "core/tensor.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using testing::expect_close;
using testing::random_tensor;

Pool2dParams make_params(std::int64_t kh, std::int64_t kw, std::int64_t sh, std::int64_t sw,
                         std::int64_t ph, std::int64_t pw, bool count_include_pad = true) {
  Pool2dParams p;
  p.kernel_h = kh;
  p.kernel_w = kw;
  p.stride_h = sh;
  p.stride_w = sw;
  p.pad_h = ph;
  p.pad_w = pw;
  p.count_include_pad = count_include_pad;
  return p;
}

// Naive pooling over an NCHW tensor: visits every padded window position.
struct Reference {
  Shape out_shape;
  std::vector<double> values;
  std::vector<std::int64_t> indices;
};

std::int64_t out_size(std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t p) {
  return (in + 2 * p - k) / s + 1;
}

Reference reference_pool(const Tensor& input, const Pool2dParams& p, bool max) {
  const std::vector<double> x = input.to_vector<double>();
  const std::int64_t n = input.size(0), c = input.size(1), h = input.size(2), w = input.size(3);
  const std::int64_t oh = out_size(h, p.kernel_h, p.stride_h, p.pad_h);
  const std::int64_t ow = out_size(w, p.kernel_w, p.stride_w, p.pad_w);
  Reference ref{Shape{n, c, oh, ow}, {}, {}};
  for (std::int64_t plane = 0; plane < n * c; ++plane) {
    for (std::int64_t i = 0; i < oh; ++i) {
      for (std::int64_t j = 0; j < ow; ++j) {
        double best = -std::numeric_limits<double>::infinity(), sum = 0.0;
        std::int64_t best_index = -1, real = 0;
        for (std::int64_t a = 0; a < p.kernel_h; ++a) {
          for (std::int64_t b = 0; b < p.kernel_w; ++b) {
            const std::int64_t hh = i * p.stride_h - p.pad_h + a;
            const std::int64_t ww = j * p.stride_w - p.pad_w + b;
            if (hh < 0 || hh >= h || ww < 0 || ww >= w) continue;
            const double v = x[static_cast<std::size_t>(plane * h * w + hh * w + ww)];
            sum += v;
            ++real;
            if (v > best) {
              best = v;
              best_index = hh * w + ww;
            }
          }
        }
        const double divisor =
            static_cast<double>(p.count_include_pad ? p.kernel_h * p.kernel_w : real);
        ref.values.push_back(max ? best : sum / divisor);
        ref.indices.push_back(best_index);
      }
    }
  }
  return ref;
}

// Naive max-pool backward: scatter-add of grad_out to the recorded indices.
std::vector<double> reference_max_backward(const Tensor& grad_out,
                                           const std::vector<std::int64_t>& indices,
                                           const Shape& input_shape) {
  const std::vector<double> g = grad_out.to_vector<double>();
  const std::int64_t plane_in = input_shape[2] * input_shape[3];
  const std::int64_t plane_out = grad_out.size(2) * grad_out.size(3);
  std::vector<double> gi(static_cast<std::size_t>(input_shape.numel()), 0.0);
  for (std::size_t j = 0; j < g.size(); ++j) {
    const std::int64_t plane = static_cast<std::int64_t>(j) / plane_out;
    gi[static_cast<std::size_t>(plane * plane_in + indices[j])] += g[j];
  }
  return gi;
}

// Naive avg-pool backward: each output gradient spread evenly over its window.
std::vector<double> reference_avg_backward(const Tensor& grad_out, const Shape& input_shape,
                                           const Pool2dParams& p) {
  const std::vector<double> g = grad_out.to_vector<double>();
  const std::int64_t h = input_shape[2], w = input_shape[3];
  const std::int64_t oh = grad_out.size(2), ow = grad_out.size(3);
  std::vector<double> gi(static_cast<std::size_t>(input_shape.numel()), 0.0);
  for (std::int64_t plane = 0; plane < input_shape[0] * input_shape[1]; ++plane) {
    for (std::int64_t i = 0; i < oh; ++i) {
      for (std::int64_t j = 0; j < ow; ++j) {
        // Window taps inside the input: counted for the divisor, then given their share.
        auto for_each_cell = [&](auto&& fn) {
          for (std::int64_t a = 0; a < p.kernel_h; ++a) {
            for (std::int64_t b = 0; b < p.kernel_w; ++b) {
              const std::int64_t hh = i * p.stride_h - p.pad_h + a;
              const std::int64_t ww = j * p.stride_w - p.pad_w + b;
              if (hh >= 0 && hh < h && ww >= 0 && ww < w) fn(hh * w + ww);
            }
          }
        };
        std::int64_t real = 0;
        for_each_cell([&](std::int64_t) { ++real; });
        const double divisor =
            static_cast<double>(p.count_include_pad ? p.kernel_h * p.kernel_w : real);
        const double share = g[static_cast<std::size_t>((plane * oh + i) * ow + j)] / divisor;
        for_each_cell([&](std::int64_t cell) {
          gi[static_cast<std::size_t>(plane * h * w + cell)] += share;
        });
      }
    }
  }
  return gi;
}

struct PoolCase {
  Shape input;
  Pool2dParams params;
};

std::vector<PoolCase> pool_cases() {
  return {
      {{2, 3, 8, 8}, make_params(2, 2, 2, 2, 0, 0)},
      {{2, 3, 9, 7}, make_params(3, 3, 2, 2, 1, 1)},      // overlapping windows with padding
      {{1, 2, 6, 5}, make_params(3, 3, 1, 1, 1, 1)},      // stride 1, every element in 9 windows
      {{2, 2, 7, 6}, make_params(3, 2, 2, 1, 1, 0)},      // rectangular kernel and stride
      {{1, 4, 5, 5}, make_params(2, 2, 1, 1, 1, 1)},      // padding on an even kernel
      {{3, 2, 8, 8}, make_params(8, 8, 1, 1, 0, 0)},      // global pooling
      {{1, 1, 4, 7}, make_params(1, 3, 1, 3, 0, 1)},      // 1-wide kernel in h
      {{32, 16, 16, 16}, make_params(3, 3, 2, 2, 1, 1)},  // large enough to run in parallel
      {{1, 3, 6, 41}, make_params(3, 3, 2, 2, 1, 1)},     // wide rows: long vector loops
      {{2, 2, 5, 37}, make_params(2, 3, 1, 1, 0, 1)},
      {{1, 2, 7, 50}, make_params(3, 4, 3, 3, 1, 2)},  // stride 3 read at run time
  };
}

class PoolTest : public ::testing::TestWithParam<DType> {};

TEST_P(PoolTest, MaxForwardMatchesReference) {
  const DType dtype = GetParam();
  std::uint64_t seed = 1;
  for (const PoolCase& c : pool_cases()) {
    const Tensor x = random_tensor(c.input, seed++, dtype);
    const MaxPoolResult got = max_pool2d(x, c.params);
    const Reference ref = reference_pool(x, c.params, true);
    ASSERT_EQ(got.output.shape(), ref.out_shape) << "input " << c.input;
    EXPECT_EQ(got.output.dtype(), dtype);
    EXPECT_EQ(got.indices.dtype(), DType::Int64);
    EXPECT_EQ(got.output.to_vector<double>(), ref.values) << "input " << c.input;
    EXPECT_EQ(got.indices.to_vector<std::int64_t>(), ref.indices) << "input " << c.input;
  }
}

TEST_P(PoolTest, MaxBackwardScattersToRecordedIndices) {
  const DType dtype = GetParam();
  std::uint64_t seed = 100;
  for (const PoolCase& c : pool_cases()) {
    const Tensor x = random_tensor(c.input, seed++, dtype);
    const MaxPoolResult fwd = max_pool2d(x, c.params);
    const Tensor g = random_tensor(fwd.output.shape(), seed++, dtype);
    const Tensor gi = max_pool2d_backward(g, fwd.indices, c.input);
    const std::vector<double> want =
        reference_max_backward(g, fwd.indices.to_vector<std::int64_t>(), c.input);
    const double tol = dtype == DType::Float32 ? 1e-5 : 1e-13;
    expect_close(gi, Tensor::from_vector(want, c.input), tol, tol);
    EXPECT_EQ(gi.dtype(), dtype);
  }
}

TEST_P(PoolTest, MaxBackwardAccumulatesSharedMaximum) {
  // A single peak at the centre of a 5x5 plane is the maximum of all four 3x3 windows
  // (stride 2), so its gradient is the sum of the four output gradients.
  const DType dtype = GetParam();
  std::vector<double> values(25, 0.0);
  values[12] = 10.0;
  const Tensor x = Tensor::from_vector(values, {1, 1, 5, 5}).to(dtype);
  const Pool2dParams p = make_params(3, 3, 2, 2, 0, 0);
  const MaxPoolResult fwd = max_pool2d(x, p);
  EXPECT_EQ(fwd.indices.to_vector<std::int64_t>(), (std::vector<std::int64_t>{12, 12, 12, 12}));
  const Tensor g = Tensor::from_vector(std::vector<double>{1, 2, 3, 4}, {1, 1, 2, 2}).to(dtype);
  const std::vector<double> gi = max_pool2d_backward(g, fwd.indices, x.shape()).to_vector<double>();
  for (std::size_t i = 0; i < gi.size(); ++i) EXPECT_EQ(gi[i], i == 12 ? 10.0 : 0.0) << i;
}

TEST_P(PoolTest, MaxTreatsPaddingAsNegativeInfinity) {
  const DType dtype = GetParam();
  const Tensor x = Tensor::full({1, 1, 3, 3}, -5.0, dtype);
  const MaxPoolResult got = max_pool2d(x, make_params(3, 3, 1, 1, 1, 1));
  for (double v : got.output.to_vector<double>()) EXPECT_EQ(v, -5.0);
}

TEST_P(PoolTest, AvgForwardMatchesReference) {
  const DType dtype = GetParam();
  const double tol = dtype == DType::Float32 ? 1e-6 : 1e-13;
  std::uint64_t seed = 200;
  for (bool include_pad : {true, false}) {
    for (PoolCase c : pool_cases()) {
      c.params.count_include_pad = include_pad;
      const Tensor x = random_tensor(c.input, seed++, dtype);
      const Tensor got = avg_pool2d(x, c.params);
      const Reference ref = reference_pool(x, c.params, false);
      EXPECT_EQ(got.dtype(), dtype);
      expect_close(got, Tensor::from_vector(ref.values, ref.out_shape), tol, tol);
    }
  }
}

TEST_P(PoolTest, AvgBackwardMatchesReference) {
  const DType dtype = GetParam();
  const double tol = dtype == DType::Float32 ? 1e-6 : 1e-13;
  std::uint64_t seed = 300;
  for (bool include_pad : {true, false}) {
    for (PoolCase c : pool_cases()) {
      c.params.count_include_pad = include_pad;
      const Tensor x = random_tensor(c.input, seed++, dtype);
      const Tensor g = random_tensor(avg_pool2d(x, c.params).shape(), seed++, dtype);
      const Tensor gi = avg_pool2d_backward(g, c.input, c.params);
      EXPECT_EQ(gi.dtype(), dtype);
      expect_close(gi, Tensor::from_vector(reference_avg_backward(g, c.input, c.params), c.input),
                   tol, tol);
    }
  }
}

TEST_P(PoolTest, NonContiguousInputs) {
  const DType dtype = GetParam();
  const Tensor base = random_tensor({2, 3, 6, 7}, 7, dtype);
  const Tensor x = base.transpose(2, 3);  // (2, 3, 7, 6), not contiguous
  const Pool2dParams p = make_params(3, 3, 2, 2, 1, 1);
  const MaxPoolResult got = max_pool2d(x, p);
  const Reference ref = reference_pool(x.contiguous(), p, true);
  EXPECT_EQ(got.output.to_vector<double>(), ref.values);
  const Tensor g = random_tensor(got.output.shape(), 8, dtype)
                       .transpose(0, 1)
                       .contiguous()
                       .transpose(0, 1);  // same shape, permuted strides
  expect_close(max_pool2d_backward(g, got.indices, x.shape()),
               Tensor::from_vector(reference_max_backward(g, ref.indices, x.shape()), x.shape()),
               1e-5, 1e-5);
  expect_close(avg_pool2d(x, p), avg_pool2d(x.contiguous(), p), 0.0, 0.0);
  expect_close(avg_pool2d_backward(g, x.shape(), p),
               avg_pool2d_backward(g.contiguous(), x.shape(), p), 0.0, 0.0);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, PoolTest, ::testing::Values(DType::Float32, DType::Float64),
                         [](const ::testing::TestParamInfo<DType>& info) {
                           return dtype_name(info.param);
                         });

TEST(Pool, MaxPropagatesNan) {
  std::vector<double> values(16, 1.0);
  values[5] = std::numeric_limits<double>::quiet_NaN();
  const Tensor x = Tensor::from_vector(values, {1, 1, 4, 4});
  const MaxPoolResult got = max_pool2d(x, make_params(2, 2, 2, 2, 0, 0));
  const std::vector<double> out = got.output.to_vector<double>();
  EXPECT_TRUE(std::isnan(out[0]));
  EXPECT_EQ(got.indices.to_vector<std::int64_t>()[0], 5);
  EXPECT_EQ(out[1], 1.0);
  // A NaN in a padded border window, which takes the window-by-window path.
  std::vector<double> border(25, 0.0);
  border[0] = std::numeric_limits<double>::quiet_NaN();
  const MaxPoolResult padded =
      max_pool2d(Tensor::from_vector(border, {1, 1, 5, 5}), make_params(3, 3, 2, 2, 1, 1));
  EXPECT_TRUE(std::isnan(padded.output.to_vector<double>()[0]));
  EXPECT_EQ(padded.indices.to_vector<std::int64_t>()[0], 0);
  EXPECT_EQ(padded.output.to_vector<double>()[1], 0.0);
}

TEST(Pool, EmptyBatch) {
  const Pool2dParams p = make_params(2, 2, 2, 2, 0, 0);
  const Tensor x = Tensor::empty({0, 3, 4, 4});
  const MaxPoolResult got = max_pool2d(x, p);
  EXPECT_EQ(got.output.shape(), Shape({0, 3, 2, 2}));
  EXPECT_EQ(max_pool2d_backward(got.output, got.indices, x.shape()).shape(), x.shape());
  EXPECT_EQ(avg_pool2d(x, p).shape(), Shape({0, 3, 2, 2}));
  EXPECT_EQ(avg_pool2d_backward(got.output, x.shape(), p).shape(), x.shape());
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

TEST(PoolErrors, ForwardValidation) {
  const Tensor x = Tensor::zeros({2, 3, 4, 4});
  const Pool2dParams ok = make_params(2, 2, 2, 2, 0, 0);
  for (const char* op : {"max_pool2d", "avg_pool2d"}) {
    const bool is_max = std::string(op) == "max_pool2d";
    auto run = [&](const Tensor& input, const Pool2dParams& p) {
      if (is_max) {
        max_pool2d(input, p);
      } else {
        avg_pool2d(input, p);
      }
    };
    expect_invalid({op, "[3, 4, 4]"}, [&] { run(Tensor::zeros({3, 4, 4}), ok); });
    expect_invalid({op, "[1, 2, 3, 4, 4]"}, [&] { run(Tensor::zeros({1, 2, 3, 4, 4}), ok); });
    expect_invalid({op, "[2, 3, 4, 4]", "int64"}, [&] {
      run(Tensor::zeros({2, 3, 4, 4}, DType::Int64), ok);
    });
    expect_invalid({op}, [&] { run(Tensor(), ok); });
    expect_invalid({op, "kernel", "[2, 3, 4, 4]"}, [&] { run(x, make_params(0, 2, 1, 1, 0, 0)); });
    expect_invalid({op, "kernel"}, [&] { run(x, make_params(2, -1, 1, 1, 0, 0)); });
    expect_invalid({op, "stride", "[2, 3, 4, 4]"}, [&] { run(x, make_params(2, 2, 0, 1, 0, 0)); });
    expect_invalid({op, "stride"}, [&] { run(x, make_params(2, 2, 1, -2, 0, 0)); });
    expect_invalid({op, "padding", "[2, 3, 4, 4]"}, [&] { run(x, make_params(3, 3, 1, 1, 2, 0)); });
    expect_invalid({op, "padding"}, [&] { run(x, make_params(2, 2, 1, 1, 0, 2)); });
    expect_invalid({op, "padding"}, [&] { run(x, make_params(2, 2, 1, 1, -1, 0)); });
    expect_invalid({op, "[1, 1, 2, 5]"}, [&] {
      run(Tensor::zeros({1, 1, 2, 5}), make_params(3, 3, 1, 1, 0, 0));
    });
    expect_invalid({op, "[1, 1, 5, 2]"}, [&] {
      run(Tensor::zeros({1, 1, 5, 2}), make_params(3, 3, 1, 1, 0, 0));
    });
  }
}

TEST(PoolErrors, MaxBackwardValidation) {
  const Tensor x = random_tensor({2, 3, 4, 4}, 5, DType::Float32);
  const MaxPoolResult fwd = max_pool2d(x, make_params(2, 2, 2, 2, 0, 0));
  const Tensor& g = fwd.output;
  const char* op = "max_pool2d_backward";
  expect_invalid({op, "int64"}, [&] { max_pool2d_backward(g, fwd.output, x.shape()); });
  expect_invalid({op, "undefined"}, [&] { max_pool2d_backward(g, Tensor(), x.shape()); });
  expect_invalid({op, "int64"},
                 [&] { max_pool2d_backward(g.to(DType::Int64), fwd.indices, x.shape()); });
  expect_invalid({op, "[2, 3, 4]"}, [&] {
    max_pool2d_backward(g.reshape({2, 3, 4}), fwd.indices, x.shape());
  });
  expect_invalid({op, "[2, 3, 1, 4]", "[2, 3, 2, 2]"}, [&] {
    max_pool2d_backward(g, fwd.indices.reshape({2, 3, 1, 4}), x.shape());
  });
  expect_invalid({op, "[2, 3, 16]"}, [&] { max_pool2d_backward(g, fwd.indices, {2, 3, 16}); });
  expect_invalid({op, "[2, 4, 4, 4]", "[2, 3, 2, 2]"}, [&] {
    max_pool2d_backward(g, fwd.indices, {2, 4, 4, 4});
  });
  expect_invalid({op, "[2, 3, -4, 4]"}, [&] {
    max_pool2d_backward(g, fwd.indices, {2, 3, -4, 4});
  });
  // Indices that could not have come from this input shape are refused, not written through.
  expect_invalid({op, "outside", "[2, 3, 2, 2]"}, [&] {
    max_pool2d_backward(g, fwd.indices, {2, 3, 2, 2});
  });
  const Tensor negative = Tensor::full(g.shape(), -1.0, DType::Int64);
  expect_invalid({op, "outside"}, [&] { max_pool2d_backward(g, negative, x.shape()); });
}

TEST(PoolErrors, AvgBackwardValidation) {
  const Pool2dParams p = make_params(2, 2, 2, 2, 0, 0);
  const Tensor g = Tensor::zeros({2, 3, 2, 2});
  const char* op = "avg_pool2d_backward";
  expect_invalid({op, "[2, 3, 2, 2]", "[2, 3, 3, 2]", "[2, 3, 6, 4]"}, [&] {
    avg_pool2d_backward(g, {2, 3, 6, 4}, p);
  });
  expect_invalid({op, "[2, 3, 4]"}, [&] { avg_pool2d_backward(g, {2, 3, 4}, p); });
  expect_invalid({op, "stride"}, [&] {
    avg_pool2d_backward(g, {2, 3, 4, 4}, make_params(2, 2, 0, 2, 0, 0));
  });
  expect_invalid({op, "int64"}, [&] { avg_pool2d_backward(g.to(DType::Int64), {2, 3, 4, 4}, p); });
  expect_invalid({op, "undefined"}, [&] { avg_pool2d_backward(Tensor(), {2, 3, 4, 4}, p); });
}

}  // namespace
}  // namespace ortho
