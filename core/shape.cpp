#include "core/shape.h"

#include <algorithm>

#include "core/error.h"

namespace ortho {

std::int64_t Shape::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : dims_) n *= d;
  return n;
}

std::vector<std::int64_t> Shape::contiguous_strides() const {
  std::vector<std::int64_t> strides(dims_.size());
  std::int64_t s = 1;
  for (std::size_t i = dims_.size(); i-- > 0;) {
    strides[i] = s;
    s *= std::max<std::int64_t>(dims_[i], 1);
  }
  return strides;
}

std::string Shape::to_string() const {
  std::string out = "[";
  for (std::size_t i = 0; i < dims_.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(dims_[i]);
  }
  return out + "]";
}

std::int64_t normalize_dim(std::int64_t dim, std::int64_t rank, const char* op) {
  const std::int64_t wrapped = dim < 0 ? dim + rank : dim;
  check_argument(wrapped >= 0 && wrapped < std::max<std::int64_t>(rank, 1), op, ": dim ", dim,
                 " is out of range for a tensor of rank ", rank);
  return wrapped;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const std::int64_t rank = std::max(a.rank(), b.rank());
  std::vector<std::int64_t> dims(static_cast<std::size_t>(rank));
  for (std::int64_t i = 0; i < rank; ++i) {
    const std::int64_t da = i < rank - a.rank() ? 1 : a[i - (rank - a.rank())];
    const std::int64_t db = i < rank - b.rank() ? 1 : b[i - (rank - b.rank())];
    check_argument(da == db || da == 1 || db == 1, op, ": shapes ", a.to_string(), " and ",
                   b.to_string(), " cannot be broadcast together");
    dims[static_cast<std::size_t>(i)] = da == 1 ? db : da;
  }
  return Shape(std::move(dims));
}

}  // namespace ortho
