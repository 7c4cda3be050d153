#pragma once

#include <cstdint>
#include <utility>

#include "core/device.h"
#include "core/dtype.h"
#include "core/tensor.h"

namespace ortho::apps {

// The orthogonal Procrustes problem f(X) = ||A X - B||_F^2 over O(p) (Ablin & Peyré 2022,
// Sec. 5.1), A and B with i.i.d. N(0, 1/p) entries. On O(p), ||A X|| is constant, so the
// minimizer is the polar factor U V^T of A^T B = U S V^T: every method is measured by its gap
// f(X) - f(X*). Only A^T A and A^T B are kept, so f and its gradient cost one p^3 product.
struct ProcrustesProblem {
  Tensor ata, atb;
  double b_squared_norm = 0;
  Tensor solution;      // X*
  double optimal_loss;  // f(X*)
  Tensor start;         // X0, shared by every method

  // f(X) and its Euclidean gradient 2 (A^T A X - A^T B).
  std::pair<double, Tensor> loss_and_gradient(const Tensor& x) const;
  // f(X) alone, from A^T A X.
  double loss_from_product(const Tensor& x, const Tensor& ata_x) const;
};

// A problem of size p from `seed`. X0 = X* exp(K), K skew with N(0, pi^2 / p)-scaled entries: a
// random rotation in X*'s connected component of O(p) (the other component holds only worse
// critical points, which no method on the manifold can leave). Drawn and solved on the CPU in
// float64, then its tensors converted to `dtype` and moved to `device`.
ProcrustesProblem make_procrustes_problem(std::int64_t p, std::uint64_t seed, DType dtype,
                                          Device device = Device::cpu());

}  // namespace ortho::apps
