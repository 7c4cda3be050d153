// Dense linear algebra of the CUDA backend: cuSOLVER (QR, eigh, SVD, LU solve and inverse) and
// cuBLAS trsm, one library call per matrix of a contiguous batch, all queued on the device's
// stream. cuSOLVER is column-major and a row-major (r x c) buffer read column-major is the
// (c x r) transpose, so each routine either works on that transpose or transposes on the device
// (cuda_linalg_kernels.h); each states its plan. The failures the CPU backend reports (NaN
// input, singular matrix, no convergence) are read back once per call, after the whole batch.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "core/dispatch.h"
#include "core/error.h"
#include "core/matrix_batch.h"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"
#include "cuda/cuda_context.h"
#include "cuda/cuda_linalg_kernels.h"

namespace ortho::cuda {
namespace {

// Typed fronts of the cuSOLVER and cuBLAS routines (status checked); the *_lwork queries give
// the workspace in elements of T.
int geqrf_lwork(cusolverDnHandle_t h, int m, int n, float* a, int lda) {
  int lwork = 0;
  ORTHO_CUSOLVER_CHECK(cusolverDnSgeqrf_bufferSize(h, m, n, a, lda, &lwork));
  return lwork;
}
int geqrf_lwork(cusolverDnHandle_t h, int m, int n, double* a, int lda) {
  int lwork = 0;
  ORTHO_CUSOLVER_CHECK(cusolverDnDgeqrf_bufferSize(h, m, n, a, lda, &lwork));
  return lwork;
}
void geqrf(cusolverDnHandle_t h, int m, int n, float* a, int lda, float* tau, float* work,
           int lwork, int* info) {
  ORTHO_CUSOLVER_CHECK(cusolverDnSgeqrf(h, m, n, a, lda, tau, work, lwork, info));
}
void geqrf(cusolverDnHandle_t h, int m, int n, double* a, int lda, double* tau, double* work,
           int lwork, int* info) {
  ORTHO_CUSOLVER_CHECK(cusolverDnDgeqrf(h, m, n, a, lda, tau, work, lwork, info));
}
int orgqr_lwork(cusolverDnHandle_t h, int m, int n, int k, const float* a, int lda,
                const float* tau) {
  int lwork = 0;
  ORTHO_CUSOLVER_CHECK(cusolverDnSorgqr_bufferSize(h, m, n, k, a, lda, tau, &lwork));
  return lwork;
}
int orgqr_lwork(cusolverDnHandle_t h, int m, int n, int k, const double* a, int lda,
                const double* tau) {
  int lwork = 0;
  ORTHO_CUSOLVER_CHECK(cusolverDnDorgqr_bufferSize(h, m, n, k, a, lda, tau, &lwork));
  return lwork;
}
void orgqr(cusolverDnHandle_t h, int m, int n, int k, float* a, int lda, const float* tau,
           float* work, int lwork, int* info) {
  ORTHO_CUSOLVER_CHECK(cusolverDnSorgqr(h, m, n, k, a, lda, tau, work, lwork, info));
}
void orgqr(cusolverDnHandle_t h, int m, int n, int k, double* a, int lda, const double* tau,
           double* work, int lwork, int* info) {
  ORTHO_CUSOLVER_CHECK(cusolverDnDorgqr(h, m, n, k, a, lda, tau, work, lwork, info));
}
int syevd_lwork(cusolverDnHandle_t h, cublasFillMode_t uplo, int n, const float* a, int lda,
                const float* w) {
  int lwork = 0;
  ORTHO_CUSOLVER_CHECK(
      cusolverDnSsyevd_bufferSize(h, CUSOLVER_EIG_MODE_VECTOR, uplo, n, a, lda, w, &lwork));
  return lwork;
}
int syevd_lwork(cusolverDnHandle_t h, cublasFillMode_t uplo, int n, const double* a, int lda,
                const double* w) {
  int lwork = 0;
  ORTHO_CUSOLVER_CHECK(
      cusolverDnDsyevd_bufferSize(h, CUSOLVER_EIG_MODE_VECTOR, uplo, n, a, lda, w, &lwork));
  return lwork;
}
void syevd(cusolverDnHandle_t h, cublasFillMode_t uplo, int n, float* a, int lda, float* w,
           float* work, int lwork, int* info) {
  ORTHO_CUSOLVER_CHECK(
      cusolverDnSsyevd(h, CUSOLVER_EIG_MODE_VECTOR, uplo, n, a, lda, w, work, lwork, info));
}
void syevd(cusolverDnHandle_t h, cublasFillMode_t uplo, int n, double* a, int lda, double* w,
           double* work, int lwork, int* info) {
  ORTHO_CUSOLVER_CHECK(
      cusolverDnDsyevd(h, CUSOLVER_EIG_MODE_VECTOR, uplo, n, a, lda, w, work, lwork, info));
}
template <typename T>
int gesvd_lwork(cusolverDnHandle_t h, int m, int n) {
  int lwork = 0;
  if constexpr (std::is_same_v<T, float>) {
    ORTHO_CUSOLVER_CHECK(cusolverDnSgesvd_bufferSize(h, m, n, &lwork));
  } else {
    ORTHO_CUSOLVER_CHECK(cusolverDnDgesvd_bufferSize(h, m, n, &lwork));
  }
  return lwork;
}
// Thin SVD (jobu = jobvt = 'S') of a column-major m x n matrix, m >= n; rwork (the unconverged
// superdiagonal) is not wanted, the info says enough.
constexpr signed char kThin = 'S';
void gesvd(cusolverDnHandle_t h, int m, int n, float* a, int lda, float* s, float* u, int ldu,
           float* vt, int ldvt, float* work, int lwork, int* info) {
  ORTHO_CUSOLVER_CHECK(cusolverDnSgesvd(h, kThin, kThin, m, n, a, lda, s, u, ldu, vt, ldvt, work,
                                        lwork, nullptr, info));
}
void gesvd(cusolverDnHandle_t h, int m, int n, double* a, int lda, double* s, double* u, int ldu,
           double* vt, int ldvt, double* work, int lwork, int* info) {
  ORTHO_CUSOLVER_CHECK(cusolverDnDgesvd(h, kThin, kThin, m, n, a, lda, s, u, ldu, vt, ldvt, work,
                                        lwork, nullptr, info));
}
int getrf_lwork(cusolverDnHandle_t h, int n, float* a, int lda) {
  int lwork = 0;
  ORTHO_CUSOLVER_CHECK(cusolverDnSgetrf_bufferSize(h, n, n, a, lda, &lwork));
  return lwork;
}
int getrf_lwork(cusolverDnHandle_t h, int n, double* a, int lda) {
  int lwork = 0;
  ORTHO_CUSOLVER_CHECK(cusolverDnDgetrf_bufferSize(h, n, n, a, lda, &lwork));
  return lwork;
}
void getrf(cusolverDnHandle_t h, int n, float* a, int lda, float* work, int* ipiv, int* info) {
  ORTHO_CUSOLVER_CHECK(cusolverDnSgetrf(h, n, n, a, lda, work, ipiv, info));
}
void getrf(cusolverDnHandle_t h, int n, double* a, int lda, double* work, int* ipiv, int* info) {
  ORTHO_CUSOLVER_CHECK(cusolverDnDgetrf(h, n, n, a, lda, work, ipiv, info));
}
void getrs(cusolverDnHandle_t h, cublasOperation_t trans, int n, int nrhs, const float* lu, int lda,
           const int* ipiv, float* b, int ldb, int* info) {
  ORTHO_CUSOLVER_CHECK(cusolverDnSgetrs(h, trans, n, nrhs, lu, lda, ipiv, b, ldb, info));
}
void getrs(cusolverDnHandle_t h, cublasOperation_t trans, int n, int nrhs, const double* lu,
           int lda, const int* ipiv, double* b, int ldb, int* info) {
  ORTHO_CUSOLVER_CHECK(cusolverDnDgetrs(h, trans, n, nrhs, lu, lda, ipiv, b, ldb, info));
}
// Column-major B <- op(A)^-1 B (left) or B op(A)^-1 (right), A non-unit triangular; the 64-bit
// cuBLAS API, so no size needs to fit an int.
void trsm(cublasHandle_t h, cublasSideMode_t side, cublasFillMode_t uplo, std::int64_t m,
          std::int64_t n, const float* a, std::int64_t lda, float* b, std::int64_t ldb) {
  const float one = 1.0f;
  ORTHO_CUBLAS_CHECK(
      cublasStrsm_64(h, side, uplo, CUBLAS_OP_N, CUBLAS_DIAG_NON_UNIT, m, n, &one, a, lda, b, ldb));
}
void trsm(cublasHandle_t h, cublasSideMode_t side, cublasFillMode_t uplo, std::int64_t m,
          std::int64_t n, const double* a, std::int64_t lda, double* b, std::int64_t ldb) {
  const double one = 1.0;
  ORTHO_CUBLAS_CHECK(
      cublasDtrsm_64(h, side, uplo, CUBLAS_OP_N, CUBLAS_DIAG_NON_UNIT, m, n, &one, a, lda, b, ldb));
}

// The cuSOLVER routines used here take int sizes, leading dimensions and workspace sizes.
void check_solver_size(const char* op, std::int64_t rows, std::int64_t cols) {
  check_argument(rows * cols <= std::numeric_limits<int>::max(), op, ": a ", rows, " x ", cols,
                 " matrix is too large for cuSOLVER");
}

template <typename T>
T* ptr(const Tensor& t) {
  return static_cast<T*>(t.raw_data());
}

// Device scratch of `count` elements of T from the caching allocator, freed at scope exit
// (stream order makes reuse by later launches safe).
template <typename T>
class Scratch {
 public:
  Scratch(const DeviceContext& ctx, std::int64_t count)
      : ws_(ctx, static_cast<std::size_t>(std::max<std::int64_t>(count, 0)) * sizeof(T)) {}
  T* get() const { return static_cast<T*>(ws_.data()); }

