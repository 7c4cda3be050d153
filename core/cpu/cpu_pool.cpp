// Max and average pooling kernels of the CPU backend over contiguous NCHW tensors. Each
// OpenMP iteration owns one (n, c) plane, so backward scatters never race.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/cpu/cpu_backend.h"
#include "core/dispatch.h"
#include "core/error.h"

namespace ortho::cpu {
namespace {

// N * C planes of height x width pooled into out_height x out_width.
struct PoolShape {
  std::int64_t planes, height, width, out_height, out_width;

  std::int64_t in_plane() const { return height * width; }
  std::int64_t out_plane() const { return out_height * out_width; }
};

PoolShape pool_shape(const Tensor& input, const Tensor& out) {
  return {input.size(0) * input.size(1), input.size(2), input.size(3), out.size(2), out.size(3)};
}

// The window of output position `o` along one axis, clipped to the unpadded input [0, size).
struct Span {
  std::int64_t begin, end;
};

Span window(std::int64_t o, std::int64_t kernel, std::int64_t stride, std::int64_t pad,
            std::int64_t size) {
  const std::int64_t start = o * stride - pad;
  return {std::max<std::int64_t>(start, 0), std::min(start + kernel, size)};
}

// Output columns whose windows lie wholly inside [0, width). Their rows are pooled a kernel
// tap at a time across all columns (vectorizable loops); the clipped border columns, and every
// column when the output row is narrower than the kernel (global pooling), go window by window.
Span interior_columns(const PoolShape& s, const Pool2dParams& p) {
  if (s.out_width < p.kernel_w) return {s.out_width, s.out_width};
  const std::int64_t begin = std::min((p.pad_w + p.stride_w - 1) / p.stride_w, s.out_width);
  const std::int64_t last = s.width + p.pad_w - p.kernel_w;  // start of the last full window
  const std::int64_t end = last < 0 ? 0 : std::min(last / p.stride_w + 1, s.out_width);
  return {begin, std::max(begin, end)};
}

// Calls fn(ow) for the output columns outside `mid`.
template <typename Fn>
void for_border_columns(const Span& mid, std::int64_t out_width, Fn&& fn) {
  for (std::int64_t ow = 0; ow < mid.begin; ++ow) fn(ow);
  for (std::int64_t ow = mid.end; ow < out_width; ++ow) fn(ow);
}

// Calls fn.template operator()<S>() with S the column stride when it is 1 or 2, else 0 (read
// at run time): a constant stride lets the compiler vectorize the strided tap loads.
template <typename Fn>
void dispatch_column_stride(std::int64_t stride, Fn&& fn) {
  if (stride == 1) return fn.template operator()<1>();
  if (stride == 2) return fn.template operator()<2>();
  fn.template operator()<0>();
}

// Padding is -inf, so only real elements compete; NaN wins, as in PyTorch, so it propagates.
// Bitwise | rather than || keeps the test branch-free: random data mispredicts branches.
template <typename T>
bool takes_max(T v, T best) {
  return (v > best) | std::isnan(v);
}

template <typename T>
void max_window(const T* in, const PoolShape& s, const Pool2dParams& p, const Span& rows,
                std::int64_t ow, T* out, std::int64_t* index) {
  const Span cols = window(ow, p.kernel_w, p.stride_w, p.pad_w, s.width);
  T best = -std::numeric_limits<T>::infinity();
  std::int64_t best_index = rows.begin * s.width + cols.begin;
  for (std::int64_t h = rows.begin; h < rows.end; ++h) {
    for (std::int64_t w = cols.begin; w < cols.end; ++w) {
      if (takes_max(in[h * s.width + w], best)) {
        best = in[h * s.width + w];
        best_index = h * s.width + w;
      }
    }
  }
  *out = best;
  *index = best_index;
}

// Taps are visited in the same (row, column) order as max_window, so ties resolve alike.
// Sizes are copied to locals: int64 index stores could otherwise alias them and block
// vectorization.
template <std::int64_t S, typename T>
void max_row_interior(const T* in, const PoolShape& s, const Pool2dParams& p, const Span& rows,
                      const Span& mid, T* out, std::int64_t* index) {
  const std::int64_t sw = S > 0 ? S : p.stride_w;
  const std::int64_t lo = mid.begin, hi = mid.end, width = s.width, pad = p.pad_w;
  const std::int64_t kernel = p.kernel_w, row_begin = rows.begin, row_end = rows.end;
  for (std::int64_t ow = lo; ow < hi; ++ow) {
    out[ow] = -std::numeric_limits<T>::infinity();
    index[ow] = row_begin * width + ow * sw - pad;
  }
  for (std::int64_t h = row_begin; h < row_end; ++h) {
    for (std::int64_t j = 0; j < kernel; ++j) {
      const std::int64_t base = h * width + j - pad;
      const T* tap = in + base;
#pragma omp simd
      for (std::int64_t ow = lo; ow < hi; ++ow) {
        const T v = tap[ow * sw];
        const bool take = takes_max(v, out[ow]);
        out[ow] = take ? v : out[ow];
        index[ow] = take ? base + ow * sw : index[ow];
      }
    }
  }
}

template <std::int64_t S, typename T>
void max_pool_plane(const T* in, T* out, std::int64_t* indices, const PoolShape& s,
                    const Pool2dParams& p) {
  const Span mid = interior_columns(s, p);
  for (std::int64_t oh = 0; oh < s.out_height; ++oh) {
    const Span rows = window(oh, p.kernel_h, p.stride_h, p.pad_h, s.height);
    T* o = out + oh * s.out_width;
    std::int64_t* idx = indices + oh * s.out_width;
    for_border_columns(mid, s.out_width,
                       [&](std::int64_t ow) { max_window(in, s, p, rows, ow, o + ow, idx + ow); });
    max_row_interior<S>(in, s, p, rows, mid, o, idx);
  }
}

// Divisor of one window: the full kernel area, or only its real (unpadded) elements.
std::int64_t avg_divisor(const Span& rows, const Span& cols, const Pool2dParams& p) {
  if (p.count_include_pad) return p.kernel_h * p.kernel_w;
  return (rows.end - rows.begin) * (cols.end - cols.begin);
}

// Interior columns span the full kernel width, so one divisor serves the whole row.
std::int64_t interior_divisor(const Span& rows, const Pool2dParams& p) {
  return avg_divisor(rows, {0, p.kernel_w}, p);
}

// A window as runs of contiguous elements: one per row, or a single run when the window
// spans whole rows (global pooling), so the inner loop is long enough to vectorize.
struct Runs {
  std::int64_t first, count, length;  // offset of the first run, runs, elements per run
};

Runs window_runs(const PoolShape& s, const Span& rows, const Span& cols) {
  if (cols.begin == 0 && cols.end == s.width) {
    return {rows.begin * s.width, 1, (rows.end - rows.begin) * s.width};
  }
  return {rows.begin * s.width + cols.begin, rows.end - rows.begin, cols.end - cols.begin};
}

// Window sums accumulate in double: this path also serves large (global) windows.
template <typename T>
T avg_window(const T* in, const PoolShape& s, const Pool2dParams& p, const Span& rows,
             std::int64_t ow) {
  const Span cols = window(ow, p.kernel_w, p.stride_w, p.pad_w, s.width);
  const Runs runs = window_runs(s, rows, cols);
  double sum = 0.0;
  for (std::int64_t r = 0; r < runs.count; ++r) {
    const T* run = in + runs.first + r * s.width;
#pragma omp simd reduction(+ : sum)
    for (std::int64_t i = 0; i < runs.length; ++i) sum += static_cast<double>(run[i]);
  }
  return static_cast<T>(sum / static_cast<double>(avg_divisor(rows, cols, p)));
}

template <std::int64_t S, typename T>
void avg_row_interior(const T* in, const PoolShape& s, const Pool2dParams& p, const Span& rows,
                      const Span& mid, T* out) {
  const std::int64_t sw = S > 0 ? S : p.stride_w;
  std::fill(out + mid.begin, out + mid.end, T(0));
  for (std::int64_t h = rows.begin; h < rows.end; ++h) {
    for (std::int64_t j = 0; j < p.kernel_w; ++j) {
      const T* tap = in + h * s.width + j - p.pad_w;
#pragma omp simd
      for (std::int64_t ow = mid.begin; ow < mid.end; ++ow) out[ow] += tap[ow * sw];
    }
  }
  const T inv = T(1) / static_cast<T>(interior_divisor(rows, p));
#pragma omp simd
  for (std::int64_t ow = mid.begin; ow < mid.end; ++ow) out[ow] *= inv;
}

template <std::int64_t S, typename T>
void avg_pool_plane(const T* in, T* out, const PoolShape& s, const Pool2dParams& p) {
  const Span mid = interior_columns(s, p);
  for (std::int64_t oh = 0; oh < s.out_height; ++oh) {
    const Span rows = window(oh, p.kernel_h, p.stride_h, p.pad_h, s.height);
    T* o = out + oh * s.out_width;
    for_border_columns(mid, s.out_width,
                       [&](std::int64_t ow) { o[ow] = avg_window(in, s, p, rows, ow); });
    avg_row_interior<S>(in, s, p, rows, mid, o);
  }
}

template <typename T>
void avg_backward_window(T g, const PoolShape& s, const Pool2dParams& p, const Span& rows,
                         std::int64_t ow, T* grad_in) {
  const Span cols = window(ow, p.kernel_w, p.stride_w, p.pad_w, s.width);
  const Runs runs = window_runs(s, rows, cols);
  const T share = g / static_cast<T>(avg_divisor(rows, cols, p));
  for (std::int64_t r = 0; r < runs.count; ++r) {
    T* run = grad_in + runs.first + r * s.width;
#pragma omp simd
    for (std::int64_t i = 0; i < runs.length; ++i) run[i] += share;
  }
}

// For one tap, the columns ow * stride + j are distinct, so the strided adds never collide.
template <std::int64_t S, typename T>
void avg_backward_row_interior(const T* g, const PoolShape& s, const Pool2dParams& p,
                               const Span& rows, const Span& mid, T* grad_in) {
  const std::int64_t sw = S > 0 ? S : p.stride_w;
  const T inv = T(1) / static_cast<T>(interior_divisor(rows, p));
  for (std::int64_t h = rows.begin; h < rows.end; ++h) {
    for (std::int64_t j = 0; j < p.kernel_w; ++j) {
      T* tap = grad_in + h * s.width + j - p.pad_w;
#pragma omp simd
      for (std::int64_t ow = mid.begin; ow < mid.end; ++ow) tap[ow * sw] += g[ow] * inv;
    }
  }
}

template <std::int64_t S, typename T>
void avg_pool_backward_plane(const T* grad_out, T* grad_in, const PoolShape& s,
                             const Pool2dParams& p) {
  std::fill(grad_in, grad_in + s.in_plane(), T(0));
  const Span mid = interior_columns(s, p);
  for (std::int64_t oh = 0; oh < s.out_height; ++oh) {
    const Span rows = window(oh, p.kernel_h, p.stride_h, p.pad_h, s.height);
    const T* g = grad_out + oh * s.out_width;
    for_border_columns(mid, s.out_width, [&](std::int64_t ow) {
      avg_backward_window(g[ow], s, p, rows, ow, grad_in);
    });
    avg_backward_row_interior<S>(g, s, p, rows, mid, grad_in);
  }
}

// Adds each output gradient to the input element its window's maximum came from; returns
// false when an index lies outside the plane (indices not made by max_pool2d_forward).
template <typename T>
bool max_pool_backward_plane(const T* grad_out, const std::int64_t* indices, T* grad_in,
                             std::int64_t out_plane, std::int64_t in_plane) {
  std::fill(grad_in, grad_in + in_plane, T(0));
  bool valid = true;
  for (std::int64_t j = 0; j < out_plane; ++j) {
    const std::int64_t i = indices[j];
    if (i < 0 || i >= in_plane) {
      valid = false;
      continue;
    }
    grad_in[i] += grad_out[j];
  }
  return valid;
}

}  // namespace

void CpuBackend::max_pool2d_forward(const Tensor& input, const Pool2dParams& p, Tensor& out,
                                    Tensor& indices) {
  const PoolShape s = pool_shape(input, out);
  const std::int64_t work = s.planes * s.out_plane() * p.kernel_h * p.kernel_w;
  dispatch_floating(input.dtype(), "max_pool2d", [&]<typename T>() {
    const T* in = input.data<T>();
    T* o = out.data<T>();
    std::int64_t* idx = indices.data<std::int64_t>();
    dispatch_column_stride(p.stride_w, [&]<std::int64_t S>() {
#pragma omp parallel for schedule(static) if (work >= kParallelGrain)
      for (std::int64_t plane = 0; plane < s.planes; ++plane) {
        max_pool_plane<S>(in + plane * s.in_plane(), o + plane * s.out_plane(),
                          idx + plane * s.out_plane(), s, p);
      }
    });
  });
}

void CpuBackend::max_pool2d_backward(const Tensor& grad_out, const Tensor& indices,
                                     Tensor& grad_input) {
  const PoolShape s = pool_shape(grad_input, grad_out);
  const std::int64_t work = s.planes * (s.in_plane() + s.out_plane());
  bool valid = true;
  dispatch_floating(grad_out.dtype(), "max_pool2d_backward", [&]<typename T>() {
    const T* g = grad_out.data<T>();
    const std::int64_t* idx = indices.data<std::int64_t>();
    T* gi = grad_input.data<T>();
    bool all_valid = true;
#pragma omp parallel for schedule(static) reduction(&& : all_valid) if (work >= kParallelGrain)
    for (std::int64_t plane = 0; plane < s.planes; ++plane) {
      const bool ok =
          max_pool_backward_plane(g + plane * s.out_plane(), idx + plane * s.out_plane(),
                                  gi + plane * s.in_plane(), s.out_plane(), s.in_plane());
      all_valid = all_valid && ok;
    }
    valid = all_valid;
  });
  check_argument(valid, "max_pool2d_backward: an index lies outside the input plane of ", s.height,
                 " x ", s.width, " (input shape ", grad_input.shape(), ")");
}

void CpuBackend::avg_pool2d_forward(const Tensor& input, const Pool2dParams& p, Tensor& out) {
  const PoolShape s = pool_shape(input, out);
  const std::int64_t work = s.planes * s.out_plane() * p.kernel_h * p.kernel_w;
  dispatch_floating(input.dtype(), "avg_pool2d", [&]<typename T>() {
    const T* in = input.data<T>();
    T* o = out.data<T>();
    dispatch_column_stride(p.stride_w, [&]<std::int64_t S>() {
#pragma omp parallel for schedule(static) if (work >= kParallelGrain)
      for (std::int64_t plane = 0; plane < s.planes; ++plane) {
        avg_pool_plane<S>(in + plane * s.in_plane(), o + plane * s.out_plane(), s, p);
      }
    });
  });
}

void CpuBackend::avg_pool2d_backward(const Tensor& grad_out, const Pool2dParams& p,
                                     Tensor& grad_input) {
  const PoolShape s = pool_shape(grad_input, grad_out);
  const std::int64_t work = s.planes * (s.in_plane() + s.out_plane() * p.kernel_h * p.kernel_w);
  dispatch_floating(grad_out.dtype(), "avg_pool2d_backward", [&]<typename T>() {
    const T* g = grad_out.data<T>();
    T* gi = grad_input.data<T>();
    dispatch_column_stride(p.stride_w, [&]<std::int64_t S>() {
#pragma omp parallel for schedule(static) if (work >= kParallelGrain)
      for (std::int64_t plane = 0; plane < s.planes; ++plane) {
        avg_pool_backward_plane<S>(g + plane * s.out_plane(), gi + plane * s.in_plane(), s, p);
      }
    });
  });
}

}  // namespace ortho::cpu
