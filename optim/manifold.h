#pragma once

#include <string>

#include "core/tensor.h"
#include "layers/parameter.h"

// Geometry of the orthogonal group O(p) and the Stiefel manifold St(n, p), on float32 and
// float64 tensors, batched over leading dims: every function takes (..., n, p) matrices and
// works on each one.
//
// Points are stored tall: X (..., n, p) with n >= p and X^T X = I_p (for O(p), n = p). A
// Stiefel weight with orthonormal rows (out <= fan-in) is viewed through its transpose (see
// manifold_matrix), so the formulas below, written for X tall as in Ablin, Vary, Gao & Absil
// (2023), cover both orientations. No function forms an n x n matrix when p < n: everything
// is O(n p^2), as the landing papers require.
namespace ortho::optim {

// (M - M^T) / 2 and (M + M^T) / 2 of square matrices.
Tensor skew(const Tensor& m);
Tensor sym(const Tensor& m);

// The tall (..., n, p) view of a manifold-tagged value (or of a tensor of the same shape, e.g.
// its gradient), sharing storage: Orthogonal values as they are; Stiefel values reshaped to
// (size(0), numel / size(0)) and transposed when wider than tall. The value must be contiguous.
Tensor manifold_matrix(const Tensor& value, nn::Manifold manifold);

// X^T X - I_p: zero exactly on the manifold.
Tensor gram_residual(const Tensor& x);
// ||X^T X - I_p||_F per matrix, shape (...). For a square X it equals ||X X^T - I||_F; for a
// wide weight W = X^T it is ||W W^T - I||_F.
Tensor distance_to_manifold(const Tensor& x);

// Projection of Z onto the tangent space at X for the Euclidean metric: Z - X sym(X^T Z).
// Applied to the Euclidean gradient G it is the Riemannian gradient.
Tensor project_tangent(const Tensor& x, const Tensor& z);

// The relative gradient skew(G X^T) X, computed as (G (X^T X) - X (G^T X)) / 2 (Ablin & Peyré
// 2022 for O(p); Ablin et al. 2023 for St(n, p)). On the manifold it is half the
// Riemannian gradient of the canonical metric.
Tensor relative_gradient(const Tensor& x, const Tensor& g);
// lambda * X (X^T X - I_p): the gradient of lambda * N(X) = lambda/4 ||X^T X - I||_F^2.
Tensor normal_field(const Tensor& x, double lambda);
// The landing field Lambda(X) = skew(G X^T) X + lambda X (X^T X - I_p) (Ablin & Peyré 2022;
// Ablin et al. 2023). Its two terms are orthogonal, so it vanishes exactly at
// the critical points of f on the manifold.
Tensor landing_field(const Tensor& x, const Tensor& g, double lambda);

// The landing field and, from the same Gram matrix, the distance to the manifold of each
// matrix (shape (...)): what a landing step with the safe step size needs.
struct LandingDirection {
  Tensor field, distance;
};
LandingDirection landing_direction(const Tensor& x, const Tensor& g, double lambda);

// The largest step eta with which X - eta * Lambda(X) stays within distance `epsilon` of the
// manifold, given the current distance d and ||Lambda(X)||_F = field_norm (the safe step of
// Ablin & Peyré 2022 and Ablin et al. 2023). From
//   X'^T X' - I = Delta - 2 eta lambda (I + Delta) Delta + eta^2 Lambda^T Lambda,
// for eta <= 1 / (2 lambda): d' <= d + 2 eta lambda d (d - 1) + eta^2 ||Lambda||^2; the step is
// the positive root of that bound set equal to epsilon (when d > epsilon, the step that
// decreases the bound most). Infinite when nothing limits it.
double safe_step_size(double distance, double field_norm, double lambda, double epsilon);

// Retractions R(X, Z) from a point X on the manifold along a tangent vector Z.
//   Exp:    exp(A) X, the geodesic of the canonical metric (Edelman, Arias & Smith 1998), with
//           A = P Z X^T - X Z^T P, P = I - X X^T / 2, so that A X = Z.
//   Cayley: (I - A/2)^{-1} (I + A/2) X (Wen & Yin 2013).
//   QR:     the Q factor of X + Z, column signs fixed so that diag(R) > 0.
//   Polar:  (X + Z) ((X + Z)^T (X + Z))^{-1/2}, the projection of X + Z onto the manifold.
// For n > 2p, Exp and Cayley use A's rank-2p factors, so they cost O(n p^2) too.
enum class Retraction { Exp, Cayley, QR, Polar };

std::string retraction_name(Retraction retraction);
// "exp", "cayley", "qr" or "polar"; std::invalid_argument naming the choices otherwise.
Retraction parse_retraction(const std::string& name);

Tensor retract(Retraction retraction, const Tensor& x, const Tensor& z);

}  // namespace ortho::optim
