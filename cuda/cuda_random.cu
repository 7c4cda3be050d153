// Random fills of the CUDA backend: one thread per Philox block, with the element -> block
// mapping and the word -> value maps of the CPU backend (core/philox.h), so a seed draws the
// same numbers on both devices.
#include <cmath>

#include "core/dispatch.h"
#include "core/philox.h"
#include "cuda/cuda_backend.h"
#include "cuda/kernel_utils.cuh"

namespace ortho::cuda {
namespace {

// Runs fill(words, first_element, count) for every block the contiguous tensor `out` needs.
template <typename T, typename Fill>
void for_each_block(const char* name, const RandomState& state, Tensor& out, Fill fill) {
  constexpr std::int64_t k = philox::per_block<T>();
  const std::int64_t n = out.numel();
  T* data = device_ptr<T>(out);
  const std::uint64_t offset = state.offset, seed = state.seed;
  launch_index(name, context(out), (n + k - 1) / k, [=] __device__(std::int64_t b) {
    std::uint32_t words[4];
    philox::block(offset + static_cast<std::uint64_t>(b), seed, words);
    const std::int64_t first = b * k;
    fill(words, data + first, first + k <= n ? k : n - first);
  });
}

template <typename T>
void uniform_typed(const RandomState& state, double low, double high, Tensor& out) {
  const double span = high - low;
  // Rounding low + span * u to T may land on high; the largest T below it keeps [low, high).
  const T top =
      low < high ? std::nextafter(static_cast<T>(high), static_cast<T>(low)) : static_cast<T>(high);
  for_each_block<T>("uniform", state, out,
                    [=] __device__(const std::uint32_t* words, T* dst, std::int64_t count) {
                      for (std::int64_t s = 0; s < count; ++s) {
                        const T v = static_cast<T>(
                            low + span * static_cast<double>(philox::unit_uniform<T>(words, s)));
                        dst[s] = v < top ? v : top;
                      }
                    });
}

template <typename T>
void normal_typed(const RandomState& state, double mean, double stddev, Tensor& out) {
  for_each_block<T>("normal", state, out,
                    [=] __device__(const std::uint32_t* words, T* dst, std::int64_t count) {
                      for (std::int64_t s = 0; s < count; s += 2) {
                        double first = 0.0, second = 0.0;
                        philox::normal_pair<T>(words, s, mean, stddev, first, second);
                        dst[s] = static_cast<T>(first);
                        if (s + 1 < count) dst[s + 1] = static_cast<T>(second);
                      }
                    });
}

template <typename T>
void bernoulli_typed(const RandomState& state, double p, Tensor& out) {
  for_each_block<T>("bernoulli", state, out,
                    [=] __device__(const std::uint32_t* words, T* dst, std::int64_t count) {
                      for (std::int64_t s = 0; s < count; ++s) {
                        dst[s] = static_cast<double>(philox::unit_uniform<T>(words, s)) < p ? T(1)
                                                                                            : T(0);
                      }
                    });
}

}  // namespace

void CudaBackend::uniform(const RandomState& state, double low, double high, Tensor& out) {
  dispatch_floating(out.dtype(), "uniform",
                    [&]<typename T>() { uniform_typed<T>(state, low, high, out); });
}

void CudaBackend::normal(const RandomState& state, double mean, double stddev, Tensor& out) {
  dispatch_floating(out.dtype(), "normal",
                    [&]<typename T>() { normal_typed<T>(state, mean, stddev, out); });
}

void CudaBackend::bernoulli(const RandomState& state, double p, Tensor& out) {
  dispatch_floating(out.dtype(), "bernoulli",
                    [&]<typename T>() { bernoulli_typed<T>(state, p, out); });
}

}  // namespace ortho::cuda
