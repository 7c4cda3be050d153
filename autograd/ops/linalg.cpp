// Linear algebra: each backward is the standard adjoint of the decomposition or solve,
// written with the core ops so it runs on any device.
#include "autograd/ops/linalg.h"

#include <cstdint>
#include <vector>

#include "autograd/record.h"
#include "core/error.h"
#include "core/ops/elementwise.h"
#include "core/ops/linalg.h"
#include "core/ops/matmul.h"
#include "core/ops/reduce.h"
#include "core/ops/shape_ops.h"

namespace ortho::autograd {
namespace {

Tensor mT(const Tensor& t) {
  return t.transpose(-1, -2);
}

Tensor eye_like(std::int64_t n, const Tensor& like) {
  return Tensor::eye(n, like.dtype(), like.device());
}

// A 0/1 (n, n) mask of the lower triangle, with or without the diagonal.
Tensor lower_mask(std::int64_t n, bool with_diagonal, const Tensor& like) {
  std::vector<double> mask(static_cast<std::size_t>(n * n), 0.0);
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < (with_diagonal ? i + 1 : i); ++j) {
      mask[static_cast<std::size_t>(i * n + j)] = 1.0;
    }
  }
  return Tensor::from_vector(mask, {n, n}).to(like.dtype()).to(like.device());
}

// copyltu(M) = tril(M) + tril(M, -1)^T: the symmetric matrix with M's lower triangle.
Tensor copy_lower_to_upper(const Tensor& m) {
  const std::int64_t n = m.size(-1);
  return ortho::add(ortho::mul(m, lower_mask(n, true, m)),
                    mT(ortho::mul(m, lower_mask(n, false, m))));
}

// A - B, where either may be undefined (zero).
Tensor difference(const Tensor& a, const Tensor& b) {
  if (!b.defined()) return a;
  return a.defined() ? ortho::sub(a, b) : ortho::neg(b);
}

// Reduced QR, m >= n (Liao, Liu, Wang & Xiang 2019, "Differentiable programming tensor
// networks", Appendix B): M = R gR^T - gQ^T Q and gA = (gQ + Q copyltu(M)) R^-T.
Grads qr_backward(const Tensor& q, const Tensor& r, const Tensor& gq, const Tensor& gr) {
  const Tensor m = difference(gr.defined() ? ortho::matmul(r, mT(gr)) : Tensor(),
                              gq.defined() ? ortho::matmul(mT(gq), q) : Tensor());
  Tensor b = ortho::matmul(q, copy_lower_to_upper(m));
  if (gq.defined()) b = ortho::add(b, gq);
  return {ortho::solve_triangular(mT(r), b, /*upper=*/false, /*left=*/false)};  // X R^T = b
}

// Symmetric eigendecomposition A = V diag(L) V^T (Giles 2008, Section 3.1):
// gA = V (diag(gL) + F o (V^T gV)) V^T with F_ij = 1 / (L_j - L_i) off the diagonal, then
// symmetrized since A is symmetric.
Grads eigh_backward(const Tensor& l, const Tensor& v, const Tensor& gl, const Tensor& gv) {
  const Tensor eye = eye_like(v.size(-1), v);
  Tensor inner;
  if (gv.defined()) {
    const Tensor gaps = ortho::sub(l.unsqueeze(-2), l.unsqueeze(-1));
    const Tensor zero = Tensor::scalar(0.0, v.dtype(), v.device());
    const Tensor f = ortho::where(eye, zero, ortho::reciprocal(gaps));
    inner = ortho::mul(ortho::matmul(mT(v), gv), f);
  }
  if (gl.defined()) {
    const Tensor diagonal = ortho::mul(gl.unsqueeze(-1), eye);
    inner = inner.defined() ? ortho::add(inner, diagonal) : diagonal;
  }
  const Tensor ga = ortho::matmul(ortho::matmul(v, inner), mT(v));
  return {ortho::mul(ortho::add(ga, mT(ga)), 0.5)};
}

