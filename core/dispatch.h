#pragma once

#include <cstdint>

#include "core/dtype.h"
#include "core/error.h"

namespace ortho {

// Calls `fn.template operator()<T>()` with T the C++ type of a floating `dtype`:
//   dispatch_floating(t.dtype(), "exp", [&]<typename T>() { ... });
template <typename Fn>
decltype(auto) dispatch_floating(DType dtype, const char* op, Fn&& fn) {
  switch (dtype) {
    case DType::Float32:
      return fn.template operator()<float>();
    case DType::Float64:
      return fn.template operator()<double>();
    default:
      throw std::invalid_argument(error_message(op, ": dtype ", dtype_name(dtype),
                                                " is not supported (float32 or float64 only)"));
  }
}

// As dispatch_floating, and Int64 as well.
template <typename Fn>
decltype(auto) dispatch_all(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::Float32:
      return fn.template operator()<float>();
    case DType::Float64:
      return fn.template operator()<double>();
    case DType::Int64:
      break;
  }
  return fn.template operator()<std::int64_t>();
}

}  // namespace ortho
