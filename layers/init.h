#pragma once

#include <cstdint>

#include "core/random.h"
#include "core/tensor.h"
#include "layers/parameter.h"

// In-place initializers for parameter values, matching torch.nn.init. Each writes into the
// given tensor's storage (a Parameter's value() shares it) and draws from `gen`, or from the
// tensor's device's default generator when `gen` is null.
namespace ortho::nn::init {

enum class FanMode { FanIn, FanOut };
enum class Nonlinearity { Linear, ReLU, LeakyReLU, Tanh, Sigmoid };

// The recommended gain for a nonlinearity (torch.nn.init.calculate_gain); `param` is the
// negative slope of LeakyReLU.
double calculate_gain(Nonlinearity nonlinearity, double param = 0.01);

struct Fans {
  std::int64_t fan_in = 0, fan_out = 0;
};
// fan_in = size(1) * receptive field, fan_out = size(0) * receptive field, for tensors of rank
// >= 2 (Linear (out, in), Conv (out, in / groups, kh, kw)); std::invalid_argument otherwise.
Fans compute_fans(const Tensor& tensor);

void zeros_(const Tensor& tensor);
void ones_(const Tensor& tensor);
void constant_(const Tensor& tensor, double value);
void uniform_(const Tensor& tensor, double low = 0.0, double high = 1.0, Generator* gen = nullptr);
void normal_(const Tensor& tensor, double mean = 0.0, double stddev = 1.0,
             Generator* gen = nullptr);

// He et al. 2015, "Delving Deep into Rectifiers", Eq. 10/14: std = gain / sqrt(fan), with
// gain = sqrt(2 / (1 + a^2)) for (leaky) ReLU of negative slope a.
void kaiming_normal_(const Tensor& tensor, double a = 0.0, FanMode mode = FanMode::FanIn,
                     Nonlinearity nonlinearity = Nonlinearity::LeakyReLU, Generator* gen = nullptr);
// The uniform variant with the same std: bound = sqrt(3) * gain / sqrt(fan).
void kaiming_uniform_(const Tensor& tensor, double a = 0.0, FanMode mode = FanMode::FanIn,
                      Nonlinearity nonlinearity = Nonlinearity::LeakyReLU,
                      Generator* gen = nullptr);
// Glorot & Bengio 2010, Eq. 16: std = gain * sqrt(2 / (fan_in + fan_out)).
void xavier_uniform_(const Tensor& tensor, double gain = 1.0, Generator* gen = nullptr);
void xavier_normal_(const Tensor& tensor, double gain = 1.0, Generator* gen = nullptr);
// Saxe et al. 2014: the Q factor of a Gaussian matrix with the signs of diag(R) folded in (so
// Q is Haar-distributed), reshaped as (size(0), numel / size(0)) with orthonormal rows or
// columns, times `gain`.
void orthogonal_(const Tensor& tensor, double gain = 1.0, Generator* gen = nullptr);

// PyTorch's default for Linear and Conv weights: kaiming_uniform_ with a = sqrt(5), i.e.
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)); and the matching bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
void default_weight_(const Tensor& weight, Generator* gen = nullptr);
void default_bias_(const Tensor& bias, std::int64_t fan_in, Generator* gen = nullptr);
// A weight's initial value for its manifold: default_weight_ when Euclidean, else a point on
// it, orthogonal_ (QR of a Gaussian) on the (size(0), numel / size(0)) view.
void manifold_weight_(const Tensor& weight, Manifold manifold, Generator* gen = nullptr);

}  // namespace ortho::nn::init
