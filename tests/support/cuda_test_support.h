// Shared helpers of the CUDA suites (tests/test_cuda_*.cpp): a fixture that skips without a
// GPU, GPU copies that keep a tensor's strides, and the CPU-vs-CUDA relative error.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/ops/elementwise.h"
#include "core/ops/linalg.h"
#include "core/ops/matmul.h"
#include "core/ops/shape_ops.h"
#include "core/tensor.h"
#include "support/test_support.h"

namespace ortho::testing {

// The device every CUDA suite runs on.
inline Device gpu() {
  return Device::cuda(0);
}

inline constexpr const char* kNoCudaMessage =
    "no CUDA device: cuda_device_count() is 0 (ortho built without the CUDA backend, or no "
    "GPU/driver on this machine); the CPU-vs-CUDA checks did not run";

// Base fixture of the CUDA suites: every test skips, with a message, when there is no GPU.
class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_is_available()) GTEST_SKIP() << kNoCudaMessage;
  }
};

// Tolerance of a CPU-vs-CUDA comparison for element type T: relative error (see
// relative_error) under 1e-4 in float32 and 1e-10 in float64.
template <typename T>
constexpr double parity_tolerance() {
  return sizeof(T) == 4 ? 1e-4 : 1e-10;
}

// Names typed tests by dtype ("float32", "float64") instead of 0, 1.
struct DTypeNames {
  template <typename T>
  static std::string GetName(int) {
    return dtype_name(dtype_of<T>);
  }
};

// The number of elements `t`'s storage holds.
inline std::int64_t storage_elements(const Tensor& t) {
  return static_cast<std::int64_t>(t.storage()->bytes() / dtype_size(t.dtype()));
}

// `t` on `device` with the same shape, strides and offset: the whole storage is copied and the
// view rebuilt on the copy, so a transposed, sliced or broadcast CPU view stays one on the GPU
// (Tensor::to would make it contiguous).
inline Tensor to_device_keeping_layout(const Tensor& t, Device device) {
  if (!t.defined() || t.device() == device) return t;
  const Tensor base(t.storage(), Shape{storage_elements(t)}, {1}, 0, t.dtype());
  const Tensor moved = base.to(device);
  return Tensor(moved.storage(), t.shape(), t.strides(), t.offset(), t.dtype());
}

inline Tensor to_gpu_keeping_layout(const Tensor& t) {
  return to_device_keeping_layout(t, gpu());
}

// |a - b| for the parity metric: 0 for two NaNs or two equal infinities, infinite when only
// one side is NaN or infinite (a NaN must propagate alike on both devices).
inline double element_difference(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) {
    return std::isnan(a) && std::isnan(b) ? 0.0 : std::numeric_limits<double>::infinity();
  }
  if (std::isinf(a) || std::isinf(b)) return a == b ? 0.0 : std::numeric_limits<double>::infinity();
  return std::abs(a - b);
}

// max_i |actual_i - expected_i| / max(max_i |expected_i|, 1e-6) over finite expected values;
// infinite when the shapes differ. `worst` (optional) receives the flat index of the largest
// difference.
inline double relative_error(const Tensor& actual, const Tensor& expected,
                             std::int64_t* worst = nullptr) {
  if (actual.shape() != expected.shape()) return std::numeric_limits<double>::infinity();
  const std::vector<double> x = actual.to_vector<double>(), y = expected.to_vector<double>();
  double scale = 1e-6, largest = 0.0;
  std::int64_t at = 0;
  for (const double v : y) {
    if (std::isfinite(v)) scale = std::max(scale, std::abs(v));
  }
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double d = element_difference(x[i], y[i]);
    if (d > largest) {
      largest = d;
      at = static_cast<std::int64_t>(i);
    }
  }
  if (worst != nullptr) *worst = at;
  return largest / scale;
}

// Checks that `on_gpu` is a CUDA result of the shape and dtype of the CPU reference `on_cpu`
// and within `tol` of it in relative_error (tol = 0: bit-identical values).
inline ::testing::AssertionResult matches_cpu(const Tensor& on_gpu, const Tensor& on_cpu,
                                              double tol) {
  if (!on_gpu.defined() || !on_cpu.defined()) {
    return ::testing::AssertionFailure()
           << "undefined tensor (cuda result defined: " << on_gpu.defined()
           << ", cpu reference defined: " << on_cpu.defined() << ")";
  }
  if (!on_gpu.device().is_cuda()) {
    return ::testing::AssertionFailure()
           << "the result lies on " << on_gpu.device().to_string() << ", expected a CUDA tensor";
  }
  if (!on_cpu.device().is_cpu()) {
    return ::testing::AssertionFailure()
           << "the reference lies on " << on_cpu.device().to_string() << ", expected cpu";
  }
  if (on_gpu.shape() != on_cpu.shape() || on_gpu.dtype() != on_cpu.dtype()) {
    return ::testing::AssertionFailure()
           << "cuda result " << dtype_name(on_gpu.dtype()) << " " << on_gpu.shape() << " vs cpu "
           << dtype_name(on_cpu.dtype()) << " " << on_cpu.shape();
  }
  std::int64_t worst = 0;
  const double error = relative_error(on_gpu, on_cpu, &worst);
  if (error <= tol) return ::testing::AssertionSuccess() << "relative error " << error;
  const std::vector<double> x = on_gpu.to_vector<double>(), y = on_cpu.to_vector<double>();
  const auto i = static_cast<std::size_t>(worst);
  return ::testing::AssertionFailure()
         << "relative error " << error << " > " << tol << " for " << dtype_name(on_cpu.dtype())
         << " " << on_cpu.shape() << "; worst at flat index " << worst << ": cuda " << x[i]
         << ", cpu " << y[i];
}

