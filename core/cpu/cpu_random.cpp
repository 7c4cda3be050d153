// Random fills of the CPU backend. Element i of a draw reads Philox block
// state.offset + i / k (k elements per 128-bit block), so a value depends only on
// (seed, offset, i): the same on any thread count, and on the CUDA backend.
//   float32: k = 4, one 32-bit word per element (24-bit uniform grid);
//   float64: k = 2, two words per element (53-bit uniform grid);
//   normal:  Box-Muller on the block's uniforms, pairs (2j, 2j+1) share one radius/angle.
#include <cmath>
#include <cstdint>

#include "core/cpu/cpu_backend.h"
#include "core/dispatch.h"
#include "core/philox.h"

namespace ortho::cpu {
namespace {

// Runs fill(block_words, first_element, count) for every Philox block the tensor needs,
// split across threads by block so the mapping element -> block never depends on them.
template <typename T, typename Fill>
void for_each_block(const RandomState& state, Tensor& out, Fill&& fill) {
  T* data = static_cast<T*>(out.raw_data());
  const std::int64_t n = out.numel();
  constexpr std::int64_t k = philox::per_block<T>();
  const std::int64_t blocks = (n + k - 1) / k;
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
  for (std::int64_t b = 0; b < blocks; ++b) {
    std::uint32_t words[4];
    philox::block(state.offset + static_cast<std::uint64_t>(b), state.seed, words);
    const std::int64_t first = b * k;
    const std::int64_t count = first + k <= n ? k : n - first;
    fill(words, data + first, count);
  }
}

}  // namespace

void CpuBackend::uniform(const RandomState& state, double low, double high, Tensor& out) {
  dispatch_floating(out.dtype(), "uniform", [&]<typename T>() {
    const double span = high - low;
    // Rounding low + span * u to T may land on high; the largest T below it keeps [low, high).
    const T top = low < high ? std::nextafter(static_cast<T>(high), static_cast<T>(low))
                             : static_cast<T>(high);
    for_each_block<T>(state, out, [&](const std::uint32_t* words, T* dst, std::int64_t count) {
      for (std::int64_t s = 0; s < count; ++s) {
        const T v =
            static_cast<T>(low + span * static_cast<double>(philox::unit_uniform<T>(words, s)));
        dst[s] = v < top ? v : top;
      }
    });
  });
}

void CpuBackend::normal(const RandomState& state, double mean, double stddev, Tensor& out) {
  dispatch_floating(out.dtype(), "normal", [&]<typename T>() {
    for_each_block<T>(state, out, [&](const std::uint32_t* words, T* dst, std::int64_t count) {
      for (std::int64_t s = 0; s < count; s += 2) {
        double first = 0.0, second = 0.0;
        philox::normal_pair<T>(words, s, mean, stddev, first, second);
        dst[s] = static_cast<T>(first);
        if (s + 1 < count) dst[s + 1] = static_cast<T>(second);
      }
    });
  });
}

void CpuBackend::bernoulli(const RandomState& state, double p, Tensor& out) {
  dispatch_floating(out.dtype(), "bernoulli", [&]<typename T>() {
    for_each_block<T>(state, out, [&](const std::uint32_t* words, T* dst, std::int64_t count) {
      for (std::int64_t s = 0; s < count; ++s) {
        dst[s] = static_cast<double>(philox::unit_uniform<T>(words, s)) < p ? T(1) : T(0);
      }
    });
  });
}

}  // namespace ortho::cpu