 private:
  Workspace ws_;
};

template <typename T>
void copy_device(const DeviceContext& ctx, const T* src, T* dst, std::int64_t count) {
  ORTHO_CUDA_CHECK(cudaMemcpyAsync(dst, src, static_cast<std::size_t>(count) * sizeof(T),
                                   cudaMemcpyDeviceToDevice, ctx.stream));
}

// The per-matrix outcome of one call, on the device: NaN flags, the infos of the factorizing
// calls, and one slot for the infos of follow-up calls (orgqr, getrs) that can only flag a bad
// argument, which cuSOLVER also returns as CUSOLVER_STATUS_INVALID_VALUE (thrown by the check
// macros). Zeroed on the stream; read back once, after the batch: the call's only host sync.
class BatchStatus {
 public:
  BatchStatus(const DeviceContext& ctx, std::int64_t batch)
      : ctx_(ctx), batch_(batch), buffer_(ctx, 2 * batch + 1) {
    ORTHO_CUDA_CHECK(cudaMemsetAsync(
        buffer_.get(), 0, static_cast<std::size_t>(2 * batch + 1) * sizeof(int), ctx.stream));
  }
  int* nan_flags() const { return buffer_.get(); }
  int* info() const { return buffer_.get() + batch_; }
  int* follow_up_info() const { return buffer_.get() + 2 * batch_; }

