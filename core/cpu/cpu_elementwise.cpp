// Element-wise kernels of the CPU backend. Operands arrive broadcast (stride 0) to out's
// shape; each op is a lambda inlined into a loop with a contiguous fast path (vectorized by
// the compiler) and a scalar fast path for an operand whose inner stride is 0.
#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "core/cpu/cpu_backend.h"
#include "core/cpu/strided_loop.h"
#include "core/dispatch.h"

namespace ortho::cpu {
namespace {

// Shortest piece of a row handed to one thread when long rows are split.
constexpr std::int64_t kMinPiece = 4096;

// As for_each_row, but also splits long rows into pieces so that one big contiguous tensor
// (a single merged row) is shared by every thread.
template <std::size_t N, typename Fn>
void for_each_piece(const StridedLayout<N>& layout, Fn&& fn) {
  const std::int64_t rows = layout.rows();
  const std::int64_t n = layout.inner();
  std::array<std::int64_t, N> s;
  for (std::size_t k = 0; k < N; ++k) s[k] = layout.strides[k].back();
  const std::int64_t threads = omp_get_max_threads();
  if (rows * n < kParallelGrain || threads == 1) {
    for (std::int64_t r = 0; r < rows; ++r) fn(layout.row_offsets(r), n, s);
    return;
  }
  if (rows >= 4 * threads) {
#pragma omp parallel for schedule(static)
    for (std::int64_t r = 0; r < rows; ++r) fn(layout.row_offsets(r), n, s);
    return;
  }
  const std::int64_t wanted = (4 * threads + rows - 1) / rows;
  const std::int64_t per_row = std::max<std::int64_t>(1, std::min(wanted, n / kMinPiece));
  const std::int64_t piece = (n + per_row - 1) / per_row;
#pragma omp parallel for schedule(static)
  for (std::int64_t w = 0; w < rows * per_row; ++w) {
    const std::int64_t begin = (w % per_row) * piece;
    if (begin >= n) continue;
    std::array<std::int64_t, N> off = layout.row_offsets(w / per_row);
    for (std::size_t k = 0; k < N; ++k) off[k] += begin * s[k];
    fn(off, std::min(piece, n - begin), s);
  }
}

template <typename T, typename F>
void unary_loop(const Tensor& in, Tensor& out, F f) {
  const StridedLayout<2> layout(out.shape(), {&out.strides(), &in.strides()});
  T* o = static_cast<T*>(out.raw_data());
  const T* x = static_cast<const T*>(in.raw_data());
  for_each_piece(layout, [&](const std::array<std::int64_t, 2>& off, std::int64_t n,
                             const std::array<std::int64_t, 2>& s) {
    T* po = o + off[0];
    const T* px = x + off[1];
    if (s[0] == 1 && s[1] == 1) {
      for (std::int64_t i = 0; i < n; ++i) po[i] = f(px[i]);
    } else if (s[1] == 0) {
      const T v = f(px[0]);
      for (std::int64_t i = 0; i < n; ++i) po[i * s[0]] = v;
    } else {
      for (std::int64_t i = 0; i < n; ++i) po[i * s[0]] = f(px[i * s[1]]);
    }
  });
}

template <typename T, typename F>
void binary_loop(const Tensor& a, const Tensor& b, Tensor& out, F f) {
  const StridedLayout<3> layout(out.shape(), {&out.strides(), &a.strides(), &b.strides()});
  T* o = static_cast<T*>(out.raw_data());
  const T* pa = static_cast<const T*>(a.raw_data());
  const T* pb = static_cast<const T*>(b.raw_data());
  for_each_piece(layout, [&](const std::array<std::int64_t, 3>& off, std::int64_t n,
                             const std::array<std::int64_t, 3>& s) {
    T* po = o + off[0];
    const T* x = pa + off[1];
    const T* y = pb + off[2];
    if (s[0] == 1 && s[1] == 1 && s[2] == 1) {
      for (std::int64_t i = 0; i < n; ++i) po[i] = f(x[i], y[i]);
    } else if (s[0] == 1 && s[1] == 1 && s[2] == 0) {
      const T v = y[0];
      for (std::int64_t i = 0; i < n; ++i) po[i] = f(x[i], v);
    } else if (s[0] == 1 && s[1] == 0 && s[2] == 1) {
      const T v = x[0];
      for (std::int64_t i = 0; i < n; ++i) po[i] = f(v, y[i]);
    } else {
      for (std::int64_t i = 0; i < n; ++i) po[i * s[0]] = f(x[i * s[1]], y[i * s[2]]);
    }
  });
}

// Larger / smaller of two values, NaN if either is NaN (as torch.maximum / minimum).
template <typename T>
T max_nan(T x, T y) {
  return (x > y || x != x) ? x : y;
}
template <typename T>
T min_nan(T x, T y) {
  return (x < y || x != x) ? x : y;
}

template <typename T>
void run_unary(UnaryOp op, const Tensor& in, Tensor& out, T a, T b) {
  switch (op) {
    case UnaryOp::Neg:
      return unary_loop<T>(in, out, [](T x) { return -x; });
    case UnaryOp::Exp:
      return unary_loop<T>(in, out, [](T x) { return std::exp(x); });
    case UnaryOp::Log:
      return unary_loop<T>(in, out, [](T x) { return std::log(x); });
    case UnaryOp::Sqrt:
      return unary_loop<T>(in, out, [](T x) { return std::sqrt(x); });
    case UnaryOp::Abs:
      return unary_loop<T>(in, out, [](T x) { return std::abs(x); });
    case UnaryOp::Sign:
      return unary_loop<T>(in, out, [](T x) { return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x); });
    case UnaryOp::Square:
      return unary_loop<T>(in, out, [](T x) { return x * x; });
    case UnaryOp::Reciprocal:
      return unary_loop<T>(in, out, [](T x) { return T(1) / x; });
    case UnaryOp::Relu:
      return unary_loop<T>(in, out, [](T x) { return x < T(0) ? T(0) : x; });
    case UnaryOp::Sigmoid:
      return unary_loop<T>(in, out, [](T x) { return T(1) / (T(1) + std::exp(-x)); });
    case UnaryOp::Tanh:
      return unary_loop<T>(in, out, [](T x) { return std::tanh(x); });
    case UnaryOp::Pow:
      // Exact shortcuts for the common exponents; std::pow for the rest.
      if (a == T(2)) return unary_loop<T>(in, out, [](T x) { return x * x; });
      if (a == T(1)) return unary_loop<T>(in, out, [](T x) { return x; });
      if (a == T(0.5)) return unary_loop<T>(in, out, [](T x) { return std::sqrt(x); });
      return unary_loop<T>(in, out, [a](T x) { return std::pow(x, a); });
    case UnaryOp::Clamp:
      return unary_loop<T>(in, out, [a, b](T x) { return std::min(std::max(x, a), b); });
    case UnaryOp::Affine:
      return unary_loop<T>(in, out, [a, b](T x) { return a * x + b; });
  }
}

template <typename T>
void run_binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  switch (op) {
    case BinaryOp::Add:
      return binary_loop<T>(a, b, out, [](T x, T y) { return x + y; });
    case BinaryOp::Sub:
      return binary_loop<T>(a, b, out, [](T x, T y) { return x - y; });
    case BinaryOp::Mul:
      return binary_loop<T>(a, b, out, [](T x, T y) { return x * y; });
    case BinaryOp::Div:
      return binary_loop<T>(a, b, out, [](T x, T y) { return x / y; });
    case BinaryOp::Pow:
      return binary_loop<T>(a, b, out, [](T x, T y) { return std::pow(x, y); });
    case BinaryOp::Maximum:
      return binary_loop<T>(a, b, out, [](T x, T y) { return max_nan(x, y); });
    case BinaryOp::Minimum:
      return binary_loop<T>(a, b, out, [](T x, T y) { return min_nan(x, y); });
    case BinaryOp::Eq:
      return binary_loop<T>(a, b, out, [](T x, T y) { return x == y ? T(1) : T(0); });
    case BinaryOp::Ne:
      return binary_loop<T>(a, b, out, [](T x, T y) { return x != y ? T(1) : T(0); });
    case BinaryOp::Lt:
      return binary_loop<T>(a, b, out, [](T x, T y) { return x < y ? T(1) : T(0); });
    case BinaryOp::Le:
      return binary_loop<T>(a, b, out, [](T x, T y) { return x <= y ? T(1) : T(0); });
    case BinaryOp::Gt:
      return binary_loop<T>(a, b, out, [](T x, T y) { return x > y ? T(1) : T(0); });
    case BinaryOp::Ge:
      return binary_loop<T>(a, b, out, [](T x, T y) { return x >= y ? T(1) : T(0); });
    case BinaryOp::ReluBackward:
      return binary_loop<T>(a, b, out, [](T g, T x) { return x > T(0) ? g : T(0); });
    case BinaryOp::SigmoidBackward:
      return binary_loop<T>(a, b, out, [](T g, T y) { return g * y * (T(1) - y); });
    case BinaryOp::TanhBackward:
      return binary_loop<T>(a, b, out, [](T g, T y) { return g * (T(1) - y * y); });
  }
}

}  // namespace

