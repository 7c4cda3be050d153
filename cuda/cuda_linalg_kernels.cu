// Layout and check kernels of the CUDA linear algebra: transposes between row-major tensors and
// column-major cuSOLVER matrices, R's trapezoid, identities, NaN flags and zero pivots.
#include "cuda/cuda_linalg_kernels.h"
#include "cuda/kernel_utils.cuh"

namespace ortho::cuda {

// One thread per destination element, so the writes are coalesced.
template <typename T>
void transpose_matrices(const DeviceContext& ctx, const T* src, std::int64_t src_stride, T* dst,
                        std::int64_t dst_stride, std::int64_t batch, std::int64_t rows,
                        std::int64_t cols) {
  const std::int64_t per_matrix = rows * cols;
  launch_index("transpose_matrices", ctx, batch * per_matrix, [=] __device__(std::int64_t t) {
    const std::int64_t b = t / per_matrix, rem = t % per_matrix;
    const std::int64_t j = rem / rows, i = rem % rows;  // dst_b[j][i] = src_b[i][j]
    dst[b * dst_stride + j * rows + i] = src[b * src_stride + i * cols + j];
  });
}

template <typename T>
void upper_trapezoid(const DeviceContext& ctx, const T* w, std::int64_t w_stride, std::int64_t ld,
                     T* r, std::int64_t batch, std::int64_t k, std::int64_t n) {
  const std::int64_t per_matrix = k * n;
  launch_index("upper_trapezoid", ctx, batch * per_matrix, [=] __device__(std::int64_t t) {
    const std::int64_t b = t / per_matrix, rem = t % per_matrix;
    const std::int64_t i = rem / n, j = rem % n;
    r[t] = j >= i ? w[b * w_stride + i + j * ld] : T(0);
  });
}

template <typename T>
void fill_identity(const DeviceContext& ctx, T* out, std::int64_t batch, std::int64_t n) {
  const std::int64_t per_matrix = n * n;
  launch_index("fill_identity", ctx, batch * per_matrix, [=] __device__(std::int64_t t) {
    const std::int64_t rem = t % per_matrix;
    out[t] = rem / n == rem % n ? T(1) : T(0);
  });
}

// Racing threads of one matrix all store the same 1, so no atomics are needed.
template <typename T>
void flag_nan(const DeviceContext& ctx, const T* a, std::int64_t batch, std::int64_t rows,
              std::int64_t cols, bool lower_only, int* flags) {
  const std::int64_t per_matrix = rows * cols;
  launch_index("flag_nan", ctx, batch * per_matrix, [=] __device__(std::int64_t t) {
    const std::int64_t rem = t % per_matrix;
    if (lower_only && rem % cols > rem / cols) return;
    const T v = a[t];
    if (v != v) flags[t / per_matrix] = 1;  // NaN is the only value unequal to itself
  });
}

// One thread per matrix walks its diagonal, so the first zero is found without atomics.
template <typename T>
void find_zero_diagonal(const DeviceContext& ctx, const T* a, std::int64_t batch, std::int64_t n,
                        int* info) {
  launch_index("find_zero_diagonal", ctx, batch, [=] __device__(std::int64_t b) {
    const T* m = a + b * n * n;
    int found = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      if (m[i * (n + 1)] == T(0)) {
        found = static_cast<int>(i + 1);
        break;
      }
    }
    info[b] = found;
  });
}

#define ORTHO_INSTANTIATE_LINALG_KERNELS(T)                                                        \
  template void transpose_matrices<T>(const DeviceContext&, const T*, std::int64_t, T*,            \
                                      std::int64_t, std::int64_t, std::int64_t, std::int64_t);     \
  template void upper_trapezoid<T>(const DeviceContext&, const T*, std::int64_t, std::int64_t, T*, \
                                   std::int64_t, std::int64_t, std::int64_t);                      \
  template void fill_identity<T>(const DeviceContext&, T*, std::int64_t, std::int64_t);            \
  template void flag_nan<T>(const DeviceContext&, const T*, std::int64_t, std::int64_t,            \
                            std::int64_t, bool, int*);                                             \
  template void find_zero_diagonal<T>(const DeviceContext&, const T*, std::int64_t, std::int64_t,  \
                                      int*);

ORTHO_INSTANTIATE_LINALG_KERNELS(float)
ORTHO_INSTANTIATE_LINALG_KERNELS(double)

#undef ORTHO_INSTANTIATE_LINALG_KERNELS

}  // namespace ortho::cuda
