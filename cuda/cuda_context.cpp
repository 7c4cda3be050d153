#include "cuda/cuda_context.h"

#include <array>
#include <atomic>
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

// Counted once: the devices a process sees are fixed when CUDA initializes, and every kernel
// launch asks (through context()).
int device_count() {
  static const int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();  // clear the sticky "no driver" error so later queries start clean
      return 0;
    }
    return n;
  }();
  return count;
}

// Contexts are created once under the lock and never destroyed, so the per-launch path reads
// an atomic pointer instead of taking a mutex.
DeviceContext& context(int device) {
  static std::mutex mutex;
  static std::array<std::atomic<DeviceContext*>, kMaxDevices> contexts{};
  check_argument(device >= 0 && device < kMaxDevices && device < device_count(),
                 "CUDA: device cuda:", device, " does not exist (", device_count(),
                 " device(s) found)");
  ORTHO_CUDA_CHECK(cudaSetDevice(device));
  auto& slot = contexts[static_cast<std::size_t>(device)];
  if (DeviceContext* ctx = slot.load(std::memory_order_acquire)) return *ctx;
  std::lock_guard lock(mutex);
  if (slot.load(std::memory_order_relaxed) == nullptr) {
    slot.store(create_context(device).release(), std::memory_order_release);
  }
  return *slot.load(std::memory_order_relaxed);
}

Workspace::Workspace(const DeviceContext& ctx, std::size_t bytes)
    : device_(ctx.device), bytes_(bytes) {
  if (bytes_ > 0) data_ = allocator_for(Device::cuda(device_)).allocate(bytes_);
}

Workspace::~Workspace() {
  if (data_ != nullptr) allocator_for(Device::cuda(device_)).deallocate(data_, bytes_);
}

}  // namespace ortho::cuda
