#pragma once

#include "autograd/variable.h"

namespace ortho::autograd {

// Differentiable dense linear algebra on (..., m, n) batches (core/ops/linalg.h).

struct QROutput {
  Variable q, r;
};
// Reduced QR. Gradients need m >= n and full rank (R invertible).
QROutput qr(const Variable& a);

struct EighOutput {
  Variable eigenvalues, eigenvectors;
};
// Symmetric eigendecomposition (ascending). Gradients need distinct eigenvalues; the
// gradient returned for a is symmetric (a is taken as a symmetric matrix).
EighOutput eigh(const Variable& a);

struct SVDOutput {
  Variable u, s, vh;
};
// Reduced SVD a = u diag(s) vh. Gradients need distinct, nonzero singular values.
SVDOutput svd(const Variable& a);

// x with a x = b for square a (..., n, n) and b (..., n, k).
Variable solve(const Variable& a, const Variable& b);
// x with a x = b (left) or x a = b (right) for triangular a, of which only the upper or
// lower triangle is read; a's gradient lies in that triangle.
Variable solve_triangular(const Variable& a, const Variable& b, bool upper, bool left = true);
Variable inverse(const Variable& a);
// Matrix exponential.
Variable expm(const Variable& a);
// Sum of the diagonal of each (..., n, n) matrix.
Variable trace(const Variable& a);

}  // namespace ortho::autograd
