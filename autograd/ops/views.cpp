// Views and copies: the gradient of a view is the gradient seen through the inverse view
// (or scattered into zeros for slice/select).
#include "autograd/ops/views.h"

#include "autograd/record.h"
#include "core/error.h"
#include "core/ops/reduce.h"

namespace ortho::autograd {
namespace {

// Ops that only change the shape: the gradient is reshaped back.
Variable reshaped(const char* name, const Variable& x, Tensor out) {
  return make_output(name, {x}, std::move(out),
                     [shape = x.shape()](const Tensor& g) -> Grads { return {g.reshape(shape)}; });
}

// Ops that pass the gradient through unchanged.
Variable identity(const char* name, const Variable& x, Tensor out) {
  return make_output(name, {x}, std::move(out), [](const Tensor& g) -> Grads { return {g}; });
}

}  // namespace

Variable reshape(const Variable& x, const Shape& shape) {
  return reshaped("reshape", x, x.value().reshape(shape));
}

Variable view(const Variable& x, const Shape& shape) {
  return reshaped("view", x, x.value().view(shape));
}

Variable permute(const Variable& x, const std::vector<std::int64_t>& dims) {
  Tensor out = x.value().permute(dims);
  std::vector<std::int64_t> inverse(dims.size());
  for (std::size_t i = 0; i < dims.size(); ++i) {
    inverse[static_cast<std::size_t>(normalize_dim(dims[i], x.dim(), "permute"))] =
        static_cast<std::int64_t>(i);
  }
  return make_output("permute", {x}, std::move(out),
                     [inverse](const Tensor& g) -> Grads { return {g.permute(inverse)}; });
}

Variable transpose(const Variable& x, std::int64_t dim0, std::int64_t dim1) {
  return make_output("transpose", {x}, x.value().transpose(dim0, dim1),
                     [dim0, dim1](const Tensor& g) -> Grads { return {g.transpose(dim0, dim1)}; });
}

Variable t(const Variable& x) {
  return make_output("t", {x}, x.value().t(), [](const Tensor& g) -> Grads { return {g.t()}; });
}

Variable slice(const Variable& x, std::int64_t dim, std::int64_t start, std::int64_t end,
               std::int64_t step) {
  const Tensor xv = x.value();
  return make_output("slice", {x}, xv.slice(dim, start, end, step),
                     [meta = TensorMeta::of(xv), dim, start, end, step](const Tensor& g) -> Grads {
                       Tensor grad = meta.zeros();
                       grad.slice(dim, start, end, step).copy_(g);
                       return {grad};
                     });
}

Variable select(const Variable& x, std::int64_t dim, std::int64_t index) {
  const Tensor xv = x.value();
  return make_output("select", {x}, xv.select(dim, index),
                     [meta = TensorMeta::of(xv), dim, index](const Tensor& g) -> Grads {
                       Tensor grad = meta.zeros();
                       grad.select(dim, index).copy_(g);
                       return {grad};
                     });
}

Variable expand(const Variable& x, const Shape& shape) {
  return make_output(
      "expand", {x}, x.value().expand(shape),
      [from = x.shape()](const Tensor& g) -> Grads { return {ortho::sum_to(g, from)}; });
}

Variable squeeze(const Variable& x, std::int64_t dim) {
  return reshaped("squeeze", x, x.value().squeeze(dim));
}

Variable unsqueeze(const Variable& x, std::int64_t dim) {
  return reshaped("unsqueeze", x, x.value().unsqueeze(dim));
}

Variable flatten(const Variable& x, std::int64_t start_dim, std::int64_t end_dim) {
  return reshaped("flatten", x, x.value().flatten(start_dim, end_dim));
}

Variable contiguous(const Variable& x) {
  return identity("contiguous", x, x.value().contiguous());
}

Variable clone(const Variable& x) {
  return identity("clone", x, x.value().clone());
}

Variable to(const Variable& x, Device device) {
  return make_output("to", {x}, x.value().to(device),
                     [from = x.device()](const Tensor& g) -> Grads { return {g.to(from)}; });
}

Variable to(const Variable& x, DType dtype) {
  check_argument(is_floating(dtype), "to: a Variable converts to float32 or float64 only, got ",
                 dtype_name(dtype), " for shape ", x.shape());
  return make_output("to", {x}, x.value().to(dtype),
                     [from = x.dtype()](const Tensor& g) -> Grads { return {g.to(from)}; });
}

}  // namespace ortho::autograd
