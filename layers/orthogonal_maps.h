#pragma once

#include <cstdint>

#include "autograd/variable.h"

// Differentiable maps from free matrices onto orthogonal / Stiefel matrices, written with the
// autograd ops so gradients flow to the free parameters (float32 and float64, 2-D inputs).
// Parametrized orthogonal layers (layers/parametrized_orthogonal.h) and OPT's GS / HR / LS / CP
// build on them. Bad shapes throw std::invalid_argument naming the function and the shape.
//
// Stiefel shapes: a p x n matrix with orthonormal rows (p <= n) comes from
//  - cayley, matrix_exp_orthogonal: the first p rows of the n x n result (slice), or X0 Q for
//    a fixed X0 with orthonormal rows (trivialization around X0);
//  - householder_product: its `rows` argument (never forms the n x n product);
//  - bjorck, gram_schmidt, lowdin: directly, from a p x n input (bjorck also n x p).
// Columns orthonormal (n x p) is the transpose of the p x n case.
namespace ortho::nn {

// Cayley transform of the skew part S = (A - A^T) / 2 of a square A:
// Q = (I - S/2)^{-1} (I + S/2), the [1/1] Padé approximant of exp(S) (Cayley 1846; Wen & Yin
// 2013), so Q(0) = I and Q agrees with matrix_exp_orthogonal(A) to second order. Q is in SO(n).
autograd::Variable cayley(const autograd::Variable& a);

// exp((A - A^T) / 2) for a square A: the exponential map of SO(n) at I, the static
// trivialization of Lezcano-Casado & Martínez-Rubio 2019. Q(0) = I; a skew A maps to exp(A).
autograd::Variable matrix_exp_orthogonal(const autograd::Variable& a);

// The first `rows` rows (all n when rows < 0) of H_1 H_2 ... H_k, H_i = I - 2 v_i v_i^T /
// ||v_i||^2 with v_i the nonzero rows of V (k x n) (Mhammedi et al. 2017, "Efficient
// orthogonal parametrisation of recurrent neural networks using Householder reflections").
// Each reflection is a rank-1 update of a rows x n matrix: O(k rows n), no n x n per reflection.
// k = p reflections reach every p x n Stiefel matrix (p < n); for p = n they reach the
// orthogonal matrices of determinant (-1)^k.
autograd::Variable householder_product(const autograd::Variable& v, std::int64_t rows = -1);

// Björck & Bowie 1971 iteration towards the polar factor (the closest matrix with orthonormal
// rows / columns) of a full-rank W, tall or wide, iterated on the smaller Gram side:
// W <- W sum_{i<=order} c_i (I - W^T W)^i, c_i the Taylor coefficients of (1 - x)^{-1/2}
// (order 1: W (3/2 I - 1/2 W^T W)). W is first divided by sqrt(||W W^T||_1) >= ||W||_2 so its
// singular values lie in (0, 1], where the iteration converges (Anil, Lucas & Grosse 2019).
// Convergence is quadratic near 1 but slow for small singular values: the default suits W near
// the manifold or moderately conditioned; raise `iterations` otherwise.
autograd::Variable bjorck(const autograd::Variable& w, std::int64_t iterations = 15,
                          std::int64_t order = 1);

// Gram-Schmidt of the rows of a full-rank P (p x n, p <= n), OPT's GS (Liu et al. 2021),
// computed as the positive-diagonal QR factor: GS(P) = Q^T for P^T = Q R with diag(R) > 0,
// which is what Gram-Schmidt computes in exact arithmetic. Q comes from autograd::qr (LAPACK's
// Householder geqrf / orgqr on the CPU) with its columns' signs fixed, so the rows are
// orthonormal to rounding even for ill-conditioned P, and the gradient is the exact one of that
// map, the QR adjoint (autograd/ops/linalg.h). Time O(p^2 n); saved memory O(p n), not the
// O(p^2 n) of an unrolled row-by-row loop.
autograd::Variable gram_schmidt(const autograd::Variable& p);

// Löwdin symmetric orthogonalization (P P^T)^{-1/2} P of a full-rank P (p x n, p <= n), the
// orthonormal-row matrix closest to P: OPT's LS (Liu et al. 2021). The inverse square root goes
// through eigh; its gradient uses divided differences (Daleckii-Krein), so it stays finite
// when eigenvalues coincide (P orthogonal, e.g. OPT's start at the identity).
autograd::Variable lowdin(const autograd::Variable& p);

}  // namespace ortho::nn
