// Device discovery: the CUDA backend's entry point that every build with nvcc compiles.
#include <cuda_runtime.h>

namespace ortho::cuda {

// Number of usable CUDA devices; 0 when the driver or a GPU is missing.
int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

}  // namespace ortho::cuda