// Reduced SVD A = U S V^T, k = min(m, n) (Townsend 2016, "Differentiating the singular value
// decomposition", eq. 30), with F_ij = 1 / (s_j^2 - s_i^2) off the diagonal:
//   gA = U [(F o (U^T gU - gU^T U)) S + diag(gS) + S (F o (V^T gV - gV^T V))] V^T
//        + (I - U U^T) gU S^-1 V^T + U S^-1 gV^T (I - V V^T).
Grads svd_backward(const Tensor& u, const Tensor& s, const Tensor& vh, const Tensor& gu,
                   const Tensor& gs, const Tensor& gvh) {
  const std::int64_t m = u.size(-2), n = vh.size(-1), k = s.size(-1);
  const Tensor v = mT(vh);
  const Tensor eye = eye_like(k, s);
  const Tensor zero = Tensor::scalar(0.0, s.dtype(), s.device());
  const Tensor s2 = ortho::square(s);
  const Tensor f =
      ortho::where(eye, zero, ortho::reciprocal(ortho::sub(s2.unsqueeze(-2), s2.unsqueeze(-1))));
  const Tensor row_s = s.unsqueeze(-2), column_s = s.unsqueeze(-1);
  const Tensor inv_s = ortho::reciprocal(s);
  Tensor inner = gs.defined() ? ortho::mul(gs.unsqueeze(-1), eye) : ortho::mul(eye, 0.0);
  Tensor outside;  // the parts of gA outside the column spaces of U and V
  if (gu.defined()) {
    const Tensor utgu = ortho::matmul(mT(u), gu);
    inner = ortho::add(inner, ortho::mul(ortho::mul(f, ortho::sub(utgu, mT(utgu))), row_s));
    if (m > k) {
      const Tensor p = ortho::mul(gu, inv_s.unsqueeze(-2));
      outside = ortho::matmul(ortho::sub(p, ortho::matmul(u, ortho::matmul(mT(u), p))), vh);
    }
  }
  if (gvh.defined()) {
    const Tensor gv = mT(gvh);
    const Tensor vtgv = ortho::matmul(mT(v), gv);
    inner = ortho::add(inner, ortho::mul(column_s, ortho::mul(f, ortho::sub(vtgv, mT(vtgv)))));
    if (n > k) {
      const Tensor q = ortho::mul(gvh, inv_s.unsqueeze(-1));
      const Tensor term = ortho::matmul(u, ortho::sub(q, ortho::matmul(ortho::matmul(q, v), vh)));
      outside = outside.defined() ? ortho::add(outside, term) : term;
    }
  }
  const Tensor ga = ortho::matmul(ortho::matmul(u, inner), vh);
  return {outside.defined() ? ortho::add(ga, outside) : ga};
}

}  // namespace

SVDOutput svd(const Variable& a) {
  SVDResult result = ortho::svd(a.value());
  const Tensor u = result.u, s = result.s, vh = result.vh;
  std::vector<Variable> out =
      make_outputs("svd", {a}, {std::move(result.u), std::move(result.s), std::move(result.vh)},
                   [u, s, vh](const std::vector<Tensor>& g) {
                     return svd_backward(u, s, vh, g[0], g[1], g[2]);
                   });
  return {out[0], out[1], out[2]};
}

QROutput qr(const Variable& a) {
  QRResult result = ortho::qr(a.value());
  if (should_record({a})) {
    check_argument(a.size(-2) >= a.size(-1),
                   "qr: gradients need m >= n (square or tall), got shape ", a.shape());
  }
  const Tensor q = result.q, r = result.r;
  std::vector<Variable> out =
      make_outputs("qr", {a}, {std::move(result.q), std::move(result.r)},
                   [q, r](const std::vector<Tensor>& g) { return qr_backward(q, r, g[0], g[1]); });
  return {out[0], out[1]};
}

