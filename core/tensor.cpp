#include "core/tensor.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "core/allocator.h"
#include "core/backend.h"
#include "core/dispatch.h"
#include "core/error.h"

namespace ortho {
namespace {

// Resolves one -1 in a requested shape against `numel`; throws naming `op`.
Shape infer_shape(const Shape& requested, std::int64_t numel, const Shape& from, const char* op) {
  std::vector<std::int64_t> dims = requested.dims();
  std::int64_t known = 1;
  std::int64_t infer_at = -1;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1) {
      check_argument(infer_at < 0, op, ": only one dimension may be -1 in ", requested);
      infer_at = static_cast<std::int64_t>(i);
    } else {
      check_argument(dims[i] >= 0, op, ": invalid size ", dims[i], " in ", requested);
      known *= dims[i];
    }
  }
  if (infer_at >= 0) {
    check_argument(known != 0 && numel % known == 0, op, ": cannot reshape ", from, " to ",
                   requested);
    dims[static_cast<std::size_t>(infer_at)] = numel / known;
  }
  Shape shape(std::move(dims));
  check_argument(shape.numel() == numel, op, ": cannot reshape ", from, " (", numel,
                 " elements) to ", shape);
  return shape;
}

// True when the layout is row-major, ignoring the strides of size-1 dims.
bool is_row_major(const Shape& shape, const std::vector<std::int64_t>& strides) {
  std::int64_t expected = 1;
  for (std::int64_t d = shape.rank() - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    if (strides[static_cast<std::size_t>(d)] != expected) return false;
    expected *= shape[d];
  }
  return true;
}

// Strides for viewing (shape, strides) as `target` without a copy, or an empty vector when
// the memory layout does not allow it (the algorithm of NumPy's attempt_nocopy_reshape).
std::vector<std::int64_t> view_strides(const Shape& shape, const std::vector<std::int64_t>& strides,
                                       const Shape& target) {
  if (shape.numel() == 0 || is_row_major(shape, strides)) {
    return target.contiguous_strides();
  }
  std::vector<std::int64_t> out(static_cast<std::size_t>(target.rank()));
  std::int64_t view_d = target.rank() - 1;
  std::int64_t chunk_base_stride = strides.empty() ? 1 : strides.back();
  std::int64_t tensor_numel = 1;
  std::int64_t view_numel = 1;
  for (std::int64_t d = shape.rank() - 1; d >= 0; --d) {
    tensor_numel *= shape[d];
    if (d == 0 || (shape[d - 1] != 1 && strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || target[view_d] == 1)) {
        out[static_cast<std::size_t>(view_d)] = view_numel * chunk_base_stride;
        view_numel *= target[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return {};
      if (d > 0) {
        chunk_base_stride = strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return {};
  return out;
}

template <typename To>
To convert_element(const void* base, std::int64_t i, DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return static_cast<To>(static_cast<const float*>(base)[i]);
    case DType::Float64:
      return static_cast<To>(static_cast<const double*>(base)[i]);
    case DType::Int64:
      return static_cast<To>(static_cast<const std::int64_t*>(base)[i]);
  }
  return To{};
}

// Bytes of a new contiguous tensor; negative sizes are an error of `op`.
std::size_t storage_bytes(const Shape& shape, DType dtype, const char* op) {
  for (std::int64_t d : shape) check_argument(d >= 0, op, ": negative size in shape ", shape);
  return static_cast<std::size_t>(shape.numel()) * dtype_size(dtype);
}

}  // namespace

Tensor::Tensor(StoragePtr storage, Shape shape, std::vector<std::int64_t> strides,
               std::int64_t offset, DType dtype)
    : storage_(std::move(storage)),
      shape_(std::move(shape)),
      strides_(std::move(strides)),
      offset_(offset),
      dtype_(dtype) {}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  const std::size_t bytes = storage_bytes(shape, dtype, "empty");
  return Tensor(std::make_shared<Storage>(bytes, device), shape, shape.contiguous_strides(), 0,
                dtype);
}

Tensor Tensor::empty_pinned(const Shape& shape, DType dtype) {
  const std::size_t bytes = storage_bytes(shape, dtype, "empty_pinned");
  return Tensor(std::make_shared<Storage>(bytes, Device::cpu(), pinned_host_allocator()), shape,
                shape.contiguous_strides(), 0, dtype);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}

Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::scalar(double value, DType dtype, Device device) {
  return full(Shape{}, value, dtype, device);
}

Tensor Tensor::eye(std::int64_t n, DType dtype, Device device) {
  Tensor t = zeros({n, n}, dtype, Device::cpu());
  dispatch_all(dtype, [&]<typename T>() {
    T* p = t.data<T>();
    for (std::int64_t i = 0; i < n; ++i) p[i * n + i] = T(1);
  });
  return t.to(device);
}

Tensor Tensor::arange(std::int64_t n, DType dtype, Device device) {
  Tensor t = empty({n}, dtype, Device::cpu());
  dispatch_all(dtype, [&]<typename T>() {
    T* p = t.data<T>();
    for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(i);
  });
  return t.to(device);
}

template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
  check_argument(static_cast<std::int64_t>(values.size()) == shape.numel(),
                 "from_vector: ", values.size(), " values do not fill shape ", shape);
  Tensor t = empty(shape, dtype_of<T>, Device::cpu());
  if (!values.empty()) std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  return t.to(device);
}

