#include "core/allocator.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdlib>
#include <new>

#include "core/cuda_link.h"
#include "core/error.h"

namespace ortho {
namespace {

// Host memory, 64-byte aligned for SIMD loads. Counters are atomics: tensors are freed on
// DataLoader worker threads too.
class CpuAllocator final : public Allocator {
 public:
  void* allocate(std::size_t bytes) override {
    const std::size_t rounded = std::max<std::size_t>((bytes + 63) / 64 * 64, 64);
    void* ptr = std::aligned_alloc(64, rounded);
    if (ptr == nullptr) throw std::bad_alloc();
    const std::int64_t now =
        current_.fetch_add(static_cast<std::int64_t>(bytes)) + static_cast<std::int64_t>(bytes);
    std::int64_t peak = peak_.load();
    while (now > peak && !peak_.compare_exchange_weak(peak, now)) {
    }
    allocations_.fetch_add(1);
    live_.fetch_add(1);
    return ptr;
  }

  void deallocate(void* ptr, std::size_t bytes) override {
    if (ptr == nullptr) return;
    std::free(ptr);
    current_.fetch_sub(static_cast<std::int64_t>(bytes));
    live_.fetch_sub(1);
  }

  MemoryStats stats() const override {
    const std::int64_t current = current_.load();
    return {current, peak_.load(), allocations_.load(), live_.load(), current};
  }

  void reset_peak() override { peak_.store(current_.load()); }

 private:
  std::atomic<std::int64_t> current_{0}, peak_{0}, allocations_{0}, live_{0};
};

constexpr int kMaxCudaDevices = 16;

struct AllocatorRegistry {
  CpuAllocator cpu;
  std::array<std::atomic<Allocator*>, kMaxCudaDevices> cuda{};
};

AllocatorRegistry& registry() {
  static AllocatorRegistry instance;
  return instance;
}

}  // namespace

Allocator& allocator_for(Device device) {
  if (device.is_cpu()) return registry().cpu;
  Allocator* gpu = device.index >= 0 && device.index < kMaxCudaDevices
                       ? registry().cuda[static_cast<std::size_t>(device.index)].load()
                       : nullptr;
#if ORTHO_HAS_CUDA
  if (gpu == nullptr) gpu = cuda::allocator(device.index);
#endif
  check_argument(gpu != nullptr, "allocator_for: device ", device.to_string(),
                 " is not available in this build or on this machine");
  return *gpu;
}

Allocator& pinned_host_allocator() {
#if ORTHO_HAS_CUDA
  if (Allocator* pinned = cuda::pinned_allocator(); pinned != nullptr) return *pinned;
#endif
  return registry().cpu;
}

void register_allocator(Device device, Allocator* allocator) {
  check_argument(device.is_cuda() && device.index >= 0 && device.index < kMaxCudaDevices,
                 "register_allocator: unsupported device ", device.to_string());
  registry().cuda[static_cast<std::size_t>(device.index)].store(allocator);
}

}  // namespace ortho
