// Front end of 2-D max and average pooling over NCHW tensors: validates the window against
// the input, allocates contiguous outputs and hands contiguous inputs to the backend.
#include "core/ops/pool.h"

#include <cstdint>

#include "core/backend.h"
#include "core/error.h"

namespace ortho {
namespace {

// Output extent along one axis (floor mode); the window must fit the padded input once.
std::int64_t pool_output_size(const char* op, std::int64_t input, std::int64_t kernel,
                              std::int64_t stride, std::int64_t pad, const Shape& shape) {
  check_argument(input + 2 * pad >= kernel, op, ": kernel ", kernel, " with padding ", pad,
                 " does not fit input of shape ", shape);
  return (input + 2 * pad - kernel) / stride + 1;
}

void check_params(const char* op, const Pool2dParams& p, const Shape& shape) {
  check_argument(p.kernel_h >= 1 && p.kernel_w >= 1, op, ": kernel size must be >= 1, got ",
                 p.kernel_h, " x ", p.kernel_w, " for input of shape ", shape);
  check_argument(p.stride_h >= 1 && p.stride_w >= 1, op, ": stride must be >= 1, got ", p.stride_h,
                 " x ", p.stride_w, " for input of shape ", shape);
  // Half the kernel at most, so every window holds at least one real element.
  check_argument(
      p.pad_h >= 0 && p.pad_w >= 0 && p.pad_h <= p.kernel_h / 2 && p.pad_w <= p.kernel_w / 2, op,
      ": padding ", p.pad_h, " x ", p.pad_w, " must be >= 0 and at most half the kernel ",
      p.kernel_h, " x ", p.kernel_w, " for input of shape ", shape);
}

// Validates the window for an NCHW `input_shape` and returns the pooled output shape.
Shape pooled_shape(const char* op, const Shape& input_shape, const Pool2dParams& p) {
  check_argument(input_shape.rank() == 4, op, ": expected a 4-D (N, C, H, W) input, got shape ",
                 input_shape);
  check_params(op, p, input_shape);
  return Shape{input_shape[0], input_shape[1],
               pool_output_size(op, input_shape[2], p.kernel_h, p.stride_h, p.pad_h, input_shape),
               pool_output_size(op, input_shape[3], p.kernel_w, p.stride_w, p.pad_w, input_shape)};
}

void check_grad_out(const char* op, const Tensor& grad_out, const Shape& expected,
                    const Shape& input_shape) {
  check_floating(op, grad_out);
  check_argument(grad_out.shape() == expected, op, ": grad_out of shape ", grad_out.shape(),
                 " does not match the pooled shape ", expected, " of input shape ", input_shape);
}

}  // namespace

MaxPoolResult max_pool2d(const Tensor& input, const Pool2dParams& params) {
  check_floating("max_pool2d", input);
  const Shape out_shape = pooled_shape("max_pool2d", input.shape(), params);
  MaxPoolResult result{Tensor::empty(out_shape, input.dtype(), input.device()),
                       Tensor::empty(out_shape, DType::Int64, input.device())};
  if (result.output.numel() > 0) {
    backend_for(input.device())
        .max_pool2d_forward(input.contiguous(), params, result.output, result.indices);
  }
  return result;
}

Tensor max_pool2d_backward(const Tensor& grad_out, const Tensor& indices,
                           const Shape& input_shape) {
  const char* op = "max_pool2d_backward";
  check_floating(op, grad_out);
  check_argument(indices.defined() && indices.dtype() == DType::Int64, op,
                 ": indices must be an int64 tensor, got ",
                 indices.defined() ? dtype_name(indices.dtype()) : "undefined", " for grad_out ",
                 grad_out.shape());
  check_argument(indices.device() == grad_out.device(), op, ": indices on ",
                 indices.device().to_string(), " but grad_out on ", grad_out.device().to_string());
  check_argument(grad_out.dim() == 4 && indices.shape() == grad_out.shape(), op,
                 ": grad_out of shape ", grad_out.shape(), " and indices of shape ",
                 indices.shape(), " must be the same 4-D shape");
  check_argument(input_shape.rank() == 4 && input_shape[0] == grad_out.size(0) &&
                     input_shape[1] == grad_out.size(1),
                 op, ": input shape ", input_shape, " does not match grad_out of shape ",
                 grad_out.shape());
  for (std::int64_t d : input_shape) {
    check_argument(d >= 0, op, ": negative size in input shape ", input_shape);
  }
  Tensor grad_input = Tensor::empty(input_shape, grad_out.dtype(), grad_out.device());
  if (grad_input.numel() == 0) return grad_input;
  if (grad_out.numel() == 0) return grad_input.zero_();
  backend_for(grad_out.device())
      .max_pool2d_backward(grad_out.contiguous(), indices.contiguous(), grad_input);
  return grad_input;
}

Tensor avg_pool2d(const Tensor& input, const Pool2dParams& params) {
  check_floating("avg_pool2d", input);
  const Shape out_shape = pooled_shape("avg_pool2d", input.shape(), params);
  Tensor out = Tensor::empty(out_shape, input.dtype(), input.device());
  if (out.numel() > 0)
    backend_for(input.device()).avg_pool2d_forward(input.contiguous(), params, out);
  return out;
}

Tensor avg_pool2d_backward(const Tensor& grad_out, const Shape& input_shape,
                           const Pool2dParams& params) {
  const char* op = "avg_pool2d_backward";
  const Shape out_shape = pooled_shape(op, input_shape, params);
  check_grad_out(op, grad_out, out_shape, input_shape);
  Tensor grad_input = Tensor::empty(input_shape, grad_out.dtype(), grad_out.device());
  if (grad_out.numel() == 0) return grad_input.zero_();
  backend_for(grad_out.device()).avg_pool2d_backward(grad_out.contiguous(), params, grad_input);
  return grad_input;
}

}  // namespace ortho
