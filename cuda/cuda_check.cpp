#include "cuda/cuda_check.h"

#include <stdexcept>
#include <string>

#include "core/error.h"

namespace ortho::cuda {
namespace {

[[noreturn]] void fail(const char* library, const char* call, const std::string& message,
                       const char* file, int line) {
  throw std::runtime_error(
      error_message(library, " error: ", call, " failed: ", message, " (", file, ":", line, ")"));
}

}  // namespace

void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
  if (status != cudaSuccess) fail("CUDA", call, cudaGetErrorString(status), file, line);
}

void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS)
    fail("cuBLAS", call, cublasGetStatusString(status), file, line);
}

void check_cusolver(cusolverStatus_t status, const char* call, const char* file, int line) {
  if (status != CUSOLVER_STATUS_SUCCESS) {
    fail("cuSOLVER", call, "status " + std::to_string(static_cast<int>(status)), file, line);
  }
}

void check_cudnn(cudnnStatus_t status, const char* call, const char* file, int line) {
  if (status != CUDNN_STATUS_SUCCESS) fail("cuDNN", call, cudnnGetErrorString(status), file, line);
}

void check_launch(const char* kernel, const char* file, int line) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) fail("CUDA", kernel, cudaGetErrorString(status), file, line);
}

}  // namespace ortho::cuda
