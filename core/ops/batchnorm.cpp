// Front end of batch normalization: validates (N, C, H, W) or (N, C) inputs against the
// per-channel (C) tensors, allocates outputs and hands contiguous operands to the backend.
#include "core/ops/batchnorm.h"

#include <cmath>
#include <cstdint>

#include "core/backend.h"
#include "core/error.h"

namespace ortho {
namespace {

void check_input(const char* op, const Tensor& x) {
  check_floating(op, x);
  check_argument(x.dim() == 2 || x.dim() == 4, op,
                 ": expected an (N, C) or (N, C, H, W) input, got shape ", x.shape());
}

// `t` must be a (C) vector matching the channels of `x`.
void check_per_channel(const char* op, const char* name, const Tensor& t, const Tensor& x) {
  check_argument(t.defined(), op, ": ", name, " is undefined (input shape ", x.shape(), ")");
  check_argument(t.dim() == 1 && t.size(0) == x.size(1), op, ": ", name, " of shape ", t.shape(),
                 " does not match the ", x.size(1), " channels of input shape ", x.shape());
}

void check_eps(const char* op, double eps) {
  check_argument(std::isfinite(eps) && eps >= 0.0, op, ": eps must be finite and >= 0, got ", eps);
}

// Batch statistics need at least one value per channel.
void check_nonempty_batch(const char* op, const Tensor& x) {
  check_argument(x.numel() > 0 || x.size(1) == 0, op,
                 ": needs at least one value per channel, got input shape ", x.shape());
}

}  // namespace

BatchNormResult batch_norm_train(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                 double eps) {
  const char* op = "batch_norm";
  check_input(op, x);
  check_per_channel(op, "weight", weight, x);
  check_per_channel(op, "bias", bias, x);
  check_same_device_and_dtype(op, {&x, &weight, &bias});
  check_eps(op, eps);
  check_nonempty_batch(op, x);
  const std::int64_t channels = x.size(1);
  BatchNormResult result{Tensor::empty(x.shape(), x.dtype(), x.device()),
                         Tensor::empty({channels}, x.dtype(), x.device()),
                         Tensor::empty({channels}, x.dtype(), x.device())};
  if (x.numel() > 0) {
    backend_for(x.device())
        .batch_norm_forward_train(x.contiguous(), weight.contiguous(), bias.contiguous(), eps,
                                  result.output, result.mean, result.invstd);
  }
  return result;
}

Tensor batch_norm_eval(const Tensor& x, const Tensor& weight, const Tensor& bias,
                       const Tensor& running_mean, const Tensor& running_var, double eps) {
  const char* op = "batch_norm";
  check_input(op, x);
  check_per_channel(op, "weight", weight, x);
  check_per_channel(op, "bias", bias, x);
  check_per_channel(op, "running_mean", running_mean, x);
  check_per_channel(op, "running_var", running_var, x);
  check_same_device_and_dtype(op, {&x, &weight, &bias, &running_mean, &running_var});
  check_eps(op, eps);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.numel() > 0) {
    backend_for(x.device())
        .batch_norm_forward_eval(x.contiguous(), weight.contiguous(), bias.contiguous(),
                                 running_mean.contiguous(), running_var.contiguous(), eps, y);
  }
  return y;
}

BatchNormGrads batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight,
                                   const Tensor& mean, const Tensor& invstd) {
  const char* op = "batch_norm_backward";
  check_input(op, x);
  check_floating(op, grad_y);
  check_argument(grad_y.shape() == x.shape(), op, ": grad_y of shape ", grad_y.shape(),
                 " does not match input of shape ", x.shape());
  check_per_channel(op, "weight", weight, x);
  check_per_channel(op, "mean", mean, x);
  check_per_channel(op, "invstd", invstd, x);
  check_same_device_and_dtype(op, {&grad_y, &x, &weight, &mean, &invstd});
  check_nonempty_batch(op, x);
  const std::int64_t channels = x.size(1);
  BatchNormGrads grads{Tensor::empty(x.shape(), x.dtype(), x.device()),
                       Tensor::empty({channels}, x.dtype(), x.device()),
                       Tensor::empty({channels}, x.dtype(), x.device())};
  if (x.numel() > 0) {
    backend_for(x.device())
        .batch_norm_backward(grad_y.contiguous(), x.contiguous(), weight.contiguous(),
                             mean.contiguous(), invstd.contiguous(), grads.input, grads.weight,
                             grads.bias);
  }
  return grads;
}

}  // namespace ortho
