#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/shape.h"
#include "core/storage.h"

namespace ortho {

// An n-dimensional array: shared storage plus shape, strides (in elements) and offset.
// Views (reshape, permute, transpose, slice, expand, ...) share storage with their base;
// contiguous() copies only when the layout is not already row-major.
class Tensor {
 public:
  Tensor() = default;
  Tensor(StoragePtr storage, Shape shape, std::vector<std::int64_t> strides, std::int64_t offset,
         DType dtype);

  // Factories. The contents of empty() are unspecified.
  static Tensor empty(const Shape& shape, DType dtype = DType::Float32,
                      Device device = Device::cpu());
  // A CPU tensor in page-locked memory (pinned_host_allocator()): copies of it to a GPU run
  // by DMA without staging. Plain host memory when there is no GPU.
  static Tensor empty_pinned(const Shape& shape, DType dtype = DType::Float32);
  static Tensor zeros(const Shape& shape, DType dtype = DType::Float32,
                      Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::Float32,
                     Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::Float32,
                     Device device = Device::cpu());
  static Tensor scalar(double value, DType dtype = DType::Float32, Device device = Device::cpu());
  static Tensor eye(std::int64_t n, DType dtype = DType::Float32, Device device = Device::cpu());
  // 0, 1, ..., n-1
  static Tensor arange(std::int64_t n, DType dtype = DType::Float32, Device device = Device::cpu());
  // Copies `values` (row-major) into a new tensor of `shape` on `device`.
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape,
                            Device device = Device::cpu());

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  std::int64_t dim() const { return shape_.rank(); }
  // Size of dimension `d`; negative `d` counts from the end.
  std::int64_t size(std::int64_t d) const;
  const std::vector<std::int64_t>& strides() const { return strides_; }
  std::int64_t stride(std::int64_t d) const;
  std::int64_t offset() const { return offset_; }
  std::int64_t numel() const { return shape_.numel(); }
  DType dtype() const { return dtype_; }
  Device device() const;
  const StoragePtr& storage() const { return storage_; }
  bool is_contiguous() const;
  bool shares_storage(const Tensor& other) const { return storage_ == other.storage_; }

  // Address of the first element (storage base + offset).
  void* raw_data() const;
  // Typed pointer to the first element; throws std::invalid_argument if T is not the dtype.
  template <typename T>
  T* data() const;
  // The single element of a one-element tensor, converted to T (copied from the device).
  template <typename T>
  T item() const;
  // All elements in row-major order, converted to T (copied from the device).
  template <typename T>
  std::vector<T> to_vector() const;

  // Views: share storage, never copy. view() throws when the strides do not allow it.
  Tensor view(const Shape& shape) const;     // one dimension may be -1
  Tensor reshape(const Shape& shape) const;  // a view when possible, else a copy
  Tensor permute(const std::vector<std::int64_t>& dims) const;
  Tensor transpose(std::int64_t dim0, std::int64_t dim1) const;
  Tensor t() const;  // transpose of a 2-D tensor
  Tensor slice(std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step = 1) const;
  Tensor select(std::int64_t dim, std::int64_t index) const;  // drops `dim`
  Tensor expand(const Shape& shape) const;                    // broadcast size-1 dims with stride 0
  Tensor squeeze(std::int64_t dim) const;
  Tensor unsqueeze(std::int64_t dim) const;
  Tensor flatten(std::int64_t start_dim = 0, std::int64_t end_dim = -1) const;

  // Copies.
  Tensor contiguous() const;
  Tensor clone() const;
  Tensor to(Device device) const;  // returns *this when already there
  Tensor to(DType dtype) const;    // returns *this when already that dtype
  // Writes `src` (broadcast to this shape, converted to this dtype) into this tensor's elements.
  Tensor& copy_(const Tensor& src);
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }

  // "Tensor(float32, [2, 3], cpu)\n[[...]]": elements are printed for small tensors only.
  std::string to_string() const;

 private:
  StoragePtr storage_;
  Shape shape_;
  std::vector<std::int64_t> strides_;
  std::int64_t offset_ = 0;
  DType dtype_ = DType::Float32;
};

std::ostream& operator<<(std::ostream& out, const Shape& shape);
std::ostream& operator<<(std::ostream& out, const Tensor& tensor);

// Throws std::invalid_argument naming `op` unless every tensor shares device and dtype.
void check_same_device_and_dtype(const char* op, const std::vector<const Tensor*>& tensors);
// Throws std::invalid_argument naming `op` unless `t` is defined and float32/float64.
void check_floating(const char* op, const Tensor& t);

}  // namespace ortho
