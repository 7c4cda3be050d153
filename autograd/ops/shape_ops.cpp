#include "autograd/ops/shape_ops.h"

#include "autograd/record.h"
#include "core/ops/shape_ops.h"

namespace ortho::autograd {
namespace {

std::vector<Tensor> values_of(const std::vector<Variable>& inputs) {
  std::vector<Tensor> values;
  values.reserve(inputs.size());
  for (const Variable& v : inputs) values.push_back(v.value());
  return values;
}

}  // namespace

Variable cat(const std::vector<Variable>& inputs, std::int64_t dim) {
  Tensor out = ortho::cat(values_of(inputs), dim);
  const std::int64_t d = normalize_dim(dim, out.dim(), "cat");
  std::vector<std::int64_t> sizes;
  for (const Variable& v : inputs) sizes.push_back(v.size(d));
  return make_output("cat", inputs, std::move(out), [d, sizes](const Tensor& g) -> Grads {
    Grads grads;
    std::int64_t offset = 0;
    for (std::int64_t size : sizes) {
      grads.push_back(g.slice(d, offset, offset + size));
      offset += size;
    }
    return grads;
  });
}

Variable stack(const std::vector<Variable>& inputs, std::int64_t dim) {
  Tensor out = ortho::stack(values_of(inputs), dim);
  const std::int64_t d = normalize_dim(dim, out.dim(), "stack");
  return make_output("stack", inputs, std::move(out),
                     [d, n = inputs.size()](const Tensor& g) -> Grads {
                       Grads grads;
                       for (std::size_t i = 0; i < n; ++i)
                         grads.push_back(g.select(d, static_cast<std::int64_t>(i)));
                       return grads;
                     });
}

Variable pad2d(const Variable& x, std::int64_t top, std::int64_t bottom, std::int64_t left,
               std::int64_t right) {
  Tensor out = ortho::pad2d(x.value(), top, bottom, left, right);
  const std::int64_t h = x.size(-2), w = x.size(-1);
  return make_output("pad2d", {x}, std::move(out), [top, left, h, w](const Tensor& g) -> Grads {
    return {g.slice(-2, top, top + h).slice(-1, left, left + w)};
  });
}

}  // namespace ortho::autograd