EighOutput eigh(const Variable& a) {
  EighResult result = ortho::eigh(a.value());
  const Tensor l = result.eigenvalues, v = result.eigenvectors;
  std::vector<Variable> out = make_outputs(
      "eigh", {a}, {std::move(result.eigenvalues), std::move(result.eigenvectors)},
      [l, v](const std::vector<Tensor>& g) { return eigh_backward(l, v, g[0], g[1]); });
  return {out[0], out[1]};
}

// x = A^-1 b: gb = A^-T g and gA = -gb x^T, summed over broadcast batch dims.
Variable solve(const Variable& a, const Variable& b) {
  const Tensor av = a.value();
  const Tensor x = ortho::solve(av, b.value());
  return make_output(
      "solve", {a, b}, x,
      [av, x, sa = a.shape(), sb = b.shape(),
       need_a = a.requires_grad()](const Tensor& g) -> Grads {
        const Tensor gb = ortho::solve(mT(av), g);
        return {need_a ? ortho::sum_to(ortho::neg(ortho::matmul(gb, mT(x))), sa) : Tensor(),
                ortho::sum_to(gb, sb)};
      });
}

// a x = b: gb = a^-T g and ga = -gb x^T; x a = b: gb = g a^-T and ga = -x^T gb. Only a's
// triangle enters x, so ga is kept to it.
Variable solve_triangular(const Variable& a, const Variable& b, bool upper, bool left) {
  const Tensor av = a.value();
  const Tensor x = ortho::solve_triangular(av, b.value(), upper, left);
  return make_output("solve_triangular", {a, b}, x,
                     [av, x, upper, left, sa = a.shape(), sb = b.shape(),
                      need_a = a.requires_grad()](const Tensor& g) -> Grads {
                       const Tensor gb = ortho::solve_triangular(mT(av), g, !upper, left);
                       if (!need_a) return {Tensor(), ortho::sum_to(gb, sb)};
                       const Tensor outer =
                           left ? ortho::matmul(gb, mT(x)) : ortho::matmul(mT(x), gb);
                       const Tensor lower = lower_mask(av.size(-1), true, av);
                       const Tensor ga = ortho::neg(ortho::mul(outer, upper ? mT(lower) : lower));
                       return {ortho::sum_to(ga, sa), ortho::sum_to(gb, sb)};
                     });
}

// Y = A^-1: gA = -Y^T g Y^T.
Variable inverse(const Variable& a) {
  const Tensor y = ortho::inverse(a.value());
  return make_output("inverse", {a}, y, [y](const Tensor& g) -> Grads {
    return {ortho::neg(ortho::matmul(ortho::matmul(mT(y), g), mT(y)))};
  });
}

// The adjoint of the Fréchet derivative of expm at A is the derivative at A^T, read off the
// top-right block of expm([[A^T, G], [0, A^T]]) (Najfeld & Havel 1995; Al-Mohy & Higham 2009,
// eq. 1.4), so it works with any expm implementation.
Variable expm(const Variable& a) {
  const Tensor av = a.value();
  return make_output("expm", {a}, ortho::expm(av), [av](const Tensor& g) -> Grads {
    const std::int64_t n = av.size(-1);
    const Tensor at = mT(av);
    const Tensor zero = Tensor::zeros(av.shape(), av.dtype(), av.device());
    const Tensor block = ortho::cat({ortho::cat({at, g}, -1), ortho::cat({zero, at}, -1)}, -2);
    return {ortho::expm(block).slice(-2, 0, n).slice(-1, n, 2 * n)};
  });
}

Variable trace(const Variable& a) {
  const Tensor av = a.value();
  return make_output(
      "trace", {a}, ortho::trace(av), [meta = TensorMeta::of(av)](const Tensor& g) -> Grads {
        const Tensor eye = Tensor::eye(meta.shape[meta.shape.rank() - 1], meta.dtype, meta.device);
        return {ortho::mul(g.unsqueeze(-1).unsqueeze(-1), eye)};
      });
}

}  // namespace ortho::autograd
