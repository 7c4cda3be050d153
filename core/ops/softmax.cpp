// Front end of softmax, log-softmax and cross-entropy. The kernels work on the last dim of a
// contiguous tensor; another dim is moved last with a transposed copy and the result is
// returned as the transposed-back view.
#include "core/ops/softmax.h"

#include <algorithm>

#include "core/backend.h"
#include "core/error.h"

namespace ortho {
namespace {

Tensor softmax_forward(const char* name, const Tensor& x, std::int64_t dim, bool log) {
  check_floating(name, x);
  // A scalar behaves as one element along dim 0 (or -1).
  const std::int64_t d = normalize_dim(dim, std::max<std::int64_t>(x.dim(), 1), name);
  if (x.dim() == 0) return softmax_forward(name, x.reshape({1}), 0, log).reshape({});
  const std::int64_t last = x.dim() - 1;
  const Tensor moved = x.transpose(d, last).contiguous();
  Tensor y = Tensor::empty(moved.shape(), x.dtype(), x.device());
  if (y.numel() > 0) backend_for(x.device()).softmax_forward(moved, y, log);
  return y.transpose(d, last);
}

Tensor softmax_backward_op(const char* name, const Tensor& grad_y, const Tensor& y,
                           std::int64_t dim, bool log) {
  check_same_device_and_dtype(name, {&grad_y, &y});
  check_floating(name, y);
  check_argument(grad_y.shape() == y.shape(), name, ": grad_y of shape ", grad_y.shape(),
                 " does not match y of shape ", y.shape());
  const std::int64_t d = normalize_dim(dim, std::max<std::int64_t>(y.dim(), 1), name);
  if (y.dim() == 0) {
    return softmax_backward_op(name, grad_y.reshape({1}), y.reshape({1}), 0, log).reshape({});
  }
  const std::int64_t last = y.dim() - 1;
  const Tensor g = grad_y.transpose(d, last).contiguous();
  const Tensor yt = y.transpose(d, last).contiguous();
  Tensor gx = Tensor::empty(yt.shape(), y.dtype(), y.device());
  if (gx.numel() > 0) backend_for(y.device()).softmax_backward(g, yt, log, gx);
  return gx.transpose(d, last);
}

void check_targets(const char* name, const Tensor& targets, std::int64_t n, const Tensor& like) {
  check_argument(targets.defined(), name, ": undefined targets");
  check_argument(targets.dtype() == DType::Int64, name, ": targets must be int64, got ",
                 dtype_name(targets.dtype()), " of shape ", targets.shape());
  check_argument(targets.device() == like.device(), name, ": targets on ",
                 targets.device().to_string(), " but logits on ", like.device().to_string());
  check_argument(targets.dim() == 1 && targets.shape()[0] == n, name, ": targets of shape ",
                 targets.shape(), " do not match ", n, " samples of shape ", like.shape());
}

void check_smoothing(const char* name, double label_smoothing) {
  check_argument(label_smoothing >= 0.0 && label_smoothing < 1.0, name,
                 ": label_smoothing must be in [0, 1), got ", label_smoothing);
}

}  // namespace

Tensor softmax(const Tensor& x, std::int64_t dim) {
  return softmax_forward("softmax", x, dim, false);
}

Tensor log_softmax(const Tensor& x, std::int64_t dim) {
  return softmax_forward("log_softmax", x, dim, true);
}

Tensor softmax_backward(const Tensor& grad_y, const Tensor& y, std::int64_t dim) {
  return softmax_backward_op("softmax_backward", grad_y, y, dim, false);
}

Tensor log_softmax_backward(const Tensor& grad_y, const Tensor& y, std::int64_t dim) {
  return softmax_backward_op("log_softmax_backward", grad_y, y, dim, true);
}

CrossEntropyResult cross_entropy(const Tensor& logits, const Tensor& targets,
                                 double label_smoothing) {
  check_floating("cross_entropy", logits);
  check_argument(logits.dim() == 2 && logits.shape()[1] > 0,
                 "cross_entropy: logits must be (N, C) with C > 0, got shape ", logits.shape());
  const std::int64_t n = logits.shape()[0];
  check_targets("cross_entropy", targets, n, logits);
  check_smoothing("cross_entropy", label_smoothing);
  CrossEntropyResult result{Tensor::empty({n}, logits.dtype(), logits.device()),
                            Tensor::empty(logits.shape(), logits.dtype(), logits.device())};
  if (n > 0) {
    backend_for(logits.device())
        .cross_entropy_forward(logits.contiguous(), targets.contiguous(), label_smoothing,
                               result.losses, result.log_probs);
  }
  return result;
}

Tensor cross_entropy_backward(const Tensor& grad_losses, const Tensor& log_probs,
                              const Tensor& targets, double label_smoothing) {
  const char* name = "cross_entropy_backward";
  check_same_device_and_dtype(name, {&grad_losses, &log_probs});
  check_floating(name, log_probs);
  check_argument(log_probs.dim() == 2 && log_probs.shape()[1] > 0, name,
                 ": log_probs must be (N, C) with C > 0, got shape ", log_probs.shape());
  const std::int64_t n = log_probs.shape()[0];
  check_argument(grad_losses.dim() == 1 && grad_losses.shape()[0] == n, name,
                 ": grad_losses of shape ", grad_losses.shape(),
                 " does not match log_probs of shape ", log_probs.shape());
  check_targets(name, targets, n, log_probs);
  check_smoothing(name, label_smoothing);
  Tensor grad = Tensor::empty(log_probs.shape(), log_probs.dtype(), log_probs.device());
  if (n > 0) {
    backend_for(log_probs.device())
        .cross_entropy_backward(grad_losses.contiguous(), log_probs.contiguous(),
                                targets.contiguous(), label_smoothing, grad);
  }
  return grad;
}

}  // namespace ortho
