// Joining and padding ops, built from views of the output: each input is copied into its own
// slice, so any layout, dtype and device the backend's copy handles works here.
#include "core/ops/shape_ops.h"

#include <cstddef>

#include "core/error.h"

namespace ortho {
namespace {

void check_nonempty_list(const char* op, const std::vector<Tensor>& tensors) {
  check_argument(!tensors.empty(), op, ": expected at least one tensor");
  std::vector<const Tensor*> pointers;
  pointers.reserve(tensors.size());
  for (const Tensor& t : tensors) pointers.push_back(&t);
  check_same_device_and_dtype(op, pointers);
}

// Shape of the concatenation along `d`; every other dim of every tensor must match the first.
Shape joined_shape(const std::vector<Tensor>& tensors, std::int64_t d) {
  const Shape& first = tensors.front().shape();
  Shape out = first;
  out[d] = 0;
  for (const Tensor& t : tensors) {
    bool match = t.dim() == first.rank();
    for (std::int64_t i = 0; match && i < first.rank(); ++i)
      match = i == d || t.size(i) == first[i];
    check_argument(match, "cat: shapes ", first, " and ", t.shape(), " differ outside dim ", d);
    out[d] += t.size(d);
  }
  return out;
}

}  // namespace

Tensor cat(const std::vector<Tensor>& tensors, std::int64_t dim) {
  check_nonempty_list("cat", tensors);
  const Tensor& first = tensors.front();
  check_argument(first.dim() > 0, "cat: zero-dimensional tensors cannot be joined, got shape ",
                 first.shape());
  const std::int64_t d = normalize_dim(dim, first.dim(), "cat");
  Tensor out = Tensor::empty(joined_shape(tensors, d), first.dtype(), first.device());
  std::int64_t offset = 0;
  for (const Tensor& t : tensors) {
    out.slice(d, offset, offset + t.size(d)).copy_(t);
    offset += t.size(d);
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, std::int64_t dim) {
  check_nonempty_list("stack", tensors);
  const Shape& first = tensors.front().shape();
  for (const Tensor& t : tensors) {
    check_argument(t.shape() == first, "stack: shapes ", first, " and ", t.shape(), " differ");
  }
  const std::int64_t d = normalize_dim(dim, first.rank() + 1, "stack");
  std::vector<Tensor> expanded;
  expanded.reserve(tensors.size());
  for (const Tensor& t : tensors) expanded.push_back(t.unsqueeze(d));
  return cat(expanded, d);
}

Tensor pad2d(const Tensor& x, std::int64_t top, std::int64_t bottom, std::int64_t left,
             std::int64_t right) {
  check_argument(x.defined(), "pad2d: undefined tensor argument");
  check_argument(x.dim() >= 2, "pad2d: expected at least 2 dims, got shape ", x.shape());
  check_argument(top >= 0 && bottom >= 0 && left >= 0 && right >= 0,
                 "pad2d: padding must be >= 0, got (top ", top, ", bottom ", bottom, ", left ",
                 left, ", right ", right, ") for shape ", x.shape());
  const std::int64_t hd = x.dim() - 2, wd = x.dim() - 1;
  const std::int64_t height = x.size(hd), width = x.size(wd);
  Shape shape = x.shape();
  shape[hd] = top + height + bottom;
  shape[wd] = left + width + right;
  Tensor out = Tensor::empty(shape, x.dtype(), x.device());
  // Zero only the border strips so the interior is written once, by the copy.
  out.slice(hd, 0, top).zero_();
  out.slice(hd, top + height, shape[hd]).zero_();
  Tensor band = out.slice(hd, top, top + height);
  band.slice(wd, 0, left).zero_();
  band.slice(wd, left + width, shape[wd]).zero_();
  band.slice(wd, left, left + width).copy_(x);
  return out;
}

}  // namespace ortho
