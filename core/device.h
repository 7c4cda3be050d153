#pragma once

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

}  // namespace ortho
