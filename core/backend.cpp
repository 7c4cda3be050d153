#include "core/backend.h"

#include <array>

#include "core/cpu/cpu_backend.h"
#include "core/cuda_link.h"
#include "core/error.h"

namespace ortho {
namespace {

std::array<Backend*, 2>& registry() {
  static cpu::CpuBackend cpu_backend;
#if ORTHO_HAS_CUDA
  static std::array<Backend*, 2> backends{&cpu_backend, cuda::backend()};
#else
  static std::array<Backend*, 2> backends{&cpu_backend, nullptr};
#endif
  return backends;
}

}  // namespace

Backend& backend_for(Device device) {
  Backend* backend = registry()[static_cast<std::size_t>(device.kind)];
  check_argument(backend != nullptr, "no backend for device ", device.to_string(),
                 ": this build of ortho has no CUDA support or no GPU was found");
  return *backend;
}

void register_backend(DeviceKind kind, Backend* backend) {
  registry()[static_cast<std::size_t>(kind)] = backend;
}

}  // namespace ortho
