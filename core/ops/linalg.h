#pragma once

#include "core/tensor.h"

namespace ortho {

// Dense linear algebra on (..., m, n) batches through LAPACK (CPU) / cuSOLVER (CUDA).
struct QRResult {
  Tensor q, r;  // reduced: q (..., m, k), r (..., k, n), k = min(m, n)
};
QRResult qr(const Tensor& a);

struct EighResult {
  Tensor eigenvalues;   // (..., n), ascending
  Tensor eigenvectors;  // (..., n, n), columns
};
// Symmetric eigendecomposition; only the lower triangle is read.
EighResult eigh(const Tensor& a);

struct SVDResult {
  Tensor u, s, vh;  // reduced: u (..., m, k), s (..., k) descending, vh (..., k, n)
};
SVDResult svd(const Tensor& a);

// Solves a x = b for square a (..., n, n), b (..., n, k); throws std::runtime_error when a
// is singular.
Tensor solve(const Tensor& a, const Tensor& b);
// Solves a x = b (left, b (..., n, k)) or x a = b (right, b (..., k, n)) for triangular a
// (..., n, n), reading only its upper or lower triangle: one BLAS trsm per matrix, n^2 k
// flops and no factorization. Throws std::runtime_error on a zero diagonal entry.
Tensor solve_triangular(const Tensor& a, const Tensor& b, bool upper, bool left = true);
Tensor inverse(const Tensor& a);
// Matrix exponential by scaling and squaring with a degree-13 Padé approximant
// (Higham 2005).
Tensor expm(const Tensor& a);
// Sum of the diagonal of each (..., n, n) matrix.
Tensor trace(const Tensor& a);

}  // namespace ortho
