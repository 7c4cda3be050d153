#include "layers/batchnorm2d.h"

#include "autograd/grad_mode.h"
#include "autograd/ops/batchnorm.h"
#include "core/error.h"
#include "core/ops/elementwise.h"

namespace ortho::nn {
namespace {

// How many FreezeRunningStatsGuards are alive on this thread.
thread_local int frozen_running_stats = 0;

}  // namespace

FreezeRunningStatsGuard::FreezeRunningStatsGuard() {
  ++frozen_running_stats;
}
FreezeRunningStatsGuard::~FreezeRunningStatsGuard() {
  --frozen_running_stats;
}

BatchNorm2d::BatchNorm2d(std::int64_t num_features, double eps, double momentum)
    : num_features_(num_features), eps_(eps), momentum_(momentum) {
  check_argument(num_features > 0, "BatchNorm2d: num_features must be positive, got ",
                 num_features);
  check_argument(eps > 0.0 && momentum >= 0.0 && momentum <= 1.0,
                 "BatchNorm2d: need eps > 0 and momentum in [0, 1], got eps ", eps, " momentum ",
                 momentum);
  weight_ = register_parameter("weight", Parameter(Tensor::ones({num_features})));
  bias_ = register_parameter("bias", Parameter(Tensor::zeros({num_features})));
  register_buffer("running_mean", Tensor::zeros({num_features}));
  register_buffer("running_var", Tensor::ones({num_features}));
  register_buffer("num_batches_tracked", Tensor::scalar(0.0, DType::Int64), /*optional=*/true);
}

std::int64_t BatchNorm2d::num_batches_tracked() const {
  return buffer("num_batches_tracked").item<std::int64_t>();
}

autograd::Variable BatchNorm2d::forward(const autograd::Variable& x) {
  check_argument(x.dim() == 4 && x.size(1) == num_features_, "BatchNorm2d: input ", x.shape(),
                 " is not NCHW with ", num_features_, " channels");
  if (!is_training()) {
    return autograd::batch_norm_eval(x, weight_, bias_, running_mean(), running_var(), eps_);
  }
  const std::int64_t count = x.numel() / num_features_;
  check_argument(count > 1, "BatchNorm2d: training needs more than one value per channel, got ",
                 "input ", x.shape());
  autograd::BatchNormOutput out = autograd::batch_norm_train(x, weight_, bias_, eps_);
  if (frozen_running_stats == 0) update_running_stats(out.mean, out.var, count);
  return out.output;
}

void BatchNorm2d::update_running_stats(const Tensor& mean, const Tensor& biased_var,
                                       std::int64_t count) {
  autograd::NoGradGuard no_grad;
  const double unbias = static_cast<double>(count) / static_cast<double>(count - 1);
  // In place, so every handle to the buffers (a state_dict taken earlier) sees the update.
  Tensor mean_buffer = running_mean(), var_buffer = running_var();
  mul_(mean_buffer, 1.0 - momentum_);
  add_(mean_buffer, mean.to(mean_buffer.dtype()), momentum_);
  mul_(var_buffer, 1.0 - momentum_);
  add_(var_buffer, biased_var.to(var_buffer.dtype()), momentum_ * unbias);
  // Int64 has no arithmetic: count in float64 (exact below 2^53) on the buffer's device, so a
  // GPU step does not wait to read the counter on the host.
  Tensor counter = buffer("num_batches_tracked");
  counter.copy_(add(counter.to(DType::Float64), 1.0));
}

}  // namespace ortho::nn
