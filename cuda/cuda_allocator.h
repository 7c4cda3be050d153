#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>

#include "core/allocator.h"

namespace ortho::cuda {

// Device memory for one GPU that keeps freed blocks for reuse instead of returning them to
// the driver (cudaMalloc/cudaFree synchronize the device and cost tens of microseconds).
// Blocks are reused in stream order: all work runs on the device's one stream, so a block
// freed by one op can be handed to the next op's launch without waiting. Sizes are rounded
// (512 bytes below 1 MiB, 128 KiB above) and a cached block serves any request it fits
// within twice its size. When cudaMalloc fails the cache is released and the call retried
// once; then the error names the request and the device's free/total memory.
class CachingAllocator final : public Allocator {
 public:
  explicit CachingAllocator(int device) : device_(device) {}
  ~CachingAllocator() override = default;  // the driver reclaims device memory at exit

  void* allocate(std::size_t bytes) override;
  void deallocate(void* ptr, std::size_t bytes) override;
  MemoryStats stats() const override;
  void reset_peak() override;
  void release_cached() override;

 private:
  void* allocate_from_driver(std::size_t block, std::size_t requested);
  void release_cached_locked();

  int device_;
  mutable std::mutex mutex_;
  std::multimap<std::size_t, void*> cached_;           // block size -> free block
  std::unordered_map<void*, std::size_t> block_size_;  // every block held, live or cached
  MemoryStats stats_;                                  // reserved_bytes: live blocks plus the cache
};

}  // namespace ortho::cuda
