// Front end of the element-wise ops: validation, NumPy broadcasting, output allocation.
#include "core/ops/elementwise.h"

#include "core/backend.h"
#include "core/error.h"

namespace ortho {
namespace {

Tensor unary_op(const char* name, UnaryOp op, const Tensor& a, double p = 0.0, double q = 0.0) {
  check_floating(name, a);
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
  if (out.numel() > 0) backend_for(a.device()).unary(op, a, out, p, q);
  return out;
}

Tensor binary_op(const char* name, BinaryOp op, const Tensor& a, const Tensor& b) {
  check_same_device_and_dtype(name, {&a, &b});
  check_floating(name, a);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  if (out.numel() > 0) backend_for(a.device()).binary(op, a.expand(shape), b.expand(shape), out);
  return out;
}

// A one-element tensor of a's dtype and device, broadcast by the binary kernel's scalar path.
Tensor scalar_like(double value, const Tensor& a) {
  return Tensor::scalar(value, a.dtype(), a.device());
}

// Writing through a view whose stride is 0 on a dim of size > 1 would race on one element.
void check_writable(const char* op, const Tensor& self) {
  for (std::int64_t d = 0; d < self.dim(); ++d) {
    check_argument(self.shape()[d] <= 1 || self.strides()[static_cast<std::size_t>(d)] != 0, op,
                   ": self of shape ", self.shape(),
                   " is a broadcast view (several elements share one memory location)");
  }
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  return binary_op("add", BinaryOp::Add, a, b);
}
Tensor sub(const Tensor& a, const Tensor& b) {
  return binary_op("sub", BinaryOp::Sub, a, b);
}
Tensor mul(const Tensor& a, const Tensor& b) {
  return binary_op("mul", BinaryOp::Mul, a, b);
}
Tensor div(const Tensor& a, const Tensor& b) {
  return binary_op("div", BinaryOp::Div, a, b);
}
Tensor pow(const Tensor& a, const Tensor& b) {
  return binary_op("pow", BinaryOp::Pow, a, b);
}
Tensor maximum(const Tensor& a, const Tensor& b) {
  return binary_op("maximum", BinaryOp::Maximum, a, b);
}
Tensor minimum(const Tensor& a, const Tensor& b) {
  return binary_op("minimum", BinaryOp::Minimum, a, b);
}

Tensor add(const Tensor& a, double b) {
  return unary_op("add", UnaryOp::Affine, a, 1.0, b);
}
Tensor mul(const Tensor& a, double b) {
  return unary_op("mul", UnaryOp::Affine, a, b, 0.0);
}
Tensor pow(const Tensor& a, double exponent) {
  return unary_op("pow", UnaryOp::Pow, a, exponent);
}
Tensor clamp(const Tensor& a, double low, double high) {
  check_argument(low <= high, "clamp: low ", low, " is above high ", high, " (input shape ",
                 a.shape(), ")");
  return unary_op("clamp", UnaryOp::Clamp, a, low, high);
}
Tensor affine(const Tensor& a, double alpha, double beta) {
  return unary_op("affine", UnaryOp::Affine, a, alpha, beta);
}

Tensor neg(const Tensor& a) {
  return unary_op("neg", UnaryOp::Neg, a);
}
Tensor exp(const Tensor& a) {
  return unary_op("exp", UnaryOp::Exp, a);
}
Tensor log(const Tensor& a) {
  return unary_op("log", UnaryOp::Log, a);
}
Tensor sqrt(const Tensor& a) {
  return unary_op("sqrt", UnaryOp::Sqrt, a);
}
Tensor abs(const Tensor& a) {
  return unary_op("abs", UnaryOp::Abs, a);
}
Tensor sign(const Tensor& a) {
  return unary_op("sign", UnaryOp::Sign, a);
}
Tensor square(const Tensor& a) {
  return unary_op("square", UnaryOp::Square, a);
}
Tensor reciprocal(const Tensor& a) {
  return unary_op("reciprocal", UnaryOp::Reciprocal, a);
}
Tensor relu(const Tensor& a) {
  return unary_op("relu", UnaryOp::Relu, a);
}
Tensor sigmoid(const Tensor& a) {
  return unary_op("sigmoid", UnaryOp::Sigmoid, a);
}
Tensor tanh(const Tensor& a) {
  return unary_op("tanh", UnaryOp::Tanh, a);
}

Tensor eq(const Tensor& a, const Tensor& b) {
  return binary_op("eq", BinaryOp::Eq, a, b);
}
Tensor ne(const Tensor& a, const Tensor& b) {
  return binary_op("ne", BinaryOp::Ne, a, b);
}
Tensor lt(const Tensor& a, const Tensor& b) {
  return binary_op("lt", BinaryOp::Lt, a, b);
}
Tensor le(const Tensor& a, const Tensor& b) {
  return binary_op("le", BinaryOp::Le, a, b);
}
Tensor gt(const Tensor& a, const Tensor& b) {
  return binary_op("gt", BinaryOp::Gt, a, b);
}
Tensor ge(const Tensor& a, const Tensor& b) {
  return binary_op("ge", BinaryOp::Ge, a, b);
}
Tensor gt(const Tensor& a, double b) {
  return binary_op("gt", BinaryOp::Gt, a, scalar_like(b, a));
}
Tensor lt(const Tensor& a, double b) {
  return binary_op("lt", BinaryOp::Lt, a, scalar_like(b, a));
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_same_device_and_dtype("where", {&a, &b});
  check_floating("where", a);
  check_argument(cond.defined(), "where: undefined condition");
  check_argument(cond.device() == a.device(), "where: condition on ", cond.device().to_string(),
                 " but values on ", a.device().to_string());
  const Shape shape =
      broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  if (out.numel() > 0) {
    backend_for(a.device()).where(cond.expand(shape), a.expand(shape), b.expand(shape), out);
  }
  return out;
}

Tensor relu_backward(const Tensor& grad, const Tensor& input) {
  return binary_op("relu_backward", BinaryOp::ReluBackward, grad, input);
}
Tensor sigmoid_backward(const Tensor& grad, const Tensor& output) {
  return binary_op("sigmoid_backward", BinaryOp::SigmoidBackward, grad, output);
}
Tensor tanh_backward(const Tensor& grad, const Tensor& output) {
  return binary_op("tanh_backward", BinaryOp::TanhBackward, grad, output);
}

Tensor& add_(Tensor& self, const Tensor& other, double alpha) {
  check_same_device_and_dtype("add_", {&self, &other});
  check_floating("add_", self);
  const Shape shape = broadcast_shapes(self.shape(), other.shape(), "add_");
  check_argument(shape == self.shape(), "add_: cannot add a tensor of shape ", other.shape(),
                 " in place to self of shape ", self.shape(), " (the result would be ", shape, ")");
  check_writable("add_", self);
  if (self.numel() > 0) backend_for(self.device()).axpy(alpha, other.expand(shape), self);
  return self;
}

Tensor& mul_(Tensor& self, double alpha) {
  check_floating("mul_", self);
  check_writable("mul_", self);
  if (self.numel() > 0) backend_for(self.device()).unary(UnaryOp::Affine, self, self, alpha, 0.0);
  return self;
}

Tensor operator+(const Tensor& a, const Tensor& b) {
  return add(a, b);
}
Tensor operator-(const Tensor& a, const Tensor& b) {
  return sub(a, b);
}
Tensor operator*(const Tensor& a, const Tensor& b) {
  return mul(a, b);
}
Tensor operator/(const Tensor& a, const Tensor& b) {
  return div(a, b);
}
Tensor operator-(const Tensor& a) {
  return neg(a);
}
Tensor operator+(const Tensor& a, double b) {
  return add(a, b);
}
Tensor operator-(const Tensor& a, double b) {
  return add(a, -b);
}
Tensor operator*(const Tensor& a, double b) {
  return mul(a, b);
}
Tensor operator/(const Tensor& a, double b) {
  return unary_op("div", UnaryOp::Affine, a, 1.0 / b);
}
Tensor operator*(double a, const Tensor& b) {
  return mul(b, a);
}

}  // namespace ortho
