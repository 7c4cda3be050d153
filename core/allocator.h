#pragma once

#include <cstddef>
#include <cstdint>

#include "core/device.h"

namespace ortho {

// What an allocator has handed out. Every byte a tensor holds is counted here, so peak
// activation memory is measured by the framework itself.
struct MemoryStats {
  std::int64_t current_bytes = 0;     // bytes live now
  std::int64_t peak_bytes = 0;        // most bytes live at once since the last reset_peak()
  std::int64_t allocations = 0;       // allocate() calls since start
  std::int64_t live_allocations = 0;  // blocks not yet freed
  std::int64_t reserved_bytes = 0;    // bytes held from the device: live blocks plus any cache
};

// One allocator per device; thread-safe.
class Allocator {
 public:
  virtual ~Allocator() = default;
  // Returns memory for `bytes` bytes (64-byte aligned); throws std::bad_alloc or a
  // std::runtime_error naming the request when it cannot.
  virtual void* allocate(std::size_t bytes) = 0;
  virtual void deallocate(void* ptr, std::size_t bytes) = 0;
  virtual MemoryStats stats() const = 0;
  // Sets peak_bytes to current_bytes, so the next peak measures one piece of work.
  virtual void reset_peak() = 0;
  // Returns cached free blocks to the device (the CUDA allocator keeps them); a no-op on CPU.
  virtual void release_cached() {}
};

// The allocator of `device`; throws std::invalid_argument for a device this build lacks.
Allocator& allocator_for(Device device);

// Page-locked host memory, which the GPU reads by DMA while the host goes on (host-to-device
// copies from it do not wait). Falls back to the CPU allocator without a GPU.
Allocator& pinned_host_allocator();

// Installs the allocator of a CUDA device (the CUDA backend calls this when it loads).
void register_allocator(Device device, Allocator* allocator);

inline MemoryStats memory_stats(Device device = Device::cpu()) {
  return allocator_for(device).stats();
}
inline void reset_peak_memory(Device device = Device::cpu()) {
  allocator_for(device).reset_peak();
}
inline void empty_cache(Device device) {
  allocator_for(device).release_cached();
}

}  // namespace ortho
