#pragma once

#include "autograd/variable.h"
#include "core/tensor.h"

namespace ortho::autograd {

// A training-mode batch norm's output and the batch statistics a layer needs to update its
// running estimates (which are no part of the graph).
struct BatchNormOutput {
  Variable output;
  Tensor mean;    // per channel
  Tensor var;     // biased per-channel variance; times n / (n - 1) for the unbiased estimate
  Tensor invstd;  // 1 / sqrt(var + eps)
};

// Normalizes an (N, C) or (N, C, H, W) input per channel with its batch statistics, then
// scales by weight and shifts by bias (both (C)).
BatchNormOutput batch_norm_train(const Variable& x, const Variable& weight, const Variable& bias,
                                 double eps);
// The same with fixed running statistics (constants of the graph).
Variable batch_norm_eval(const Variable& x, const Variable& weight, const Variable& bias,
                         const Tensor& running_mean, const Tensor& running_var, double eps);

}  // namespace ortho::autograd
