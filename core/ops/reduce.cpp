// Front end of the reductions: dim normalization, keepdim shapes, empty-input rules.
#include "core/ops/reduce.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/backend.h"
#include "core/error.h"
#include "core/ops/elementwise.h"

namespace ortho {
namespace {

// Sorted, unique, non-negative dims; an empty list means every dim.
std::vector<std::int64_t> normalize_dims(const char* op, const Tensor& x,
                                         const std::vector<std::int64_t>& dims) {
  std::vector<std::int64_t> out;
  if (dims.empty()) {
    for (std::int64_t d = 0; d < x.dim(); ++d) out.push_back(d);
    return out;
  }
  // A rank-0 tensor accepts dim 0 or -1 and reduces nothing.
  const std::int64_t rank = std::max<std::int64_t>(x.dim(), 1);
  for (std::int64_t d : dims) out.push_back(normalize_dim(d, rank, op));
  std::sort(out.begin(), out.end());
  check_argument(std::adjacent_find(out.begin(), out.end()) == out.end(), op,
                 ": repeated dim in the dims of a reduction over shape ", x.shape());
  if (x.dim() == 0) out.clear();
  return out;
}

Shape keepdim_shape(const Shape& shape, const std::vector<std::int64_t>& dims) {
  Shape out = shape;
  for (std::int64_t d : dims) out[d] = 1;
  return out;
}

Shape squeezed_shape(const Shape& shape, const std::vector<std::int64_t>& dims) {
  std::vector<std::int64_t> out;
  for (std::int64_t d = 0; d < shape.rank(); ++d) {
    if (!std::binary_search(dims.begin(), dims.end(), d)) out.push_back(shape[d]);
  }
  return Shape(std::move(out));
}

Tensor reduce_op(const char* name, ReduceOp op, const Tensor& x,
                 const std::vector<std::int64_t>& dims, bool keepdim) {
  check_floating(name, x);
  const std::vector<std::int64_t> d = normalize_dims(name, x, dims);
  Tensor out = Tensor::empty(keepdim_shape(x.shape(), d), x.dtype(), x.device());
  if (out.numel() > 0) {
    if (x.numel() == 0) {
      check_argument(op == ReduceOp::Sum || op == ReduceOp::Mean, name,
                     ": cannot reduce over a zero-size dim of shape ", x.shape());
      out.fill_(op == ReduceOp::Sum ? 0.0 : std::numeric_limits<double>::quiet_NaN());
    } else {
      backend_for(x.device()).reduce(op, x, d, out);
    }
  }
  return keepdim ? out : out.view(squeezed_shape(x.shape(), d));
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  return reduce_op("sum", ReduceOp::Sum, x, dims, keepdim);
}

Tensor mean(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  return reduce_op("mean", ReduceOp::Mean, x, dims, keepdim);
}

Tensor amax(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  return reduce_op("amax", ReduceOp::Max, x, dims, keepdim);
}

Tensor amin(const Tensor& x, const std::vector<std::int64_t>& dims, bool keepdim) {
  return reduce_op("amin", ReduceOp::Min, x, dims, keepdim);
}

Tensor var(const Tensor& x, const std::vector<std::int64_t>& dims, bool unbiased, bool keepdim) {
  check_floating("var", x);
  const std::vector<std::int64_t> d = normalize_dims("var", x, dims);
  std::int64_t count = 1;
  for (std::int64_t i : d) count *= x.shape()[i];
  const Tensor centered = sub(x, mean(x, d, true));
  const Tensor sq = sum(mul(centered, centered), d, keepdim);
  // n - 1 = 0 gives 0 / 0 = NaN, as torch.var does for a single unbiased sample.
  const double denom = static_cast<double>(count) - (unbiased ? 1.0 : 0.0);
  return mul(sq, denom > 0 ? 1.0 / denom : std::numeric_limits<double>::quiet_NaN());
}

Tensor argmax(const Tensor& x, std::int64_t dim, bool keepdim) {
  check_floating("argmax", x);
  const std::int64_t d = normalize_dim(dim, std::max<std::int64_t>(x.dim(), 1), "argmax");
  if (x.dim() == 0) return Tensor::zeros({}, DType::Int64, x.device());
  check_argument(x.shape()[d] > 0, "argmax: dim ", dim, " of shape ", x.shape(), " is empty");
  Tensor out = Tensor::empty(keepdim_shape(x.shape(), {d}), DType::Int64, x.device());
  if (out.numel() > 0) backend_for(x.device()).argmax(x, d, out);
  return keepdim ? out : out.view(squeezed_shape(x.shape(), {d}));
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  check_argument(x.defined(), "sum_to: undefined tensor argument");
  const std::int64_t lead = x.dim() - shape.rank();
  check_argument(lead >= 0, "sum_to: cannot sum ", x.shape(), " to ", shape);
  std::vector<std::int64_t> dims;
  for (std::int64_t d = 0; d < lead; ++d) dims.push_back(d);
  for (std::int64_t i = 0; i < shape.rank(); ++i) {
    const std::int64_t have = x.shape()[lead + i];
    check_argument(shape[i] == have || shape[i] == 1, "sum_to: cannot sum ", x.shape(), " to ",
                   shape);
    if (shape[i] == 1 && have != 1) dims.push_back(lead + i);
  }
  if (dims.empty()) return x;
  return sum(x, dims, true).view(shape);
}

Tensor norm(const Tensor& x) {
  check_floating("norm", x);
  return sqrt(sum(mul(x, x)));
}

}  // namespace ortho
