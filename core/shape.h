#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace ortho {

// The extent of each dimension of a tensor; a rank-0 shape is a scalar with one element.
class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims) : dims_(dims) {}
  explicit Shape(std::vector<std::int64_t> dims) : dims_(std::move(dims)) {}

  std::int64_t rank() const { return static_cast<std::int64_t>(dims_.size()); }
  std::int64_t numel() const;
  std::int64_t operator[](std::int64_t d) const { return dims_[static_cast<std::size_t>(d)]; }
  std::int64_t& operator[](std::int64_t d) { return dims_[static_cast<std::size_t>(d)]; }
  const std::vector<std::int64_t>& dims() const { return dims_; }
  std::vector<std::int64_t>& dims() { return dims_; }
  auto begin() const { return dims_.begin(); }
  auto end() const { return dims_.end(); }
  bool operator==(const Shape&) const = default;

  // Row-major strides of a contiguous tensor of this shape.
  std::vector<std::int64_t> contiguous_strides() const;
  // "[2, 3, 4]"
  std::string to_string() const;

 private:
  std::vector<std::int64_t> dims_;
};

// Wraps a possibly negative dimension index into [0, rank); throws std::invalid_argument
// naming `op` when it is out of range.
std::int64_t normalize_dim(std::int64_t dim, std::int64_t rank, const char* op);

// NumPy broadcasting of two shapes; throws std::invalid_argument naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace ortho
