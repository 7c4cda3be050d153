#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace ortho {

// Joins tensors along an existing dim; all other dims must match.
Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim);
// Joins tensors along a new dim.
Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim);
// Zero padding of the last two dims (top, bottom, left, right).
Tensor pad2d(const Tensor& x, std::int64_t top, std::int64_t bottom, std::int64_t left,
             std::int64_t right);

}  // namespace ortho
