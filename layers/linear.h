#pragma once

#include <cstdint>

#include "autograd/variable.h"
#include "core/random.h"
#include "layers/module.h"
#include "layers/parameter.h"

namespace ortho::nn {

// y = x W^T + b with W (out, in) and b (out); x is (..., in). PyTorch's default init
// (init::default_weight_ / default_bias_).
class Linear : public Module {
 public:
  Linear(std::int64_t in_features, std::int64_t out_features, bool bias = true,
         Generator* gen = nullptr);

  autograd::Variable forward(const autograd::Variable& x) override;

  const Parameter& weight() const { return weight_; }
  // Undefined when built without bias.
  const Parameter& bias() const { return bias_; }
  std::int64_t in_features() const { return in_features_; }
  std::int64_t out_features() const { return out_features_; }

 protected:
  // For subclasses whose weight lives on a manifold (OrthogonalLinear): the weight is tagged
  // `weight_manifold` and, when not Euclidean, initialized on it by init::orthogonal_.
  Linear(std::int64_t in_features, std::int64_t out_features, bool bias, Generator* gen,
         Manifold weight_manifold);

 private:
  std::int64_t in_features_, out_features_;
  Parameter weight_, bias_;
};

}  // namespace ortho::nn
