#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ortho {

// Element types. Float32 runs everywhere; Float64 is CPU-only (gradient checks, manifold tests);
// Int64 holds indices and labels (argmax results, class targets) and supports no arithmetic.
enum class DType : std::uint8_t { Float32, Float64, Int64 };

std::size_t dtype_size(DType dtype);
std::string dtype_name(DType dtype);
inline bool is_floating(DType dtype) {
  return dtype != DType::Int64;
}

template <typename T>
struct DTypeOf;
template <>
struct DTypeOf<float> {
  static constexpr DType value = DType::Float32;
};
template <>
struct DTypeOf<double> {
  static constexpr DType value = DType::Float64;
};
template <>
struct DTypeOf<std::int64_t> {
  static constexpr DType value = DType::Int64;
};
template <typename T>
inline constexpr DType dtype_of = DTypeOf<T>::value;

}  // namespace ortho
