// Fill and copy kernels of the CPU backend.
#include <cstring>

#include "core/cpu/cpu_backend.h"
#include "core/cpu/strided_loop.h"
#include "core/dispatch.h"

namespace ortho::cpu {

void CpuBackend::fill(Tensor& out, double value) {
  dispatch_all(out.dtype(), [&]<typename T>() {
    const StridedLayout<1> layout(out.shape(), {&out.strides()});
    T* base = static_cast<T*>(out.raw_data());
    const T v = static_cast<T>(value);
    for_each_row(layout, [&](const std::array<std::int64_t, 1>& off, std::int64_t n,
                             const std::array<std::int64_t, 1>& s) {
      T* p = base + off[0];
      if (s[0] == 1) {
        for (std::int64_t i = 0; i < n; ++i) p[i] = v;
      } else {
        for (std::int64_t i = 0; i < n; ++i) p[i * s[0]] = v;
      }
    });
  });
}

void CpuBackend::copy(const Tensor& src, Tensor& dst) {
  dispatch_all(dst.dtype(), [&]<typename D>() {
    dispatch_all(src.dtype(), [&]<typename S>() {
      const StridedLayout<2> layout(dst.shape(), {&dst.strides(), &src.strides()});
      D* out = static_cast<D*>(dst.raw_data());
      const S* in = static_cast<const S*>(src.raw_data());
      for_each_row(layout, [&](const std::array<std::int64_t, 2>& off, std::int64_t n,
                               const std::array<std::int64_t, 2>& s) {
        D* o = out + off[0];
        const S* x = in + off[1];
        if (s[0] == 1 && s[1] == 1) {
          for (std::int64_t i = 0; i < n; ++i) o[i] = static_cast<D>(x[i]);
        } else {
          for (std::int64_t i = 0; i < n; ++i) o[i * s[0]] = static_cast<D>(x[i * s[1]]);
        }
      });
    });
  });
}

void CpuBackend::copy_from_host(const void* host, Tensor& dst) {
  std::memcpy(dst.raw_data(), host,
              static_cast<std::size_t>(dst.numel()) * dtype_size(dst.dtype()));
}

void CpuBackend::copy_to_host(const Tensor& src, void* host) {
  std::memcpy(host, src.raw_data(),
              static_cast<std::size_t>(src.numel()) * dtype_size(src.dtype()));
}

}  // namespace ortho::cpu
