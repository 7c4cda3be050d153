#pragma once

#include <cstdint>
#include <vector>

#include "autograd/variable.h"
#include "core/shape.h"

namespace ortho::autograd {

// Differentiable reductions; dims and keepdim as in core/ops/reduce.h (an empty dims list
// reduces every dim).
Variable sum(const Variable& x, const std::vector<std::int64_t>& dims = {}, bool keepdim = false);
Variable mean(const Variable& x, const std::vector<std::int64_t>& dims = {}, bool keepdim = false);
// The gradient goes to the extreme elements, split evenly between ties.
Variable amax(const Variable& x, const std::vector<std::int64_t>& dims = {}, bool keepdim = false);
Variable amin(const Variable& x, const std::vector<std::int64_t>& dims = {}, bool keepdim = false);
Variable var(const Variable& x, const std::vector<std::int64_t>& dims = {}, bool unbiased = true,
             bool keepdim = false);
// Sums a broadcast value back to `shape`; its gradient broadcasts again.
Variable sum_to(const Variable& x, const Shape& shape);
// Frobenius norm over all elements; the gradient at 0 is taken as 0.
Variable norm(const Variable& x);

}  // namespace ortho::autograd
