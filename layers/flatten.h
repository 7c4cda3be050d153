#pragma once

#include <cstdint>

#include "autograd/ops/views.h"
#include "autograd/variable.h"
#include "layers/module.h"

namespace ortho::nn {

// Merges dims start_dim..end_dim into one; by default keeps the batch dim: (N, C, H, W) ->
// (N, C*H*W).
class Flatten : public Module {
 public:
  explicit Flatten(std::int64_t start_dim = 1, std::int64_t end_dim = -1)
      : start_dim_(start_dim), end_dim_(end_dim) {}
  autograd::Variable forward(const autograd::Variable& x) override {
    return autograd::flatten(x, start_dim_, end_dim_);
  }

 private:
  std::int64_t start_dim_, end_dim_;
};

}  // namespace ortho::nn