// The same check on a host scalar pair: |a - b| / max(|b|, 1e-6) <= tol.
inline ::testing::AssertionResult close_relative(double a, double b, double tol) {
  const double error = element_difference(a, b) / std::max(std::abs(b), 1e-6);
  if (error <= tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "cuda " << a << " vs cpu " << b << ": relative error " << error << " > " << tol;
}

// An op on tensors, run once on CPU inputs and once on their GPU copies.
using TensorFn = std::function<Tensor(const std::vector<Tensor>&)>;

// fn on the CPU `inputs` and on GPU copies with the same layouts, compared by matches_cpu.
inline ::testing::AssertionResult cuda_matches_cpu(const TensorFn& fn,
                                                   const std::vector<Tensor>& inputs, double tol) {
  std::vector<Tensor> on_gpu;
  on_gpu.reserve(inputs.size());
  for (const Tensor& t : inputs) on_gpu.push_back(to_gpu_keeping_layout(t));
  return matches_cpu(fn(on_gpu), fn(inputs), tol);
}

// Multiples of 1/4 in [-1.75, 1.75]: many exact ties for comparisons, extrema and argmax.
inline Tensor grid_tensor(const Shape& shape, std::uint64_t seed, DType dtype) {
  const Tensor steps = mul(random_tensor(shape, seed), 8.0).to(DType::Int64).to(DType::Float64);
  return mul(steps, 0.25).to(dtype);
}

// (batch, n, n) matrices Q diag(1, 2, ..., n) Q^T with Q orthogonal: eigenvalues one apart, so
// the eigenvectors are well determined (up to sign) in float32 too.
inline Tensor symmetric_with_gaps(std::int64_t batch, std::int64_t n, std::uint64_t seed,
                                  DType dtype) {
  std::vector<Tensor> matrices;
  const Tensor spectrum = add(Tensor::arange(n, DType::Float64), 1.0);
  for (std::int64_t i = 0; i < batch; ++i) {
    const Tensor q = qr(random_tensor({n, n}, seed + static_cast<std::uint64_t>(i))).q;
    matrices.push_back(matmul(mul(q, spectrum), q.t()));  // Q diag(s) Q^T
  }
  return stack(matrices, 0).to(dtype);
}

// (batch, m, n) matrices U diag(k, k - 1, ..., 1) V^T, k = min(m, n), U and V orthonormal:
// singular values one apart, so the singular vectors are well determined (up to sign).
inline Tensor matrix_with_gaps(std::int64_t batch, std::int64_t m, std::int64_t n,
                               std::uint64_t seed, DType dtype) {
  const std::int64_t k = std::min(m, n);
  std::vector<Tensor> matrices;
  const Tensor singular = add(mul(Tensor::arange(k, DType::Float64), -1.0), static_cast<double>(k));
  for (std::int64_t i = 0; i < batch; ++i) {
    const std::uint64_t s = seed + 2 * static_cast<std::uint64_t>(i);
    const Tensor u = qr(random_tensor({m, k}, s)).q;
    const Tensor v = qr(random_tensor({n, k}, s + 1)).q;
    matrices.push_back(matmul(mul(u, singular), v.t()));
  }
  return stack(matrices, 0).to(dtype);
}

// A random (..., n, n) matrix plus n I: diagonally dominant, condition number near 1.
inline Tensor well_conditioned(const Shape& shape, std::uint64_t seed, DType dtype) {
  const std::int64_t n = shape[shape.rank() - 1];
  return add(random_tensor(shape, seed, dtype), mul(Tensor::eye(n, dtype), static_cast<double>(n)));
}

// Restores the TF32 switch on scope exit, so a test that turns it on leaves it as it found it.
class AllowTf32Guard {
 public:
  explicit AllowTf32Guard(bool allow) : previous_(allow_tf32()) { set_allow_tf32(allow); }
  ~AllowTf32Guard() { set_allow_tf32(previous_); }
  AllowTf32Guard(const AllowTf32Guard&) = delete;
  AllowTf32Guard& operator=(const AllowTf32Guard&) = delete;

 private:
  bool previous_;
};

}  // namespace ortho::testing
