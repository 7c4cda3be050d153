#include "optim/manifold.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "core/error.h"
#include "core/ops/elementwise.h"
#include "core/ops/linalg.h"
#include "core/ops/matmul.h"
#include "core/ops/reduce.h"
#include "core/ops/shape_ops.h"

namespace ortho::optim {
namespace {

Tensor transposed(const Tensor& m) {
  return m.transpose(-2, -1);
}

Tensor identity_like(std::int64_t n, const Tensor& like) {
  return Tensor::eye(n, like.dtype(), like.device());
}

void check_matrices(const char* op, const Tensor& x) {
  check_argument(
      x.defined() && is_floating(x.dtype()) && x.dim() >= 2, op,
      ": expected floating (..., n, p) matrices, got ",
      x.defined() ? error_message("shape ", x.shape()) : std::string("an undefined tensor"));
}

void check_tall(const char* op, const Tensor& x) {
  check_matrices(op, x);
  check_argument(x.size(-2) >= x.size(-1), op, ": expected tall (..., n, p) matrices with n >= p, ",
                 "got shape ", x.shape());
}

void check_same_shape(const char* op, const Tensor& x, const Tensor& z) {
  check_argument(z.defined() && z.shape() == x.shape(), op, ": the point has shape ", x.shape(),
                 " but the tangent vector ",
                 z.defined() ? error_message(z.shape()) : "is undefined");
}

// ||M||_F of each (..., a, b) matrix.
Tensor frobenius(const Tensor& m) {
  return sqrt(sum(square(m), {-2, -1}));
}

// P Z = Z - X (X^T Z) / 2: A = P Z X^T - X Z^T P is skew and A X = Z for tangent Z.
Tensor half_projected(const Tensor& x, const Tensor& z) {
  return sub(z, mul(matmul(x, matmul(transposed(x), z)), 0.5));
}

// exp(A) X or the Cayley transform of A applied to X, with A formed as an n x n matrix.
Tensor retract_dense(Retraction retraction, const Tensor& x, const Tensor& z) {
  Tensor a;
  if (x.size(-1) == x.size(-2)) {
    a = skew(matmul(z, transposed(x)));  // on O(p), P Z X^T - X Z^T P = skew(Z X^T)
  } else {
    const Tensor pz = half_projected(x, z);
    a = sub(matmul(pz, transposed(x)), matmul(x, transposed(pz)));
  }
  if (retraction == Retraction::Exp) return matmul(expm(a), x);
  const Tensor eye = identity_like(x.size(-2), x);
  return solve(sub(eye, mul(a, 0.5)), add(x, mul(matmul(a, x), 0.5)));
}

// The same through A = U V^T, U = [P Z, X], V = [X, -P Z] (n x 2p): Woodbury for Cayley
// (Wen & Yin 2013), and exp(U V^T) = I + U phi(V^T U) V^T with
// phi(M) = (e^M - I) M^{-1} read off exp([[M, I], [0, 0]]) for Exp.
Tensor retract_low_rank(Retraction retraction, const Tensor& x, const Tensor& z) {
  const Tensor pz = half_projected(x, z);
  const Tensor u = cat({pz, x}, -1);
  const Tensor v = cat({x, neg(pz)}, -1);
  const Tensor vtu = matmul(transposed(v), u);
  const Tensor vtx = matmul(transposed(v), x);
  const std::int64_t k = vtu.size(-1);
  if (retraction == Retraction::Exp) {
    const Tensor eye = identity_like(k, vtu).expand(vtu.shape());
    const Tensor zero = Tensor::zeros(vtu.shape(), vtu.dtype(), vtu.device());
    const Tensor block = cat({cat({vtu, eye}, -1), cat({zero, zero}, -1)}, -2);
    const Tensor phi = expm(block).slice(-2, 0, k).slice(-1, k, 2 * k);
    return add(x, matmul(u, matmul(phi, vtx)));
  }
  const Tensor y = add(x, mul(matmul(u, vtx), 0.5));
  const Tensor inner = sub(identity_like(k, vtu), mul(vtu, 0.5));
  return add(y, mul(matmul(u, solve(inner, matmul(transposed(v), y))), 0.5));
}

Tensor retract_qr(const Tensor& y) {
  const QRResult f = qr(y);
  const Tensor diagonal = sum(mul(f.r, identity_like(f.r.size(-1), f.r)), {-2}, true);
  const Tensor signs = affine(lt(diagonal, 0.0), -2.0, 1.0);  // -1 where R_ii < 0, else 1
  return mul(f.q, signs);
}

Tensor retract_polar(const Tensor& y) {
  const EighResult e = eigh(matmul(transposed(y), y));
  const Tensor inv_sqrt = pow(e.eigenvalues, -0.5).unsqueeze(-2);
  return matmul(y, matmul(mul(e.eigenvectors, inv_sqrt), transposed(e.eigenvectors)));
}

}  // namespace

Tensor skew(const Tensor& m) {
  return mul(sub(m, transposed(m)), 0.5);
}

Tensor sym(const Tensor& m) {
  return mul(add(m, transposed(m)), 0.5);
}

Tensor manifold_matrix(const Tensor& value, nn::Manifold manifold) {
  check_argument(value.defined() && value.is_contiguous(), "manifold_matrix: expected a defined, ",
                 "contiguous tensor");
  if (manifold == nn::Manifold::Orthogonal) {
    check_argument(value.dim() >= 2 && value.size(-1) == value.size(-2),
                   "manifold_matrix: an orthogonal parameter must hold square (..., p, p) ",
                   "matrices, got shape ", value.shape());
    return value;
  }
  check_argument(manifold == nn::Manifold::Stiefel && value.dim() >= 2,
                 "manifold_matrix: expected a Stiefel or orthogonal value of rank >= 2, got ",
                 nn::manifold_name(manifold), " of shape ", value.shape());
  const std::int64_t rows = value.size(0);
  const Tensor matrix = value.view({rows, value.numel() / rows});
  return matrix.size(0) >= matrix.size(1) ? matrix : matrix.t();
}

Tensor gram_residual(const Tensor& x) {
  check_tall("gram_residual", x);
  return sub(matmul(transposed(x), x), identity_like(x.size(-1), x));
}

Tensor distance_to_manifold(const Tensor& x) {
  return frobenius(gram_residual(x));
}

Tensor project_tangent(const Tensor& x, const Tensor& z) {
  check_tall("project_tangent", x);
  check_same_shape("project_tangent", x, z);
  return sub(z, matmul(x, sym(matmul(transposed(x), z))));
}

Tensor relative_gradient(const Tensor& x, const Tensor& g) {
  check_tall("relative_gradient", x);
  check_same_shape("relative_gradient", x, g);
  const Tensor xtx = matmul(transposed(x), x);
  return mul(sub(matmul(g, xtx), matmul(x, matmul(transposed(g), x))), 0.5);
}

Tensor normal_field(const Tensor& x, double lambda) {
  return mul(matmul(x, gram_residual(x)), lambda);
}

Tensor landing_field(const Tensor& x, const Tensor& g, double lambda) {
  return landing_direction(x, g, lambda).field;
}

LandingDirection landing_direction(const Tensor& x, const Tensor& g, double lambda) {
  check_tall("landing_field", x);
  check_same_shape("landing_field", x, g);
  const std::int64_t n = x.size(-2), p = x.size(-1);
  // (skew(G X^T) + lambda (X X^T - I)) X costs 3 n^2 p, the factored form 4 n p^2; for
  // square X, ||X X^T - I|| = ||X^T X - I||.
  if (3 * n < 4 * p) {
    const Tensor outer = sub(matmul(x, transposed(x)), identity_like(n, x));
    return {matmul(add(skew(matmul(g, transposed(x))), mul(outer, lambda)), x), frobenius(outer)};
  }
  // G (X^T X / 2) - X ((G^T X) / 2 - lambda (X^T X - I)): two products after the two Grams.
  const Tensor xtx = matmul(transposed(x), x);
  const Tensor residual = sub(xtx, identity_like(p, x));
  const Tensor inner = sub(mul(matmul(transposed(g), x), 0.5), mul(residual, lambda));
  return {sub(matmul(g, mul(xtx, 0.5)), matmul(x, inner)), frobenius(residual)};
}

double safe_step_size(double distance, double field_norm, double lambda, double epsilon) {
  const double validity =
      lambda > 0.0 ? 1.0 / (2.0 * lambda) : std::numeric_limits<double>::infinity();
  const double alpha = field_norm * field_norm;
  if (alpha == 0.0) return validity;
  const double beta = lambda * distance * (distance - 1.0);
  const double discriminant = beta * beta + alpha * (epsilon - distance);
  const double root = discriminant >= 0.0 ? (-beta + std::sqrt(discriminant)) / alpha
                                          : std::max(0.0, -beta / alpha);
  return std::min(root, validity);
}

std::string retraction_name(Retraction retraction) {
  switch (retraction) {
    case Retraction::Exp:
      return "exp";
    case Retraction::Cayley:
      return "cayley";
    case Retraction::QR:
      return "qr";
    case Retraction::Polar:
      return "polar";
  }
  return "?";
}

Retraction parse_retraction(const std::string& name) {
  for (Retraction r : {Retraction::Exp, Retraction::Cayley, Retraction::QR, Retraction::Polar}) {
    if (retraction_name(r) == name) return r;
  }
  throw std::invalid_argument(
      error_message("unknown retraction '", name, "' (expected exp, cayley, qr or polar)"));
}

Tensor retract(Retraction retraction, const Tensor& x, const Tensor& z) {
  check_tall("retract", x);
  check_same_shape("retract", x, z);
  switch (retraction) {
    case Retraction::QR:
      return retract_qr(add(x, z));
    case Retraction::Polar:
      return retract_polar(add(x, z));
    case Retraction::Exp:
    case Retraction::Cayley:
      return x.size(-2) > 2 * x.size(-1) ? retract_low_rank(retraction, x, z)
                                         : retract_dense(retraction, x, z);
  }
  return x;
}

}  // namespace ortho::optim
