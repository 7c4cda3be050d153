#pragma once

// Small device kernels of the CUDA linear algebra (cuda_linalg.cpp): layout changes between
// row-major tensors and cuSOLVER's column-major matrices, and the per-matrix checks whose
// failures the CPU backend reports (NaN input, zero pivot). All run on ctx.stream; every
// matrix b of a batch starts at base + b * stride. Instantiated for float and double.
#include <cstdint>

#include "cuda/cuda_context.h"

namespace ortho::cuda {

// dst_b = src_b^T: src_b is row-major (rows x cols), dst_b row-major (cols x rows), which is
// src_b in column-major order (ld = rows).
template <typename T>
void transpose_matrices(const DeviceContext& ctx, const T* src, std::int64_t src_stride, T* dst,
                        std::int64_t dst_stride, std::int64_t batch, std::int64_t rows,
                        std::int64_t cols);

// The row-major (k x n) upper trapezoid of the column-major matrices w_b (leading dimension
// ld): r_b[i][j] = j >= i ? w_b(i, j) : 0. r is contiguous (stride k * n).
template <typename T>
void upper_trapezoid(const DeviceContext& ctx, const T* w, std::int64_t w_stride, std::int64_t ld,
                     T* r, std::int64_t batch, std::int64_t k, std::int64_t n);

// out_b = I (n x n) for every matrix of a contiguous batch.
template <typename T>
void fill_identity(const DeviceContext& ctx, T* out, std::int64_t batch, std::int64_t n);

// flags[b] = 1 where row-major matrix a_b (rows x cols, contiguous batch) holds a NaN, in its
// lower triangle (j <= i) only with `lower_only`; other flags are left as they are.
template <typename T>
void flag_nan(const DeviceContext& ctx, const T* a, std::int64_t batch, std::int64_t rows,
              std::int64_t cols, bool lower_only, int* flags);

// info[b] = i + 1 for the first i with a_b(i, i) == 0 (LAPACK's convention for a singular
// triangular factor), else 0; a is a contiguous batch of n x n matrices.
template <typename T>
void find_zero_diagonal(const DeviceContext& ctx, const T* a, std::int64_t batch, std::int64_t n,
                        int* info);

}  // namespace ortho::cuda
