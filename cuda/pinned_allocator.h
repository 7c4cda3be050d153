#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <map>
#include <mutex>
#include <unordered_map>

#include "core/allocator.h"

namespace ortho::cuda {

// Page-locked host memory for batches on their way to a GPU, cached like device memory
// (cudaHostAlloc is slower than a copy). A copy from pinned memory runs asynchronously, so a
// freed block may still be read by a queued copy: each block records an event on every
// device's stream when it is freed and is handed out again only once that event has passed.
class PinnedHostAllocator final : public Allocator {
 public:
  void* allocate(std::size_t bytes) override;
  void deallocate(void* ptr, std::size_t bytes) override;
  MemoryStats stats() const override;
  void reset_peak() override;
  void release_cached() override;

 private:
  struct Block {
    std::size_t size = 0;
    cudaEvent_t freed = nullptr;  // recorded on the devices' streams at deallocate
  };

  void* reuse_cached(std::size_t size);

  mutable std::mutex mutex_;
  std::unordered_map<void*, Block> blocks_;  // every block held, live or cached
  std::multimap<std::size_t, void*> cached_;
  MemoryStats stats_;
};

}  // namespace ortho::cuda
