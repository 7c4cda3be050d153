#include "cuda/pinned_allocator.h"

#include <algorithm>

#include "cuda/cuda_check.h"
#include "cuda/cuda_context.h"

namespace ortho::cuda {
namespace {

constexpr std::size_t kRound = 4096;

}  // namespace

void* PinnedHostAllocator::allocate(std::size_t bytes) {
  const std::size_t size = std::max<std::size_t>((bytes + kRound - 1) / kRound * kRound, kRound);
  std::lock_guard lock(mutex_);
  void* ptr = reuse_cached(size);
  if (ptr == nullptr) {
    ORTHO_CUDA_CHECK(cudaHostAlloc(&ptr, size, cudaHostAllocDefault));
    Block block{size, nullptr};
    ORTHO_CUDA_CHECK(cudaEventCreateWithFlags(&block.freed, cudaEventDisableTiming));
    blocks_.emplace(ptr, block);
    stats_.reserved_bytes += static_cast<std::int64_t>(size);
  }
  stats_.current_bytes += static_cast<std::int64_t>(bytes);
  stats_.peak_bytes = std::max(stats_.peak_bytes, stats_.current_bytes);
  ++stats_.allocations;
  ++stats_.live_allocations;
  return ptr;
}

// A cached block of `size` to `2 size` bytes whose queued copies have all finished.
void* PinnedHostAllocator::reuse_cached(std::size_t size) {
  for (auto it = cached_.lower_bound(size); it != cached_.end() && it->first <= 2 * size; ++it) {
    if (cudaEventQuery(blocks_.at(it->second).freed) == cudaSuccess) {
      void* ptr = it->second;
      cached_.erase(it);
      return ptr;
    }
  }
  cudaGetLastError();  // cudaErrorNotReady from the queries is not an error
  return nullptr;
}

void PinnedHostAllocator::deallocate(void* ptr, std::size_t bytes) {
  if (ptr == nullptr) return;
  std::lock_guard lock(mutex_);
  const auto it = blocks_.find(ptr);
  if (it == blocks_.end()) return;
  for (int device = 0; device < device_count(); ++device) {
    ORTHO_CUDA_CHECK(cudaEventRecord(it->second.freed, context(device).stream));
  }
  cached_.emplace(it->second.size, ptr);
  stats_.current_bytes -= static_cast<std::int64_t>(bytes);
  --stats_.live_allocations;
}

MemoryStats PinnedHostAllocator::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void PinnedHostAllocator::reset_peak() {
  std::lock_guard lock(mutex_);
  stats_.peak_bytes = stats_.current_bytes;
}

void PinnedHostAllocator::release_cached() {
  std::lock_guard lock(mutex_);
  for (const auto& [size, ptr] : cached_) {
    const Block& block = blocks_.at(ptr);
    ORTHO_CUDA_CHECK(cudaEventSynchronize(block.freed));
    ORTHO_CUDA_CHECK(cudaEventDestroy(block.freed));
    ORTHO_CUDA_CHECK(cudaFreeHost(ptr));
    stats_.reserved_bytes -= static_cast<std::int64_t>(size);
    blocks_.erase(ptr);
  }
  cached_.clear();
}

}  // namespace ortho::cuda
