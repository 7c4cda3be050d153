#pragma once

#include "core/backend.h"
#include "core/tensor.h"

namespace ortho {

// 2-D convolution over NCHW input with weight (out, in / groups, kh, kw); bias may be an
// undefined Tensor.
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
              const Conv2dParams& params);
Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Shape& input_shape,
                             const Conv2dParams& params);
Tensor conv2d_backward_weight(const Tensor& grad_out, const Tensor& input,
                              const Shape& weight_shape, const Conv2dParams& params);
// Output spatial size of a convolution or pooling window; throws when it would be < 1.
std::int64_t conv_output_size(std::int64_t input, std::int64_t kernel, std::int64_t stride,
                              std::int64_t pad, std::int64_t dilation, const char* op);

}  // namespace ortho
