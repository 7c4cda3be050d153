#pragma once

#include "autograd/variable.h"

namespace ortho::autograd {

// Differentiable matrix products (core/ops/matmul.h): NumPy promotion of 1-D operands and
// broadcasting of batch dims, whose gradients are summed back.
Variable matmul(const Variable& a, const Variable& b);
// (B, m, k) x (B, k, n).
Variable bmm(const Variable& a, const Variable& b);

}  // namespace ortho::autograd