std::int64_t Tensor::size(std::int64_t d) const {
  return shape_[normalize_dim(d, dim(), "size")];
}

std::int64_t Tensor::stride(std::int64_t d) const {
  return strides_[static_cast<std::size_t>(normalize_dim(d, dim(), "stride"))];
}

Device Tensor::device() const {
  return storage_ ? storage_->device() : Device::cpu();
}

bool Tensor::is_contiguous() const {
  return is_row_major(shape_, strides_);
}

void* Tensor::raw_data() const {
  check_argument(defined(), "raw_data: tensor is undefined");
  return static_cast<char*>(storage_->data()) +
         offset_ * static_cast<std::int64_t>(dtype_size(dtype_));
}

template <typename T>
T* Tensor::data() const {
  check_argument(dtype_ == dtype_of<T>, "data: tensor has dtype ", dtype_name(dtype_),
                 ", requested ", dtype_name(dtype_of<T>));
  return static_cast<T*>(raw_data());
}

template <typename T>
T Tensor::item() const {
  check_argument(numel() == 1, "item: tensor of shape ", shape_, " has ", numel(),
                 " elements, expected 1");
  return to_vector<T>()[0];
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  check_argument(defined(), "to_vector: tensor is undefined");
  const Tensor host = to(Device::cpu()).contiguous();
  std::vector<T> out(static_cast<std::size_t>(numel()));
  const void* base = host.numel() ? host.raw_data() : nullptr;
  for (std::int64_t i = 0; i < numel(); ++i) {
    out[static_cast<std::size_t>(i)] = convert_element<T>(base, i, dtype_);
  }
  return out;
}

Tensor Tensor::view(const Shape& shape) const {
  const Shape target = infer_shape(shape, numel(), shape_, "view");
  std::vector<std::int64_t> strides = view_strides(shape_, strides_, target);
  check_argument(!strides.empty() || target.rank() == 0, "view: a tensor of shape ", shape_,
                 " with strides ", Shape(strides_), " cannot be viewed as ", target,
                 "; call reshape() or contiguous() first");
  return Tensor(storage_, target, std::move(strides), offset_, dtype_);
}

Tensor Tensor::reshape(const Shape& shape) const {
  const Shape target = infer_shape(shape, numel(), shape_, "reshape");
  std::vector<std::int64_t> strides = view_strides(shape_, strides_, target);
  if (!strides.empty() || target.rank() == 0) {
    return Tensor(storage_, target, std::move(strides), offset_, dtype_);
  }
  return contiguous().view(target);
}

Tensor Tensor::permute(const std::vector<std::int64_t>& dims) const {
  check_argument(static_cast<std::int64_t>(dims.size()) == dim(), "permute: ", dims.size(),
                 " dims given for a tensor of shape ", shape_);
  std::vector<std::int64_t> new_shape(dims.size()), new_strides(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const auto d = static_cast<std::size_t>(normalize_dim(dims[i], dim(), "permute"));
    check_argument(!seen[d], "permute: dim ", dims[i], " repeated for shape ", shape_);
    seen[d] = true;
    new_shape[i] = shape_.dims()[d];
    new_strides[i] = strides_[d];
  }
  return Tensor(storage_, Shape(std::move(new_shape)), std::move(new_strides), offset_, dtype_);
}

