// Batch normalization kernels of the CPU backend (Ioffe & Szegedy, ICML 2015, Alg. 1 and
// its backward). A contiguous input is viewed as (N, C, S), S = H * W (1 for a 2-D input);
// each OpenMP iteration owns one channel: its statistics, then its output while the channel
// is still in cache. Sums accumulate in double.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/cpu/cpu_backend.h"
#include "core/dispatch.h"

namespace ortho::cpu {
namespace {

// x viewed as (batch, channels, spatial); channel c of sample n starts at (n * C + c) * S.
struct BatchNormShape {
  std::int64_t batch, channels, spatial;

  std::int64_t count() const { return batch * spatial; }  // values per channel
  std::int64_t plane(std::int64_t n, std::int64_t c) const { return (n * channels + c) * spatial; }
  bool parallel() const { return batch * channels * spatial >= kParallelGrain; }
};

BatchNormShape batch_norm_shape(const Tensor& x) {
  const std::int64_t spatial = x.dim() == 4 ? x.size(2) * x.size(3) : 1;
  return {x.size(0), x.size(1), spatial};
}

struct Moments {
  double mean, var;  // var is the biased (divide by count) variance
};

// One pass of sums shifted by the channel's first value: var = E[d^2] - E[d]^2 with
// d = x - shift stays accurate when |mean| >> std (Chan, Golub & LeVeque 1983, sec. 3).
template <typename T>
Moments channel_moments(const T* x, const BatchNormShape& s, std::int64_t c) {
  const double shift = static_cast<double>(x[s.plane(0, c)]);
  double sum = 0.0, sum_sq = 0.0;
  for (std::int64_t n = 0; n < s.batch; ++n) {
    const T* p = x + s.plane(n, c);
#pragma omp simd simdlen(8) reduction(+ : sum, sum_sq)
    for (std::int64_t i = 0; i < s.spatial; ++i) {
      const double d = static_cast<double>(p[i]) - shift;
      sum += d;
      sum_sq += d * d;
    }
  }
  const double count = static_cast<double>(s.count());
  const double mean_d = sum / count;
  return {shift + mean_d, std::max(sum_sq / count - mean_d * mean_d, 0.0)};
}

// y = (x - mean) * scale + bias over every value of channel c; centring first (rather than
// one fused x * scale + offset) keeps y exact for values near the mean when |mean| >> std.
template <typename T>
void normalize_channel(const T* x, T* y, const BatchNormShape& s, std::int64_t c, T mean, T scale,
                       T bias) {
  for (std::int64_t n = 0; n < s.batch; ++n) {
    const T* p = x + s.plane(n, c);
    T* q = y + s.plane(n, c);
#pragma omp simd
    for (std::int64_t i = 0; i < s.spatial; ++i) q[i] = (p[i] - mean) * scale + bias;
  }
}

// sum(g) and sum(g * (x - mean)) over channel c.
struct GradSums {
  double g, g_centered;
};

template <typename T>
GradSums channel_grad_sums(const T* g, const T* x, const BatchNormShape& s, std::int64_t c,
                           double mean) {
  double sum_g = 0.0, sum_gd = 0.0;
  for (std::int64_t n = 0; n < s.batch; ++n) {
    const T* gp = g + s.plane(n, c);
    const T* xp = x + s.plane(n, c);
#pragma omp simd simdlen(8) reduction(+ : sum_g, sum_gd)
    for (std::int64_t i = 0; i < s.spatial; ++i) {
      const double gi = static_cast<double>(gp[i]);
      sum_g += gi;
      sum_gd += gi * (static_cast<double>(xp[i]) - mean);
    }
  }
  return {sum_g, sum_gd};
}

// gx = a * g + b * (x - mean) + c0 over channel c, the backward formula with its
// per-channel factors folded in; x - mean is formed first so large means do not cancel.
template <typename T>
void grad_input_channel(const T* g, const T* x, T* gx, const BatchNormShape& s, std::int64_t c,
                        T mean, T a, T b, T c0) {
  for (std::int64_t n = 0; n < s.batch; ++n) {
    const T* gp = g + s.plane(n, c);
    const T* xp = x + s.plane(n, c);
    T* out = gx + s.plane(n, c);
#pragma omp simd
    for (std::int64_t i = 0; i < s.spatial; ++i) out[i] = a * gp[i] + b * (xp[i] - mean) + c0;
  }
}

}  // namespace

void CpuBackend::batch_norm_forward_train(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                          double eps, Tensor& y, Tensor& mean, Tensor& invstd) {
  const BatchNormShape s = batch_norm_shape(x);
  dispatch_floating(x.dtype(), "batch_norm", [&]<typename T>() {
    const T* xp = x.data<T>();
    const T* w = weight.data<T>();
    const T* b = bias.data<T>();
    T* yp = y.data<T>();
    T* mp = mean.data<T>();
    T* ip = invstd.data<T>();
#pragma omp parallel for schedule(static) if (s.parallel())
    for (std::int64_t c = 0; c < s.channels; ++c) {
      const Moments m = channel_moments(xp, s, c);
      const double inv = 1.0 / std::sqrt(m.var + eps);
      mp[c] = static_cast<T>(m.mean);
      ip[c] = static_cast<T>(inv);
      normalize_channel(xp, yp, s, c, mp[c], static_cast<T>(static_cast<double>(w[c]) * inv), b[c]);
    }
  });
}

void CpuBackend::batch_norm_forward_eval(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                         const Tensor& running_mean, const Tensor& running_var,
                                         double eps, Tensor& y) {
  const BatchNormShape s = batch_norm_shape(x);
  dispatch_floating(x.dtype(), "batch_norm", [&]<typename T>() {
    const T* xp = x.data<T>();
    const T* w = weight.data<T>();
    const T* b = bias.data<T>();
    const T* rm = running_mean.data<T>();
    const T* rv = running_var.data<T>();
    T* yp = y.data<T>();
#pragma omp parallel for schedule(static) if (s.parallel())
    for (std::int64_t c = 0; c < s.channels; ++c) {
      const double scale = static_cast<double>(w[c]) / std::sqrt(static_cast<double>(rv[c]) + eps);
      normalize_channel(xp, yp, s, c, rm[c], static_cast<T>(scale), b[c]);
    }
  });
}

// With xhat = (x - mean) * invstd and M values per channel:
//   gb = sum(g), gw = sum(g * xhat),
//   gx = weight * invstd / M * (M * g - sum(g) - xhat * sum(g * xhat)).
void CpuBackend::batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight,
                                     const Tensor& mean, const Tensor& invstd, Tensor& grad_x,
                                     Tensor& grad_weight, Tensor& grad_bias) {
  const BatchNormShape s = batch_norm_shape(x);
  dispatch_floating(x.dtype(), "batch_norm_backward", [&]<typename T>() {
    const T* g = grad_y.data<T>();
    const T* xp = x.data<T>();
    const T* w = weight.data<T>();
    const T* mp = mean.data<T>();
    const T* ip = invstd.data<T>();
    T* gx = grad_x.data<T>();
    T* gw = grad_weight.data<T>();
    T* gb = grad_bias.data<T>();
    const double count = static_cast<double>(s.count());
#pragma omp parallel for schedule(static) if (s.parallel())
    for (std::int64_t c = 0; c < s.channels; ++c) {
      const double m = static_cast<double>(mp[c]);
      const double inv = static_cast<double>(ip[c]);
      const GradSums sums = channel_grad_sums(g, xp, s, c, m);
      const double sum_g_xhat = sums.g_centered * inv;
      gw[c] = static_cast<T>(sum_g_xhat);
      gb[c] = static_cast<T>(sums.g);
      const double k = static_cast<double>(w[c]) * inv;
      grad_input_channel(g, xp, gx, s, c, mp[c], static_cast<T>(k),
                         static_cast<T>(-k * inv * sum_g_xhat / count),
                         static_cast<T>(-k * sums.g / count));
    }
  });
}

}  // namespace ortho::cpu
