#pragma once

#include <cstdint>

#include "autograd/variable.h"
#include "core/tensor.h"

namespace ortho::autograd {

Variable softmax(const Variable& x, std::int64_t dim = -1);
Variable log_softmax(const Variable& x, std::int64_t dim = -1);
// Mean over the batch of the cross-entropy of logits (N, C) against Int64 class targets (N,),
// with label smoothing in [0, 1) (Szegedy et al. 2016, Section 7).
Variable cross_entropy(const Variable& logits, const Tensor& targets, double label_smoothing = 0.0);

}  // namespace ortho::autograd
