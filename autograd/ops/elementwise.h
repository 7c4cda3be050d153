#pragma once

#include "autograd/variable.h"
#include "core/tensor.h"

namespace ortho::autograd {

// Differentiable element-wise ops over Variables, with NumPy broadcasting (gradients are
// summed back to each input's shape). Each mirrors the core op of the same name.
Variable add(const Variable& a, const Variable& b);
Variable sub(const Variable& a, const Variable& b);
Variable mul(const Variable& a, const Variable& b);
Variable div(const Variable& a, const Variable& b);
// a^b; the gradient for b is taken as 0 where a == 0 (the limit for b > 0).
Variable pow(const Variable& a, const Variable& b);
// Ties send half the gradient to each input.
Variable maximum(const Variable& a, const Variable& b);
Variable minimum(const Variable& a, const Variable& b);

Variable add(const Variable& a, double b);
Variable mul(const Variable& a, double b);
Variable pow(const Variable& a, double exponent);
// The gradient passes where low <= a <= high.
Variable clamp(const Variable& a, double low, double high);
// alpha * a + beta.
Variable affine(const Variable& a, double alpha, double beta);

Variable neg(const Variable& a);
Variable exp(const Variable& a);
Variable log(const Variable& a);
Variable sqrt(const Variable& a);
Variable abs(const Variable& a);  // gradient sign(a), 0 at 0
Variable square(const Variable& a);
Variable reciprocal(const Variable& a);
Variable relu(const Variable& a);
Variable sigmoid(const Variable& a);
Variable tanh(const Variable& a);

// cond != 0 ? a : b; `cond` is a constant mask, so gradients go to a and b only.
Variable where(const Tensor& cond, const Variable& a, const Variable& b);

Variable operator+(const Variable& a, const Variable& b);
Variable operator-(const Variable& a, const Variable& b);
Variable operator*(const Variable& a, const Variable& b);
Variable operator/(const Variable& a, const Variable& b);
Variable operator-(const Variable& a);
Variable operator+(const Variable& a, double b);
Variable operator+(double a, const Variable& b);
Variable operator-(const Variable& a, double b);
Variable operator-(double a, const Variable& b);
Variable operator*(const Variable& a, double b);
Variable operator*(double a, const Variable& b);
Variable operator/(const Variable& a, double b);
Variable operator/(double a, const Variable& b);

}  // namespace ortho::autograd