void CpuBackend::unary(UnaryOp op, const Tensor& in, Tensor& out, double a, double b) {
  dispatch_floating(out.dtype(), "unary", [&]<typename T>() {
    run_unary<T>(op, in, out, static_cast<T>(a), static_cast<T>(b));
  });
}

void CpuBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  dispatch_floating(out.dtype(), "binary", [&]<typename T>() { run_binary<T>(op, a, b, out); });
}

void CpuBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) {
  dispatch_floating(out.dtype(), "where", [&]<typename T>() {
    dispatch_all(cond.dtype(), [&]<typename C>() {
      const StridedLayout<4> layout(out.shape(),
                                    {&out.strides(), &cond.strides(), &a.strides(), &b.strides()});
      T* o = static_cast<T*>(out.raw_data());
      const C* pc = static_cast<const C*>(cond.raw_data());
      const T* pa = static_cast<const T*>(a.raw_data());
      const T* pb = static_cast<const T*>(b.raw_data());
      for_each_piece(layout, [&](const std::array<std::int64_t, 4>& off, std::int64_t n,
                                 const std::array<std::int64_t, 4>& s) {
        T* po = o + off[0];
        const C* c = pc + off[1];
        const T* x = pa + off[2];
        const T* y = pb + off[3];
        if (s[0] == 1 && s[1] == 1 && s[2] == 1 && s[3] == 1) {
          for (std::int64_t i = 0; i < n; ++i) po[i] = c[i] != C(0) ? x[i] : y[i];
        } else {
          for (std::int64_t i = 0; i < n; ++i) {
            po[i * s[0]] = c[i * s[1]] != C(0) ? x[i * s[2]] : y[i * s[3]];
          }
        }
      });
    });
  });
}

void CpuBackend::axpy(double alpha, const Tensor& x, Tensor& out) {
  dispatch_floating(out.dtype(), "axpy", [&]<typename T>() {
    const StridedLayout<2> layout(out.shape(), {&out.strides(), &x.strides()});
    T* o = static_cast<T*>(out.raw_data());
    const T* px = static_cast<const T*>(x.raw_data());
    const T a = static_cast<T>(alpha);
    for_each_piece(layout, [&](const std::array<std::int64_t, 2>& off, std::int64_t n,
                               const std::array<std::int64_t, 2>& s) {
      T* po = o + off[0];
      const T* v = px + off[1];
      if (s[0] == 1 && s[1] == 1) {
        for (std::int64_t i = 0; i < n; ++i) po[i] += a * v[i];
      } else if (s[1] == 0) {
        const T add = a * v[0];
        for (std::int64_t i = 0; i < n; ++i) po[i * s[0]] += add;
      } else {
        for (std::int64_t i = 0; i < n; ++i) po[i * s[0]] += a * v[i * s[1]];
      }
    });
  });
}

}  // namespace ortho::cpu
