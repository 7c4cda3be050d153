#pragma once

// The entry points of the CUDA backend (cuda/cuda_install.cpp) that core calls. They exist
// only in builds with the backend (ORTHO_HAS_CUDA); no CUDA header is needed to call them.
#include <cstdint>

namespace ortho {

class Allocator;
class Backend;

namespace cuda {

// Usable devices; 0 when the driver or a GPU is missing.
int device_count();
// cudaMemGetInfo of device `index`.
void memory_info(int index, std::int64_t& free_bytes, std::int64_t& total_bytes);
// The CUDA backend, or nullptr on a machine without a GPU.
Backend* backend();
// The caching allocator of device `index`, or nullptr when there is no such device.
Allocator* allocator(int index);

// The page-locked host allocator, or nullptr without a GPU.
Allocator* pinned_allocator();

}  // namespace cuda
}  // namespace ortho
