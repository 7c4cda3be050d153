#include "core/device.h"

#include <unistd.h>

#include <atomic>
#include <stdexcept>

#include "core/backend.h"
#include "core/cuda_link.h"
#include "core/error.h"

namespace ortho {
namespace {

std::atomic<bool>& tf32_flag() {
  static std::atomic<bool> flag{false};
  return flag;
}

}  // namespace

std::string Device::to_string() const {
  if (kind == DeviceKind::CPU) return "cpu";
  return "cuda:" + std::to_string(index);
}

Device Device::parse(const std::string& text) {
  if (text == "cpu") return cpu();
  if (text == "cuda") return cuda(0);
  if (text.rfind("cuda:", 0) == 0 && text.size() > 5) {
    std::size_t used = 0;
    int index = -1;
    try {
      index = std::stoi(text.substr(5), &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == text.size() - 5 && index >= 0) return cuda(index);
  }
  throw std::invalid_argument("unknown device '" + text + "' (expected cpu, cuda or cuda:N)");
}

int cuda_device_count() {
#if ORTHO_HAS_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

void synchronize(Device device) {
  backend_for(device).synchronize();
}

DeviceMemoryInfo device_memory_info(Device device) {
  DeviceMemoryInfo info;
  if (device.is_cpu()) {
    const std::int64_t page = sysconf(_SC_PAGESIZE);
    info.free_bytes = sysconf(_SC_AVPHYS_PAGES) * page;
    info.total_bytes = sysconf(_SC_PHYS_PAGES) * page;
    return info;
  }
  check_argument(device.index < cuda_device_count(), "device_memory_info: device ",
                 device.to_string(), " is not available");
#if ORTHO_HAS_CUDA
  cuda::memory_info(device.index, info.free_bytes, info.total_bytes);
#endif
  return info;
}

void set_allow_tf32(bool allow) {
  tf32_flag().store(allow);
}

bool allow_tf32() {
  return tf32_flag().load();
}

}  // namespace ortho
