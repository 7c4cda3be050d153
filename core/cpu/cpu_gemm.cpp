// Batched gemm of the CPU backend on OpenBLAS: transposition flags and leading dimensions go
// straight to cblas_?gemm, so transposed views are never copied.
#include <omp.h>

#include "core/cpu/cpu_backend.h"
#include "core/cpu/cpu_blas.h"
#include "core/dispatch.h"

namespace ortho::cpu {
namespace {

// Below this many multiply-adds per matrix, one BLAS call cannot keep every thread busy, so
// the batch is split across threads instead (each BLAS call then runs single-threaded).
constexpr std::int64_t kSmallGemmMacs = std::int64_t{128} * 128 * 128;

bool split_batch_across_threads(const GemmDesc& d) {
  const std::int64_t threads = omp_get_max_threads();
  if (d.batch < 2 || threads < 2) return false;
  return d.batch >= 4 * threads || d.m * d.n * d.k <= kSmallGemmMacs;
}

// A product of a matrix with its own transpose (X X^T or X^T X, from one buffer): a Gram
// matrix, which syrk computes in half the flops.
bool is_gram(const GemmDesc& d, const void* a, const void* b) {
  return a == b && d.trans_a != d.trans_b && d.m == d.n && d.lda == d.ldb &&
         d.stride_a == d.stride_b && d.beta == 0.0 && d.k > 0 && d.m > 0;
}

}  // namespace

void CpuBackend::gemm(const GemmDesc& d, const Tensor& a, const Tensor& b, Tensor& c) {
  dispatch_floating(c.dtype(), "gemm", [&]<typename T>() {
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* pc = c.data<T>();
    const T alpha = static_cast<T>(d.alpha);
    const T beta = static_cast<T>(d.beta);
    const bool gram = is_gram(d, pa, pb);
    const auto one = [&](std::int64_t i) {
      if (gram) {
        blas_gram<T>(d.trans_a, d.m, d.k, alpha, pa + i * d.stride_a, d.lda, pc + i * d.stride_c,
                     d.ldc);
        return;
      }
      blas_gemm<T>(d.trans_a, d.trans_b, d.m, d.n, d.k, alpha, pa + i * d.stride_a, d.lda,
                   pb + i * d.stride_b, d.ldb, beta, pc + i * d.stride_c, d.ldc);
    };
    if (split_batch_across_threads(d)) {
#pragma omp parallel for schedule(static)
      for (std::int64_t i = 0; i < d.batch; ++i) one(i);
    } else {
      for (std::int64_t i = 0; i < d.batch; ++i) one(i);
    }
  });
}

}  // namespace ortho::cpu
