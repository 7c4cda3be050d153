// Dense linear algebra kernels of the CPU backend: one LAPACK call (through LAPACKE, row-major)
// per matrix of a contiguous batch, the batch split across OpenMP threads when it holds many
// small matrices (optimizers factor every weight matrix of a model in one call).
#include <lapacke.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/cpu/cpu_backend.h"
#include "core/cpu/cpu_blas.h"
#include "core/dispatch.h"
#include "core/error.h"
#include "core/matrix_batch.h"

namespace ortho::cpu {
namespace {

// Overloads that pick the single- or double-precision LAPACKE routine from the element type.
lapack_int geqrf(lapack_int m, lapack_int n, float* a, lapack_int lda, float* tau) {
  return LAPACKE_sgeqrf(LAPACK_ROW_MAJOR, m, n, a, lda, tau);
}
lapack_int geqrf(lapack_int m, lapack_int n, double* a, lapack_int lda, double* tau) {
  return LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, m, n, a, lda, tau);
}
lapack_int orgqr(lapack_int m, lapack_int n, lapack_int k, float* a, lapack_int lda,
                 const float* tau) {
  return LAPACKE_sorgqr(LAPACK_ROW_MAJOR, m, n, k, a, lda, tau);
}
lapack_int orgqr(lapack_int m, lapack_int n, lapack_int k, double* a, lapack_int lda,
                 const double* tau) {
  return LAPACKE_dorgqr(LAPACK_ROW_MAJOR, m, n, k, a, lda, tau);
}
lapack_int syevd(lapack_int n, float* a, lapack_int lda, float* w) {
  return LAPACKE_ssyevd(LAPACK_ROW_MAJOR, 'V', 'L', n, a, lda, w);
}
lapack_int syevd(lapack_int n, double* a, lapack_int lda, double* w) {
  return LAPACKE_dsyevd(LAPACK_ROW_MAJOR, 'V', 'L', n, a, lda, w);
}
lapack_int gesdd(lapack_int m, lapack_int n, float* a, lapack_int lda, float* s, float* u,
                 lapack_int ldu, float* vt, lapack_int ldvt) {
  return LAPACKE_sgesdd(LAPACK_ROW_MAJOR, 'S', m, n, a, lda, s, u, ldu, vt, ldvt);
}
lapack_int gesdd(lapack_int m, lapack_int n, double* a, lapack_int lda, double* s, double* u,
                 lapack_int ldu, double* vt, lapack_int ldvt) {
  return LAPACKE_dgesdd(LAPACK_ROW_MAJOR, 'S', m, n, a, lda, s, u, ldu, vt, ldvt);
}
lapack_int gesv(lapack_int n, lapack_int nrhs, float* a, lapack_int lda, lapack_int* ipiv, float* b,
                lapack_int ldb) {
  return LAPACKE_sgesv(LAPACK_ROW_MAJOR, n, nrhs, a, lda, ipiv, b, ldb);
}
lapack_int gesv(lapack_int n, lapack_int nrhs, double* a, lapack_int lda, lapack_int* ipiv,
                double* b, lapack_int ldb) {
  return LAPACKE_dgesv(LAPACK_ROW_MAJOR, n, nrhs, a, lda, ipiv, b, ldb);
}
lapack_int getrf(lapack_int n, float* a, lapack_int lda, lapack_int* ipiv) {
  return LAPACKE_sgetrf(LAPACK_ROW_MAJOR, n, n, a, lda, ipiv);
}
lapack_int getrf(lapack_int n, double* a, lapack_int lda, lapack_int* ipiv) {
  return LAPACKE_dgetrf(LAPACK_ROW_MAJOR, n, n, a, lda, ipiv);
}
lapack_int getri(lapack_int n, float* a, lapack_int lda, const lapack_int* ipiv) {
  return LAPACKE_sgetri(LAPACK_ROW_MAJOR, n, a, lda, ipiv);
}
lapack_int getri(lapack_int n, double* a, lapack_int lda, const lapack_int* ipiv) {
  return LAPACKE_dgetri(LAPACK_ROW_MAJOR, n, a, lda, ipiv);
}

// LAPACK indexes with lapack_int (32-bit here): a larger matrix would overflow silently.
void check_lapack_size(const char* op, std::int64_t rows, std::int64_t cols) {
  check_argument(rows * cols <= std::numeric_limits<lapack_int>::max(), op, ": a ", rows, " x ",
                 cols, " matrix is too large for LAPACK");
}

// Matrices up to this many elements are factored one per thread: LAPACK gains little from
// threads on them, while the batch splits perfectly.
constexpr std::int64_t kSmallMatrixElements = 256 * 256;

// How one large matrix uses the threads. OpenBLAS threads its own LU (getrf, getri) well; QR,
// eigh and SVD are reference LAPACK, whose panels make BLAS-2 calls that each fork and join a
// team: QR and eigh ran 2-8x slower on 2 threads than on 1 for n = 576 to 2048 on the 2-core
// CI machine (SVD's bidiagonalization has the same BLAS-2 panels).
enum class MatrixThreads { BlasTeam, Serial };

// Turns the LAPACK status of matrix `index` into the exception of `op`; `positive` describes
// a positive info (singular matrix, no convergence).
[[noreturn]] void throw_lapack_failure(const char* op, lapack_int info, std::int64_t index,
                                       std::int64_t batch, const std::string& positive) {
  const std::string where = batch > 1 ? error_message(" in matrix ", index, " of the batch") : "";
  if (info == LAPACK_WORK_MEMORY_ERROR || info == LAPACK_TRANSPOSE_MEMORY_ERROR) {
    throw std::runtime_error(error_message(op, ": LAPACK ran out of memory", where));
  }
  // The arguments built here are valid, so a rejection comes from LAPACKE's NaN check.
  if (info < 0) {
    throw std::runtime_error(
        error_message(op, ": LAPACK rejected argument ", -info, " (the input holds NaN)", where));
  }
  throw std::runtime_error(error_message(op, ": ", positive, where));
}

// Runs the calling thread's BLAS/LAPACK calls on that thread alone while alive: OpenBLAS built
// on OpenMP sizes its teams by omp_get_max_threads(), and on a small matrix the fork/join of
// every BLAS call inside a factorization costs more than the flops (10x on a busy machine).
class SerialBlasScope {
 public:
  SerialBlasScope() : saved_(omp_get_max_threads()) { omp_set_num_threads(1); }
  ~SerialBlasScope() { omp_set_num_threads(saved_); }
  SerialBlasScope(const SerialBlasScope&) = delete;
  SerialBlasScope& operator=(const SerialBlasScope&) = delete;