Tensor Tensor::transpose(std::int64_t dim0, std::int64_t dim1) const {
  std::vector<std::int64_t> order(static_cast<std::size_t>(dim()));
  for (std::int64_t i = 0; i < dim(); ++i) order[static_cast<std::size_t>(i)] = i;
  std::swap(order[static_cast<std::size_t>(normalize_dim(dim0, dim(), "transpose"))],
            order[static_cast<std::size_t>(normalize_dim(dim1, dim(), "transpose"))]);
  return permute(order);
}

Tensor Tensor::t() const {
  check_argument(dim() == 2, "t: expected a 2-D tensor, got shape ", shape_);
  return transpose(0, 1);
}

Tensor Tensor::slice(std::int64_t d, std::int64_t start, std::int64_t end,
                     std::int64_t step) const {
  const std::int64_t dd = normalize_dim(d, dim(), "slice");
  const std::int64_t n = shape_[dd];
  check_argument(step >= 1, "slice: step must be >= 1, got ", step);
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<std::int64_t>(start, 0, n);
  end = std::clamp<std::int64_t>(end, start, n);
  Shape new_shape = shape_;
  new_shape[dd] = (end - start + step - 1) / step;
  std::vector<std::int64_t> new_strides = strides_;
  new_strides[static_cast<std::size_t>(dd)] *= step;
  return Tensor(storage_, std::move(new_shape), std::move(new_strides),
                offset_ + start * strides_[static_cast<std::size_t>(dd)], dtype_);
}

Tensor Tensor::select(std::int64_t d, std::int64_t index) const {
  const std::int64_t dd = normalize_dim(d, dim(), "select");
  const std::int64_t n = shape_[dd];
  if (index < 0) index += n;
  check_argument(index >= 0 && index < n, "select: index ", index, " out of range for dim ", d,
                 " of shape ", shape_);
  std::vector<std::int64_t> dims = shape_.dims(), strides = strides_;
  dims.erase(dims.begin() + dd);
  strides.erase(strides.begin() + dd);
  return Tensor(storage_, Shape(std::move(dims)), std::move(strides),
                offset_ + index * strides_[static_cast<std::size_t>(dd)], dtype_);
}

Tensor Tensor::expand(const Shape& shape) const {
  check_argument(shape.rank() >= dim(), "expand: cannot expand ", shape_, " to ", shape);
  const std::int64_t lead = shape.rank() - dim();
  std::vector<std::int64_t> strides(static_cast<std::size_t>(shape.rank()), 0);
  for (std::int64_t i = 0; i < dim(); ++i) {
    const std::int64_t have = shape_[i], want = shape[lead + i];
    check_argument(have == want || have == 1, "expand: cannot expand ", shape_, " to ", shape);
    strides[static_cast<std::size_t>(lead + i)] =
        have == want ? strides_[static_cast<std::size_t>(i)] : 0;
  }
  return Tensor(storage_, shape, std::move(strides), offset_, dtype_);
}

Tensor Tensor::squeeze(std::int64_t d) const {
  const std::int64_t dd = normalize_dim(d, dim(), "squeeze");
  if (shape_[dd] != 1) return *this;
  std::vector<std::int64_t> dims = shape_.dims(), strides = strides_;
  dims.erase(dims.begin() + dd);
  strides.erase(strides.begin() + dd);
  return Tensor(storage_, Shape(std::move(dims)), std::move(strides), offset_, dtype_);
}

Tensor Tensor::unsqueeze(std::int64_t d) const {
  const std::int64_t dd = normalize_dim(d, dim() + 1, "unsqueeze");
  std::vector<std::int64_t> dims = shape_.dims(), strides = strides_;
  const std::int64_t stride = dd < dim() ? strides_[static_cast<std::size_t>(dd)] * shape_[dd] : 1;
  dims.insert(dims.begin() + dd, 1);
  strides.insert(strides.begin() + dd, stride);
  return Tensor(storage_, Shape(std::move(dims)), std::move(strides), offset_, dtype_);
}

