#pragma once

#include <cstdint>

#include "autograd/variable.h"
#include "core/backend.h"
#include "core/random.h"
#include "layers/module.h"
#include "layers/parameter.h"

namespace ortho::nn {

// 2-D convolution over NCHW input with a square kernel: weight (out, in / groups, k, k), bias
// (out). PyTorch's default init (init::default_weight_ / default_bias_).
class Conv2d : public Module {
 public:
  Conv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel_size,
         std::int64_t stride = 1, std::int64_t padding = 0, std::int64_t groups = 1,
         bool bias = true, std::int64_t dilation = 1, Generator* gen = nullptr);

  autograd::Variable forward(const autograd::Variable& x) override;

  const Parameter& weight() const { return weight_; }
  // Undefined when built without bias.
  const Parameter& bias() const { return bias_; }
  const Conv2dParams& params() const { return params_; }
  std::int64_t in_channels() const { return in_channels_; }
  std::int64_t out_channels() const { return out_channels_; }
  std::int64_t kernel_size() const { return kernel_size_; }

 protected:
  // For subclasses whose weight lives on a manifold (OrthogonalConv2d): the weight is tagged
  // `weight_manifold` and, when not Euclidean, initialized on it by init::orthogonal_.
  Conv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel_size,
         std::int64_t stride, std::int64_t padding, std::int64_t groups, bool bias,
         std::int64_t dilation, Generator* gen, Manifold weight_manifold);

 private:
  std::int64_t in_channels_, out_channels_, kernel_size_;
  Conv2dParams params_;
  Parameter weight_, bias_;
};

}  // namespace ortho::nn
