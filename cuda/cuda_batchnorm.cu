// Batch normalization kernels of the CUDA backend (Ioffe & Szegedy, ICML 2015, Alg. 1 and its
// backward), written to compute exactly what core/cpu/cpu_batchnorm.cpp computes. A contiguous
// input is viewed as (N, C, S), S = H * W (1 for a 2-D input). Per-channel sums accumulate in
// double: each of `parts` blocks of a channel reduces an interleaved share of its N * S values,
// then one thread per channel adds the parts in order (deterministic, no atomics), derives the
// channel's coefficients, and an element-wise kernel applies them.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/dispatch.h"
#include "cuda/cuda_backend.h"
#include "cuda/kernel_utils.cuh"

namespace ortho::cuda {
namespace {

// x viewed as (batch, channels, spatial); channel c of sample n starts at (n * C + c) * S.
struct ChannelLayout {
  std::int64_t batch, channels, spatial;
  bool narrow;  // every flat index fits 32 bits, whose division is several times cheaper

  __host__ __device__ std::int64_t count() const { return batch * spatial; }  // values/channel
  __device__ std::int64_t channel_of(std::int64_t i) const {
    if (narrow) {
      return static_cast<std::uint32_t>(i) / static_cast<std::uint32_t>(spatial) %
             static_cast<std::uint32_t>(channels);
    }
    return (i / spatial) % channels;
  }
};

ChannelLayout channel_layout(const Tensor& x) {
  const std::int64_t spatial = x.dim() == 4 ? x.size(2) * x.size(3) : 1;
  return {x.size(0), x.size(1), spatial, x.numel() <= std::int64_t{UINT32_MAX}};
}

// Each block reduces at least this many values of its channel; at most kMaxParts blocks share
// one channel.
constexpr std::int64_t kValuesPerBlock = std::int64_t{kThreads} * 8;
constexpr std::int64_t kMaxParts = 64;

int parts_for(const ChannelLayout& s) {
  const std::int64_t parts = (s.count() + kValuesPerBlock - 1) / kValuesPerBlock;
  return static_cast<int>(std::clamp<std::int64_t>(parts, 1, kMaxParts));
}

// Sums a and b over the block; thread 0 holds the totals. blockDim.x is a multiple of 32.
__device__ void block_sum(double& a, double& b) {
  __shared__ double shared_a[32], shared_b[32];
  for (int offset = 16; offset > 0; offset >>= 1) {
    a += __shfl_down_sync(0xffffffffu, a, offset);
    b += __shfl_down_sync(0xffffffffu, b, offset);
  }
  const int lane = static_cast<int>(threadIdx.x) & 31, warp = static_cast<int>(threadIdx.x) >> 5;
  if (lane == 0) {
    shared_a[warp] = a;
    shared_b[warp] = b;
  }
  __syncthreads();
  if (warp == 0) {
    const int warps = static_cast<int>(blockDim.x) >> 5;
    a = lane < warps ? shared_a[lane] : 0.0;
    b = lane < warps ? shared_b[lane] : 0.0;
    for (int offset = 16; offset > 0; offset >>= 1) {
      a += __shfl_down_sync(0xffffffffu, a, offset);
      b += __shfl_down_sync(0xffffffffu, b, offset);
    }
  }
}

// sum(d) and sum(d^2) with d = x - shift, shift the channel's first value: var = E[d^2] -
// E[d]^2 stays accurate when |mean| >> std (Chan, Golub & LeVeque 1983, sec. 3).
template <typename T>
struct MomentTerms {
  const T* x;
  std::int64_t spatial;

  __device__ double center(std::int64_t c) const { return static_cast<double>(x[c * spatial]); }
  __device__ void add(std::int64_t off, double shift, double& a, double& b) const {
    const double d = static_cast<double>(x[off]) - shift;
    a += d;
    b += d * d;
  }
};

// sum(g) and sum(g * (x - mean)).
template <typename T>
struct GradTerms {
  const T* g;
  const T* x;
  const T* mean;

