#include "cuda/cuda_context.h"

#include <array>
#include <memory>
#include <mutex>

#include "core/allocator.h"
#include "core/device.h"
#include "core/error.h"
#include "cuda/cuda_check.h"

namespace ortho::cuda {
namespace {

constexpr int kMaxDevices = 16;

std::unique_ptr<DeviceContext> create_context(int device) {
  auto ctx = std::make_unique<DeviceContext>();
  ctx->device = device;
  ORTHO_CUDA_CHECK(cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking));
  ORTHO_CUBLAS_CHECK(cublasCreate(&ctx->cublas));
  ORTHO_CUBLAS_CHECK(cublasSetStream(ctx->cublas, ctx->stream));
  // Float32 gemms stay IEEE unless the user opts into TF32 (set_allow_tf32).
  ORTHO_CUBLAS_CHECK(cublasSetMathMode(ctx->cublas, CUBLAS_PEDANTIC_MATH));
  ORTHO_CUSOLVER_CHECK(cusolverDnCreate(&ctx->cusolver));
  ORTHO_CUSOLVER_CHECK(cusolverDnSetStream(ctx->cusolver, ctx->stream));
  ORTHO_CUDNN_CHECK(cudnnCreate(&ctx->cudnn));
  ORTHO_CUDNN_CHECK(cudnnSetStream(ctx->cudnn, ctx->stream));
  return ctx;
}

}  // namespace

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error so later queries start clean
    return 0;
  }
  return count;
}

DeviceContext& context(int device) {
  static std::mutex mutex;
  static std::array<std::unique_ptr<DeviceContext>, kMaxDevices> contexts;
  check_argument(device >= 0 && device < kMaxDevices && device < device_count(),
                 "CUDA: device cuda:", device, " does not exist (", device_count(),
                 " device(s) found)");
  ORTHO_CUDA_CHECK(cudaSetDevice(device));
  std::lock_guard lock(mutex);
  auto& slot = contexts[static_cast<std::size_t>(device)];
  if (!slot) slot = create_context(device);
  return *slot;
}

Workspace::Workspace(const DeviceContext& ctx, std::size_t bytes)
    : device_(ctx.device), bytes_(bytes) {
  if (bytes_ > 0) data_ = allocator_for(Device::cuda(device_)).allocate(bytes_);
}

Workspace::~Workspace() {
  if (data_ != nullptr) allocator_for(Device::cuda(device_)).deallocate(data_, bytes_);
}

}  // namespace ortho::cuda