 private:
  int saved_;
};

// Runs `fn(i)` (returning a LAPACK info) for every matrix of the batch: one matrix per thread
// when they run serially (small or `Serial`) or outnumber the threads, else one after another
// on the BLAS team. Exceptions may not cross an OpenMP region, so each matrix records its
// status and the first failure is thrown after the loop through `describe(info)`.
template <typename Fn, typename Describe>
void for_each_matrix(const char* op, std::int64_t batch, std::int64_t elements,
                     MatrixThreads threads, Fn&& fn, Describe&& describe) {
  std::vector<lapack_int> info(static_cast<std::size_t>(batch), 0);
  const bool serial = threads == MatrixThreads::Serial || elements <= kSmallMatrixElements;
  std::optional<SerialBlasScope> serial_scope;
  if (batch == 1 && serial) serial_scope.emplace();
#pragma omp parallel for schedule(dynamic) if (batch > 1 && \
                                               (serial || batch >= omp_get_max_threads()))
  for (std::int64_t i = 0; i < batch; ++i) {
    try {
      info[static_cast<std::size_t>(i)] = fn(i);
    } catch (const std::bad_alloc&) {
      info[static_cast<std::size_t>(i)] = LAPACK_WORK_MEMORY_ERROR;
    }
  }
  for (std::int64_t i = 0; i < batch; ++i) {
    const lapack_int status = info[static_cast<std::size_t>(i)];
    if (status != 0) throw_lapack_failure(op, status, i, batch, describe(status));
  }
}

std::string singular_message(lapack_int info) {
  return error_message("matrix is singular (U(i,i) = 0 at i = ", info - 1, ")");
}

// Householder QR (?geqrf) then the explicit thin Q (?orgqr). For m >= n the factorization
// runs in q itself; for m < n in a scratch copy whose first m columns seed q.
template <typename T>
lapack_int qr_one(const T* a, T* q, T* r, lapack_int m, lapack_int n) {
  const lapack_int k = std::min(m, n);
  std::vector<T> tau(static_cast<std::size_t>(std::max<lapack_int>(k, 1)));
  std::vector<T> scratch;
  T* work = q;
  if (m < n) {
    scratch.resize(static_cast<std::size_t>(m) * static_cast<std::size_t>(n));
    work = scratch.data();
  }
  std::copy_n(a, static_cast<std::size_t>(m) * static_cast<std::size_t>(n), work);
  if (const lapack_int info = geqrf(m, n, work, n, tau.data()); info != 0) return info;
  for (lapack_int i = 0; i < k; ++i) {
    for (lapack_int j = 0; j < n; ++j) r[i * n + j] = j >= i ? work[i * n + j] : T(0);
  }
  if (m < n) {
    for (lapack_int i = 0; i < m; ++i) std::copy_n(work + i * n, m, q + i * m);
  }
  return orgqr(m, k, k, q, k, tau.data());
}

