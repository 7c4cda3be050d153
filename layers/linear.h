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

 private:
  std::int64_t in_features_, out_features_;
  Parameter weight_, bias_;
};

}  // namespace ortho::nn
