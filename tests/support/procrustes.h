#pragma once

#include <cmath>
#include <cstdint>

#include "core/ops/elementwise.h"
#include "core/ops/linalg.h"
#include "core/ops/matmul.h"
#include "core/ops/reduce.h"
#include "core/random.h"
#include "core/tensor.h"

namespace ortho::testing {

// The orthogonal Procrustes problem f(X) = ||A X - B||_F^2 over O(p): on the manifold ||A X||
// is constant, so the minimizer is the polar factor U V^T of A^T B = U S V^T.
// A = I + G1 / (4 sqrt(p)) and B = A Q0 + G2 / (10 sqrt(p)) (Gaussian G, orthogonal Q0) keep the
// singular values of A^T B away from 0, so iterates converge to the solution at a linear rate
// (with Gaussian A, B the smallest ones are ~1/p^2 and X converges only in loss).
struct Procrustes {
  Tensor a, b;

  Procrustes(std::int64_t p, std::uint64_t seed, DType dtype = DType::Float64) {
    Generator gen(seed);
    const double scale = 1.0 / std::sqrt(static_cast<double>(p));
    a = add(Tensor::eye(p, dtype), mul(randn({p, p}, dtype, Device::cpu(), &gen), 0.25 * scale));
    const QRResult q0 = qr(randn({p, p}, dtype, Device::cpu(), &gen));
    b = add(matmul(a, q0.q), mul(randn({p, p}, dtype, Device::cpu(), &gen), 0.1 * scale));
  }

  double loss(const Tensor& x) const { return sum(square(sub(matmul(a, x), b))).item<double>(); }
  // 2 A^T (A X - B)
  Tensor gradient(const Tensor& x) const { return mul(matmul(a.t(), sub(matmul(a, x), b)), 2.0); }
  // A rotation of the solution by exp(S), S skew with entries up to `spread`: a start in the
  // solution's connected component of O(p) (the other holds only a worse critical point).
  Tensor start(std::uint64_t seed, double spread = 0.5) const {
    Generator gen(seed);
    const Tensor m = uniform(a.shape(), -spread, spread, a.dtype(), Device::cpu(), &gen);
    return matmul(solution(), expm(sub(m, m.t())));
  }
  Tensor solution() const {
    const SVDResult f = svd(matmul(a.t(), b));
    return matmul(f.u, f.vh);
  }
};

}  // namespace ortho::testing
