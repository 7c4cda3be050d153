// Element-wise kernels of the CUDA backend: unary, binary, where and axpy over strided operands.
#include <cuda_runtime.h>

#include <cstdint>

#include "core/dispatch.h"
#include "cuda/cuda_backend.h"
#include "cuda/device_math.cuh"
#include "cuda/kernel_utils.cuh"

namespace ortho::cuda {
namespace {

// y = op(x) with the scalars a, b of Pow, Clamp and Affine; the formulas of cpu_elementwise.cpp.
template <typename T, UnaryOp kOp>
struct UnaryFn {
  T a, b;

  __device__ T operator()(T x) const {
    if constexpr (kOp == UnaryOp::Neg) {
      return -x;
    } else if constexpr (kOp == UnaryOp::Exp) {
      return d_exp(x);
    } else if constexpr (kOp == UnaryOp::Log) {
      return d_log(x);
    } else if constexpr (kOp == UnaryOp::Sqrt) {
      return d_sqrt(x);
    } else if constexpr (kOp == UnaryOp::Abs) {
      return d_abs(x);
    } else if constexpr (kOp == UnaryOp::Sign) {
      // NaN and signed zeros pass through unchanged.
      return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x);
    } else if constexpr (kOp == UnaryOp::Square) {
      return x * x;
    } else if constexpr (kOp == UnaryOp::Reciprocal) {
      return T(1) / x;
    } else if constexpr (kOp == UnaryOp::Relu) {
      return x < T(0) ? T(0) : x;
    } else if constexpr (kOp == UnaryOp::Sigmoid) {
      return T(1) / (T(1) + d_exp(-x));
    } else if constexpr (kOp == UnaryOp::Tanh) {
      return d_tanh(x);
    } else if constexpr (kOp == UnaryOp::Pow) {
      // Exact shortcuts for the common exponents, as the CPU backend (the branch is uniform).
      if (a == T(2)) return x * x;
      if (a == T(1)) return x;
      if (a == T(0.5)) return d_sqrt(x);
      return d_pow(x, a);
    } else if constexpr (kOp == UnaryOp::Clamp) {
      // std::min(std::max(x, a), b): a NaN x stays NaN.
      const T low = x < a ? a : x;
      return b < low ? b : low;
    } else {
      static_assert(kOp == UnaryOp::Affine);
      return a * x + b;
    }
  }
};

// out = op(x, y); comparisons write 1 or 0 in T; Maximum / Minimum propagate NaN.
template <typename T, BinaryOp kOp>
struct BinaryFn {
  __device__ T operator()(T x, T y) const {
    if constexpr (kOp == BinaryOp::Add) {
      return x + y;
    } else if constexpr (kOp == BinaryOp::Sub) {
      return x - y;
    } else if constexpr (kOp == BinaryOp::Mul) {
      return x * y;
    } else if constexpr (kOp == BinaryOp::Div) {
      return x / y;
    } else if constexpr (kOp == BinaryOp::Pow) {
      return d_pow(x, y);
    } else if constexpr (kOp == BinaryOp::Maximum) {
      return (x > y || x != x) ? x : y;
    } else if constexpr (kOp == BinaryOp::Minimum) {
      return (x < y || x != x) ? x : y;
    } else if constexpr (kOp == BinaryOp::Eq) {
      return x == y ? T(1) : T(0);
    } else if constexpr (kOp == BinaryOp::Ne) {
      return x != y ? T(1) : T(0);
    } else if constexpr (kOp == BinaryOp::Lt) {
      return x < y ? T(1) : T(0);
    } else if constexpr (kOp == BinaryOp::Le) {
      return x <= y ? T(1) : T(0);
    } else if constexpr (kOp == BinaryOp::Gt) {
      return x > y ? T(1) : T(0);
    } else if constexpr (kOp == BinaryOp::Ge) {
      return x >= y ? T(1) : T(0);
    } else if constexpr (kOp == BinaryOp::ReluBackward) {
      return y > T(0) ? x : T(0);  // x = grad, y = input
    } else if constexpr (kOp == BinaryOp::SigmoidBackward) {
      return x * y * (T(1) - y);  // x = grad, y = sigmoid output
    } else {
      static_assert(kOp == BinaryOp::TanhBackward);
      return x * (T(1) - y * y);  // x = grad, y = tanh output
    }
  }
};

// nvcc allows device lambdas in named function templates, not inside dispatch's generic lambdas.
template <typename T, UnaryOp kOp>
void unary_typed(const DeviceContext& ctx, const Tensor& in, Tensor& out, T a, T b) {
  T* o = device_ptr<T>(out);
  const T* x = device_ptr<const T>(in);
  const UnaryFn<T, kOp> f{a, b};
  launch_strided<2>("unary", ctx, out.shape(), {&out.strides(), &in.strides()},
                    [=] __device__(const std::int64_t* off) { o[off[0]] = f(x[off[1]]); });
}

template <typename T, BinaryOp kOp>
void binary_typed(const DeviceContext& ctx, const Tensor& a, const Tensor& b, Tensor& out) {
  T* o = device_ptr<T>(out);
  const T* x = device_ptr<const T>(a);
  const T* y = device_ptr<const T>(b);
  const BinaryFn<T, kOp> f{};
  launch_strided<3>(
      "binary", ctx, out.shape(), {&out.strides(), &a.strides(), &b.strides()},
      [=] __device__(const std::int64_t* off) { o[off[0]] = f(x[off[1]], y[off[2]]); });
}

template <typename T>
void run_unary(const DeviceContext& ctx, UnaryOp op, const Tensor& in, Tensor& out, T a, T b) {
  switch (op) {
    case UnaryOp::Neg:
      return unary_typed<T, UnaryOp::Neg>(ctx, in, out, a, b);
    case UnaryOp::Exp:
      return unary_typed<T, UnaryOp::Exp>(ctx, in, out, a, b);
    case UnaryOp::Log:
      return unary_typed<T, UnaryOp::Log>(ctx, in, out, a, b);
    case UnaryOp::Sqrt:
      return unary_typed<T, UnaryOp::Sqrt>(ctx, in, out, a, b);
    case UnaryOp::Abs:
      return unary_typed<T, UnaryOp::Abs>(ctx, in, out, a, b);
    case UnaryOp::Sign:
      return unary_typed<T, UnaryOp::Sign>(ctx, in, out, a, b);
    case UnaryOp::Square:
      return unary_typed<T, UnaryOp::Square>(ctx, in, out, a, b);
    case UnaryOp::Reciprocal:
      return unary_typed<T, UnaryOp::Reciprocal>(ctx, in, out, a, b);
    case UnaryOp::Relu:
      return unary_typed<T, UnaryOp::Relu>(ctx, in, out, a, b);
    case UnaryOp::Sigmoid:
      return unary_typed<T, UnaryOp::Sigmoid>(ctx, in, out, a, b);
    case UnaryOp::Tanh:
      return unary_typed<T, UnaryOp::Tanh>(ctx, in, out, a, b);
    case UnaryOp::Pow:
      return unary_typed<T, UnaryOp::Pow>(ctx, in, out, a, b);
    case UnaryOp::Clamp:
      return unary_typed<T, UnaryOp::Clamp>(ctx, in, out, a, b);
    case UnaryOp::Affine:
      return unary_typed<T, UnaryOp::Affine>(ctx, in, out, a, b);
  }
}

template <typename T>
void run_binary(const DeviceContext& ctx, BinaryOp op, const Tensor& a, const Tensor& b,
                Tensor& out) {
  switch (op) {
    case BinaryOp::Add:
      return binary_typed<T, BinaryOp::Add>(ctx, a, b, out);
    case BinaryOp::Sub:
      return binary_typed<T, BinaryOp::Sub>(ctx, a, b, out);
    case BinaryOp::Mul:
      return binary_typed<T, BinaryOp::Mul>(ctx, a, b, out);
    case BinaryOp::Div:
      return binary_typed<T, BinaryOp::Div>(ctx, a, b, out);
    case BinaryOp::Pow:
      return binary_typed<T, BinaryOp::Pow>(ctx, a, b, out);
    case BinaryOp::Maximum:
      return binary_typed<T, BinaryOp::Maximum>(ctx, a, b, out);
    case BinaryOp::Minimum:
      return binary_typed<T, BinaryOp::Minimum>(ctx, a, b, out);
    case BinaryOp::Eq:
      return binary_typed<T, BinaryOp::Eq>(ctx, a, b, out);
    case BinaryOp::Ne:
      return binary_typed<T, BinaryOp::Ne>(ctx, a, b, out);
    case BinaryOp::Lt:
      return binary_typed<T, BinaryOp::Lt>(ctx, a, b, out);
    case BinaryOp::Le:
      return binary_typed<T, BinaryOp::Le>(ctx, a, b, out);
    case BinaryOp::Gt:
      return binary_typed<T, BinaryOp::Gt>(ctx, a, b, out);
    case BinaryOp::Ge:
      return binary_typed<T, BinaryOp::Ge>(ctx, a, b, out);
    case BinaryOp::ReluBackward:
      return binary_typed<T, BinaryOp::ReluBackward>(ctx, a, b, out);
    case BinaryOp::SigmoidBackward:
      return binary_typed<T, BinaryOp::SigmoidBackward>(ctx, a, b, out);
    case BinaryOp::TanhBackward:
      return binary_typed<T, BinaryOp::TanhBackward>(ctx, a, b, out);
  }
}

// out = cond != 0 ? a : b, with cond of any dtype (as the CPU backend).
template <typename T, typename C>
void where_typed(const DeviceContext& ctx, const Tensor& cond, const Tensor& a, const Tensor& b,
                 Tensor& out) {
  T* o = device_ptr<T>(out);
  const C* c = device_ptr<const C>(cond);
  const T* x = device_ptr<const T>(a);
  const T* y = device_ptr<const T>(b);
  launch_strided<4>("where", ctx, out.shape(),
                    {&out.strides(), &cond.strides(), &a.strides(), &b.strides()},
                    [=] __device__(const std::int64_t* off) {
                      o[off[0]] = c[off[1]] != C(0) ? x[off[2]] : y[off[3]];
                    });
}

template <typename T>
void axpy_typed(const DeviceContext& ctx, T alpha, const Tensor& x, Tensor& out) {
  T* o = device_ptr<T>(out);
  const T* v = device_ptr<const T>(x);
  launch_strided<2>("axpy", ctx, out.shape(), {&out.strides(), &x.strides()},
                    [=] __device__(const std::int64_t* off) { o[off[0]] += alpha * v[off[1]]; });
}

}  // namespace

void CudaBackend::unary(UnaryOp op, const Tensor& in, Tensor& out, double a, double b) {
  const DeviceContext& ctx = context(out);
  dispatch_floating(out.dtype(), "unary", [&]<typename T>() {
    run_unary<T>(ctx, op, in, out, static_cast<T>(a), static_cast<T>(b));
  });
}

void CudaBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  const DeviceContext& ctx = context(out);
  dispatch_floating(out.dtype(), "binary",
                    [&]<typename T>() { run_binary<T>(ctx, op, a, b, out); });
}

void CudaBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) {
  const DeviceContext& ctx = context(out);
  dispatch_floating(out.dtype(), "where", [&]<typename T>() {
    dispatch_all(cond.dtype(), [&]<typename C>() { where_typed<T, C>(ctx, cond, a, b, out); });
  });
}

void CudaBackend::axpy(double alpha, const Tensor& x, Tensor& out) {
  const DeviceContext& ctx = context(out);
  dispatch_floating(out.dtype(), "axpy",
                    [&]<typename T>() { axpy_typed<T>(ctx, static_cast<T>(alpha), x, out); });
}

}  // namespace ortho::cuda
