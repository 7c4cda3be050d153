#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <cusolverDn.h>

// Error checks for the CUDA libraries: a failing call throws std::runtime_error naming the
// call, the library's message and the source line, so a GPU fault surfaces where it began.
namespace ortho::cuda {

void check_cuda(cudaError_t status, const char* call, const char* file, int line);
void check_cublas(cublasStatus_t status, const char* call, const char* file, int line);
void check_cusolver(cusolverStatus_t status, const char* call, const char* file, int line);
void check_cudnn(cudnnStatus_t status, const char* call, const char* file, int line);
// Checks the launch of the kernel just queued (bad configuration, missing device code).
void check_launch(const char* kernel, const char* file, int line);

}  // namespace ortho::cuda

#define ORTHO_CUDA_CHECK(call) ::ortho::cuda::check_cuda((call), #call, __FILE__, __LINE__)
#define ORTHO_CUBLAS_CHECK(call) ::ortho::cuda::check_cublas((call), #call, __FILE__, __LINE__)
#define ORTHO_CUSOLVER_CHECK(call) ::ortho::cuda::check_cusolver((call), #call, __FILE__, __LINE__)
#define ORTHO_CUDNN_CHECK(call) ::ortho::cuda::check_cudnn((call), #call, __FILE__, __LINE__)
#define ORTHO_CUDA_CHECK_LAUNCH(kernel) ::ortho::cuda::check_launch(kernel, __FILE__, __LINE__)
