// Batched row-major gemm of the CUDA backend on cuBLAS: a row-major C (m x n) is a column-major
// C^T (n x m), and C^T = op(B)^T op(A)^T, so the operands swap and the transposition flags and
// leading dimensions go straight to cuBLAS; transposed views are never copied.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <optional>
#include <type_traits>

#include "core/device.h"
#include "core/dispatch.h"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"
#include "cuda/cuda_context.h"

namespace ortho::cuda {
namespace {

// Sets a cuBLAS math mode for one call and restores the previous one, so TF32 never leaks
// into later float32 work on the shared handle (which stays CUBLAS_PEDANTIC_MATH).
class MathModeScope {
 public:
  MathModeScope(cublasHandle_t handle, cublasMath_t mode) : handle_(handle) {
    ORTHO_CUBLAS_CHECK(cublasGetMathMode(handle_, &saved_));
    ORTHO_CUBLAS_CHECK(cublasSetMathMode(handle_, mode));
  }
  // Restoring a mode the handle already held cannot fail, and a destructor may not throw.
  ~MathModeScope() { static_cast<void>(cublasSetMathMode(handle_, saved_)); }
  MathModeScope(const MathModeScope&) = delete;
  MathModeScope& operator=(const MathModeScope&) = delete;

 private:
  cublasHandle_t handle_;
  cublasMath_t saved_ = CUBLAS_PEDANTIC_MATH;
};

// Typed fronts of the 64-bit cuBLAS API (cuBLAS 12+), so no size needs to fit an int.
void gemm_one(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, std::int64_t m,
              std::int64_t n, std::int64_t k, const float* alpha, const float* a, std::int64_t lda,
              const float* b, std::int64_t ldb, const float* beta, float* c, std::int64_t ldc) {
  ORTHO_CUBLAS_CHECK(cublasSgemm_64(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc));
}
void gemm_one(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, std::int64_t m,
              std::int64_t n, std::int64_t k, const double* alpha, const double* a,
              std::int64_t lda, const double* b, std::int64_t ldb, const double* beta, double* c,
              std::int64_t ldc) {
  ORTHO_CUBLAS_CHECK(cublasDgemm_64(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc));
}
void gemm_strided(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, std::int64_t m,
                  std::int64_t n, std::int64_t k, const float* alpha, const float* a,
                  std::int64_t lda, std::int64_t stride_a, const float* b, std::int64_t ldb,
                  std::int64_t stride_b, const float* beta, float* c, std::int64_t ldc,
                  std::int64_t stride_c, std::int64_t batch) {
  ORTHO_CUBLAS_CHECK(cublasSgemmStridedBatched_64(h, ta, tb, m, n, k, alpha, a, lda, stride_a, b,
                                                  ldb, stride_b, beta, c, ldc, stride_c, batch));
}
void gemm_strided(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, std::int64_t m,
                  std::int64_t n, std::int64_t k, const double* alpha, const double* a,
                  std::int64_t lda, std::int64_t stride_a, const double* b, std::int64_t ldb,
                  std::int64_t stride_b, const double* beta, double* c, std::int64_t ldc,
                  std::int64_t stride_c, std::int64_t batch) {
  ORTHO_CUBLAS_CHECK(cublasDgemmStridedBatched_64(h, ta, tb, m, n, k, alpha, a, lda, stride_a, b,
                                                  ldb, stride_b, beta, c, ldc, stride_c, batch));
}
// Column-major C = alpha * C (m x n), in place (cuBLAS geam's in-place mode: A = B = C).
void scale_in_place(cublasHandle_t h, std::int64_t m, std::int64_t n, const float* alpha, float* c,
                    std::int64_t ldc) {
  const float zero = 0.0f;
  ORTHO_CUBLAS_CHECK(
      cublasSgeam_64(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, alpha, c, ldc, &zero, c, ldc, c, ldc));
}
void scale_in_place(cublasHandle_t h, std::int64_t m, std::int64_t n, const double* alpha,
                    double* c, std::int64_t ldc) {
  const double zero = 0.0;
  ORTHO_CUBLAS_CHECK(
      cublasDgeam_64(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, alpha, c, ldc, &zero, c, ldc, c, ldc));
}

// k == 0: op(A) op(B) is the zero matrix, so C = beta * C, and C = 0 when beta == 0 (C is not
// read then, as in BLAS), matching the CPU backend without relying on cuBLAS's k == 0 path.
template <typename T>
void scale_c(const DeviceContext& ctx, const GemmDesc& d, T beta, T* c) {
  const std::size_t row_bytes = static_cast<std::size_t>(d.n) * sizeof(T);
  const std::size_t pitch = static_cast<std::size_t>(d.ldc) * sizeof(T);
  for (std::int64_t i = 0; i < d.batch; ++i) {
    T* ci = c + i * d.stride_c;
    if (beta == T(0)) {
      ORTHO_CUDA_CHECK(
          cudaMemset2DAsync(ci, pitch, 0, row_bytes, static_cast<std::size_t>(d.m), ctx.stream));
    } else {
      scale_in_place(ctx.cublas, d.n, d.m, &beta, ci, d.ldc);  // C^T is n x m column-major
    }
  }
}

template <typename T>
void gemm_typed(const DeviceContext& ctx, const GemmDesc& d, const T* a, const T* b, T* c) {
  const T alpha = static_cast<T>(d.alpha);
  const T beta = static_cast<T>(d.beta);
  if (d.k == 0) {
    scale_c(ctx, d, beta, c);
    return;
  }
  // The row-major B buffer read column-major is B^T when !trans_b (op N gives op(B)^T) and the
  // stored (n x k) matrix when trans_b (op T gives it back transposed): the flag carries over.
  const cublasOperation_t op_b = d.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = d.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  std::optional<MathModeScope> tf32;
  if constexpr (std::is_same_v<T, float>) {
    if (allow_tf32()) tf32.emplace(ctx.cublas, CUBLAS_TF32_TENSOR_OP_MATH);
  }
  // Column-major C^T (n x m) = op(B)^T (n x k) * op(A)^T (k x m).
  if (d.batch == 1) {
    gemm_one(ctx.cublas, op_b, op_a, d.n, d.m, d.k, &alpha, b, d.ldb, a, d.lda, &beta, c, d.ldc);
  } else {
    gemm_strided(ctx.cublas, op_b, op_a, d.n, d.m, d.k, &alpha, b, d.ldb, d.stride_b, a, d.lda,
                 d.stride_a, &beta, c, d.ldc, d.stride_c, d.batch);
  }
}

}  // namespace

void CudaBackend::gemm(const GemmDesc& d, const Tensor& a, const Tensor& b, Tensor& c) {
  if (d.batch <= 0 || d.m <= 0 || d.n <= 0) return;
  const DeviceContext& ctx = context(c);
  dispatch_floating(c.dtype(), "gemm", [&]<typename T>() {
    gemm_typed<T>(ctx, d, static_cast<const T*>(a.raw_data()), static_cast<const T*>(b.raw_data()),
                  static_cast<T*>(c.raw_data()));
  });
}

}  // namespace ortho::cuda
