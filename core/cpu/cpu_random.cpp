// Random fills of the CPU backend. Element i of a draw reads Philox block
// state.offset + i / k (k elements per 128-bit block), so a value depends only on
// (seed, offset, i): the same on any thread count, and on the CUDA backend.
//   float32: k = 4, one 32-bit word per element (24-bit uniform grid);
//   float64: k = 2, two words per element (53-bit uniform grid);
//   normal:  Box-Muller on the block's uniforms, pairs (2j, 2j+1) share one radius/angle.
#include <cmath>
#include <cstdint>
#include <numbers>

#include "core/cpu/cpu_backend.h"
#include "core/dispatch.h"
#include "core/random.h"

namespace ortho::cpu {
namespace {

// Elements produced by one Philox block for element type T.
template <typename T>
constexpr std::int64_t per_block() {
  return sizeof(T) == 4 ? 4 : 2;
}

// Uniform in [0, 1) on a 2^-24 grid (float) or 2^-53 grid (double) from the block's words.
template <typename T>
T unit_uniform(const std::uint32_t* words, std::int64_t slot) {
  if constexpr (sizeof(T) == 4) {
    return static_cast<T>(words[slot] >> 8) * 0x1.0p-24f;
  } else {
    const std::uint64_t bits =
        (static_cast<std::uint64_t>(words[2 * slot + 1]) << 32) | words[2 * slot];
    return static_cast<T>(bits >> 11) * 0x1.0p-53;
  }
}

// Runs fill(block_words, first_element, count) for every Philox block the tensor needs,
// split across threads by block so the mapping element -> block never depends on them.
template <typename T, typename Fill>
void for_each_block(const RandomState& state, Tensor& out, Fill&& fill) {
  T* data = static_cast<T*>(out.raw_data());
  const std::int64_t n = out.numel();
  constexpr std::int64_t k = per_block<T>();
  const std::int64_t blocks = (n + k - 1) / k;
#pragma omp parallel for schedule(static) if (n >= kParallelGrain)
  for (std::int64_t b = 0; b < blocks; ++b) {
    std::uint32_t words[4];
    philox4x32(state.offset + static_cast<std::uint64_t>(b), state.seed, words);
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
        const T v = static_cast<T>(low + span * static_cast<double>(unit_uniform<T>(words, s)));
        dst[s] = v < top ? v : top;
      }
    });
  });
}

void CpuBackend::normal(const RandomState& state, double mean, double stddev, Tensor& out) {
  dispatch_floating(out.dtype(), "normal", [&]<typename T>() {
    for_each_block<T>(state, out, [&](const std::uint32_t* words, T* dst, std::int64_t count) {
      // Box-Muller (Box & Muller 1958): u1 in (0, 1] keeps log finite.
      for (std::int64_t s = 0; s < count; s += 2) {
        const double u1 = 1.0 - static_cast<double>(unit_uniform<T>(words, s));
        const double u2 = static_cast<double>(unit_uniform<T>(words, s + 1));
        const double radius = stddev * std::sqrt(-2.0 * std::log(u1));
        const double angle = 2.0 * std::numbers::pi * u2;
        dst[s] = static_cast<T>(mean + radius * std::cos(angle));
        if (s + 1 < count) dst[s + 1] = static_cast<T>(mean + radius * std::sin(angle));
      }
    });
  });
}

void CpuBackend::bernoulli(const RandomState& state, double p, Tensor& out) {
  dispatch_floating(out.dtype(), "bernoulli", [&]<typename T>() {
    for_each_block<T>(state, out, [&](const std::uint32_t* words, T* dst, std::int64_t count) {
      for (std::int64_t s = 0; s < count; ++s) {
        dst[s] = static_cast<double>(unit_uniform<T>(words, s)) < p ? T(1) : T(0);
      }
    });
  });
}

}  // namespace ortho::cpu
