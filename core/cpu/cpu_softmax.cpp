// Softmax, log-softmax and fused cross-entropy kernels of the CPU backend, along the last dim
// of contiguous tensors, one row per OpenMP iteration. Every exponential is taken of
// x - max(x), so large logits never overflow; row sums accumulate in double.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/cpu/cpu_backend.h"
#include "core/dispatch.h"
#include "core/error.h"

namespace ortho::cpu {
namespace {

template <typename T>
T row_max(const T* x, std::int64_t n) {
  T m = -std::numeric_limits<T>::infinity();
#pragma omp simd reduction(max : m)
  for (std::int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  return m;
}

// log(sum_i exp(x_i)) computed as m + log(sum_i exp(x_i - m)).
template <typename T>
double log_sum_exp(const T* x, std::int64_t n, T m) {
  double s = 0.0;
  for (std::int64_t i = 0; i < n; ++i) s += static_cast<double>(std::exp(x[i] - m));
  return static_cast<double>(m) + std::log(s);
}

template <typename T>
void softmax_row(const T* x, T* y, std::int64_t n, bool log) {
  const T m = row_max(x, n);
  if (log) {
    const T shift = static_cast<T>(log_sum_exp(x, n, m) - static_cast<double>(m));
    for (std::int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) - shift;
    return;
  }
  double s = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    const T e = std::exp(x[i] - m);
    y[i] = e;
    s += static_cast<double>(e);
  }
  const T inv = static_cast<T>(1.0 / s);
  for (std::int64_t i = 0; i < n; ++i) y[i] *= inv;
}

// softmax: gx = y * (g - <g, y>); log-softmax: gx = g - exp(y) * sum(g).
template <typename T>
void softmax_backward_row(const T* g, const T* y, T* gx, std::int64_t n, bool log) {
  double acc = 0.0;
  if (log) {
#pragma omp simd reduction(+ : acc)
    for (std::int64_t i = 0; i < n; ++i) acc += static_cast<double>(g[i]);
    const T sum_g = static_cast<T>(acc);
    for (std::int64_t i = 0; i < n; ++i) gx[i] = g[i] - std::exp(y[i]) * sum_g;
    return;
  }
#pragma omp simd reduction(+ : acc)
  for (std::int64_t i = 0; i < n; ++i) acc += static_cast<double>(g[i]) * y[i];
  const T dot = static_cast<T>(acc);
  for (std::int64_t i = 0; i < n; ++i) gx[i] = y[i] * (g[i] - dot);
}

// Rows of `cols` elements in a contiguous tensor of `numel` elements.
std::int64_t row_count(const Tensor& t, std::int64_t cols) {
  return cols == 0 ? 0 : t.numel() / cols;
}

void check_targets(const std::int64_t* targets, std::int64_t n, std::int64_t classes) {
  for (std::int64_t i = 0; i < n; ++i) {
    check_argument(targets[i] >= 0 && targets[i] < classes, "cross_entropy: target ", targets[i],
                   " at index ", i, " is out of range for ", classes, " classes");
  }
}

}  // namespace

void CpuBackend::softmax_forward(const Tensor& x, Tensor& y, bool log) {
  const Tensor xc = x.contiguous();
  const std::int64_t cols = xc.dim() == 0 ? 1 : xc.shape()[xc.dim() - 1];
  const std::int64_t rows = row_count(xc, cols);
  dispatch_floating(xc.dtype(), "softmax", [&]<typename T>() {
    const T* in = static_cast<const T*>(xc.raw_data());
    T* out = static_cast<T*>(y.raw_data());
#pragma omp parallel for schedule(static) if (rows > 1 && rows * cols >= kParallelGrain)
    for (std::int64_t r = 0; r < rows; ++r) softmax_row(in + r * cols, out + r * cols, cols, log);
  });
}

void CpuBackend::softmax_backward(const Tensor& grad_y, const Tensor& y, bool log, Tensor& grad_x) {
  const Tensor gc = grad_y.contiguous(), yc = y.contiguous();
  const std::int64_t cols = yc.dim() == 0 ? 1 : yc.shape()[yc.dim() - 1];
  const std::int64_t rows = row_count(yc, cols);
  dispatch_floating(yc.dtype(), "softmax_backward", [&]<typename T>() {
    const T* g = static_cast<const T*>(gc.raw_data());
    const T* out = static_cast<const T*>(yc.raw_data());
    T* gx = static_cast<T*>(grad_x.raw_data());
#pragma omp parallel for schedule(static) if (rows > 1 && rows * cols >= kParallelGrain)
    for (std::int64_t r = 0; r < rows; ++r) {
      softmax_backward_row(g + r * cols, out + r * cols, gx + r * cols, cols, log);
    }
  });
}

// loss_i = -sum_c q_c log p_c with q = (1 - eps) * onehot(t_i) + eps / C (Szegedy et al.
// 2016, label smoothing), i.e. -(1 - eps) * log p_t - (eps / C) * sum_c log p_c.
void CpuBackend::cross_entropy_forward(const Tensor& logits, const Tensor& targets,
                                       double label_smoothing, Tensor& losses, Tensor& log_probs) {
  const Tensor xc = logits.contiguous(), tc = targets.contiguous();
  const std::int64_t n = xc.shape()[0], classes = xc.shape()[1];
  const std::int64_t* t = static_cast<const std::int64_t*>(tc.raw_data());
  check_targets(t, n, classes);
  const double on_target = 1.0 - label_smoothing;
  const double uniform = label_smoothing / static_cast<double>(classes);
  dispatch_floating(xc.dtype(), "cross_entropy", [&]<typename T>() {
    const T* x = static_cast<const T*>(xc.raw_data());
    T* lp = static_cast<T*>(log_probs.raw_data());
    T* loss = static_cast<T*>(losses.raw_data());
#pragma omp parallel for schedule(static) if (n > 1 && n * classes >= kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) {
      const T* row = x + i * classes;
      T* lrow = lp + i * classes;
      softmax_row(row, lrow, classes, true);
      double sum_lp = 0.0;
      for (std::int64_t c = 0; c < classes; ++c) sum_lp += static_cast<double>(lrow[c]);
      loss[i] = static_cast<T>(-(on_target * static_cast<double>(lrow[t[i]]) + uniform * sum_lp));
    }
  });
}

