// Front end of dense linear algebra: shape checks, batch broadcasting, output allocation; the
// matrix exponential is composed from front-end ops so it runs on every device.
#include "core/ops/linalg.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

#include "core/backend.h"
#include "core/error.h"
#include "core/ops/elementwise.h"
#include "core/ops/matmul.h"
#include "core/ops/reduce.h"

namespace ortho {
namespace {

void check_matrix(const char* op, const Tensor& a) {
  check_floating(op, a);
  check_argument(a.dim() >= 2, op, ": expected a matrix or a batch of matrices (..., m, n), got ",
                 "shape ", a.shape());
}

void check_square(const char* op, const Tensor& a) {
  check_matrix(op, a);
  check_argument(a.size(-2) == a.size(-1), op, ": expected square matrices (..., n, n), got shape ",
                 a.shape());
}

// The leading (batch) dims of a (..., m, n) shape.
std::vector<std::int64_t> batch_dims(const Shape& shape) {
  return {shape.begin(), shape.end() - 2};
}

// `batch` followed by `tail`: the shape of a per-matrix result.
Shape batched(std::vector<std::int64_t> batch, std::initializer_list<std::int64_t> tail) {
  batch.insert(batch.end(), tail.begin(), tail.end());
  return Shape(std::move(batch));
}

// Broadcasts the batch dims of a solve's operands, naming both full shapes on failure.
std::vector<std::int64_t> solve_batch(const char* op, const Tensor& a, const Tensor& b) {
  const Shape batch_a(batch_dims(a.shape())), batch_b(batch_dims(b.shape()));
  if (batch_a == batch_b) return batch_a.dims();
  try {
    return broadcast_shapes(batch_a, batch_b, op).dims();
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument(error_message(op, ": the batch dims of a ", a.shape(), " and b ",
                                              b.shape(), " do not broadcast"));
  }
}

// The checks both solves share: square a, a matrix b of a's device and dtype.
void check_solve_operands(const char* op, const Tensor& a, const Tensor& b) {
  check_square(op, a);
  check_argument(b.defined(), op, ": undefined right-hand side");
  check_same_device_and_dtype(op, {&a, &b});
  check_argument(b.dim() >= 2, op, ": b must be a matrix (..., rows, cols), got shape ", b.shape(),
                 " for a of shape ", a.shape());
}

// Higham (2005), Section 2: theta_m is the largest ||A||_1 for which the [m/m] Padé approximant
// r_m gives exp(A) to double-precision unit roundoff in backward error, m = 3, 5, 7, 9, 13.
// Float32 uses the same thresholds: more accurate than it needs, never less.
constexpr std::array<int, 5> kPadeDegrees = {3, 5, 7, 9, 13};
constexpr std::array<double, 5> kPadeTheta = {1.495585217958292e-2, 2.539398330063230e-1,
                                              9.504178996162932e-1, 2.097847961257068e0,
                                              5.371920351148152e0};

// Coefficients b_0 .. b_m of the Padé numerator p_m(x) = sum_j b_j x^j (Higham 2005,
// Algorithm 2.3); the denominator is q_m(x) = p_m(-x).
const std::vector<double>& pade_coefficients(int m) {
  static const std::vector<double> b3 = {120, 60, 12, 1};
  static const std::vector<double> b5 = {30240, 15120, 3360, 420, 30, 1};
  static const std::vector<double> b7 = {17297280, 8648640, 1995840, 277200, 25200, 1512, 56, 1};
  static const std::vector<double> b9 = {17643225600, 8821612800, 2075673600, 302702400, 30270240,
                                         2162160,     110880,     3960,       90,        1};
  static const std::vector<double> b13 = {64764752532480000,
                                          32382376266240000,
                                          7771770303897600,
                                          1187353796428800,
                                          129060195264000,
                                          10559470521600,
                                          670442572800,
                                          33522128640,
                                          1323241920,
                                          40840800,
                                          960960,
                                          16380,
                                          182,
                                          1};
  switch (m) {
    case 3:
      return b3;
    case 5:
      return b5;
    case 7:
      return b7;
    case 9:
      return b9;
    default:
      return b13;
  }
}

// sum_i coef_i * terms_i + identity_coef * I (the identity broadcast over the batch), summed in
// place into one fresh tensor.
Tensor combination(const std::vector<std::pair<double, Tensor>>& terms, double identity_coef,
                   const Tensor& eye) {
  Tensor out = mul(terms.front().second, terms.front().first);
  for (std::size_t i = 1; i < terms.size(); ++i) add_(out, terms[i].second, terms[i].first);
  if (identity_coef != 0.0) add_(out, eye, identity_coef);
  return out;
}

// U (odd part) and V (even part) of p_m(A) = U + V for m in {3, 5, 7, 9}, built on the even
// powers A^2, A^4, ... (Higham 2005, Algorithm 2.3): U = A sum_j b_2j+1 A^2j, V = sum_j b_2j A^2j.
std::pair<Tensor, Tensor> pade_low(const Tensor& a, int m, const Tensor& eye) {
  const std::vector<double>& b = pade_coefficients(m);
  std::vector<Tensor> even_powers = {matmul(a, a)};  // A^2, A^4, ..., A^(m-1)
  while (static_cast<int>(even_powers.size()) * 2 < m - 1) {
    even_powers.push_back(matmul(even_powers.back(), even_powers.front()));
  }
  std::vector<std::pair<double, Tensor>> odd, even;
  for (std::size_t i = 0; i < even_powers.size(); ++i) {
    odd.emplace_back(b[2 * i + 3], even_powers[i]);
    even.emplace_back(b[2 * i + 2], even_powers[i]);
  }
  Tensor u = matmul(a, combination(odd, b[1], eye));
  Tensor v = combination(even, b[0], eye);
  return {std::move(u), std::move(v)};
}

// U and V of the degree-13 approximant with 6 products (Higham 2005, Algorithm 2.3):
//       U = A [A6 (b13 A6 + b11 A4 + b9 A2) + b7 A6 + b5 A4 + b3 A2 + b1 I],
//       V = A6 (b12 A6 + b10 A4 + b8 A2) + b6 A6 + b4 A4 + b2 A2 + b0 I.
std::pair<Tensor, Tensor> pade13(const Tensor& a, const Tensor& eye) {
  const std::vector<double>& b = pade_coefficients(13);
  const Tensor a2 = matmul(a, a);
  const Tensor a4 = matmul(a2, a2);
  const Tensor a6 = matmul(a4, a2);
  Tensor u_high = matmul(a6, combination({{b[13], a6}, {b[11], a4}, {b[9], a2}}, 0.0, eye));
  add_(u_high, combination({{b[7], a6}, {b[5], a4}, {b[3], a2}}, b[1], eye));
  Tensor v = matmul(a6, combination({{b[12], a6}, {b[10], a4}, {b[8], a2}}, 0.0, eye));
  add_(v, combination({{b[6], a6}, {b[4], a4}, {b[2], a2}}, b[0], eye));
  return {matmul(a, u_high), std::move(v)};
}

// ||A||_1 (largest column sum of |a_ij|) of every matrix of the batch, on the host.
std::vector<double> one_norms(const Tensor& a) {
  return amax(sum(abs(a), {-2}), {-1}).to(Device::cpu()).to_vector<double>();
}

// One value per matrix of the batch as a (..., 1, 1) tensor like `a`, for broadcasting.
Tensor per_matrix(const std::vector<double>& values, const Tensor& a) {
  return Tensor::from_vector(values, batched(batch_dims(a.shape()), {1, 1}))
      .to(a.dtype())
      .to(a.device());
}

// Squaring counts s_i = ceil(log2(||A_i||_1 / theta_13)) that bring each matrix within the
// degree-13 threshold; non-finite norms keep s = 0 so the NaN/Inf propagates instead.
std::vector<int> squaring_counts(const std::vector<double>& norms) {
  std::vector<int> s(norms.size(), 0);
  for (std::size_t i = 0; i < norms.size(); ++i) {
    if (std::isfinite(norms[i]) && norms[i] > kPadeTheta.back()) {
      s[i] = static_cast<int>(std::ceil(std::log2(norms[i] / kPadeTheta.back())));
    }
  }
  return s;
}

// X_i <- X_i^2, s_i times per matrix; matrices that need fewer squarings are held by a mask.
Tensor square_repeatedly(Tensor x, const std::vector<int>& s) {
  const int most = *std::max_element(s.begin(), s.end());
  const int fewest = *std::min_element(s.begin(), s.end());
  for (int step = 0; step < most; ++step) {
    Tensor squared = matmul(x, x);
    if (step < fewest) {
      x = std::move(squared);
      continue;
    }
    std::vector<double> mask(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) mask[i] = s[i] > step ? 1.0 : 0.0;
    x = where(per_matrix(mask, x), squared, x);
  }
  return x;
}

}  // namespace

QRResult qr(const Tensor& a) {
  check_matrix("qr", a);
  const Tensor in = a.contiguous();
  const std::int64_t m = a.size(-2), n = a.size(-1), k = std::min(m, n);
  const std::vector<std::int64_t> batch = batch_dims(a.shape());
  QRResult out{Tensor::empty(batched(batch, {m, k}), a.dtype(), a.device()),
               Tensor::empty(batched(batch, {k, n}), a.dtype(), a.device())};
  backend_for(a.device()).qr(in, out.q, out.r);
  return out;
}

EighResult eigh(const Tensor& a) {
  check_square("eigh", a);
  const Tensor in = a.contiguous();
  const std::int64_t n = a.size(-1);
  const std::vector<std::int64_t> batch = batch_dims(a.shape());
  EighResult out{Tensor::empty(batched(batch, {n}), a.dtype(), a.device()),
                 Tensor::empty(a.shape(), a.dtype(), a.device())};
  backend_for(a.device()).eigh(in, out.eigenvalues, out.eigenvectors);
  return out;
}

SVDResult svd(const Tensor& a) {
  check_matrix("svd", a);
  const Tensor in = a.contiguous();
  const std::int64_t m = a.size(-2), n = a.size(-1), k = std::min(m, n);
  const std::vector<std::int64_t> batch = batch_dims(a.shape());
  SVDResult out{Tensor::empty(batched(batch, {m, k}), a.dtype(), a.device()),
                Tensor::empty(batched(batch, {k}), a.dtype(), a.device()),
                Tensor::empty(batched(batch, {k, n}), a.dtype(), a.device())};
  backend_for(a.device()).svd(in, out.u, out.s, out.vh);
  return out;
}

Tensor solve(const Tensor& a, const Tensor& b) {
  check_solve_operands("solve", a, b);
  const std::int64_t n = a.size(-1), k = b.size(-1);
  check_argument(b.size(-2) == n, "solve: a of shape ", a.shape(), " needs b with ", n,
                 " rows, got shape ", b.shape());
  const std::vector<std::int64_t> batch = solve_batch("solve", a, b);
  const Tensor a_in = a.expand(batched(batch, {n, n})).contiguous();
  const Tensor b_in = b.expand(batched(batch, {n, k})).contiguous();
  Tensor x = Tensor::empty(batched(batch, {n, k}), a.dtype(), a.device());
  backend_for(a.device()).solve(a_in, b_in, x);
  return x;
}

Tensor solve_triangular(const Tensor& a, const Tensor& b, bool upper, bool left) {
  check_solve_operands("solve_triangular", a, b);
  const std::int64_t n = a.size(-1);
  const std::int64_t rows = b.size(-2), cols = b.size(-1);
  check_argument((left ? rows : cols) == n, "solve_triangular: a of shape ", a.shape(),
                 " needs b with ", n, left ? " rows" : " columns", ", got shape ", b.shape());
  const std::vector<std::int64_t> batch = solve_batch("solve_triangular", a, b);
  const Tensor a_in = a.expand(batched(batch, {n, n})).contiguous();
  const Tensor b_in = b.expand(batched(batch, {rows, cols})).contiguous();
  Tensor x = Tensor::empty(batched(batch, {rows, cols}), a.dtype(), a.device());
  backend_for(a.device()).solve_triangular(a_in, b_in, upper, left, x);
  return x;
}

Tensor inverse(const Tensor& a) {
  check_square("inverse", a);
  const Tensor in = a.contiguous();
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  backend_for(a.device()).inverse(in, out);
  return out;
}

// Scaling and squaring (Higham 2005, Algorithm 2.3): the smallest degree m in {3, 5, 7, 9}
// whose threshold covers every matrix of the batch, else degree 13 with each matrix scaled
// by its own 2^-s_i (no overscaling of the small ones), then r_13(A / 2^s_i)^(2^s_i).
Tensor expm(const Tensor& a) {
  check_square("expm", a);
  if (a.numel() == 0) return Tensor::empty(a.shape(), a.dtype(), a.device());
  const Tensor eye = Tensor::eye(a.size(-1), a.dtype(), a.device());
  const std::vector<double> norms = one_norms(a);
  const double largest = *std::max_element(norms.begin(), norms.end());
  for (std::size_t i = 0; i + 1 < kPadeDegrees.size(); ++i) {
    if (largest <= kPadeTheta[i]) {
      const auto [u, v] = pade_low(a, kPadeDegrees[i], eye);
      return solve(sub(v, u), add(v, u));
    }
  }
  const std::vector<int> s = squaring_counts(norms);
  Tensor scaled = a;
  if (*std::max_element(s.begin(), s.end()) > 0) {
    std::vector<double> factors(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) factors[i] = std::ldexp(1.0, -s[i]);
    scaled = mul(a, per_matrix(factors, a));
  }
  const auto [u, v] = pade13(scaled, eye);
  return square_repeatedly(solve(sub(v, u), add(v, u)), s);
}

Tensor trace(const Tensor& a) {
  check_square("trace", a);
  // The diagonal as a strided view: one step down and one step right per element.
  std::vector<std::int64_t> strides(a.strides().begin(), a.strides().end() - 2);
  strides.push_back(a.stride(-2) + a.stride(-1));
  const Tensor diagonal(a.storage(), batched(batch_dims(a.shape()), {a.size(-1)}),
                        std::move(strides), a.offset(), a.dtype());
  return sum(diagonal, {-1});
}

}  // namespace ortho
