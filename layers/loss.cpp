#include "layers/loss.h"

#include "autograd/ops/softmax.h"
#include "core/error.h"

namespace ortho::nn {

CrossEntropyLoss::CrossEntropyLoss(double label_smoothing) : label_smoothing_(label_smoothing) {
  check_argument(label_smoothing >= 0.0 && label_smoothing < 1.0,
                 "CrossEntropyLoss: label_smoothing must be in [0, 1), got ", label_smoothing);
}

autograd::Variable CrossEntropyLoss::forward(const autograd::Variable& logits,
                                             const Tensor& targets) const {
  return autograd::cross_entropy(logits, targets, label_smoothing_);
}

}  // namespace ortho::nn
