#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace ortho {

Tensor softmax(const Tensor& x, std::int64_t dim = -1);
Tensor log_softmax(const Tensor& x, std::int64_t dim = -1);
Tensor softmax_backward(const Tensor& grad_y, const Tensor& y, std::int64_t dim = -1);
Tensor log_softmax_backward(const Tensor& grad_y, const Tensor& y, std::int64_t dim = -1);

struct CrossEntropyResult {
  Tensor losses;     // (N,) per-sample loss
  Tensor log_probs;  // (N, C), kept for backward
};
// Logits (N, C), Int64 targets (N,) in [0, C); label smoothing in [0, 1).
CrossEntropyResult cross_entropy(const Tensor& logits, const Tensor& targets,
                                 double label_smoothing = 0.0);
Tensor cross_entropy_backward(const Tensor& grad_losses, const Tensor& log_probs,
                              const Tensor& targets, double label_smoothing = 0.0);

}  // namespace ortho
