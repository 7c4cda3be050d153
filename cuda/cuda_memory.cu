// Fill, copy and host transfers of the CUDA backend.
#include "core/dispatch.h"
#include "cuda/cuda_backend.h"
#include "cuda/kernel_utils.cuh"

namespace ortho::cuda {
namespace {

// nvcc allows device lambdas in named function templates, not inside dispatch's generic lambdas.
template <typename T>
void fill_typed(const DeviceContext& ctx, Tensor& out, double value) {
  T* o = device_ptr<T>(out);
  const T v = static_cast<T>(value);
  launch_strided<1>("fill", ctx, out.shape(), {&out.strides()},
                    [=] __device__(const std::int64_t* off) { o[off[0]] = v; });
}

template <typename D, typename S>
void copy_typed(const DeviceContext& ctx, const Tensor& src, Tensor& dst) {
  D* o = device_ptr<D>(dst);
  const S* x = device_ptr<const S>(src);
  launch_strided<2>(
      "copy", ctx, dst.shape(), {&dst.strides(), &src.strides()},
      [=] __device__(const std::int64_t* off) { o[off[0]] = static_cast<D>(x[off[1]]); });
}

}  // namespace

void CudaBackend::synchronize() {
  for (int device = 0; device < device_count(); ++device) {
    ORTHO_CUDA_CHECK(cudaStreamSynchronize(context(device).stream));
  }
}

void CudaBackend::fill(Tensor& out, double value) {
  const DeviceContext& ctx = context(out);
  dispatch_all(out.dtype(), [&]<typename T>() { fill_typed<T>(ctx, out, value); });
}

void CudaBackend::copy(const Tensor& src, Tensor& dst) {
  const DeviceContext& ctx = context(dst);
  dispatch_all(dst.dtype(), [&]<typename D>() {
    dispatch_all(src.dtype(), [&]<typename S>() { copy_typed<D, S>(ctx, src, dst); });
  });
}

// Pageable host memory: the driver stages it, so `host` may be reused once this returns.
void CudaBackend::copy_from_host(const void* host, Tensor& dst) {
  const DeviceContext& ctx = context(dst);
  const std::size_t bytes = static_cast<std::size_t>(dst.numel()) * dtype_size(dst.dtype());
  ORTHO_CUDA_CHECK(
      cudaMemcpyAsync(dst.raw_data(), host, bytes, cudaMemcpyHostToDevice, ctx.stream));
}

void CudaBackend::copy_to_host(const Tensor& src, void* host) {
  const DeviceContext& ctx = context(src);
  const std::size_t bytes = static_cast<std::size_t>(src.numel()) * dtype_size(src.dtype());
  ORTHO_CUDA_CHECK(
      cudaMemcpyAsync(host, src.raw_data(), bytes, cudaMemcpyDeviceToHost, ctx.stream));
  ORTHO_CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
}

}  // namespace ortho::cuda
