#include "cuda/cuda_allocator.h"

#include <algorithm>
#include <stdexcept>

#include "core/error.h"
#include "cuda/cuda_check.h"

namespace ortho::cuda {
namespace {

constexpr std::size_t kSmallRound = 512;
constexpr std::size_t kLargeRound = 128 * 1024;
constexpr std::size_t kLargeThreshold = 1024 * 1024;

std::size_t rounded_block(std::size_t bytes) {
  const std::size_t unit = bytes < kLargeThreshold ? kSmallRound : kLargeRound;
  return std::max<std::size_t>((bytes + unit - 1) / unit * unit, unit);
}

}  // namespace

void* CachingAllocator::allocate(std::size_t bytes) {
  const std::size_t block = rounded_block(bytes);
  std::lock_guard lock(mutex_);
  void* ptr = nullptr;
  auto it = cached_.lower_bound(block);
  if (it != cached_.end() && it->first <= 2 * block) {
    ptr = it->second;
    cached_.erase(it);
  } else {
    ptr = allocate_from_driver(block, bytes);
  }
  stats_.current_bytes += static_cast<std::int64_t>(bytes);
  stats_.peak_bytes = std::max(stats_.peak_bytes, stats_.current_bytes);
  ++stats_.allocations;
  ++stats_.live_allocations;
  return ptr;
}

void* CachingAllocator::allocate_from_driver(std::size_t block, std::size_t requested) {
  ORTHO_CUDA_CHECK(cudaSetDevice(device_));
  void* ptr = nullptr;
  cudaError_t status = cudaMalloc(&ptr, block);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    release_cached_locked();
    status = cudaMalloc(&ptr, block);
  }
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    std::size_t free = 0, total = 0;
    cudaMemGetInfo(&free, &total);
    throw std::runtime_error(error_message(
        "CUDA out of memory: allocating ", requested, " bytes on cuda:", device_, " failed (", free,
        " of ", total, " bytes free on the device; ortho holds ", stats_.reserved_bytes, " bytes, ",
        stats_.current_bytes, " of them in live tensors)"));
  }
  ORTHO_CUDA_CHECK(status);
  block_size_.emplace(ptr, block);
  stats_.reserved_bytes += static_cast<std::int64_t>(block);
  return ptr;
}

void CachingAllocator::deallocate(void* ptr, std::size_t bytes) {
  if (ptr == nullptr) return;
  std::lock_guard lock(mutex_);
  const auto it = block_size_.find(ptr);
  if (it == block_size_.end()) return;
  cached_.emplace(it->second, ptr);
  stats_.current_bytes -= static_cast<std::int64_t>(bytes);
  --stats_.live_allocations;
}

MemoryStats CachingAllocator::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void CachingAllocator::reset_peak() {
  std::lock_guard lock(mutex_);
  stats_.peak_bytes = stats_.current_bytes;
}

void CachingAllocator::release_cached() {
  std::lock_guard lock(mutex_);
  release_cached_locked();
}

void CachingAllocator::release_cached_locked() {
  ORTHO_CUDA_CHECK(cudaSetDevice(device_));
  for (const auto& [size, ptr] : cached_) {
    ORTHO_CUDA_CHECK(cudaFree(ptr));  // cudaFree waits for queued work that may still use ptr
    block_size_.erase(ptr);
    stats_.reserved_bytes -= static_cast<std::int64_t>(size);
  }
  cached_.clear();
}

}  // namespace ortho::cuda
