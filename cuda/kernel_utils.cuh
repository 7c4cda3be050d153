#pragma once

// Launch helpers shared by the CUDA kernels: grid sizing, strided element offsets, and the
// one templated kernel that every element-wise op (fill, copy, unary, binary, where, axpy)
// instantiates with its own device lambda.
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "cuda/cuda_check.h"
#include "cuda/cuda_context.h"

namespace ortho::cuda {

inline constexpr int kThreads = 256;
inline constexpr int kMaxDims = 8;

// Blocks for a grid-stride loop over n items; past the cap each thread takes several.
inline unsigned int blocks_for(std::int64_t n) {
  const std::int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned int>(std::clamp<std::int64_t>(blocks, 1, std::int64_t{1} << 20));
}

// Device pointer to a tensor's first element.
template <typename T>
T* device_ptr(const Tensor& t) {
  return static_cast<T*>(t.raw_data());
}

// Element offsets of N operands that share one shape (broadcast inputs have stride 0). Dims
// that are contiguous in every operand are merged and size-1 dims dropped, so most launches
// see rank 1 and pay one multiply per element.
template <int N>
struct StridedIndexer {
  int rank = 0;
  std::int64_t sizes[kMaxDims] = {};
  std::int64_t strides[N][kMaxDims] = {};

  __device__ void offsets(std::int64_t linear, std::int64_t (&out)[N]) const {
    if (rank <= 1) {
      for (int k = 0; k < N; ++k) out[k] = linear * strides[k][0];
      return;
    }
    for (int k = 0; k < N; ++k) out[k] = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const std::int64_t i = linear % sizes[d];
      linear /= sizes[d];
      for (int k = 0; k < N; ++k) out[k] += i * strides[k][d];
    }
  }
};

template <int N>
StridedIndexer<N> make_indexer(const Shape& shape,
                               const std::array<const std::vector<std::int64_t>*, N>& strides) {
  // Walk from the innermost dim outwards, merging dim d into the group inside it when every
  // operand steps over that group contiguously.
  std::vector<std::int64_t> sizes;
  std::vector<std::array<std::int64_t, N>> steps;
  for (std::int64_t d = shape.rank() - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    std::array<std::int64_t, N> s{};
    for (int k = 0; k < N; ++k) s[k] = (*strides[k])[static_cast<std::size_t>(d)];
    bool merge = !sizes.empty();
    for (int k = 0; merge && k < N; ++k) merge = s[k] == steps.back()[k] * sizes.back();
    if (merge) {
      sizes.back() *= shape[d];
    } else {
      sizes.push_back(shape[d]);
      steps.push_back(s);
    }
  }
  check_argument(sizes.size() <= kMaxDims, "CUDA: a strided operand of shape ", shape,
                 " has more than ", kMaxDims, " non-mergeable dimensions");
  StridedIndexer<N> ix;
  ix.rank = static_cast<int>(sizes.size());
  for (int d = 0; d < ix.rank; ++d) {
    const std::size_t from_inner = sizes.size() - 1 - static_cast<std::size_t>(d);
    ix.sizes[d] = sizes[from_inner];
    for (int k = 0; k < N; ++k) ix.strides[k][d] = steps[from_inner][k];
  }
  return ix;
}

template <int N, typename Fn>
__global__ void strided_kernel(std::int64_t n, StridedIndexer<N> ix, Fn fn) {
  const std::int64_t step = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += step) {
    std::int64_t off[N];
    ix.offsets(i, off);
    fn(off);
  }
}

// Runs fn(offsets) for every element of `shape`, offsets[k] being operand k's element offset
// (operand 0 is conventionally the output).
template <int N, typename Fn>
void launch_strided(const char* name, const DeviceContext& ctx, const Shape& shape,
                    const std::array<const std::vector<std::int64_t>*, N>& strides, Fn fn) {
  const std::int64_t n = shape.numel();
  if (n == 0) return;
  const StridedIndexer<N> ix = make_indexer<N>(shape, strides);
  strided_kernel<N><<<blocks_for(n), kThreads, 0, ctx.stream>>>(n, ix, fn);
  ORTHO_CUDA_CHECK_LAUNCH(name);
}

// Runs fn(i) for i in [0, n): a grid-stride loop for kernels that index on their own.
template <typename Fn>
__global__ void index_kernel(std::int64_t n, Fn fn) {
  const std::int64_t step = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += step) {
    fn(i);
  }
}

template <typename Fn>
void launch_index(const char* name, const DeviceContext& ctx, std::int64_t n, Fn fn) {
  if (n == 0) return;
  index_kernel<<<blocks_for(n), kThreads, 0, ctx.stream>>>(n, fn);
  ORTHO_CUDA_CHECK_LAUNCH(name);
}

}  // namespace ortho::cuda
