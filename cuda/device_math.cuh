#pragma once

// Device math overloaded on float and double (the f-suffixed CUDA functions for float), so
// templated kernels call one name for either element type.
#include <cuda_runtime.h>

namespace ortho::cuda {

__device__ inline float d_exp(float x) {
  return expf(x);
}
__device__ inline double d_exp(double x) {
  return exp(x);
}
__device__ inline float d_log(float x) {
  return logf(x);
}
__device__ inline double d_log(double x) {
  return log(x);
}
__device__ inline float d_sqrt(float x) {
  return sqrtf(x);
}
__device__ inline double d_sqrt(double x) {
  return sqrt(x);
}
__device__ inline float d_abs(float x) {
  return fabsf(x);
}
__device__ inline double d_abs(double x) {
  return fabs(x);
}
__device__ inline float d_tanh(float x) {
  return tanhf(x);
}
__device__ inline double d_tanh(double x) {
  return tanh(x);
}
__device__ inline float d_pow(float x, float y) {
  return powf(x, y);
}
__device__ inline double d_pow(double x, double y) {
  return pow(x, y);
}

// Larger of two values, skipping NaN (a row holding NaN ends all NaN through its sum anyway).
__device__ inline float d_max(float a, float b) {
  return fmaxf(a, b);
}
__device__ inline double d_max(double a, double b) {
  return fmax(a, b);
}

}  // namespace ortho::cuda
