#pragma once

#include <cstdint>
#include <vector>

#include "autograd/variable.h"

namespace ortho::autograd {

// Differentiable joins and padding (core/ops/shape_ops.h); each input gets its own slice of
// the gradient.
Variable cat(const std::vector<Variable>& inputs, std::int64_t dim);
Variable stack(const std::vector<Variable>& inputs, std::int64_t dim);
// Zero padding of the last two dims (top, bottom, left, right).
Variable pad2d(const Variable& x, std::int64_t top, std::int64_t bottom, std::int64_t left,
               std::int64_t right);

}  // namespace ortho::autograd
