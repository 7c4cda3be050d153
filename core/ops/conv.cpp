// Front end of 2-D convolution over NCHW tensors: validates shapes, parameters, devices and
// dtypes, allocates contiguous outputs and hands contiguous operands to the backend.
#include "core/ops/conv.h"

#include <cstdint>
#include <vector>

#include "core/error.h"

namespace ortho {
namespace {

void check_params(const char* op, const Conv2dParams& p, const Shape& input, const Shape& weight) {
  check_argument(p.stride_h >= 1 && p.stride_w >= 1, op, ": stride must be >= 1, got ", p.stride_h,
                 " x ", p.stride_w, " for input ", input, " and weight ", weight);
  check_argument(p.dilation_h >= 1 && p.dilation_w >= 1, op, ": dilation must be >= 1, got ",
                 p.dilation_h, " x ", p.dilation_w, " for input ", input, " and weight ", weight);
  check_argument(p.pad_h >= 0 && p.pad_w >= 0, op, ": padding must be >= 0, got ", p.pad_h, " x ",
                 p.pad_w, " for input ", input, " and weight ", weight);
  check_argument(p.groups >= 1, op, ": groups must be >= 1, got ", p.groups, " for input ", input,
                 " and weight ", weight);
}

// Checks an NCHW input shape against an (out, in / groups, kh, kw) weight shape and returns
// the output shape.
Shape output_shape(const char* op, const Shape& input, const Shape& weight, const Conv2dParams& p) {
  check_argument(input.rank() == 4, op, ": expected a 4-D (N, C, H, W) input, got shape ", input,
                 " with weight ", weight);
  check_argument(weight.rank() == 4, op, ": expected a 4-D (out, in / groups, kh, kw) weight, ",
                 "got shape ", weight, " with input ", input);
  check_params(op, p, input, weight);
  check_argument(weight[0] % p.groups == 0, op, ": out channels ", weight[0], " of weight ", weight,
                 " are not divisible by groups ", p.groups);
  check_argument(input[1] == weight[1] * p.groups, op, ": input ", input, " has ", input[1],
                 " channels but weight ", weight, " with groups ", p.groups, " expects ",
                 weight[1] * p.groups);
  check_argument(weight[2] >= 1 && weight[3] >= 1, op, ": empty kernel in weight ", weight);
  return Shape{input[0], weight[0],
               conv_output_size(input[2], weight[2], p.stride_h, p.pad_h, p.dilation_h, op),
               conv_output_size(input[3], weight[3], p.stride_w, p.pad_w, p.dilation_w, op)};
}

void check_grad_out(const char* op, const Tensor& grad_out, const Shape& expected) {
  check_argument(grad_out.shape() == expected, op, ": grad_out of shape ", grad_out.shape(),
                 " does not match the convolution output shape ", expected);
}

}  // namespace

std::int64_t conv_output_size(std::int64_t input, std::int64_t kernel, std::int64_t stride,
                              std::int64_t pad, std::int64_t dilation, const char* op) {
  check_argument(stride >= 1 && dilation >= 1 && kernel >= 1 && pad >= 0, op,
                 ": invalid window (kernel ", kernel, ", stride ", stride, ", padding ", pad,
                 ", dilation ", dilation, ")");
  const std::int64_t span = dilation * (kernel - 1) + 1;
  check_argument(input + 2 * pad >= span, op, ": input size ", input, " with padding ", pad,
                 " is smaller than the dilated kernel extent ", span, " (output size < 1)");
  return (input + 2 * pad - span) / stride + 1;
}

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias,
              const Conv2dParams& params) {
  const char* op = "conv2d";
  check_floating(op, input);
  check_floating(op, weight);
  std::vector<const Tensor*> operands{&input, &weight};
  if (bias.defined()) operands.push_back(&bias);
  check_same_device_and_dtype(op, operands);
  const Shape out_shape = output_shape(op, input.shape(), weight.shape(), params);
  if (bias.defined()) {
    check_argument(bias.shape() == Shape{weight.size(0)}, op, ": bias of shape ", bias.shape(),
                   " does not match the ", weight.size(0), " out channels of weight ",
                   weight.shape());
  }
  Tensor out = Tensor::empty(out_shape, input.dtype(), input.device());
  if (out.numel() == 0) return out;
  backend_for(input.device())
      .conv2d_forward(input.contiguous(), weight.contiguous(),
                      bias.defined() ? bias.contiguous() : bias, params, out);
  return out;
}

Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Shape& input_shape,
                             const Conv2dParams& params) {
  const char* op = "conv2d_backward_input";
  check_floating(op, grad_out);
  check_floating(op, weight);
  check_same_device_and_dtype(op, {&grad_out, &weight});
  check_grad_out(op, grad_out, output_shape(op, input_shape, weight.shape(), params));
  Tensor grad_input = Tensor::empty(input_shape, grad_out.dtype(), grad_out.device());
  if (grad_input.numel() == 0) return grad_input;
  if (grad_out.numel() == 0) return grad_input.zero_();
  backend_for(grad_out.device())
      .conv2d_backward_input(grad_out.contiguous(), weight.contiguous(), params, grad_input);
  return grad_input;
}

Tensor conv2d_backward_weight(const Tensor& grad_out, const Tensor& input,
                              const Shape& weight_shape, const Conv2dParams& params) {
  const char* op = "conv2d_backward_weight";
  check_floating(op, grad_out);
  check_floating(op, input);
  check_same_device_and_dtype(op, {&grad_out, &input});
  check_grad_out(op, grad_out, output_shape(op, input.shape(), weight_shape, params));
  Tensor grad_weight = Tensor::empty(weight_shape, grad_out.dtype(), grad_out.device());
  if (grad_weight.numel() == 0) return grad_weight;
  if (grad_out.numel() == 0) return grad_weight.zero_();
  backend_for(grad_out.device())
      .conv2d_backward_weight(grad_out.contiguous(), input.contiguous(), params, grad_weight);
  return grad_weight;
}

}  // namespace ortho
