#include "layers/orthogonal_maps.h"

#include <vector>

#include "autograd/ops/elementwise.h"
#include "autograd/ops/linalg.h"
#include "autograd/ops/matmul.h"
#include "autograd/ops/reduce.h"
#include "autograd/ops/views.h"
#include "autograd/record.h"
#include "core/error.h"
#include "core/ops/elementwise.h"
#include "core/ops/linalg.h"
#include "core/ops/matmul.h"
#include "core/ops/reduce.h"

namespace ortho::nn {
namespace {

using autograd::Variable;

void check_matrix(const Variable& a, const char* op) {
  check_argument(a.defined() && a.dim() == 2, op, ": expected a 2-D matrix, got ",
                 a.defined() ? a.shape().to_string() : "an undefined variable");
}

void check_square(const Variable& a, const char* op) {
  check_matrix(a, op);
  check_argument(a.size(0) == a.size(1), op, ": expected a square matrix, got ", a.shape());
}

void check_wide(const Variable& a, const char* op) {
  check_matrix(a, op);
  check_argument(a.size(0) <= a.size(1), op,
                 ": expected p x n with p <= n (rows orthonormalized), got ", a.shape());
}

// The identity as a constant of a's dtype and device.
Variable identity(std::int64_t n, const Variable& like) {
  return Variable(Tensor::eye(n, like.dtype(), like.device()));
}

Variable skew(const Variable& a) {
  return (a - autograd::t(a)) * 0.5;
}

// Björck-Bowie on a wide W (p <= n): W <- T(R) W, T the order-`order` Taylor polynomial of
// (1 - x)^{-1/2} at R = I - W W^T, evaluated by Horner on the p x p side.
Variable bjorck_wide(Variable w, std::int64_t iterations, std::int64_t order) {
  std::vector<double> c{1.0};
  for (std::int64_t i = 1; i <= order; ++i) c.push_back(c.back() * (2.0 * i - 1.0) / (2.0 * i));
  const Variable eye = identity(w.size(0), w);
  for (std::int64_t it = 0; it < iterations; ++it) {
    const Variable r = eye - autograd::matmul(w, autograd::t(w));
    Variable poly = eye * c[static_cast<std::size_t>(order)];
    for (std::int64_t i = order - 1; i >= 0; --i) {
      poly = eye * c[static_cast<std::size_t>(i)] + autograd::matmul(poly, r);
    }
    w = autograd::matmul(poly, w);
  }
  return w;
}

// G^{-1/2} of a symmetric positive definite G = U diag(s^2) U^T. Backward by the
// Daleckii-Krein formula gG = U (F o U^T gY U) U^T with the divided differences of x^{-1/2},
// F_ij = -1 / (s_i s_j (s_i + s_j)), finite when eigenvalues coincide.
Variable inverse_sqrt_spd(const Variable& g, const char* op) {
  const EighResult e = ortho::eigh(g.value());
  check_argument(ortho::amin(e.eigenvalues).item<double>() > 0.0, op,
                 ": P P^T is singular (P must have full row rank), Gram ", g.shape());
  const Tensor s = ortho::sqrt(e.eigenvalues);
  const Tensor u = e.eigenvectors, ut = e.eigenvectors.t();
  const Tensor y = ortho::matmul(ortho::div(u, s.unsqueeze(0)), ut);
  return autograd::make_output("inverse_sqrt_spd", {g}, y, [u, ut, s](const Tensor& gy) {
    const Tensor si = s.unsqueeze(1), sj = s.unsqueeze(0);
    const Tensor f = ortho::neg(ortho::reciprocal(ortho::mul(ortho::mul(si, sj), si + sj)));
    const Tensor inner = ortho::mul(ortho::matmul(ortho::matmul(ut, gy), u), f);
    const Tensor gg = ortho::matmul(ortho::matmul(u, inner), ut);
    return autograd::Grads{ortho::mul(ortho::add(gg, gg.t()), 0.5)};
  });
}

}  // namespace

Variable cayley(const Variable& a) {
  check_square(a, "cayley");
  const Variable half = skew(a) * 0.5;
  const Variable eye = identity(a.size(0), a);
  // (I - H)^-1 (I + H) = (I - H)^-1 (2I - (I - H)) = 2 (I - H)^-1 - I: one inverse, whose
  // backward is two products, where a solve's backward factors (I - H)^T again. I - H with H
  // skew has every singular value >= 1, so the inverse is as accurate as the solve.
  return autograd::inverse(eye - half) * 2.0 - eye;
}

Variable matrix_exp_orthogonal(const Variable& a) {
  check_square(a, "matrix_exp_orthogonal");
  return autograd::expm(skew(a));
}

Variable householder_product(const Variable& v, std::int64_t rows) {
  check_matrix(v, "householder_product");
  const std::int64_t n = v.size(1);
  if (rows < 0) rows = n;
  check_argument(rows >= 1 && rows <= n, "householder_product: rows ", rows,
                 " outside [1, n] for reflectors ", v.shape());
  Variable x(Tensor::eye(n, v.dtype(), v.device()).slice(0, 0, rows));
  for (std::int64_t i = 0; i < v.size(0); ++i) {
    const Variable vi = autograd::slice(v, 0, i, i + 1);
    const Variable scaled =
        autograd::matmul(x, autograd::t(vi)) * (2.0 / autograd::sum(autograd::square(vi)));
    x = x - autograd::matmul(scaled, vi);
  }
  return x;
}

Variable bjorck(const Variable& w, std::int64_t iterations, std::int64_t order) {
  check_matrix(w, "bjorck");
  check_argument(iterations >= 0 && order >= 1, "bjorck: need iterations >= 0 and order >= 1, got ",
                 iterations, " and ", order, " for ", w.shape());
  const bool tall = w.size(0) > w.size(1);
  const Variable wide = tall ? autograd::t(w) : w;
  const Variable gram = autograd::matmul(wide, autograd::t(wide));
  const Variable bound = autograd::amax(autograd::sum(autograd::abs(gram), {1}));
  const Variable out = bjorck_wide(wide / autograd::sqrt(bound), iterations, order);
  return tall ? autograd::t(out) : out;
}

Variable gram_schmidt(const Variable& p) {
  check_wide(p, "gram_schmidt");
  // Gram-Schmidt of the rows of P is Q^T for P^T = Q R with diag(R) > 0: QR (LAPACK) gives some
  // Q R, and Q diag(s), s = sign(diag R), is the positive-diagonal factor. The signs are
  // constants (locally constant where R is invertible), so the gradient is the QR adjoint's.
  const autograd::QROutput f = autograd::qr(autograd::t(p));
  const Tensor r = f.r.value();
  const std::int64_t k = r.size(0);
  const Tensor diagonal = ortho::sum(ortho::mul(r, Tensor::eye(k, r.dtype(), r.device())), {0});
  // 1 where diag(R) >= 0, -1 where negative: never 0, so a zero pivot keeps Q's column.
  const Tensor signs = ortho::affine(ortho::lt(diagonal, 0.0), -2.0, 1.0);
  return autograd::contiguous(autograd::t(f.q * Variable(signs.unsqueeze(0))));
}

Variable lowdin(const Variable& p) {
  check_wide(p, "lowdin");
  return autograd::matmul(inverse_sqrt_spd(autograd::matmul(p, autograd::t(p)), "lowdin"), p);
}

}  // namespace ortho::nn