  // Throws, like the CPU backend, for the first matrix of the batch that failed: a NaN input
  // before a positive info, described by `describe(info)` (singular, no convergence).
  template <typename Describe>
  void throw_first_failure(const char* op, Describe&& describe) const {
    std::vector<int> host(static_cast<std::size_t>(2 * batch_));
    ORTHO_CUDA_CHECK(cudaMemcpyAsync(host.data(), buffer_.get(), host.size() * sizeof(int),
                                     cudaMemcpyDeviceToHost, ctx_.stream));
    ORTHO_CUDA_CHECK(cudaStreamSynchronize(ctx_.stream));
    for (std::int64_t i = 0; i < batch_; ++i) {
      const int nan = host[static_cast<std::size_t>(i)];
      const int info = host[static_cast<std::size_t>(batch_ + i)];
      if (nan == 0 && info == 0) continue;
      const std::string where =
          batch_ > 1 ? error_message(" in matrix ", i, " of the batch") : std::string();
      if (nan != 0) throw std::runtime_error(error_message(op, ": the input holds NaN", where));
      if (info < 0) {
        throw std::runtime_error(error_message(op, ": cuSOLVER rejected argument ", -info, where));
      }
      throw std::runtime_error(error_message(op, ": ", describe(info), where));
    }
  }

