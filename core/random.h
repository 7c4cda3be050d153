#pragma once

#include <cstdint>

#include "core/backend.h"
#include "core/tensor.h"

namespace ortho {

// A seeded, counter-based (Philox-style) generator: each draw of n numbers advances the
// offset by n, so the same seed gives the same run whatever the thread count, and the
// state (seed, offset) is two integers that checkpoints store.
class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0) : state_{seed, 0} {}
  void manual_seed(std::uint64_t seed) { state_ = {seed, 0}; }
  RandomState state() const { return state_; }
  void set_state(RandomState state) { state_ = state; }
  // Returns the state for the next `count` numbers and advances past them.
  RandomState reserve(std::uint64_t count);
  // A host-side draw, for samplers (shuffles, augmentation decisions).
  std::uint64_t next_u64();
  double next_double();  // uniform in [0, 1)

 private:
  RandomState state_;
};

// The process-wide generator of a device; manual_seed seeds every device's.
Generator& default_generator(Device device = Device::cpu());
void manual_seed(std::uint64_t seed);

// gen == nullptr uses the device's default generator.
Tensor rand(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu(),
            Generator* gen = nullptr);  // U[0, 1)
Tensor uniform(const Shape& shape, double low, double high, DType dtype = DType::Float32,
               Device device = Device::cpu(), Generator* gen = nullptr);
Tensor randn(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu(),
             Generator* gen = nullptr);
Tensor normal(const Shape& shape, double mean, double stddev, DType dtype = DType::Float32,
              Device device = Device::cpu(), Generator* gen = nullptr);
Tensor bernoulli(const Shape& shape, double p, DType dtype = DType::Float32,
                 Device device = Device::cpu(), Generator* gen = nullptr);
// A random permutation of 0..n-1 as an Int64 CPU tensor.
Tensor randperm(std::int64_t n, Generator* gen = nullptr);

// Philox4x32-10 block for (counter, key): four 32-bit outputs. Shared by the backends so CPU
// and CUDA produce the same numbers.
void philox4x32(std::uint64_t counter, std::uint64_t key, std::uint32_t out[4]);
// The full-width block: counter words c[0..3], key words k[0..1] (the known-answer form of
// Random123's kat_vectors). The overload above is counter = {lo, hi, 0, 0}, key = {lo, hi}.
void philox4x32(const std::uint32_t counter[4], const std::uint32_t key[2], std::uint32_t out[4]);

}  // namespace ortho
