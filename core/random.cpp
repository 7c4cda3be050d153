// The seeded generators built on Philox4x32-10 (core/philox.h).
#include "core/random.h"

#include <map>
#include <mutex>
#include <utility>

#include "core/error.h"
#include "core/philox.h"

namespace ortho {
namespace {

// The seed new generators start from until manual_seed is called (PyTorch's default).
constexpr std::uint64_t kDefaultSeed = 67280421310721ull;

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
  philox::block(counter, key, out);
}

void philox4x32(std::uint64_t counter, std::uint64_t key, std::uint32_t out[4]) {
  philox::block(counter, key, out);
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
