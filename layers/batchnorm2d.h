#pragma once

#include <cstdint>

#include "autograd/variable.h"
#include "core/tensor.h"
#include "layers/module.h"
#include "layers/parameter.h"

namespace ortho::nn {

// Batch normalization over the channels of NCHW input (Ioffe & Szegedy 2015, Algorithm 1-2),
// with PyTorch's semantics: training normalizes with the batch statistics and updates the
// buffers once per forward,
//   running_mean <- (1 - momentum) running_mean + momentum mean,
//   running_var  <- (1 - momentum) running_var  + momentum var * n / (n - 1)  (unbiased),
// and counts num_batches_tracked (an optional buffer: state dicts without it still load);
// evaluation normalizes with the running statistics. Training needs N*H*W > 1, as in PyTorch.
// weight starts at 1 and bias at 0; eps 1e-5 and momentum 0.1 by default.
class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(std::int64_t num_features, double eps = 1e-5, double momentum = 0.1);

  autograd::Variable forward(const autograd::Variable& x) override;

  const Parameter& weight() const { return weight_; }
  const Parameter& bias() const { return bias_; }
  // The buffers as registered (to(), load_state_dict() may replace them).
  const Tensor& running_mean() const { return buffer("running_mean"); }
  const Tensor& running_var() const { return buffer("running_var"); }
  std::int64_t num_batches_tracked() const;
  std::int64_t num_features() const { return num_features_; }
  double eps() const { return eps_; }
  double momentum() const { return momentum_; }

 private:
  void update_running_stats(const Tensor& mean, const Tensor& biased_var, std::int64_t count);

  std::int64_t num_features_;
  double eps_, momentum_;
  Parameter weight_, bias_;
};

// While one is alive on this thread, training-mode BatchNorm2d layers still normalize with the
// statistics of their batch but leave running_mean, running_var and num_batches_tracked alone:
// a recomputation (invertible backprop, checkpointing) replays a forward that already updated
// them once. Guards nest.
class FreezeRunningStatsGuard {
 public:
  FreezeRunningStatsGuard();
  ~FreezeRunningStatsGuard();
  FreezeRunningStatsGuard(const FreezeRunningStatsGuard&) = delete;
  FreezeRunningStatsGuard& operator=(const FreezeRunningStatsGuard&) = delete;
};

}  // namespace ortho::nn
