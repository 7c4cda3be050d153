#pragma once

#include "autograd/variable.h"
#include "core/backend.h"

namespace ortho::autograd {

// Differentiable 2-D pooling over NCHW input. Max pooling sends each window's gradient to
// the element that was its maximum.
Variable max_pool2d(const Variable& input, const Pool2dParams& params);
Variable avg_pool2d(const Variable& input, const Pool2dParams& params);

}  // namespace ortho::autograd
