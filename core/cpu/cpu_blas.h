#pragma once

#include <cblas.h>

#include <cstdint>
#include <type_traits>

namespace ortho::cpu {

// Row-major C = alpha * op(A) * op(B) + beta * C on one matrix: a typed front of
// cblas_sgemm / cblas_dgemm that also handles the empty cases BLAS rejects (k == 0 only
// scales C). Called from inside an OpenMP parallel region, OpenBLAS (OpenMP build) runs
// single-threaded, which is how the batched and convolution kernels split work.
template <typename T>
void blas_gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha,
               const T* a, std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c,
               std::int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    for (std::int64_t i = 0; i < m; ++i) {
      T* row = c + i * ldc;
      for (std::int64_t j = 0; j < n; ++j) row[j] = beta == T(0) ? T(0) : beta * row[j];
    }
    return;
  }
  const CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
  const auto i = [](std::int64_t v) { return static_cast<blasint>(v); };
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, ta, tb, i(m), i(n), i(k), alpha, a, i(lda), b, i(ldb), beta, c,
                i(ldc));
  } else {
    cblas_dgemm(CblasRowMajor, ta, tb, i(m), i(n), i(k), alpha, a, i(lda), b, i(ldb), beta, c,
                i(ldc));
  }
}

// Row-major C = alpha * A A^T (n x n from A n x k) or, with `trans`, alpha * A^T A (from A
// k x n), through cblas_?syrk: half a gemm's flops for a Gram matrix. syrk writes the upper
// triangle; the lower one is mirrored from it. n, k > 0.
template <typename T>
void blas_gram(bool trans, std::int64_t n, std::int64_t k, T alpha, const T* a, std::int64_t lda,
               T* c, std::int64_t ldc) {
  const CBLAS_TRANSPOSE t = trans ? CblasTrans : CblasNoTrans;
  const auto i = [](std::int64_t v) { return static_cast<blasint>(v); };
  if constexpr (std::is_same_v<T, float>) {
    cblas_ssyrk(CblasRowMajor, CblasUpper, t, i(n), i(k), alpha, a, i(lda), 0.0f, c, i(ldc));
  } else {
    cblas_dsyrk(CblasRowMajor, CblasUpper, t, i(n), i(k), alpha, a, i(lda), 0.0, c, i(ldc));
  }
  for (std::int64_t r = 1; r < n; ++r) {
    for (std::int64_t col = 0; col < r; ++col) c[r * ldc + col] = c[col * ldc + r];
  }
}

// Row-major B <- A^-1 B (left) or B A^-1 (right) in place, for triangular A (n x n: m with
// `left`, else n columns of B) of which only the upper or lower triangle is read: a typed
// front of cblas_?trsm that skips the empty B BLAS rejects.
template <typename T>
void blas_trsm(bool left, bool upper, std::int64_t m, std::int64_t n, const T* a, std::int64_t lda,
               T* b, std::int64_t ldb) {
  if (m <= 0 || n <= 0) return;
  const CBLAS_SIDE side = left ? CblasLeft : CblasRight;
  const CBLAS_UPLO uplo = upper ? CblasUpper : CblasLower;
  const auto i = [](std::int64_t v) { return static_cast<blasint>(v); };
  if constexpr (std::is_same_v<T, float>) {
    cblas_strsm(CblasRowMajor, side, uplo, CblasNoTrans, CblasNonUnit, i(m), i(n), 1.0f, a, i(lda),
                b, i(ldb));
  } else {
    cblas_dtrsm(CblasRowMajor, side, uplo, CblasNoTrans, CblasNonUnit, i(m), i(n), 1.0, a, i(lda),
                b, i(ldb));
  }
}

}  // namespace ortho::cpu
