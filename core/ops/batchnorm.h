#pragma once

#include "core/tensor.h"

namespace ortho {

struct BatchNormResult {
  Tensor output;
  Tensor mean;    // per channel, training mode only
  Tensor invstd;  // 1 / sqrt(biased var + eps), training mode only
};

// Normalizes (N, C, H, W) or (N, C) per channel with batch statistics (training) or the
// running ones (eval). Updating the running statistics is the caller's job (layers/).
BatchNormResult batch_norm_train(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                 double eps);
Tensor batch_norm_eval(const Tensor& x, const Tensor& weight, const Tensor& bias,
                       const Tensor& running_mean, const Tensor& running_var, double eps);

struct BatchNormGrads {
  Tensor input, weight, bias;
};
BatchNormGrads batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight,
                                   const Tensor& mean, const Tensor& invstd);

}  // namespace ortho
