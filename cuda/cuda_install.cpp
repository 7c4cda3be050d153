// The CUDA backend's entry points for core (core/cuda_link.h).
#include <array>
#include <memory>
#include <mutex>

#include "core/cuda_link.h"
#include "cuda/cuda_allocator.h"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"
#include "cuda/cuda_context.h"
#include "cuda/pinned_allocator.h"

namespace ortho::cuda {

void memory_info(int index, std::int64_t& free_bytes, std::int64_t& total_bytes) {
  context(index);
  std::size_t free = 0, total = 0;
  ORTHO_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  free_bytes = static_cast<std::int64_t>(free);
  total_bytes = static_cast<std::int64_t>(total);
}

Backend* backend() {
  static CudaBackend instance;
  return device_count() > 0 ? &instance : nullptr;
}

Allocator* pinned_allocator() {
  static PinnedHostAllocator instance;
  return device_count() > 0 ? &instance : nullptr;
}

Allocator* allocator(int index) {
  static std::mutex mutex;
  static std::array<std::unique_ptr<CachingAllocator>, 16> allocators;
  if (index < 0 || index >= static_cast<int>(allocators.size()) || index >= device_count()) {
    return nullptr;
  }
  std::lock_guard lock(mutex);
  auto& slot = allocators[static_cast<std::size_t>(index)];
  if (!slot) slot = std::make_unique<CachingAllocator>(index);
  return slot.get();
}

}  // namespace ortho::cuda