// d loss_i / d logits_ic = p_c - q_c, scaled by the incoming g_i.
void CpuBackend::cross_entropy_backward(const Tensor& grad_losses, const Tensor& log_probs,
                                        const Tensor& targets, double label_smoothing,
                                        Tensor& grad_logits) {
  const Tensor gc = grad_losses.contiguous(), lc = log_probs.contiguous();
  const Tensor tc = targets.contiguous();
  const std::int64_t n = lc.shape()[0], classes = lc.shape()[1];
  const std::int64_t* t = static_cast<const std::int64_t*>(tc.raw_data());
  check_targets(t, n, classes);
  dispatch_floating(lc.dtype(), "cross_entropy_backward", [&]<typename T>() {
    const T* g = static_cast<const T*>(gc.raw_data());
    const T* lp = static_cast<const T*>(lc.raw_data());
    T* gx = static_cast<T*>(grad_logits.raw_data());
    const T uniform = static_cast<T>(label_smoothing / static_cast<double>(classes));
    const T on_target = static_cast<T>(1.0 - label_smoothing);
#pragma omp parallel for schedule(static) if (n > 1 && n * classes >= kParallelGrain)
    for (std::int64_t i = 0; i < n; ++i) {
      const T* lrow = lp + i * classes;
      T* grow = gx + i * classes;
      const T gi = g[i];
      for (std::int64_t c = 0; c < classes; ++c) grow[c] = gi * (std::exp(lrow[c]) - uniform);
      grow[t[i]] -= gi * on_target;
    }
  });
}

}  // namespace ortho::cpu
