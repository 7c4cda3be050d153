#pragma once

// Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3",
// SC 2011) and the mapping of its words to uniforms, compiled for the host and, in nvcc,
// for the device: the CPU and CUDA backends draw the same numbers from one definition.
#include <cmath>
#include <cstdint>
#include <numbers>

#ifdef __CUDACC__
#define ORTHO_HOST_DEVICE __host__ __device__
#else
#define ORTHO_HOST_DEVICE
#endif

namespace ortho::philox {

// Multipliers and Weyl key increments of Philox4x32 (Salmon et al. 2011, section 4.2).
inline constexpr std::uint32_t kM0 = 0xD2511F53u;
inline constexpr std::uint32_t kM1 = 0xCD9E8D57u;
inline constexpr std::uint32_t kW0 = 0x9E3779B9u;
inline constexpr std::uint32_t kW1 = 0xBB67AE85u;
inline constexpr int kRounds = 10;

// Four 32-bit outputs for counter words c[0..3] and key words k[0..1].
ORTHO_HOST_DEVICE inline void block(const std::uint32_t counter[4], const std::uint32_t key[2],
                                    std::uint32_t out[4]) {
  std::uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
  std::uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < kRounds; ++round) {
    if (round > 0) {
      k0 += kW0;
      k1 += kW1;
    }
    const std::uint64_t p0 = static_cast<std::uint64_t>(kM0) * c0;
    const std::uint64_t p1 = static_cast<std::uint64_t>(kM1) * c2;
    c0 = static_cast<std::uint32_t>(p1 >> 32) ^ c1 ^ k0;
    c1 = static_cast<std::uint32_t>(p1);
    c2 = static_cast<std::uint32_t>(p0 >> 32) ^ c3 ^ k1;
    c3 = static_cast<std::uint32_t>(p0);
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

// The block of a 64-bit counter {lo, hi, 0, 0} and a 64-bit key {lo, hi}.
ORTHO_HOST_DEVICE inline void block(std::uint64_t counter, std::uint64_t key,
                                    std::uint32_t out[4]) {
  const std::uint32_t c[4] = {static_cast<std::uint32_t>(counter),
                              static_cast<std::uint32_t>(counter >> 32), 0u, 0u};
  const std::uint32_t k[2] = {static_cast<std::uint32_t>(key),
                              static_cast<std::uint32_t>(key >> 32)};
  block(c, k, out);
}

// Elements one block yields for element type T: one word per float, two per double.
template <typename T>
constexpr std::int64_t per_block() {
  return sizeof(T) == 4 ? 4 : 2;
}

// Uniform in [0, 1) on a 2^-24 grid (float) or 2^-53 grid (double) from slot `slot` of a block.
template <typename T>
ORTHO_HOST_DEVICE inline T unit_uniform(const std::uint32_t* words, std::int64_t slot) {
  if constexpr (sizeof(T) == 4) {
    return static_cast<T>(words[slot] >> 8) * 0x1.0p-24f;
  } else {
    const std::uint64_t bits =
        (static_cast<std::uint64_t>(words[2 * slot + 1]) << 32) | words[2 * slot];
    return static_cast<T>(bits >> 11) * 0x1.0p-53;
  }
}

// Box-Muller (Box & Muller 1958) on slots (s, s + 1): u1 in (0, 1] keeps the log finite.
template <typename T>
ORTHO_HOST_DEVICE inline void normal_pair(const std::uint32_t* words, std::int64_t s, double mean,
                                          double stddev, double& first, double& second) {
  const double u1 = 1.0 - static_cast<double>(unit_uniform<T>(words, s));
  const double u2 = static_cast<double>(unit_uniform<T>(words, s + 1));
  const double radius = stddev * sqrt(-2.0 * log(u1));
  const double angle = 2.0 * std::numbers::pi * u2;
  first = mean + radius * cos(angle);
  second = mean + radius * sin(angle);
}

}  // namespace ortho::philox