template <typename T>
lapack_int eigh_one(const T* a, T* w, T* v, lapack_int n) {
  std::copy_n(a, static_cast<std::size_t>(n) * static_cast<std::size_t>(n), v);
  return syevd(n, v, n, w);
}

template <typename T>
lapack_int svd_one(const T* a, T* u, T* s, T* vh, lapack_int m, lapack_int n) {
  std::vector<T> scratch(a, a + static_cast<std::size_t>(m) * static_cast<std::size_t>(n));
  return gesdd(m, n, scratch.data(), n, s, u, std::min(m, n), vh, n);
}

template <typename T>
lapack_int solve_one(const T* a, const T* b, T* x, lapack_int n, lapack_int k) {
  std::vector<T> lu(a, a + static_cast<std::size_t>(n) * static_cast<std::size_t>(n));
  std::vector<lapack_int> ipiv(static_cast<std::size_t>(n));
  std::copy_n(b, static_cast<std::size_t>(n) * static_cast<std::size_t>(k), x);
  return gesv(n, k, lu.data(), n, ipiv.data(), x, k);
}

// x = b then trsm in place; BLAS reports no status, so a zero a(i, i) is looked for first and
// returned as i + 1 (LAPACK's convention for a singular factor), 0 on success.
template <typename T>
lapack_int solve_triangular_one(const T* a, const T* b, T* x, lapack_int n, lapack_int rows,
                                lapack_int cols, bool upper, bool left) {
  for (lapack_int i = 0; i < n; ++i) {
    if (a[i * n + i] == T(0)) return i + 1;
  }
  std::copy_n(b, static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols), x);
  blas_trsm(left, upper, rows, cols, a, n, x, cols);
  return 0;
}

// LU (?getrf) then the inverse from the factors (?getri): 2n^3 flops against 8n^3/3 for
// solving against the identity.
template <typename T>
lapack_int inverse_one(const T* a, T* out, lapack_int n) {
  std::vector<lapack_int> ipiv(static_cast<std::size_t>(n));
  std::copy_n(a, static_cast<std::size_t>(n) * static_cast<std::size_t>(n), out);
  if (const lapack_int info = getrf(n, out, n, ipiv.data()); info != 0) return info;
  return getri(n, out, n, ipiv.data());
}

}  // namespace

void CpuBackend::qr(const Tensor& a, Tensor& q, Tensor& r) {
  const MatrixBatch mb = matrix_batch(a);
  if (mb.batch == 0 || mb.rows == 0 || mb.cols == 0) return;
  check_lapack_size("qr", mb.rows, mb.cols);
  const auto m = static_cast<lapack_int>(mb.rows), n = static_cast<lapack_int>(mb.cols);
  const std::int64_t k = std::min(mb.rows, mb.cols);
  dispatch_floating(a.dtype(), "qr", [&]<typename T>() {
    const T* pa = a.data<T>();
    T* pq = q.data<T>();
    T* pr = r.data<T>();
    for_each_matrix(
        "qr", mb.batch, mb.rows * mb.cols, MatrixThreads::Serial,
        [&](std::int64_t i) {
          return qr_one(pa + i * mb.rows * mb.cols, pq + i * mb.rows * k, pr + i * k * mb.cols, m,
                        n);
        },
        [](lapack_int info) { return error_message("LAPACK failed with info ", info); });
  });
}

void CpuBackend::eigh(const Tensor& a, Tensor& eigenvalues, Tensor& eigenvectors) {
  const MatrixBatch mb = matrix_batch(a);
  if (mb.batch == 0 || mb.rows == 0) return;
  check_lapack_size("eigh", mb.rows, mb.rows);
  const auto n = static_cast<lapack_int>(mb.rows);
  dispatch_floating(a.dtype(), "eigh", [&]<typename T>() {
    const T* pa = a.data<T>();
    T* pw = eigenvalues.data<T>();
    T* pv = eigenvectors.data<T>();
    for_each_matrix(
        "eigh", mb.batch, mb.rows * mb.rows, MatrixThreads::Serial,
        [&](std::int64_t i) {
          return eigh_one(pa + i * mb.rows * mb.rows, pw + i * mb.rows, pv + i * mb.rows * mb.rows,
                          n);
        },
        [](lapack_int info) {
          return error_message("the eigenvalue algorithm did not converge (LAPACK info ", info,
                               ")");
        });
  });
}

