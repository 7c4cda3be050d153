#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/ops/shape_ops.h"
#include "core/tensor.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using testing::random_tensor;

// Row-major multi-index of flat index `flat` in `shape`.
std::vector<std::int64_t> unravel(std::int64_t flat, const Shape& shape) {
  std::vector<std::int64_t> index(static_cast<std::size_t>(shape.rank()));
  for (std::int64_t d = shape.rank() - 1; d >= 0; --d) {
    index[static_cast<std::size_t>(d)] = flat % shape[d];
    flat /= shape[d];
  }
  return index;
}

std::int64_t ravel(const std::vector<std::int64_t>& index, const Shape& shape) {
  std::int64_t flat = 0;
  for (std::int64_t d = 0; d < shape.rank(); ++d)
    flat = flat * shape[d] + index[static_cast<std::size_t>(d)];
  return flat;
}

// Plain-loop concatenation: each output element looks up the input that owns its index on `dim`.
std::vector<double> reference_cat(const std::vector<Tensor>& tensors, std::int64_t dim,
                                  const Shape& out_shape) {
  std::vector<std::vector<double>> values;
  for (const Tensor& t : tensors) values.push_back(t.to_vector<double>());
  std::vector<double> out(static_cast<std::size_t>(out_shape.numel()));
  for (std::int64_t flat = 0; flat < out_shape.numel(); ++flat) {
    std::vector<std::int64_t> index = unravel(flat, out_shape);
    std::size_t k = 0;
    while (index[static_cast<std::size_t>(dim)] >= tensors[k].size(dim)) {
      index[static_cast<std::size_t>(dim)] -= tensors[k].size(dim);
      ++k;
    }
    out[static_cast<std::size_t>(flat)] =
        values[k][static_cast<std::size_t>(ravel(index, tensors[k].shape()))];
  }
  return out;
}

TEST(Cat, AlongEachDim) {
  for (DType dtype : {DType::Float32, DType::Float64, DType::Int64}) {
    for (std::int64_t dim : {0, 1, 2, -1, -3}) {
      std::vector<Tensor> parts;
      std::uint64_t seed = 1;
      for (std::int64_t extent : {2, 1, 3}) {
        Shape shape{4, 3, 5};
        shape[dim < 0 ? dim + 3 : dim] = extent;
        Tensor t = random_tensor(shape, seed++);
        if (dtype == DType::Int64) {
          std::vector<double> v = t.to_vector<double>();
          for (double& x : v) x = static_cast<double>(static_cast<std::int64_t>(x * 100));
          t = Tensor::from_vector(v, shape);
        }
        parts.push_back(t.to(dtype));
      }
      const Tensor out = cat(parts, dim);
      Shape want_shape{4, 3, 5};
      want_shape[dim < 0 ? dim + 3 : dim] = 6;
      ASSERT_EQ(out.shape(), want_shape);
      EXPECT_EQ(out.dtype(), dtype);
      EXPECT_TRUE(out.is_contiguous());
      EXPECT_EQ(out.to_vector<double>(), reference_cat(parts, dim < 0 ? dim + 3 : dim, want_shape));
    }
  }
}

TEST(Cat, NonContiguousAndEmptyInputs) {
  const Tensor a = random_tensor({3, 4}, 1).t();                // (4, 3), transposed
  const Tensor b = random_tensor({4, 6}, 2).slice(1, 0, 6, 2);  // (4, 3), strided
  const Tensor c = random_tensor({1, 3}, 3).expand({4, 3});     // (4, 3), stride 0
  const Tensor e = Tensor::empty({4, 0}, DType::Float64);
  const std::vector<Tensor> parts{a, e, b, c};
  const Tensor out = cat(parts, 1);
  ASSERT_EQ(out.shape(), Shape({4, 9}));
  EXPECT_EQ(out.to_vector<double>(), reference_cat(parts, 1, {4, 9}));
  EXPECT_EQ(cat({e, e}, 0).shape(), Shape({8, 0}));
}

TEST(Cat, SingleTensorIsACopy) {
  const Tensor a = random_tensor({2, 3}, 4);
  const Tensor out = cat({a}, 0);
  EXPECT_FALSE(out.shares_storage(a));
  EXPECT_EQ(out.to_vector<double>(), a.to_vector<double>());
}

TEST(Stack, AlongEachDim) {
  const std::vector<Tensor> parts{random_tensor({2, 3}, 1), random_tensor({2, 3}, 2),
                                  random_tensor({2, 3}, 3).t().contiguous().t()};
  const std::vector<std::vector<double>> values{
      parts[0].to_vector<double>(), parts[1].to_vector<double>(), parts[2].to_vector<double>()};
  for (std::int64_t dim : {0, 1, 2, -1, -3}) {
    const std::int64_t d = dim < 0 ? dim + 3 : dim;
    const Tensor out = stack(parts, dim);
    std::vector<std::int64_t> dims{2, 3};
    dims.insert(dims.begin() + d, 3);
    const Shape shape(dims);
    ASSERT_EQ(out.shape(), shape) << "dim " << dim;
    const std::vector<double> got = out.to_vector<double>();
    for (std::int64_t flat = 0; flat < shape.numel(); ++flat) {
      std::vector<std::int64_t> index = unravel(flat, shape);
      const std::int64_t k = index[static_cast<std::size_t>(d)];
      index.erase(index.begin() + d);
      EXPECT_EQ(
          got[static_cast<std::size_t>(flat)],
          values[static_cast<std::size_t>(k)][static_cast<std::size_t>(ravel(index, {2, 3}))]);
    }
  }
}