Tensor Tensor::flatten(std::int64_t start_dim, std::int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  const std::int64_t s = normalize_dim(start_dim, dim(), "flatten");
  const std::int64_t e = normalize_dim(end_dim, dim(), "flatten");
  check_argument(s <= e, "flatten: start_dim ", start_dim, " is after end_dim ", end_dim);
  std::vector<std::int64_t> dims(shape_.begin(), shape_.begin() + s);
  std::int64_t merged = 1;
  for (std::int64_t i = s; i <= e; ++i) merged *= shape_[i];
  dims.push_back(merged);
  dims.insert(dims.end(), shape_.begin() + e + 1, shape_.end());
  return reshape(Shape(std::move(dims)));
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape_, dtype_, device());
  if (numel() > 0) backend_for(device()).copy(*this, out);
  return out;
}

Tensor Tensor::to(Device target) const {
  const Device here = device();
  if (here == target) return *this;
  Tensor out = empty(shape_, dtype_, target);
  if (numel() == 0) return out;
  const Tensor src = contiguous();
  if (here.is_cpu()) {
    backend_for(target).copy_from_host(src.raw_data(), out);
  } else if (target.is_cpu()) {
    backend_for(here).copy_to_host(src, out.raw_data());
  } else {
    return src.to(Device::cpu()).to(target);
  }
  return out;
}

Tensor Tensor::to(DType target) const {
  if (dtype_ == target) return *this;
  Tensor out = empty(shape_, target, device());
  if (numel() > 0) backend_for(device()).copy(*this, out);
  return out;
}

Tensor& Tensor::copy_(const Tensor& src) {
  check_argument(defined() && src.defined(), "copy_: undefined tensor");
  const Tensor local = src.device() == device() ? src : src.to(device());
  const Tensor expanded = local.expand(shape_);
  if (numel() > 0) backend_for(device()).copy(expanded, *this);
  return *this;
}

Tensor& Tensor::fill_(double value) {
  check_argument(defined(), "fill_: undefined tensor");
  if (numel() > 0) backend_for(device()).fill(*this, value);
  return *this;
}

std::string Tensor::to_string() const {
  std::ostringstream out;
  if (!defined()) return "Tensor(undefined)";
  out << "Tensor(" << dtype_name(dtype_) << ", " << shape_ << ", " << device().to_string() << ")";
  constexpr std::int64_t kMaxPrinted = 64;
  if (numel() <= kMaxPrinted) {
    const std::vector<double> values = to_vector<double>();
    out << " [";
    for (std::size_t i = 0; i < values.size(); ++i) out << (i ? ", " : "") << values[i];
    out << "]";
  }
  return out.str();
}

std::ostream& operator<<(std::ostream& out, const Shape& shape) {
  return out << shape.to_string();
}

std::ostream& operator<<(std::ostream& out, const Tensor& tensor) {
  return out << tensor.to_string();
}

void check_same_device_and_dtype(const char* op, const std::vector<const Tensor*>& tensors) {
  const Tensor* first = nullptr;
  for (const Tensor* t : tensors) {
    check_argument(t->defined(), op, ": undefined tensor argument");
    if (first == nullptr) {
      first = t;
      continue;
    }
    check_argument(t->device() == first->device(), op, ": tensors on different devices (",
                   first->device().to_string(), " ", first->shape(), " and ",
                   t->device().to_string(), " ", t->shape(), ")");
    check_argument(t->dtype() == first->dtype(), op, ": tensors of different dtypes (",
                   dtype_name(first->dtype()), " ", first->shape(), " and ", dtype_name(t->dtype()),
                   " ", t->shape(), ")");
  }
}

void check_floating(const char* op, const Tensor& t) {
  check_argument(t.defined(), op, ": undefined tensor argument");
  check_argument(is_floating(t.dtype()), op, ": expected a float32 or float64 tensor, got ",
                 dtype_name(t.dtype()), " of shape ", t.shape());
}

template Tensor Tensor::from_vector<float>(const std::vector<float>&, const Shape&, Device);
template Tensor Tensor::from_vector<double>(const std::vector<double>&, const Shape&, Device);
template Tensor Tensor::from_vector<std::int64_t>(const std::vector<std::int64_t>&, const Shape&,
                                                  Device);
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template std::int64_t* Tensor::data<std::int64_t>() const;
template float Tensor::item<float>() const;
template double Tensor::item<double>() const;
template std::int64_t Tensor::item<std::int64_t>() const;
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<std::int64_t> Tensor::to_vector<std::int64_t>() const;

}  // namespace ortho