 private:
  const DeviceContext& ctx_;
  std::int64_t batch_;
  Scratch<int> buffer_;
};

std::string singular_message(int info) {
  return error_message("matrix is singular (U(i,i) = 0 at i = ", info - 1, ")");
}

// Householder QR as on the CPU (LAPACKE row-major also factors the column-major A):
//   w_b = A_b column-major (m x n, ld m)            transpose of the row-major input
//   geqrf(m, n, w_b, ld m)                          R in w_b's upper triangle, reflectors below
//   r_b[i][j] = j >= i ? w_b(i, j) : 0, i < k       row-major (k x n), read before orgqr
//   orgqr(m, k, k, w_b, ld m)                       Q = w_b's first k columns (m x k, ld m)
//   q_b = transpose of those columns                row-major (m x k)
// No sign normalization: R's diagonal keeps the Householder signs, as LAPACK's on the CPU.
template <typename T>
void qr_typed(const DeviceContext& ctx, const MatrixBatch& mb, const T* a, T* q, T* r) {
  const std::int64_t batch = mb.batch, m = mb.rows, n = mb.cols, k = std::min(m, n);
  const int im = static_cast<int>(m), in = static_cast<int>(n), ik = static_cast<int>(k);
  BatchStatus status(ctx, batch);
  flag_nan(ctx, a, batch, m, n, /*lower_only=*/false, status.nan_flags());
  Scratch<T> w(ctx, batch * m * n), tau(ctx, batch * k);
  transpose_matrices(ctx, a, m * n, w.get(), m * n, batch, m, n);
  const int lwork = std::max(geqrf_lwork(ctx.cusolver, im, in, w.get(), im),
                             orgqr_lwork(ctx.cusolver, im, ik, ik, w.get(), im, tau.get()));
  Scratch<T> work(ctx, lwork);
  for (std::int64_t i = 0; i < batch; ++i) {
    geqrf(ctx.cusolver, im, in, w.get() + i * m * n, im, tau.get() + i * k, work.get(), lwork,
          status.info() + i);
  }
  upper_trapezoid(ctx, w.get(), m * n, m, r, batch, k, n);
  for (std::int64_t i = 0; i < batch; ++i) {
    orgqr(ctx.cusolver, im, ik, ik, w.get() + i * m * n, im, tau.get() + i * k, work.get(), lwork,
          status.follow_up_info());
  }
  // Q's column-major (m x k) block is the row-major (k x m) matrix whose transpose is q_b.
  transpose_matrices(ctx, w.get(), m * n, q, m * k, batch, k, m);
  status.throw_first_failure(
      "qr", [](int info) { return error_message("cuSOLVER failed with info ", info); });
}

// Symmetric eigendecomposition (syevd, eigenvalues ascending), the call the CPU's LAPACKE makes:
//   z_b = A_b column-major (n x n, ld n)            transpose of the row-major input
//   syevd(uplo LOWER, z_b)                          reads A's lower triangle, as the CPU's 'L'
//                                                   -> w_b ascending, eigenvector j in column j
//   v_b = z_b read back row-major                   transpose: v_b[i][j] = z_b(i, j)
// Eigenvector signs are cuSOLVER's; the CPU does not normalize LAPACK's either (the same call on
// the same column-major matrix keeps the two as close as the algorithms allow).
template <typename T>
void eigh_typed(const DeviceContext& ctx, const MatrixBatch& mb, const T* a, T* w, T* v) {
  const std::int64_t batch = mb.batch, n = mb.rows;
  const int in = static_cast<int>(n);
  const cublasFillMode_t uplo = CUBLAS_FILL_MODE_LOWER;
  BatchStatus status(ctx, batch);
  flag_nan(ctx, a, batch, n, n, /*lower_only=*/true, status.nan_flags());
  Scratch<T> z(ctx, batch * n * n);
  transpose_matrices(ctx, a, n * n, z.get(), n * n, batch, n, n);
  const int lwork = syevd_lwork(ctx.cusolver, uplo, in, z.get(), in, w);
  Scratch<T> work(ctx, lwork);
  for (std::int64_t i = 0; i < batch; ++i) {
    syevd(ctx.cusolver, uplo, in, z.get() + i * n * n, in, w + i * n, work.get(), lwork,
          status.info() + i);
  }
  transpose_matrices(ctx, z.get(), n * n, v, n * n, batch, n, n);
  status.throw_first_failure("eigh", [](int info) {
    return error_message("the eigenvalue algorithm did not converge (cuSOLVER info ", info, ")");
  });
}

// Thin SVD A = U diag(s) Vh, s descending; gesvd needs rows >= cols (column-major).
//   m <= n: the row-major buffer read column-major is C = A^T (n x m, n >= m). gesvd(C) gives
//           C = U' S V'^T, so A = V' S U'^T: u = V', vh = U'^T. gesvd's column-major V'^T
//           (m x m, ld m) is row-major V' and its column-major U' (n x m, ld n) is row-major
//           U'^T, so they are written straight into u and vh: no transpose at all.
//   m > n:  x_b = A_b column-major (m x n, ld m); gesvd(x_b) gives column-major U (m x n, ld m)
//           and V^T (n x n, ld n) in scratch, each transposed into the row-major u and vh.
// Singular vector signs are cuSOLVER's; the CPU does not normalize LAPACK's either.
template <typename T>
void svd_typed(const DeviceContext& ctx, const MatrixBatch& mb, const T* a, T* u, T* s, T* vh) {
  const std::int64_t batch = mb.batch, m = mb.rows, n = mb.cols, k = std::min(m, n);
  const int im = static_cast<int>(m), in = static_cast<int>(n), ik = static_cast<int>(k);
  BatchStatus status(ctx, batch);
  flag_nan(ctx, a, batch, m, n, /*lower_only=*/false, status.nan_flags());
  Scratch<T> x(ctx, batch * m * n);
  if (m <= n) {
    copy_device(ctx, a, x.get(), batch * m * n);
    const int lwork = gesvd_lwork<T>(ctx.cusolver, in, im);
    Scratch<T> work(ctx, lwork);
    for (std::int64_t i = 0; i < batch; ++i) {
      gesvd(ctx.cusolver, in, im, x.get() + i * m * n, in, s + i * k, vh + i * k * n, in,
            u + i * m * k, im, work.get(), lwork, status.info() + i);
    }
  } else {
    transpose_matrices(ctx, a, m * n, x.get(), m * n, batch, m, n);
    Scratch<T> uc(ctx, batch * m * k), vtc(ctx, batch * k * n);
    const int lwork = gesvd_lwork<T>(ctx.cusolver, im, in);
    Scratch<T> work(ctx, lwork);
    for (std::int64_t i = 0; i < batch; ++i) {
      gesvd(ctx.cusolver, im, in, x.get() + i * m * n, im, s + i * k, uc.get() + i * m * k, im,
            vtc.get() + i * k * n, ik, work.get(), lwork, status.info() + i);
    }
    // Column-major U (m x k) is row-major (k x m); column-major V^T (k x n) is row-major (n x k).
    transpose_matrices(ctx, uc.get(), m * k, u, m * k, batch, k, m);
    transpose_matrices(ctx, vtc.get(), k * n, vh, k * n, batch, n, k);
  }
  status.throw_first_failure("svd", [](int info) {
    return error_message("the SVD did not converge (cuSOLVER info ", info, ")");
  });
}

// LU factors of column-major A_b (the transposed row-major buffer) in `lu`, pivots in `ipiv`:
// partial pivoting over A's rows, as LAPACK's getrf on the CPU, so the same zero pivot is found.
template <typename T>
void lu_factor_batch(const DeviceContext& ctx, const T* a, std::int64_t batch, std::int64_t n,
                     T* lu, int* ipiv, const BatchStatus& status) {
  const int in = static_cast<int>(n);
  transpose_matrices(ctx, a, n * n, lu, n * n, batch, n, n);
  const int lwork = getrf_lwork(ctx.cusolver, in, lu, in);
  Scratch<T> work(ctx, lwork);
  for (std::int64_t i = 0; i < batch; ++i) {
    getrf(ctx.cusolver, in, lu + i * n * n, in, work.get(), ipiv + i * n, status.info() + i);
  }
}

// A X = B with row-major B and X (n x k):
//   lu_b = LU of column-major A_b (see lu_factor_batch)
//   y_b  = B_b column-major (n x k, ld n): B's transpose; for k == 1 the layouts agree, so x
//          itself holds it
//   getrs(N, lu_b, y_b) -> column-major X_b, transposed back into row-major x_b
template <typename T>
void solve_typed(const DeviceContext& ctx, std::int64_t batch, std::int64_t n, std::int64_t k,
                 const T* a, const T* b, T* x) {
  const int in = static_cast<int>(n), ik = static_cast<int>(k);
  BatchStatus status(ctx, batch);
  flag_nan(ctx, a, batch, n, n, /*lower_only=*/false, status.nan_flags());
  flag_nan(ctx, b, batch, n, k, /*lower_only=*/false, status.nan_flags());
  Scratch<T> lu(ctx, batch * n * n);
  Scratch<int> ipiv(ctx, batch * n);
  lu_factor_batch(ctx, a, batch, n, lu.get(), ipiv.get(), status);
  Scratch<T> columns(ctx, k == 1 ? 0 : batch * n * k);
  T* y = k == 1 ? x : columns.get();
  if (k == 1) {
    copy_device(ctx, b, x, batch * n);
  } else {
    transpose_matrices(ctx, b, n * k, y, n * k, batch, n, k);
  }
  for (std::int64_t i = 0; i < batch; ++i) {
    getrs(ctx.cusolver, CUBLAS_OP_N, in, ik, lu.get() + i * n * n, in, ipiv.get() + i * n,
          y + i * n * k, in, status.follow_up_info());
  }
  // Column-major X_b (n x k) is row-major (k x n), whose transpose is x_b.
  if (k != 1) transpose_matrices(ctx, y, n * k, x, n * k, batch, k, n);
  status.throw_first_failure("solve", singular_message);
}

// A^-1 from the LU of column-major A_b and getrs against the identity with op T: A^T Y = I
// gives Y = A^-T in column-major order, which is A^-1 in row-major order, written in place.
template <typename T>
void inverse_typed(const DeviceContext& ctx, std::int64_t batch, std::int64_t n, const T* a,
                   T* out) {
  const int in = static_cast<int>(n);
  BatchStatus status(ctx, batch);
  flag_nan(ctx, a, batch, n, n, /*lower_only=*/false, status.nan_flags());
  Scratch<T> lu(ctx, batch * n * n);
  Scratch<int> ipiv(ctx, batch * n);
  lu_factor_batch(ctx, a, batch, n, lu.get(), ipiv.get(), status);
  fill_identity(ctx, out, batch, n);
  for (std::int64_t i = 0; i < batch; ++i) {
    getrs(ctx.cusolver, CUBLAS_OP_T, in, in, lu.get() + i * n * n, in, ipiv.get() + i * n,
          out + i * n * n, in, status.follow_up_info());
  }
  status.throw_first_failure("inverse", singular_message);
}

// Triangular solve as CBLAS row-major does it: row-major X (rows x cols) is column-major X^T
// (cols x rows, ld cols) and row-major A is column-major A^T, so
//   left  (A X = B):  X^T A^T = B^T -> trsm(side RIGHT, m = cols, n = rows)
//   right (X A = B):  A^T X^T = B^T -> trsm(side LEFT,  m = cols, n = rows)
// with op N on A's buffer and the triangle flipped (A upper <=> A^T lower); only that triangle
// is read, as on the CPU. A zero a(i, i) is reported like the CPU's pre-check (no NaN check:
// BLAS has none).
template <typename T>
void solve_triangular_typed(const DeviceContext& ctx, std::int64_t batch, std::int64_t n,
                            std::int64_t rows, std::int64_t cols, const T* a, const T* b, T* x,
                            bool upper, bool left) {
  BatchStatus status(ctx, batch);
  find_zero_diagonal(ctx, a, batch, n, status.info());
  if (rows > 0 && cols > 0) {
    copy_device(ctx, b, x, batch * rows * cols);
    const cublasSideMode_t side = left ? CUBLAS_SIDE_RIGHT : CUBLAS_SIDE_LEFT;
    const cublasFillMode_t uplo = upper ? CUBLAS_FILL_MODE_LOWER : CUBLAS_FILL_MODE_UPPER;
    for (std::int64_t i = 0; i < batch; ++i) {
      trsm(ctx.cublas, side, uplo, cols, rows, a + i * n * n, n, x + i * rows * cols, cols);
    }
  }
  status.throw_first_failure("solve_triangular", singular_message);
}

}  // namespace

void CudaBackend::qr(const Tensor& a, Tensor& q, Tensor& r) {
  const MatrixBatch mb = matrix_batch(a);
  if (mb.batch == 0 || mb.rows == 0 || mb.cols == 0) return;
  check_solver_size("qr", mb.rows, mb.cols);
  const DeviceContext& ctx = context(a);
  dispatch_floating(a.dtype(), "qr", [&]<typename T>() {
    qr_typed<T>(ctx, mb, ptr<const T>(a), ptr<T>(q), ptr<T>(r));
  });
}

void CudaBackend::eigh(const Tensor& a, Tensor& eigenvalues, Tensor& eigenvectors) {
  const MatrixBatch mb = matrix_batch(a);
  if (mb.batch == 0 || mb.rows == 0) return;
  check_solver_size("eigh", mb.rows, mb.rows);
  const DeviceContext& ctx = context(a);
  dispatch_floating(a.dtype(), "eigh", [&]<typename T>() {
    eigh_typed<T>(ctx, mb, ptr<const T>(a), ptr<T>(eigenvalues), ptr<T>(eigenvectors));
  });
}

void CudaBackend::svd(const Tensor& a, Tensor& u, Tensor& s, Tensor& vh) {
  const MatrixBatch mb = matrix_batch(a);
  if (mb.batch == 0 || mb.rows == 0 || mb.cols == 0) return;
  check_solver_size("svd", mb.rows, mb.cols);
  const DeviceContext& ctx = context(a);
  dispatch_floating(a.dtype(), "svd", [&]<typename T>() {
    svd_typed<T>(ctx, mb, ptr<const T>(a), ptr<T>(u), ptr<T>(s), ptr<T>(vh));
  });
}

void CudaBackend::solve(const Tensor& a, const Tensor& b, Tensor& x) {
  const MatrixBatch mb = matrix_batch(a);
  const std::int64_t k = b.size(-1);
  if (mb.batch == 0 || mb.rows == 0 || k == 0) return;
  check_solver_size("solve", mb.rows, std::max(mb.rows, k));
  const DeviceContext& ctx = context(a);
  dispatch_floating(a.dtype(), "solve", [&]<typename T>() {
    solve_typed<T>(ctx, mb.batch, mb.rows, k, ptr<const T>(a), ptr<const T>(b), ptr<T>(x));
  });
}

void CudaBackend::solve_triangular(const Tensor& a, const Tensor& b, bool upper, bool left,
                                   Tensor& x) {
  const MatrixBatch mb = matrix_batch(a), mx = matrix_batch(x);
  if (mb.batch == 0 || mb.rows == 0) return;
  const DeviceContext& ctx = context(a);
  dispatch_floating(a.dtype(), "solve_triangular", [&]<typename T>() {
    solve_triangular_typed<T>(ctx, mb.batch, mb.rows, mx.rows, mx.cols, ptr<const T>(a),
                              ptr<const T>(b), ptr<T>(x), upper, left);
  });
}

void CudaBackend::inverse(const Tensor& a, Tensor& out) {
  const MatrixBatch mb = matrix_batch(a);
  if (mb.batch == 0 || mb.rows == 0) return;
  check_solver_size("inverse", mb.rows, mb.rows);
  const DeviceContext& ctx = context(a);
  dispatch_floating(a.dtype(), "inverse", [&]<typename T>() {
    inverse_typed<T>(ctx, mb.batch, mb.rows, ptr<const T>(a), ptr<T>(out));
  });
}

}  // namespace ortho::cuda
