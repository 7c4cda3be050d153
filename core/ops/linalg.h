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
Tensor inverse(const Tensor& a);
// Matrix exponential by scaling and squaring with a degree-13 Padé approximant
// (Higham 2005).
Tensor expm(const Tensor& a);
// Sum of the diagonal of each (..., n, n) matrix.
Tensor trace(const Tensor& a);

}  // namespace ortho