TEST(Stack, ScalarsBecomeAVector) {
  const Tensor out = stack({Tensor::scalar(1.0), Tensor::scalar(2.0)}, 0);
  EXPECT_EQ(out.shape(), Shape({2}));
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{1.0f, 2.0f}));
}

// Plain-loop zero padding of the last two dims.
std::vector<double> reference_pad(const Tensor& x, std::int64_t top, std::int64_t bottom,
                                  std::int64_t left, std::int64_t right) {
  const std::vector<double> v = x.to_vector<double>();
  const std::int64_t h = x.size(-2), w = x.size(-1);
  const std::int64_t oh = top + h + bottom, ow = left + w + right;
  const std::int64_t planes = h * w == 0 ? 0 : x.numel() / (h * w);
  std::vector<double> out;
  for (std::int64_t p = 0; p < planes; ++p) {
    for (std::int64_t i = 0; i < oh; ++i) {
      for (std::int64_t j = 0; j < ow; ++j) {
        const std::int64_t hi = i - top, wj = j - left;
        const bool inside = hi >= 0 && hi < h && wj >= 0 && wj < w;
        out.push_back(inside ? v[static_cast<std::size_t>(p * h * w + hi * w + wj)] : 0.0);
      }
    }
  }
  return out;
}

TEST(Pad2d, MatchesReference) {
  struct Case {
    Shape shape;
    std::int64_t top, bottom, left, right;
  };
  const std::vector<Case> cases{
      {{2, 3, 4, 5}, 1, 1, 1, 1}, {{2, 3, 4, 5}, 4, 0, 0, 2}, {{3, 4}, 0, 2, 3, 0},
      {{2, 3, 4, 5}, 0, 0, 0, 0}, {{1, 1, 1}, 2, 3, 4, 5},
  };
  for (DType dtype : {DType::Float32, DType::Float64, DType::Int64}) {
    std::uint64_t seed = 1;
    for (const Case& c : cases) {
      const Tensor x =
          (dtype == DType::Int64 ? Tensor::arange(c.shape.numel(), DType::Int64).reshape(c.shape)
                                 : random_tensor(c.shape, seed++, dtype));
      const Tensor out = pad2d(x, c.top, c.bottom, c.left, c.right);
      Shape want = c.shape;
      want[want.rank() - 2] += c.top + c.bottom;
      want[want.rank() - 1] += c.left + c.right;
      ASSERT_EQ(out.shape(), want);
      EXPECT_EQ(out.dtype(), dtype);
      EXPECT_FALSE(out.shares_storage(x));
      EXPECT_EQ(out.to_vector<double>(), reference_pad(x, c.top, c.bottom, c.left, c.right));
    }
  }
}

TEST(Pad2d, NonContiguousInput) {
  const Tensor x = random_tensor({2, 5, 4}, 9).transpose(1, 2);  // (2, 4, 5)
  EXPECT_EQ(pad2d(x, 1, 2, 3, 1).to_vector<double>(), reference_pad(x, 1, 2, 3, 1));
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

TEST(ShapeOpsErrors, Cat) {
  const Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({2, 4});
  expect_invalid({"cat", "at least one"}, [] { cat({}, 0); });
  expect_invalid({"cat", "[2, 3]", "[2, 4]"}, [&] { cat({a, b}, 0); });
  expect_invalid({"cat", "[2, 3]", "[2, 3, 1]"}, [&] { cat({a, Tensor::zeros({2, 3, 1})}, 0); });
  expect_invalid({"cat", "dtype"}, [&] { cat({a, Tensor::zeros({2, 3}, DType::Float64)}, 0); });
  expect_invalid({"cat", "undefined"}, [&] { cat({a, Tensor()}, 0); });
  expect_invalid({"cat", "dim 2"}, [&] { cat({a, a}, 2); });
  expect_invalid({"cat", "dim -3"}, [&] { cat({a, a}, -3); });
  expect_invalid({"cat", "[]"}, [] { cat({Tensor::scalar(1.0), Tensor::scalar(2.0)}, 0); });
}

TEST(ShapeOpsErrors, Stack) {
  const Tensor a = Tensor::zeros({2, 3});
  expect_invalid({"stack", "at least one"}, [] { stack({}, 0); });
  expect_invalid({"stack", "[2, 3]", "[3, 2]"}, [&] { stack({a, Tensor::zeros({3, 2})}, 0); });
  expect_invalid({"stack", "dtype"}, [&] { stack({a, Tensor::zeros({2, 3}, DType::Int64)}, 0); });
  expect_invalid({"stack", "dim 3"}, [&] { stack({a, a}, 3); });
  expect_invalid({"stack", "dim -4"}, [&] { stack({a, a}, -4); });
}

TEST(ShapeOpsErrors, Pad2d) {
  expect_invalid({"pad2d", "[5]"}, [] { pad2d(Tensor::zeros({5}), 1, 1, 1, 1); });
  expect_invalid({"pad2d", "[2, 5]", "-1"}, [] { pad2d(Tensor::zeros({2, 5}), -1, 0, 0, 0); });
  expect_invalid({"pad2d", "-2"}, [] { pad2d(Tensor::zeros({2, 5}), 0, 0, 0, -2); });
  expect_invalid({"pad2d", "undefined"}, [] { pad2d(Tensor(), 1, 1, 1, 1); });
}

}  // namespace
}  // namespace ortho