void CpuBackend::svd(const Tensor& a, Tensor& u, Tensor& s, Tensor& vh) {
  const MatrixBatch mb = matrix_batch(a);
  if (mb.batch == 0 || mb.rows == 0 || mb.cols == 0) return;
  check_lapack_size("svd", mb.rows, mb.cols);
  const auto m = static_cast<lapack_int>(mb.rows), n = static_cast<lapack_int>(mb.cols);
  const std::int64_t k = std::min(mb.rows, mb.cols);
  dispatch_floating(a.dtype(), "svd", [&]<typename T>() {
    const T* pa = a.data<T>();
    T* pu = u.data<T>();
    T* ps = s.data<T>();
    T* pvh = vh.data<T>();
    for_each_matrix(
        "svd", mb.batch, mb.rows * mb.cols, MatrixThreads::Serial,
        [&](std::int64_t i) {
          return svd_one(pa + i * mb.rows * mb.cols, pu + i * mb.rows * k, ps + i * k,
                         pvh + i * k * mb.cols, m, n);
        },
        [](lapack_int info) {
          return error_message("the SVD did not converge (LAPACK info ", info, ")");
        });
  });
}

void CpuBackend::solve(const Tensor& a, const Tensor& b, Tensor& x) {
  const MatrixBatch mb = matrix_batch(a);
  const std::int64_t k = b.size(-1);
  if (mb.batch == 0 || mb.rows == 0 || k == 0) return;
  check_lapack_size("solve", mb.rows, std::max(mb.rows, k));
  const auto n = static_cast<lapack_int>(mb.rows), nrhs = static_cast<lapack_int>(k);
  dispatch_floating(a.dtype(), "solve", [&]<typename T>() {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* px = x.data<T>();
    for_each_matrix(
        "solve", mb.batch, mb.rows * std::max(mb.rows, k), MatrixThreads::BlasTeam,
        [&](std::int64_t i) {
          return solve_one(pa + i * mb.rows * mb.rows, pb + i * mb.rows * k, px + i * mb.rows * k,
                           n, nrhs);
        },
        singular_message);
  });
}

void CpuBackend::solve_triangular(const Tensor& a, const Tensor& b, bool upper, bool left,
                                  Tensor& x) {
  const MatrixBatch mb = matrix_batch(a), mx = matrix_batch(x);
  if (mb.batch == 0 || mb.rows == 0) return;
  check_lapack_size("solve_triangular", mx.rows, mx.cols);
  const auto n = static_cast<lapack_int>(mb.rows);
  const auto rows = static_cast<lapack_int>(mx.rows), cols = static_cast<lapack_int>(mx.cols);
  dispatch_floating(a.dtype(), "solve_triangular", [&]<typename T>() {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* px = x.data<T>();
    for_each_matrix(
        "solve_triangular", mb.batch, std::max(mb.rows * mb.rows, mx.rows * mx.cols),
        MatrixThreads::BlasTeam,
        [&](std::int64_t i) {
          return solve_triangular_one(pa + i * mb.rows * mb.rows, pb + i * mx.rows * mx.cols,
                                      px + i * mx.rows * mx.cols, n, rows, cols, upper, left);
        },
        singular_message);
  });
}

void CpuBackend::inverse(const Tensor& a, Tensor& out) {
  const MatrixBatch mb = matrix_batch(a);
  if (mb.batch == 0 || mb.rows == 0) return;
  check_lapack_size("inverse", mb.rows, mb.rows);
  const auto n = static_cast<lapack_int>(mb.rows);
  dispatch_floating(a.dtype(), "inverse", [&]<typename T>() {
    const T* pa = a.data<T>();
    T* po = out.data<T>();
    for_each_matrix(
        "inverse", mb.batch, mb.rows * mb.rows, MatrixThreads::BlasTeam,
        [&](std::int64_t i) {
          return inverse_one(pa + i * mb.rows * mb.rows, po + i * mb.rows * mb.rows, n);
        },
        singular_message);
  });
}

}  // namespace ortho::cpu
