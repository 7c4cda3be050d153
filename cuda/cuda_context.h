#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <cusolverDn.h>

#include "core/tensor.h"

namespace ortho::cuda {

// The resources of one device that every kernel and library call uses: work is queued on one
// stream per device, so a block freed to the caching allocator may be reused by the next
// launch without a synchronization (stream order keeps the reuse safe).
struct DeviceContext {
  int device = 0;
  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cusolverDnHandle_t cusolver = nullptr;
  cudnnHandle_t cudnn = nullptr;
};

// Number of usable devices; 0 when the driver or a GPU is missing.
int device_count();

// Makes `device` current on this thread and returns its context, created on first use.
DeviceContext& context(int device);
inline DeviceContext& context(const Tensor& t) {
  return context(t.device().index);
}

// A scratch buffer of at least `bytes` on the context's device, from the caching allocator
// (so it counts in MemoryStats) and freed when the Workspace goes out of scope.
class Workspace {
 public:
  Workspace(const DeviceContext& ctx, std::size_t bytes);
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }

 private:
  int device_;
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace ortho::cuda
