// Softmax, log-softmax and fused cross-entropy kernels of the CUDA backend, along the last dim
// of contiguous tensors. A row belongs to one warp (short rows) or one block (long rows) whose
// lanes stride over its columns and combine with warp shuffles. As on the CPU, every
// exponential is taken of x - max(x) and row sums accumulate in double.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/dispatch.h"
#include "core/error.h"
#include "cuda/cuda_backend.h"
#include "cuda/device_math.cuh"
#include "cuda/kernel_utils.cuh"

namespace ortho::cuda {
namespace {

constexpr unsigned int kFullMask = 0xffffffffu;
constexpr int kWarp = 32;
constexpr int kWarps = kThreads / kWarp;
// Rows longer than this get a whole block instead of a warp.
constexpr std::int64_t kBlockRowCols = 1024;
// Cap of the grid; the kernels loop over further rows.
constexpr std::int64_t kMaxBlocks = std::int64_t{1} << 20;
// "No bad target" in the first-bad-row flag of the cross-entropy kernels.
constexpr unsigned long long kNoBadRow = ~0ull;

struct Plus {
  __device__ double operator()(double a, double b) const { return a + b; }
};
struct Max {
  template <typename T>
  __device__ T operator()(T a, T b) const {
    return d_max(a, b);
  }
};

// Combines v over the kLanes threads of a row (a warp or the whole block); every lane gets
// the same result. `shared` holds kWarps values and is free again on return.
template <int kLanes, typename V, typename F>
__device__ V row_allreduce(V v, F combine, V* shared) {
  for (int mask = kWarp / 2; mask > 0; mask /= 2) {
    v = combine(v, __shfl_xor_sync(kFullMask, v, mask));
  }
  if constexpr (kLanes > kWarp) {
    const int warp = static_cast<int>(threadIdx.x) / kWarp;
    if (threadIdx.x % kWarp == 0) shared[warp] = v;
    __syncthreads();
    v = shared[0];
    for (int w = 1; w < kWarps; ++w) v = combine(v, shared[w]);
    __syncthreads();
  }
  return v;
}

// Where a thread works: `row` (may be >= rows for a warp past the end) and its lane.
struct RowSlot {
  std::int64_t row;
  int lane;
};

template <int kLanes>
__device__ RowSlot row_slot(std::int64_t row_block) {
  constexpr int kRowsPerBlock = kThreads / kLanes;
  return {row_block * kRowsPerBlock + static_cast<int>(threadIdx.x) / kLanes,
          static_cast<int>(threadIdx.x) % kLanes};
}

// Max of the row and s = sum_i exp(x_i - max), in double.
template <int kLanes, typename T>
__device__ void row_max_and_sum(const T* x, std::int64_t cols, int lane, T* shared_t,
                                double* shared_d, T& m, double& s) {
  m = -static_cast<T>(INFINITY);
  for (std::int64_t c = lane; c < cols; c += kLanes) m = d_max(m, x[c]);
  m = row_allreduce<kLanes>(m, Max{}, shared_t);
  s = 0.0;
  for (std::int64_t c = lane; c < cols; c += kLanes) s += static_cast<double>(d_exp(x[c] - m));
  s = row_allreduce<kLanes>(s, Plus{}, shared_d);
}

// log(sum exp(x)) - max as the CPU computes it: (m + log(s)) - m, rounded to T.
template <typename T>
__device__ T log_shift(T m, double s) {
  return static_cast<T>((static_cast<double>(m) + log(s)) - static_cast<double>(m));
}

// Rows are whole warps or whole blocks, so `row < rows` is uniform over each reduction's
// threads; the loop bound depends on the block only, so every thread reaches __syncthreads.
template <typename T, int kLanes, bool kLog>
__global__ void __launch_bounds__(kThreads)
    softmax_forward_kernel(const T* x, T* y, std::int64_t rows, std::int64_t cols) {
  __shared__ T shared_t[kWarps];
  __shared__ double shared_d[kWarps];
  const std::int64_t row_blocks = (rows + kThreads / kLanes - 1) / (kThreads / kLanes);
  for (std::int64_t rb = blockIdx.x; rb < row_blocks; rb += gridDim.x) {
    const RowSlot slot = row_slot<kLanes>(rb);
    if (slot.row >= rows) continue;
    const T* xr = x + slot.row * cols;
    T* yr = y + slot.row * cols;
    T m;
    double s;
    row_max_and_sum<kLanes>(xr, cols, slot.lane, shared_t, shared_d, m, s);
    if constexpr (kLog) {
      // y = (x - m) - log(sum exp(x - m)).
      const T shift = log_shift(m, s);
      for (std::int64_t c = slot.lane; c < cols; c += kLanes) yr[c] = (xr[c] - m) - shift;
    } else {
      // y = exp(x - m) / s, the exponential taken again rather than stored and reread.
      const T inv = static_cast<T>(1.0 / s);
      for (std::int64_t c = slot.lane; c < cols; c += kLanes) yr[c] = d_exp(xr[c] - m) * inv;
    }
  }
}

// softmax: gx = y * (g - <g, y>); log-softmax: gx = g - exp(y) * sum(g).
template <typename T, int kLanes, bool kLog>
__global__ void __launch_bounds__(kThreads)
    softmax_backward_kernel(const T* g, const T* y, T* gx, std::int64_t rows, std::int64_t cols) {
  __shared__ double shared_d[kWarps];
  const std::int64_t row_blocks = (rows + kThreads / kLanes - 1) / (kThreads / kLanes);
  for (std::int64_t rb = blockIdx.x; rb < row_blocks; rb += gridDim.x) {
    const RowSlot slot = row_slot<kLanes>(rb);
    if (slot.row >= rows) continue;
    const std::int64_t base = slot.row * cols;
    double acc = 0.0;
    for (std::int64_t c = slot.lane; c < cols; c += kLanes) {
      acc += kLog ? static_cast<double>(g[base + c])
                  : static_cast<double>(g[base + c]) * static_cast<double>(y[base + c]);
    }
    const T total = static_cast<T>(row_allreduce<kLanes>(acc, Plus{}, shared_d));
    for (std::int64_t c = slot.lane; c < cols; c += kLanes) {
      const std::int64_t i = base + c;
      gx[i] = kLog ? g[i] - d_exp(y[i]) * total : y[i] * (g[i] - total);
    }
  }
}

// Row i: log_probs = log_softmax(x_i) and loss_i = -(on_target * lp_t + uniform * sum_c lp_c).
// A target outside [0, cols) gets a NaN loss and its row is recorded in `bad` (the smallest).
template <typename T, int kLanes>
__global__ void __launch_bounds__(kThreads)
    cross_entropy_forward_kernel(const T* x, const std::int64_t* targets, T* log_probs, T* losses,
                                 std::int64_t rows, std::int64_t cols, double on_target,
                                 double uniform, unsigned long long* bad) {
  __shared__ T shared_t[kWarps];
  __shared__ double shared_d[kWarps];
  const std::int64_t row_blocks = (rows + kThreads / kLanes - 1) / (kThreads / kLanes);
  for (std::int64_t rb = blockIdx.x; rb < row_blocks; rb += gridDim.x) {
    const RowSlot slot = row_slot<kLanes>(rb);
    if (slot.row >= rows) continue;
    const T* xr = x + slot.row * cols;
    T* lr = log_probs + slot.row * cols;
    T m;
    double s;
    row_max_and_sum<kLanes>(xr, cols, slot.lane, shared_t, shared_d, m, s);
    const T shift = log_shift(m, s);
    double sum_lp = 0.0;
    for (std::int64_t c = slot.lane; c < cols; c += kLanes) {
      const T lp = (xr[c] - m) - shift;
      lr[c] = lp;
      sum_lp += static_cast<double>(lp);
    }
    sum_lp = row_allreduce<kLanes>(sum_lp, Plus{}, shared_d);
    if (slot.lane != 0) continue;
    const std::int64_t t = targets[slot.row];
    if (t < 0 || t >= cols) {
      atomicMin(bad, static_cast<unsigned long long>(slot.row));
      losses[slot.row] = static_cast<T>(NAN);
      continue;
    }
    // The same expression as the stored lr[t], so the same value.
    const T lp_t = (xr[t] - m) - shift;
    losses[slot.row] = static_cast<T>(-(on_target * static_cast<double>(lp_t) + uniform * sum_lp));
  }
}

// Rows of `cols` elements in a contiguous tensor.
std::int64_t row_count(const Tensor& t, std::int64_t cols) {
  return cols == 0 ? 0 : t.numel() / cols;
}

std::int64_t last_dim(const Tensor& t) {
  return t.dim() == 0 ? 1 : t.shape()[t.dim() - 1];
}

// Grid of a row kernel with kLanes threads per row.
unsigned int row_grid(std::int64_t rows, int lanes) {
  const std::int64_t per_block = kThreads / lanes;
  return static_cast<unsigned int>(
      std::clamp<std::int64_t>((rows + per_block - 1) / per_block, 1, kMaxBlocks));
}

template <typename T, bool kLog>
void softmax_forward_launch(const DeviceContext& ctx, const T* x, T* y, std::int64_t rows,
                            std::int64_t cols) {
  if (cols > kBlockRowCols) {
    softmax_forward_kernel<T, kThreads, kLog>
        <<<row_grid(rows, kThreads), kThreads, 0, ctx.stream>>>(x, y, rows, cols);
  } else {
    softmax_forward_kernel<T, kWarp, kLog>
        <<<row_grid(rows, kWarp), kThreads, 0, ctx.stream>>>(x, y, rows, cols);
  }
  ORTHO_CUDA_CHECK_LAUNCH("softmax_forward");
}

template <typename T, bool kLog>
void softmax_backward_launch(const DeviceContext& ctx, const T* g, const T* y, T* gx,
                             std::int64_t rows, std::int64_t cols) {
  if (cols > kBlockRowCols) {
    softmax_backward_kernel<T, kThreads, kLog>
        <<<row_grid(rows, kThreads), kThreads, 0, ctx.stream>>>(g, y, gx, rows, cols);
  } else {
    softmax_backward_kernel<T, kWarp, kLog>
        <<<row_grid(rows, kWarp), kThreads, 0, ctx.stream>>>(g, y, gx, rows, cols);
  }
  ORTHO_CUDA_CHECK_LAUNCH("softmax_backward");
}

template <typename T>
void cross_entropy_forward_launch(const DeviceContext& ctx, const T* x, const std::int64_t* t,
                                  T* lp, T* loss, std::int64_t rows, std::int64_t cols,
                                  double on_target, double uniform, unsigned long long* bad) {
  if (cols > kBlockRowCols) {
    cross_entropy_forward_kernel<T, kThreads>
        <<<row_grid(rows, kThreads), kThreads, 0, ctx.stream>>>(x, t, lp, loss, rows, cols,
                                                                on_target, uniform, bad);
  } else {
    cross_entropy_forward_kernel<T, kWarp><<<row_grid(rows, kWarp), kThreads, 0, ctx.stream>>>(
        x, t, lp, loss, rows, cols, on_target, uniform, bad);
  }
  ORTHO_CUDA_CHECK_LAUNCH("cross_entropy_forward");
}

// grad_c = g_i * (p_c - q_c) with p = exp(log_probs), q = on_target * onehot(t_i) + uniform,
// computed in the CPU's two steps. An out-of-range target matches no column (nothing is
// written out of bounds) and is recorded in `bad`.
template <typename T>
void cross_entropy_backward_typed(const DeviceContext& ctx, const Tensor& grad_losses,
                                  const Tensor& log_probs, const Tensor& targets,
                                  double label_smoothing, Tensor& grad_logits,
                                  unsigned long long* bad) {
  const std::int64_t classes = log_probs.shape()[1];
  const T* g = device_ptr<const T>(grad_losses);
  const T* lp = device_ptr<const T>(log_probs);
  const std::int64_t* t = device_ptr<const std::int64_t>(targets);
  T* gx = device_ptr<T>(grad_logits);
  const T uniform = static_cast<T>(label_smoothing / static_cast<double>(classes));
  const T on_target = static_cast<T>(1.0 - label_smoothing);
  launch_index("cross_entropy_backward", ctx, log_probs.numel(), [=] __device__(std::int64_t k) {
    const std::int64_t i = k / classes, c = k - i * classes;
    const std::int64_t target = t[i];
    if (c == 0 && (target < 0 || target >= classes)) {
      atomicMin(bad, static_cast<unsigned long long>(i));
    }
    const T gi = g[i];
    T v = gi * (d_exp(lp[k]) - uniform);
    if (c == target) v -= gi * on_target;
    gx[k] = v;
  });
}

// A device flag holding the first row whose target is out of range (kNoBadRow: none).
class BadRowFlag {
 public:
  explicit BadRowFlag(const DeviceContext& ctx) : ctx_(ctx), ws_(ctx, sizeof(unsigned long long)) {
    ORTHO_CUDA_CHECK(cudaMemsetAsync(ws_.data(), 0xff, sizeof(unsigned long long), ctx.stream));
  }
  unsigned long long* data() const { return static_cast<unsigned long long*>(ws_.data()); }

