// Reductions: the gradient of a reduced element is broadcast back over the elements it came
// from (scaled for mean, masked to the extremes for amax/amin).
#include "autograd/ops/reduce.h"

#include <algorithm>

#include "autograd/record.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"

namespace ortho::autograd {
namespace {

// The shape of a keepdim reduction of `shape` over `dims` (empty: every dim), so a reduced
// gradient can be broadcast back.
Shape keepdim_shape(const Shape& shape, const std::vector<std::int64_t>& dims) {
  Shape out = shape;
  if (dims.empty()) {
    for (std::int64_t& d : out.dims()) d = 1;
    return out;
  }
  if (shape.rank() == 0) return out;
  for (std::int64_t d : dims) out[normalize_dim(d, shape.rank(), "reduce")] = 1;
  return out;
}

std::int64_t reduced_count(const Shape& shape, const Shape& keep) {
  return keep.numel() == 0 ? 0 : shape.numel() / keep.numel();
}

// g (the reduction's output gradient) broadcast back to the input shape.
Tensor broadcast_back(const Tensor& g, const Shape& keep, const Shape& shape) {
  return g.reshape(keep).expand(shape);
}

Variable extreme(const char* name, const Variable& x, const std::vector<std::int64_t>& dims,
                 Tensor out) {
  const Tensor xv = x.value();
  const Shape keep = keepdim_shape(xv.shape(), dims);
  return make_output(name, {x}, out, [xv, out, keep, dims](const Tensor& g) -> Grads {
    const Tensor mask = ortho::eq(xv, out.reshape(keep));
    const Tensor ties = ortho::sum(mask, dims, true);
    return {ortho::mul(mask, ortho::div(g.reshape(keep), ties))};
  });
}

}  // namespace

Variable sum(const Variable& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  const Shape shape = x.shape();
  return make_output("sum", {x}, ortho::sum(x.value(), dims, keepdim),
                     [shape, keep = keepdim_shape(shape, dims)](const Tensor& g) -> Grads {
                       return {broadcast_back(g, keep, shape)};
                     });
}

Variable mean(const Variable& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  const Shape shape = x.shape();
  const Shape keep = keepdim_shape(shape, dims);
  const double scale =
      1.0 / static_cast<double>(std::max<std::int64_t>(reduced_count(shape, keep), 1));
  return make_output("mean", {x}, ortho::mean(x.value(), dims, keepdim),
                     [shape, keep, scale](const Tensor& g) -> Grads {
                       return {broadcast_back(ortho::mul(g, scale), keep, shape)};
                     });
}

Variable amax(const Variable& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  return extreme("amax", x, dims, ortho::amax(x.value(), dims, keepdim));
}

Variable amin(const Variable& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  return extreme("amin", x, dims, ortho::amin(x.value(), dims, keepdim));
}

// d var / d x_i = 2 (x_i - mean) / (n - unbiased).
Variable var(const Variable& x, const std::vector<std::int64_t>& dims, bool unbiased,
             bool keepdim) {
  const Tensor xv = x.value();
  const Shape keep = keepdim_shape(xv.shape(), dims);
  const double denom =
      static_cast<double>(reduced_count(xv.shape(), keep)) - (unbiased ? 1.0 : 0.0);
  return make_output("var", {x}, ortho::var(xv, dims, unbiased, keepdim),
                     [xv, keep, dims, denom](const Tensor& g) -> Grads {
                       const Tensor centered = ortho::sub(xv, ortho::mean(xv, dims, true));
                       return {ortho::mul(ortho::mul(centered, g.reshape(keep)), 2.0 / denom)};
                     });
}

Variable sum_to(const Variable& x, const Shape& shape) {
  return make_output("sum_to", {x}, ortho::sum_to(x.value(), shape),
                     [from = x.shape()](const Tensor& g) -> Grads { return {g.expand(from)}; });
}

Variable norm(const Variable& x) {
  const Tensor xv = x.value();
  const Tensor out = ortho::norm(xv);
  return make_output("norm", {x}, out, [xv, out](const Tensor& g) -> Grads {
    const Tensor zero = Tensor::scalar(0.0, out.dtype(), out.device());
    const Tensor scale = ortho::where(ortho::gt(out, 0.0), ortho::div(g, out), zero);
    return {ortho::mul(xv, scale)};
  });
}

}  // namespace ortho::autograd
