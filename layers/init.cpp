#include "layers/init.h"

#include <cmath>
#include <cstdint>

#include "core/error.h"
#include "core/ops/elementwise.h"
#include "core/ops/linalg.h"
#include "core/ops/reduce.h"

namespace ortho::nn::init {
namespace {

double fan_of(const Tensor& tensor, FanMode mode) {
  const Fans fans = compute_fans(tensor);
  const std::int64_t fan = mode == FanMode::FanIn ? fans.fan_in : fans.fan_out;
  check_argument(fan > 0, "init: zero fan for shape ", tensor.shape());
  return static_cast<double>(fan);
}

double kaiming_std(const Tensor& tensor, double a, FanMode mode, Nonlinearity nonlinearity) {
  return calculate_gain(nonlinearity, a) / std::sqrt(fan_of(tensor, mode));
}

double xavier_std(const Tensor& tensor, double gain) {
  const Fans fans = compute_fans(tensor);
  return gain * std::sqrt(2.0 / static_cast<double>(fans.fan_in + fans.fan_out));
}

// Writes `values` into the tensor's own storage (a const handle still shares it).
void assign(const Tensor& tensor, const Tensor& values) {
  Tensor target = tensor;
  target.copy_(values);
}

}  // namespace

double calculate_gain(Nonlinearity nonlinearity, double param) {
  switch (nonlinearity) {
    case Nonlinearity::Linear:
    case Nonlinearity::Sigmoid:
      return 1.0;
    case Nonlinearity::ReLU:
      return std::sqrt(2.0);
    case Nonlinearity::LeakyReLU:
      return std::sqrt(2.0 / (1.0 + param * param));
    case Nonlinearity::Tanh:
      return 5.0 / 3.0;
  }
  return 1.0;
}

Fans compute_fans(const Tensor& tensor) {
  check_argument(tensor.defined() && tensor.dim() >= 2,
                 "init: fan in and fan out need a tensor of rank >= 2, got ",
                 tensor.defined() ? tensor.shape() : Shape{});
  std::int64_t receptive = 1;
  for (std::int64_t d = 2; d < tensor.dim(); ++d) receptive *= tensor.size(d);
  return {tensor.size(1) * receptive, tensor.size(0) * receptive};
}

void zeros_(const Tensor& tensor) {
  constant_(tensor, 0.0);
}

void ones_(const Tensor& tensor) {
  constant_(tensor, 1.0);
}

void constant_(const Tensor& tensor, double value) {
  Tensor target = tensor;
  target.fill_(value);
}

void uniform_(const Tensor& tensor, double low, double high, Generator* gen) {
  check_floating("init::uniform_", tensor);
  assign(tensor, uniform(tensor.shape(), low, high, tensor.dtype(), tensor.device(), gen));
}

void normal_(const Tensor& tensor, double mean, double stddev, Generator* gen) {
  check_floating("init::normal_", tensor);
  assign(tensor, normal(tensor.shape(), mean, stddev, tensor.dtype(), tensor.device(), gen));
}

void kaiming_normal_(const Tensor& tensor, double a, FanMode mode, Nonlinearity nonlinearity,
                     Generator* gen) {
  normal_(tensor, 0.0, kaiming_std(tensor, a, mode, nonlinearity), gen);
}

void kaiming_uniform_(const Tensor& tensor, double a, FanMode mode, Nonlinearity nonlinearity,
                      Generator* gen) {
  const double bound = std::sqrt(3.0) * kaiming_std(tensor, a, mode, nonlinearity);
  uniform_(tensor, -bound, bound, gen);
}

void xavier_uniform_(const Tensor& tensor, double gain, Generator* gen) {
  const double bound = std::sqrt(3.0) * xavier_std(tensor, gain);
  uniform_(tensor, -bound, bound, gen);
}

void xavier_normal_(const Tensor& tensor, double gain, Generator* gen) {
  normal_(tensor, 0.0, xavier_std(tensor, gain), gen);
}

void orthogonal_(const Tensor& tensor, double gain, Generator* gen) {
  check_argument(tensor.defined() && tensor.dim() >= 2,
                 "init::orthogonal_: needs a tensor of rank >= 2, got ",
                 tensor.defined() ? tensor.shape() : Shape{});
  check_floating("init::orthogonal_", tensor);
  const std::int64_t rows = tensor.size(0);
  const std::int64_t cols = tensor.numel() / rows;
  Tensor flat = randn({rows, cols}, tensor.dtype(), tensor.device(), gen);
  const bool wide = rows < cols;
  if (wide) flat = flat.t();  // QR needs m >= n; the transpose's Q has orthonormal columns
  const QRResult qr_result = qr(flat);
  const std::int64_t k = qr_result.r.size(0);
  const Tensor diag = sum(mul(qr_result.r, Tensor::eye(k, tensor.dtype(), tensor.device())), {0});
  Tensor q = mul(qr_result.q, sign(diag));  // column j times sign(R_jj)
  if (wide) q = q.t();
  assign(tensor, mul(q, gain).reshape(tensor.shape()));
}

void default_weight_(const Tensor& weight, Generator* gen) {
  kaiming_uniform_(weight, std::sqrt(5.0), FanMode::FanIn, Nonlinearity::LeakyReLU, gen);
}

void default_bias_(const Tensor& bias, std::int64_t fan_in, Generator* gen) {
  const double bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
  uniform_(bias, -bound, bound, gen);
}

void manifold_weight_(const Tensor& weight, Manifold manifold, Generator* gen) {
  if (manifold == Manifold::Euclidean) {
    default_weight_(weight, gen);
  } else {
    orthogonal_(weight, 1.0, gen);
  }
}

}  // namespace ortho::nn::init
