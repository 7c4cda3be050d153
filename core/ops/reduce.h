#pragma once

#include <cstdint>
#include <vector>

#include "core/shape.h"
#include "core/tensor.h"

namespace ortho {

// Reductions over any set of dims (negative dims count from the end; an empty list means
// every dim). keepdim keeps reduced dims with size 1.
Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims = {}, bool keepdim = false);
Tensor amax(const Tensor& x, const std::vector<std::int64_t>& dims = {}, bool keepdim = false);
Tensor amin(const Tensor& x, const std::vector<std::int64_t>& dims = {}, bool keepdim = false);
// Variance; unbiased divides by n - 1.
Tensor var(const Tensor& x, const std::vector<std::int64_t>& dims = {}, bool unbiased = true,
           bool keepdim = false);
// Index of the maximum along `dim` as Int64 (first one on ties).
Tensor argmax(const Tensor& x, std::int64_t dim, bool keepdim = false);

// Sums a broadcast result back to `shape` (the adjoint of broadcasting); autograd uses it.
Tensor sum_to(const Tensor& x, const Shape& shape);
// Frobenius norm over all elements, as a scalar tensor.
Tensor norm(const Tensor& x);

}  // namespace ortho
