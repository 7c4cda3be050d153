#pragma once

#include "core/backend.h"
#include "core/tensor.h"

namespace ortho {

struct MaxPoolResult {
  Tensor output;
  Tensor indices;  // Int64, flat h * W + w index into each input plane
};

MaxPoolResult max_pool2d(const Tensor& input, const Pool2dParams& params);
Tensor max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, const Shape& input_shape);
Tensor avg_pool2d(const Tensor& input, const Pool2dParams& params);
Tensor avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape,
                           const Pool2dParams& params);

}  // namespace ortho
