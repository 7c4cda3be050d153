#pragma once

#include <cstdint>
#include <vector>

#include "autograd/variable.h"
#include "core/device.h"
#include "core/dtype.h"
#include "core/shape.h"

namespace ortho::autograd {

// Differentiable views (no copy, like the Tensor methods of the same names) and copies.
Variable reshape(const Variable& x, const Shape& shape);
Variable view(const Variable& x, const Shape& shape);
Variable permute(const Variable& x, const std::vector<std::int64_t>& dims);
Variable transpose(const Variable& x, std::int64_t dim0, std::int64_t dim1);
Variable t(const Variable& x);
Variable slice(const Variable& x, std::int64_t dim, std::int64_t start, std::int64_t end,
               std::int64_t step = 1);
Variable select(const Variable& x, std::int64_t dim, std::int64_t index);
// Broadcast size-1 dims; the gradient is summed back.
Variable expand(const Variable& x, const Shape& shape);
Variable squeeze(const Variable& x, std::int64_t dim);
Variable unsqueeze(const Variable& x, std::int64_t dim);
Variable flatten(const Variable& x, std::int64_t start_dim = 0, std::int64_t end_dim = -1);

Variable contiguous(const Variable& x);
Variable clone(const Variable& x);
// Copies to another device or dtype; the gradient comes back to the input's.
Variable to(const Variable& x, Device device);
Variable to(const Variable& x, DType dtype);

}  // namespace ortho::autograd
