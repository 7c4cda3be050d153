#pragma once

#include <cstdint>
#include <string>

namespace ortho {

enum class DeviceKind { CPU, CUDA };

// Where a tensor's bytes live: the host, or one CUDA device by index.
struct Device {
  DeviceKind kind = DeviceKind::CPU;
  int index = 0;

  static Device cpu() { return {DeviceKind::CPU, 0}; }
  static Device cuda(int index = 0) { return {DeviceKind::CUDA, index}; }
  bool is_cpu() const { return kind == DeviceKind::CPU; }
  bool is_cuda() const { return kind == DeviceKind::CUDA; }
  bool operator==(const Device&) const = default;

  std::string to_string() const;
  // Parses "cpu", "cuda" or "cuda:N"; throws std::invalid_argument otherwise.
  static Device parse(const std::string& text);
};

// CUDA devices this process can use: 0 in a build without the CUDA backend or without a GPU.
int cuda_device_count();
inline bool cuda_is_available() {
  return cuda_device_count() > 0;
}

// Waits until the work queued on `device` has finished (a no-op on CPU, whose ops are
// synchronous): time GPU work or read the allocator's peak only after it.
void synchronize(Device device);

// The device's own view of its memory (the CUDA driver's cudaMemGetInfo; the host's physical
// memory for the CPU), to cross-check the framework's allocator statistics.
struct DeviceMemoryInfo {
  std::int64_t free_bytes = 0;
  std::int64_t total_bytes = 0;
};
DeviceMemoryInfo device_memory_info(Device device);

// Lets float32 matmuls and convolutions on CUDA use TF32 tensor cores (10-bit mantissa
// inputs, float32 accumulation). Off by default: results then match the CPU to float32.
void set_allow_tf32(bool allow);
bool allow_tf32();

}  // namespace ortho