  // Waits for the kernels and throws as the CPU's check: the host needs the flag's value.
  void check(const Tensor& targets, std::int64_t classes) const {
    unsigned long long row = kNoBadRow;
    ORTHO_CUDA_CHECK(
        cudaMemcpyAsync(&row, data(), sizeof(row), cudaMemcpyDeviceToHost, ctx_.stream));
    ORTHO_CUDA_CHECK(cudaStreamSynchronize(ctx_.stream));
    if (row == kNoBadRow) return;
    std::int64_t target = 0;
    const std::int64_t* t = device_ptr<const std::int64_t>(targets) + row;
    ORTHO_CUDA_CHECK(
        cudaMemcpyAsync(&target, t, sizeof(target), cudaMemcpyDeviceToHost, ctx_.stream));
    ORTHO_CUDA_CHECK(cudaStreamSynchronize(ctx_.stream));
    check_argument(false, "cross_entropy: target ", target, " at index ", row,
                   " is out of range for ", classes, " classes");
  }

 private:
  const DeviceContext& ctx_;
  Workspace ws_;
};

}  // namespace

void CudaBackend::softmax_forward(const Tensor& x, Tensor& y, bool log) {
  const DeviceContext& ctx = context(y);
  const Tensor xc = x.contiguous();
  const std::int64_t cols = last_dim(xc);
  const std::int64_t rows = row_count(xc, cols);
  if (rows == 0) return;
  dispatch_floating(xc.dtype(), "softmax", [&]<typename T>() {
    const T* in = device_ptr<const T>(xc);
    T* out = device_ptr<T>(y);
    if (log) {
      softmax_forward_launch<T, true>(ctx, in, out, rows, cols);
    } else {
      softmax_forward_launch<T, false>(ctx, in, out, rows, cols);
    }
  });
}

void CudaBackend::softmax_backward(const Tensor& grad_y, const Tensor& y, bool log,
                                   Tensor& grad_x) {
  const DeviceContext& ctx = context(grad_x);
  const Tensor gc = grad_y.contiguous(), yc = y.contiguous();
  const std::int64_t cols = last_dim(yc);
  const std::int64_t rows = row_count(yc, cols);
  if (rows == 0) return;
  dispatch_floating(yc.dtype(), "softmax_backward", [&]<typename T>() {
    const T* g = device_ptr<const T>(gc);
    const T* out = device_ptr<const T>(yc);
    T* gx = device_ptr<T>(grad_x);
    if (log) {
      softmax_backward_launch<T, true>(ctx, g, out, gx, rows, cols);
    } else {
      softmax_backward_launch<T, false>(ctx, g, out, gx, rows, cols);
    }
  });
}

// loss_i = -sum_c q_c log p_c with q = (1 - eps) * onehot(t_i) + eps / C (Szegedy et al.
// 2016, label smoothing), i.e. -(1 - eps) * log p_t - (eps / C) * sum_c log p_c.
void CudaBackend::cross_entropy_forward(const Tensor& logits, const Tensor& targets,
                                        double label_smoothing, Tensor& losses, Tensor& log_probs) {
  const DeviceContext& ctx = context(losses);
  const Tensor xc = logits.contiguous(), tc = targets.contiguous();
  const std::int64_t n = xc.shape()[0], classes = xc.shape()[1];
  if (n == 0) return;
  const double on_target = 1.0 - label_smoothing;
  const double uniform = label_smoothing / static_cast<double>(classes);
  const BadRowFlag bad(ctx);
  dispatch_floating(xc.dtype(), "cross_entropy", [&]<typename T>() {
    cross_entropy_forward_launch<T>(
        ctx, device_ptr<const T>(xc), device_ptr<const std::int64_t>(tc), device_ptr<T>(log_probs),
        device_ptr<T>(losses), n, classes, on_target, uniform, bad.data());
  });
  bad.check(tc, classes);
}

// d loss_i / d logits_ic = p_c - q_c, scaled by the incoming g_i.
void CudaBackend::cross_entropy_backward(const Tensor& grad_losses, const Tensor& log_probs,
                                         const Tensor& targets, double label_smoothing,
                                         Tensor& grad_logits) {
  const DeviceContext& ctx = context(grad_logits);
  const Tensor gc = grad_losses.contiguous(), lc = log_probs.contiguous();
  const Tensor tc = targets.contiguous();
  const std::int64_t n = lc.shape()[0], classes = lc.shape()[1];
  if (n == 0) return;
  const BadRowFlag bad(ctx);
  dispatch_floating(lc.dtype(), "cross_entropy_backward", [&]<typename T>() {
    cross_entropy_backward_typed<T>(ctx, gc, lc, tc, label_smoothing, grad_logits, bad.data());
  });
  bad.check(tc, classes);
}

}  // namespace ortho::cuda
