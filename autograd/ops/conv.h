#pragma once

#include "autograd/variable.h"
#include "core/backend.h"

namespace ortho::autograd {

// Differentiable 2-D convolution over NCHW input with weight (out, in / groups, kh, kw);
// `bias` (out) may be an undefined Variable.
Variable conv2d(const Variable& input, const Variable& weight, const Variable& bias = {},
                const Conv2dParams& params = {});

}  // namespace ortho::autograd
