// Max and average pooling kernels of the CUDA backend over contiguous NCHW tensors, written to
// reproduce the CPU backend's windows, tie-breaking, divisors and summation order.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/dispatch.h"
#include "core/error.h"
#include "cuda/cuda_backend.h"
#include "cuda/kernel_utils.cuh"

namespace ortho::cuda {
namespace {

// N * C planes of height x width pooled into out_height x out_width, and the window.
struct PoolGeometry {
  std::int64_t planes, height, width, out_height, out_width;
  std::int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
  bool count_include_pad;
  // Output columns [mid_begin, mid_end) whose windows lie wholly inside [0, width): the CPU
  // pools them with its vectorized interior path, whose rounding the kernels reproduce.
  std::int64_t mid_begin, mid_end;

  __host__ __device__ std::int64_t in_plane() const { return height * width; }
  __host__ __device__ std::int64_t out_plane() const { return out_height * out_width; }
};

// As interior_columns in core/cpu/cpu_pool.cpp.
void set_interior_columns(PoolGeometry& g) {
  if (g.out_width < g.kernel_w) {
    g.mid_begin = g.mid_end = g.out_width;
    return;
  }
  const std::int64_t begin = std::min((g.pad_w + g.stride_w - 1) / g.stride_w, g.out_width);
  const std::int64_t last = g.width + g.pad_w - g.kernel_w;  // start of the last full window
  const std::int64_t end = last < 0 ? 0 : std::min(last / g.stride_w + 1, g.out_width);
  g.mid_begin = begin;
  g.mid_end = std::max(begin, end);
}

PoolGeometry pool_geometry(const Tensor& input, const Tensor& out, const Pool2dParams& p) {
  PoolGeometry g{input.size(0) * input.size(1),
                 input.size(2),
                 input.size(3),
                 out.size(2),
                 out.size(3),
                 p.kernel_h,
                 p.kernel_w,
                 p.stride_h,
                 p.stride_w,
                 p.pad_h,
                 p.pad_w,
                 p.count_include_pad,
                 0,
                 0};
  set_interior_columns(g);
  return g;
}

// The window of output position `o` along one axis, clipped to the unpadded input [0, size).
struct Span {
  std::int64_t begin, end;
};

__device__ Span window(std::int64_t o, std::int64_t kernel, std::int64_t stride, std::int64_t pad,
                       std::int64_t size) {
  const std::int64_t start = o * stride - pad;
  return {start > 0 ? start : 0, start + kernel < size ? start + kernel : size};
}

// Output positions [begin, end) along one axis whose (unclipped) windows contain input i.
__device__ Span covering(std::int64_t i, std::int64_t kernel, std::int64_t stride, std::int64_t pad,
                         std::int64_t out_size) {
  const std::int64_t low = i + pad - kernel + 1;  // o * stride >= low
  const std::int64_t first = low <= 0 ? 0 : (low + stride - 1) / stride;
  const std::int64_t high = (i + pad) / stride;  // o * stride <= i + pad
  return {first, high + 1 < out_size ? high + 1 : out_size};
}

// Padding is -inf, so only real elements compete; NaN wins, as on the CPU (the last NaN of
// the window when there are several); the first of equal maxima wins.
template <typename T>
__device__ bool takes_max(T v, T best) {
  return v > best || isnan(v);
}

template <typename T>
void max_pool_forward_typed(const DeviceContext& ctx, const PoolGeometry g, const T* in, T* out,
                            std::int64_t* indices) {
  launch_index("max_pool2d", ctx, g.planes * g.out_plane(), [=] __device__(std::int64_t i) {
    const std::int64_t plane = i / g.out_plane(), pos = i % g.out_plane();
    const std::int64_t oh = pos / g.out_width, ow = pos % g.out_width;
    const Span rows = window(oh, g.kernel_h, g.stride_h, g.pad_h, g.height);
    const Span cols = window(ow, g.kernel_w, g.stride_w, g.pad_w, g.width);
    const T* x = in + plane * g.in_plane();
    T best = -INFINITY;
    std::int64_t best_index = rows.begin * g.width + cols.begin;
    for (std::int64_t h = rows.begin; h < rows.end; ++h) {
      for (std::int64_t w = cols.begin; w < cols.end; ++w) {
        const T v = x[h * g.width + w];
        if (takes_max(v, best)) {
          best = v;
          best_index = h * g.width + w;
        }
      }
    }
    out[i] = best;
    indices[i] = best_index;
  });
}

// grad_input is zeroed beforehand; overlapping windows may send several gradients to one
// element, hence the atomic add. An index outside the plane is skipped and flagged.
template <typename T>
void max_pool_backward_typed(const DeviceContext& ctx, std::int64_t planes, std::int64_t out_plane,
                             std::int64_t in_plane, const T* grad_out, const std::int64_t* indices,
                             T* grad_in, int* invalid) {
  launch_index("max_pool2d_backward", ctx, planes * out_plane, [=] __device__(std::int64_t j) {
    const std::int64_t index = indices[j];
    if (index < 0 || index >= in_plane) {
      *invalid = 1;
      return;
    }
    atomicAdd(grad_in + (j / out_plane) * in_plane + index, grad_out[j]);
  });
}

// Divisor of one window: the full kernel area, or only its real (unpadded) elements.
__device__ std::int64_t avg_divisor(const PoolGeometry& g, const Span& rows, const Span& cols) {
  if (g.count_include_pad) return g.kernel_h * g.kernel_w;
  return (rows.end - rows.begin) * (cols.end - cols.begin);
}

// Interior windows sum in T and scale by the reciprocal divisor; border windows sum in double
// and divide, as the CPU's two paths do.
template <typename T>
void avg_pool_forward_typed(const DeviceContext& ctx, const PoolGeometry g, const T* in, T* out) {
  launch_index("avg_pool2d", ctx, g.planes * g.out_plane(), [=] __device__(std::int64_t i) {
    const std::int64_t plane = i / g.out_plane(), pos = i % g.out_plane();
    const std::int64_t oh = pos / g.out_width, ow = pos % g.out_width;
    const Span rows = window(oh, g.kernel_h, g.stride_h, g.pad_h, g.height);
    const Span cols = window(ow, g.kernel_w, g.stride_w, g.pad_w, g.width);
    const T* x = in + plane * g.in_plane();
    const double divisor = static_cast<double>(avg_divisor(g, rows, cols));
    if (ow >= g.mid_begin && ow < g.mid_end) {
      T sum = T(0);
      for (std::int64_t h = rows.begin; h < rows.end; ++h) {
        for (std::int64_t w = cols.begin; w < cols.end; ++w) sum += x[h * g.width + w];
      }
      out[i] = sum * (T(1) / static_cast<T>(divisor));
    } else {
      double sum = 0.0;
      for (std::int64_t h = rows.begin; h < rows.end; ++h) {
        for (std::int64_t w = cols.begin; w < cols.end; ++w) {
          sum += static_cast<double>(x[h * g.width + w]);
        }
      }
      out[i] = static_cast<T>(sum / divisor);
    }
  });
}

// The share of output column ow's gradient (its output row's window spanning `rows`) that each
// element of its window receives: the CPU divides border gradients and multiplies interior
// ones by the reciprocal divisor.
template <typename T>
__device__ T avg_share(const PoolGeometry& g, T grad, const Span& rows, std::int64_t ow) {
  const Span cols = window(ow, g.kernel_w, g.stride_w, g.pad_w, g.width);
  const T divisor = static_cast<T>(avg_divisor(g, rows, cols));
  if (ow >= g.mid_begin && ow < g.mid_end) return grad * (T(1) / divisor);
  return grad / divisor;
}

// Gathers, for each input element, the shares of the windows that contain it, in the order
// the CPU adds them: output rows ascending; in each, border columns ascending, then interior
// columns descending (the CPU walks kernel taps left to right, i.e. outputs right to left).
template <typename T>
void avg_pool_backward_typed(const DeviceContext& ctx, const PoolGeometry g, const T* grad_out,
                             T* grad_in) {
  launch_index("avg_pool2d_backward", ctx, g.planes * g.in_plane(), [=] __device__(std::int64_t i) {
    const std::int64_t plane = i / g.in_plane(), pos = i % g.in_plane();
    const std::int64_t h = pos / g.width, w = pos % g.width;
    const Span out_rows = covering(h, g.kernel_h, g.stride_h, g.pad_h, g.out_height);
    const Span out_cols = covering(w, g.kernel_w, g.stride_w, g.pad_w, g.out_width);
    const T* go = grad_out + plane * g.out_plane();
    T sum = T(0);
    for (std::int64_t oh = out_rows.begin; oh < out_rows.end; ++oh) {
      const Span rows = window(oh, g.kernel_h, g.stride_h, g.pad_h, g.height);
      const T* row = go + oh * g.out_width;
      for (std::int64_t ow = out_cols.begin; ow < out_cols.end; ++ow) {
        if (ow < g.mid_begin || ow >= g.mid_end) sum += avg_share(g, row[ow], rows, ow);
      }
      const std::int64_t lo = out_cols.begin > g.mid_begin ? out_cols.begin : g.mid_begin;
      const std::int64_t hi = out_cols.end < g.mid_end ? out_cols.end : g.mid_end;
      for (std::int64_t ow = hi - 1; ow >= lo; --ow) sum += avg_share(g, row[ow], rows, ow);
    }
    grad_in[i] = sum;
  });
}

void check_contiguous(const char* op, const Tensor& out) {
  check_argument(out.is_contiguous(), op, ": the output of shape ", out.shape(),
                 " must be contiguous");
}

}  // namespace

void CudaBackend::max_pool2d_forward(const Tensor& input, const Pool2dParams& p, Tensor& out,
                                     Tensor& indices) {
  check_contiguous("max_pool2d", out);
  check_contiguous("max_pool2d", indices);
  const Tensor x = input.contiguous();
  const DeviceContext& ctx = context(out);
  const PoolGeometry g = pool_geometry(x, out, p);
  dispatch_floating(x.dtype(), "max_pool2d", [&]<typename T>() {
    max_pool_forward_typed<T>(ctx, g, device_ptr<const T>(x), device_ptr<T>(out),
                              device_ptr<std::int64_t>(indices));
  });
}

// Indices not made by max_pool2d_forward for this input are refused, as on the CPU: that
// check reads a flag back, the one synchronization of this op.
void CudaBackend::max_pool2d_backward(const Tensor& grad_out, const Tensor& indices,
                                      Tensor& grad_input) {
  const char* op = "max_pool2d_backward";
  check_contiguous(op, grad_input);
  const Tensor g = grad_out.contiguous();
  const Tensor idx = indices.contiguous();
  const DeviceContext& ctx = context(grad_input);
  const std::int64_t planes = grad_input.size(0) * grad_input.size(1);
  const std::int64_t height = grad_input.size(2), width = grad_input.size(3);
  const std::int64_t out_plane = g.size(2) * g.size(3);
  const std::size_t bytes =
      static_cast<std::size_t>(grad_input.numel()) * dtype_size(grad_input.dtype());
  ORTHO_CUDA_CHECK(cudaMemsetAsync(grad_input.raw_data(), 0, bytes, ctx.stream));
  Workspace flag(ctx, sizeof(int));
  int* invalid = static_cast<int*>(flag.data());
  ORTHO_CUDA_CHECK(cudaMemsetAsync(invalid, 0, sizeof(int), ctx.stream));
  dispatch_floating(g.dtype(), op, [&]<typename T>() {
    max_pool_backward_typed<T>(ctx, planes, out_plane, height * width, device_ptr<const T>(g),
                               device_ptr<const std::int64_t>(idx), device_ptr<T>(grad_input),
                               invalid);
  });
  int host_invalid = 0;
  ORTHO_CUDA_CHECK(
      cudaMemcpyAsync(&host_invalid, invalid, sizeof(int), cudaMemcpyDeviceToHost, ctx.stream));
  ORTHO_CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
  check_argument(host_invalid == 0, op, ": an index lies outside the input plane of ", height,
                 " x ", width, " (input shape ", grad_input.shape(), ")");
}

void CudaBackend::avg_pool2d_forward(const Tensor& input, const Pool2dParams& p, Tensor& out) {
  check_contiguous("avg_pool2d", out);
  const Tensor x = input.contiguous();
  const DeviceContext& ctx = context(out);
  const PoolGeometry g = pool_geometry(x, out, p);
  dispatch_floating(x.dtype(), "avg_pool2d", [&]<typename T>() {
    avg_pool_forward_typed<T>(ctx, g, device_ptr<const T>(x), device_ptr<T>(out));
  });
}

void CudaBackend::avg_pool2d_backward(const Tensor& grad_out, const Pool2dParams& p,
                                      Tensor& grad_input) {
  check_contiguous("avg_pool2d_backward", grad_input);
  const Tensor g = grad_out.contiguous();
  const DeviceContext& ctx = context(grad_input);
  const PoolGeometry geo = pool_geometry(grad_input, g, p);
  dispatch_floating(g.dtype(), "avg_pool2d_backward", [&]<typename T>() {
    avg_pool_backward_typed<T>(ctx, geo, device_ptr<const T>(g), device_ptr<T>(grad_input));
  });
}

}  // namespace ortho::cuda