  __device__ double center(std::int64_t c) const { return static_cast<double>(mean[c]); }
  __device__ void add(std::int64_t off, double m, double& a, double& b) const {
    const double gi = static_cast<double>(g[off]);
    a += gi;
    b += gi * (static_cast<double>(x[off]) - m);
  }
};

// Block (c, part) sums the terms over values k = part * blockDim + t, stepping by
// blockDim * parts, of channel c; value k is sample k / S, position k % S.
template <typename Terms>
__global__ void channel_partial_sums(ChannelLayout s, Terms terms, double2* partial) {
  const std::int64_t c = blockIdx.x;
  const std::int64_t parts = gridDim.y;
  const std::int64_t stride = static_cast<std::int64_t>(blockDim.x) * parts;
  std::int64_t k = static_cast<std::int64_t>(blockIdx.y) * blockDim.x + threadIdx.x;
  std::int64_t n = k / s.spatial, i = k % s.spatial;
  const std::int64_t step_n = stride / s.spatial, step_i = stride % s.spatial;
  const double center = terms.center(c);
  double a = 0.0, b = 0.0;
  for (; k < s.count(); k += stride) {
    terms.add((n * s.channels + c) * s.spatial + i, center, a, b);
    n += step_n;
    i += step_i;
    if (i >= s.spatial) {
      i -= s.spatial;
      ++n;
    }
  }
  block_sum(a, b);
  if (threadIdx.x == 0) partial[c * parts + blockIdx.y] = make_double2(a, b);
}

template <typename Terms>
void launch_partial_sums(const DeviceContext& ctx, const ChannelLayout& s, int parts,
                         const Terms& terms, double2* partial) {
  const dim3 grid(static_cast<unsigned int>(s.channels), static_cast<unsigned int>(parts));
  channel_partial_sums<<<grid, kThreads, 0, ctx.stream>>>(s, terms, partial);
  ORTHO_CUDA_CHECK_LAUNCH("batch_norm channel sums");
}

// The parts of channel c, added in order.
__device__ double2 channel_total(const double2* partial, std::int64_t c, int parts) {
  double2 total = make_double2(0.0, 0.0);
  for (int p = 0; p < parts; ++p) {
    total.x += partial[c * parts + p].x;
    total.y += partial[c * parts + p].y;
  }
  return total;
}

// y = (x - mean) * scale + bias per channel; centring first (rather than one fused
// x * scale + offset) keeps y exact for values near the mean when |mean| >> std.
template <typename T>
void normalize(const DeviceContext& ctx, const ChannelLayout& s, const T* x, const T* mean,
               const T* scale, const T* bias, T* y) {
  const std::int64_t n = s.batch * s.channels * s.spatial;
  launch_index("batch_norm normalize", ctx, n, [=] __device__(std::int64_t i) {
    const std::int64_t c = s.channel_of(i);
    y[i] = (x[i] - mean[c]) * scale[c] + bias[c];
  });
}

template <typename T>
void forward_train_typed(const DeviceContext& ctx, const ChannelLayout& s, const T* x, const T* w,
                         const T* b, double eps, T* y, T* mean, T* invstd) {
  const int parts = parts_for(s);
  Workspace partial_ws(ctx, sizeof(double2) * static_cast<std::size_t>(s.channels * parts));
  Workspace scale_ws(ctx, sizeof(T) * static_cast<std::size_t>(s.channels));
  double2* partial = static_cast<double2*>(partial_ws.data());
  T* scale = static_cast<T*>(scale_ws.data());
  launch_partial_sums(ctx, s, parts, MomentTerms<T>{x, s.spatial}, partial);
  const double count = static_cast<double>(s.count());
  const std::int64_t spatial = s.spatial;
  launch_index("batch_norm statistics", ctx, s.channels, [=] __device__(std::int64_t c) {
    const double2 sums = channel_total(partial, c, parts);
    const double shift = static_cast<double>(x[c * spatial]);
    const double mean_d = sums.x / count;
    const double var = fmax(sums.y / count - mean_d * mean_d, 0.0);  // biased
    const double inv = 1.0 / sqrt(var + eps);
    mean[c] = static_cast<T>(shift + mean_d);
    invstd[c] = static_cast<T>(inv);
    scale[c] = static_cast<T>(static_cast<double>(w[c]) * inv);
  });
  normalize<T>(ctx, s, x, mean, scale, b, y);
}

template <typename T>
void forward_eval_typed(const DeviceContext& ctx, const ChannelLayout& s, const T* x, const T* w,
                        const T* b, const T* running_mean, const T* running_var, double eps, T* y) {
  Workspace scale_ws(ctx, sizeof(T) * static_cast<std::size_t>(s.channels));
  T* scale = static_cast<T*>(scale_ws.data());
  launch_index("batch_norm eval scale", ctx, s.channels, [=] __device__(std::int64_t c) {
    const double rv = static_cast<double>(running_var[c]);
    scale[c] = static_cast<T>(static_cast<double>(w[c]) / sqrt(rv + eps));
  });
  normalize<T>(ctx, s, x, running_mean, scale, b, y);
}

// With xhat = (x - mean) * invstd and M values per channel:
//   gb = sum(g), gw = sum(g * xhat),
//   gx = weight * invstd / M * (M * g - sum(g) - xhat * sum(g * xhat)),
// applied as gx = a * g + b * (x - mean) + c0 with per-channel a, b, c0.
template <typename T>
void backward_typed(const DeviceContext& ctx, const ChannelLayout& s, const T* g, const T* x,
                    const T* w, const T* mean, const T* invstd, T* gx, T* gw, T* gb) {
  const int parts = parts_for(s);
  Workspace partial_ws(ctx, sizeof(double2) * static_cast<std::size_t>(s.channels * parts));
  Workspace coef_ws(ctx, sizeof(T) * static_cast<std::size_t>(3 * s.channels));
  double2* partial = static_cast<double2*>(partial_ws.data());
  T* coef = static_cast<T*>(coef_ws.data());  // (a, b, c0) per channel
  launch_partial_sums(ctx, s, parts, GradTerms<T>{g, x, mean}, partial);
  const double count = static_cast<double>(s.count());
  launch_index("batch_norm_backward coefficients", ctx, s.channels, [=] __device__(std::int64_t c) {
    const double2 sums = channel_total(partial, c, parts);  // sum(g), sum(g (x-m))
    const double inv = static_cast<double>(invstd[c]);
    const double sum_g_xhat = sums.y * inv;
    gw[c] = static_cast<T>(sum_g_xhat);
    gb[c] = static_cast<T>(sums.x);
    const double k = static_cast<double>(w[c]) * inv;
    coef[3 * c] = static_cast<T>(k);
    coef[3 * c + 1] = static_cast<T>(-k * inv * sum_g_xhat / count);
    coef[3 * c + 2] = static_cast<T>(-k * sums.x / count);
  });
  const std::int64_t n = s.batch * s.channels * s.spatial;
  launch_index("batch_norm_backward input", ctx, n, [=] __device__(std::int64_t i) {
    const std::int64_t c = s.channel_of(i);
    gx[i] = coef[3 * c] * g[i] + coef[3 * c + 1] * (x[i] - mean[c]) + coef[3 * c + 2];
  });
}

void check_contiguous(const char* op, const Tensor& out) {
  check_argument(out.is_contiguous(), op, ": the output of shape ", out.shape(),
                 " must be contiguous");
}

}  // namespace

void CudaBackend::batch_norm_forward_train(const Tensor& x, const Tensor& weight,
                                           const Tensor& bias, double eps, Tensor& y, Tensor& mean,
                                           Tensor& invstd) {
  for (const Tensor* out : {&y, &mean, &invstd}) check_contiguous("batch_norm", *out);
  const Tensor xc = x.contiguous(), wc = weight.contiguous(), bc = bias.contiguous();
  const DeviceContext& ctx = context(y);
  const ChannelLayout s = channel_layout(xc);
  dispatch_floating(xc.dtype(), "batch_norm", [&]<typename T>() {
    forward_train_typed<T>(ctx, s, device_ptr<const T>(xc), device_ptr<const T>(wc),
                           device_ptr<const T>(bc), eps, device_ptr<T>(y), device_ptr<T>(mean),
                           device_ptr<T>(invstd));
  });
}

void CudaBackend::batch_norm_forward_eval(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                          const Tensor& running_mean, const Tensor& running_var,
                                          double eps, Tensor& y) {
  check_contiguous("batch_norm", y);
  const Tensor xc = x.contiguous(), wc = weight.contiguous(), bc = bias.contiguous();
  const Tensor rm = running_mean.contiguous(), rv = running_var.contiguous();
  const DeviceContext& ctx = context(y);
  const ChannelLayout s = channel_layout(xc);
  dispatch_floating(xc.dtype(), "batch_norm", [&]<typename T>() {
    forward_eval_typed<T>(ctx, s, device_ptr<const T>(xc), device_ptr<const T>(wc),
                          device_ptr<const T>(bc), device_ptr<const T>(rm), device_ptr<const T>(rv),
                          eps, device_ptr<T>(y));
  });
}

void CudaBackend::batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight,
                                      const Tensor& mean, const Tensor& invstd, Tensor& grad_x,
                                      Tensor& grad_weight, Tensor& grad_bias) {
  const char* op = "batch_norm_backward";
  for (const Tensor* out : {&grad_x, &grad_weight, &grad_bias}) check_contiguous(op, *out);
  const Tensor gc = grad_y.contiguous(), xc = x.contiguous(), wc = weight.contiguous();
  const Tensor mc = mean.contiguous(), ic = invstd.contiguous();
  const DeviceContext& ctx = context(grad_x);
  const ChannelLayout s = channel_layout(xc);
  dispatch_floating(xc.dtype(), op, [&]<typename T>() {
    backward_typed<T>(ctx, s, device_ptr<const T>(gc), device_ptr<const T>(xc),
                      device_ptr<const T>(wc), device_ptr<const T>(mc), device_ptr<const T>(ic),
                      device_ptr<T>(grad_x), device_ptr<T>(grad_weight), device_ptr<T>(grad_bias));
  });
}

}  // namespace ortho::cuda
