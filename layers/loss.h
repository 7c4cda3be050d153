#pragma once

#include "autograd/variable.h"
#include "core/tensor.h"

namespace ortho::nn {

// Mean cross-entropy of logits (N, C) against Int64 class targets (N,), with label smoothing
// in [0, 1) (Szegedy et al. 2016, Section 7). A loss takes two inputs, so it is a callable
// rather than a single-input Module.
class CrossEntropyLoss {
 public:
  explicit CrossEntropyLoss(double label_smoothing = 0.0);
  autograd::Variable forward(const autograd::Variable& logits, const Tensor& targets) const;
  autograd::Variable operator()(const autograd::Variable& logits, const Tensor& targets) const {
    return forward(logits, targets);
  }
  double label_smoothing() const { return label_smoothing_; }

 private:
  double label_smoothing_;
};

}  // namespace ortho::nn
