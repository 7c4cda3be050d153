// Philox4x32-10 and the seeded generators built on it (Salmon, Moraes, Dror, Shaw,
// "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
#include "core/random.h"

#include <map>
#include <mutex>
#include <utility>

#include "core/error.h"

namespace ortho {
namespace {

// Multipliers and Weyl key increments of Philox4x32 (Salmon et al. 2011, section 4.2).
constexpr std::uint32_t kPhiloxM0 = 0xD2511F53u;
constexpr std::uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr std::uint32_t kPhiloxW0 = 0x9E3779B9u;
constexpr std::uint32_t kPhiloxW1 = 0xBB67AE85u;
constexpr int kPhiloxRounds = 10;

// The seed new generators start from until manual_seed is called (PyTorch's default).
constexpr std::uint64_t kDefaultSeed = 67280421310721ull;

void mulhilo(std::uint32_t a, std::uint32_t b, std::uint32_t& hi, std::uint32_t& lo) {
  const std::uint64_t product = static_cast<std::uint64_t>(a) * b;
  hi = static_cast<std::uint32_t>(product >> 32);
  lo = static_cast<std::uint32_t>(product);
}

struct GeneratorRegistry {
  std::mutex mutex;
  std::uint64_t seed = kDefaultSeed;
  // std::map never moves its nodes, so returned references stay valid.
  std::map<std::pair<int, int>, Generator> generators;
};

GeneratorRegistry& registry() {
  static GeneratorRegistry instance;
  return instance;
}

}  // namespace

void philox4x32(const std::uint32_t counter[4], const std::uint32_t key[2], std::uint32_t out[4]) {
  std::uint32_t c0 = counter[0], c1 = counter[1], c2 = counter[2], c3 = counter[3];
  std::uint32_t k0 = key[0], k1 = key[1];
  for (int round = 0; round < kPhiloxRounds; ++round) {
    if (round > 0) {
      k0 += kPhiloxW0;
      k1 += kPhiloxW1;
    }
    std::uint32_t hi0, lo0, hi1, lo1;
    mulhilo(kPhiloxM0, c0, hi0, lo0);
    mulhilo(kPhiloxM1, c2, hi1, lo1);
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

void philox4x32(std::uint64_t counter, std::uint64_t key, std::uint32_t out[4]) {
  const std::uint32_t c[4] = {static_cast<std::uint32_t>(counter),
                              static_cast<std::uint32_t>(counter >> 32), 0u, 0u};
  const std::uint32_t k[2] = {static_cast<std::uint32_t>(key),
                              static_cast<std::uint32_t>(key >> 32)};
  philox4x32(c, k, out);
}

RandomState Generator::reserve(std::uint64_t count) {
  const RandomState current = state_;
  state_.offset += count;
  return current;
}

std::uint64_t Generator::next_u64() {
  const RandomState s = reserve(1);
  std::uint32_t block[4];
  philox4x32(s.offset, s.seed, block);
  return (static_cast<std::uint64_t>(block[1]) << 32) | block[0];
}

double Generator::next_double() {
  // The top 53 bits scaled by 2^-53: every double in [0, 1) on that grid, never 1.
  return static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
}

Generator& default_generator(Device device) {
  GeneratorRegistry& reg = registry();
  const std::lock_guard<std::mutex> lock(reg.mutex);
  const std::pair<int, int> id{static_cast<int>(device.kind), device.is_cpu() ? 0 : device.index};
  auto it = reg.generators.find(id);
  if (it == reg.generators.end()) it = reg.generators.emplace(id, Generator(reg.seed)).first;
  return it->second;
}

void manual_seed(std::uint64_t seed) {
  GeneratorRegistry& reg = registry();
  const std::lock_guard<std::mutex> lock(reg.mutex);
  reg.seed = seed;
  for (auto& [id, gen] : reg.generators) gen.manual_seed(seed);
}

namespace {

Generator& pick(Generator* gen, Device device) {
  return gen != nullptr ? *gen : default_generator(device);
}

Tensor random_output(const char* op, const Shape& shape, DType dtype, Device device) {
  check_argument(is_floating(dtype), op, ": dtype ", dtype_name(dtype),
                 " is not supported (float32 or float64 only)");
  for (std::int64_t d : shape) check_argument(d >= 0, op, ": negative size in shape ", shape);
  return Tensor::empty(shape, dtype, device);
}

}  // namespace

Tensor rand(const Shape& shape, DType dtype, Device device, Generator* gen) {
  return uniform(shape, 0.0, 1.0, dtype, device, gen);
}

Tensor uniform(const Shape& shape, double low, double high, DType dtype, Device device,
               Generator* gen) {
  check_argument(low <= high, "uniform: low ", low, " is above high ", high);
  Tensor out = random_output("uniform", shape, dtype, device);
  if (out.numel() == 0) return out;
  const RandomState state = pick(gen, device).reserve(static_cast<std::uint64_t>(out.numel()));
  backend_for(device).uniform(state, low, high, out);
  return out;
}

Tensor randn(const Shape& shape, DType dtype, Device device, Generator* gen) {
  return normal(shape, 0.0, 1.0, dtype, device, gen);
}

Tensor normal(const Shape& shape, double mean, double stddev, DType dtype, Device device,
              Generator* gen) {
  check_argument(stddev >= 0.0, "normal: stddev must be >= 0, got ", stddev);
  Tensor out = random_output("normal", shape, dtype, device);
  if (out.numel() == 0) return out;
  const RandomState state = pick(gen, device).reserve(static_cast<std::uint64_t>(out.numel()));
  backend_for(device).normal(state, mean, stddev, out);
  return out;
}

Tensor bernoulli(const Shape& shape, double p, DType dtype, Device device, Generator* gen) {
  check_argument(p >= 0.0 && p <= 1.0, "bernoulli: p must be in [0, 1], got ", p);
  Tensor out = random_output("bernoulli", shape, dtype, device);
  if (out.numel() == 0) return out;
  const RandomState state = pick(gen, device).reserve(static_cast<std::uint64_t>(out.numel()));
  backend_for(device).bernoulli(state, p, out);
  return out;
}

Tensor randperm(std::int64_t n, Generator* gen) {
  check_argument(n >= 0, "randperm: n must be >= 0, got ", n);
  Generator& g = pick(gen, Device::cpu());
  Tensor out = Tensor::arange(n, DType::Int64);
  std::int64_t* p = out.data<std::int64_t>();
  // Fisher-Yates; rejection below `threshold` removes the modulo bias of u64 % bound.
  for (std::int64_t i = n - 1; i > 0; --i) {
    const std::uint64_t bound = static_cast<std::uint64_t>(i) + 1;
    const std::uint64_t threshold = (0 - bound) % bound;
    std::uint64_t r = g.next_u64();
    while (r < threshold) r = g.next_u64();
    std::swap(p[i], p[static_cast<std::int64_t>(r % bound)]);
  }
  return out;
}

}  // namespace ortho
