#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "core/random.h"
#include "core/tensor.h"

namespace ortho {
namespace {

struct Moments {
  double mean, var, min, max;
};

Moments moments(const Tensor& t) {
  const std::vector<double> v = t.to_vector<double>();
  double m = 0;
  for (double x : v) m += x;
  m /= static_cast<double>(v.size());
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return {m, s / static_cast<double>(v.size()), *std::min_element(v.begin(), v.end()),
          *std::max_element(v.begin(), v.end())};
}

template <typename Fn>
void expect_throws_with(Fn&& fn, const std::vector<std::string>& pieces) {
  try {
    fn();
    ADD_FAILURE() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    for (const std::string& p : pieces) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
          << "message '" << e.what() << "' lacks '" << p << "'";
    }
  }
}

TEST(Philox, KnownAnswerVectors) {
  // Random123 tests/kat_vectors, "philox4x32 10" lines: counter[4] key[2] -> out[4].
  struct Kat {
    std::uint32_t ctr[4], key[2], out[4];
  };
  const Kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Kat& k : kats) {
    std::uint32_t out[4];
    philox4x32(k.ctr, k.key, out);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(out[i], k.out[i]) << "word " << i;
  }
  // The 64-bit overload is counter {lo, hi, 0, 0} and key {lo, hi}.
  const std::uint32_t ctr[4] = {0x89abcdef, 0x01234567, 0, 0};
  const std::uint32_t key[2] = {0x9abcdef0, 0x12345678};
  std::uint32_t wide[4], narrow[4];
  philox4x32(ctr, key, wide);
  philox4x32(0x0123456789abcdefull, 0x123456789abcdef0ull, narrow);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(wide[i], narrow[i]);
}

TEST(Generator, SameSeedSameNumbersAndOffsetsAdvance) {
  Generator a(42), b(42), c(43);
  const Tensor x = rand({1000}, DType::Float32, Device::cpu(), &a);
  EXPECT_EQ(a.state().offset, 1000u);
  const Tensor y = rand({1000}, DType::Float32, Device::cpu(), &b);
  const Tensor z = rand({1000}, DType::Float32, Device::cpu(), &c);
  EXPECT_EQ(x.to_vector<float>(), y.to_vector<float>());
  EXPECT_NE(x.to_vector<float>(), z.to_vector<float>());
  const Tensor x2 = rand({1000}, DType::Float32, Device::cpu(), &a);
  EXPECT_NE(x.to_vector<float>(), x2.to_vector<float>());
  // Restoring a saved state replays the draw.
  Generator d(42);
  d.set_state({42, 1000});
  EXPECT_EQ(rand({1000}, DType::Float32, Device::cpu(), &d).to_vector<float>(),
            x2.to_vector<float>());
  a.manual_seed(42);
  EXPECT_EQ(a.state().offset, 0u);
  EXPECT_EQ(rand({1000}, DType::Float32, Device::cpu(), &a).to_vector<float>(),
            x.to_vector<float>());
  // Host-side draws are deterministic and in range.
  Generator h1(7), h2(7);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(h1.next_u64(), h2.next_u64());
    const double u = h1.next_double();
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
    h2.next_double();
  }
}

TEST(Generator, DefaultGeneratorAndManualSeed) {
  EXPECT_EQ(&default_generator(), &default_generator(Device::cpu()));
  manual_seed(123);
  const std::vector<float> a = randn({64}).to_vector<float>();
  const std::vector<float> a2 = randn({64}).to_vector<float>();
  EXPECT_NE(a, a2);
  manual_seed(123);
  EXPECT_EQ(randn({64}).to_vector<float>(), a);
  EXPECT_EQ(default_generator().state().seed, 123u);
  EXPECT_EQ(default_generator().state().offset, 64u);
}

TEST(Generator, ThreadCountDoesNotChangeValues) {
  const Shape shape{100003};  // odd, so the last Philox block is partial
  for (DType dt : {DType::Float32, DType::Float64}) {
    SCOPED_TRACE(dtype_name(dt));
    std::vector<std::vector<double>> draws[2];
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      Generator g(2024);
      auto& out = draws[threads - 1];
      out.push_back(rand(shape, dt, Device::cpu(), &g).to_vector<double>());
      out.push_back(randn(shape, dt, Device::cpu(), &g).to_vector<double>());
      out.push_back(bernoulli(shape, 0.3, dt, Device::cpu(), &g).to_vector<double>());
      out.push_back(uniform(shape, -2.0, 5.0, dt, Device::cpu(), &g).to_vector<double>());
    }
    set_num_threads(2);
    for (std::size_t i = 0; i < draws[0].size(); ++i) EXPECT_EQ(draws[0][i], draws[1][i]) << i;
  }
}

TEST(Distributions, MomentsAreRoughlyRight) {
  Generator g(99);
  const std::int64_t n = 200000;
  for (DType dt : {DType::Float32, DType::Float64}) {
    SCOPED_TRACE(dtype_name(dt));
    const Moments u = moments(rand({n}, dt, Device::cpu(), &g));
    EXPECT_NEAR(u.mean, 0.5, 0.01);
    EXPECT_NEAR(u.var, 1.0 / 12, 0.003);
    EXPECT_GE(u.min, 0.0);
    EXPECT_LT(u.max, 1.0);
    const Moments r = moments(uniform({n}, -3.0, 1.0, dt, Device::cpu(), &g));
    EXPECT_NEAR(r.mean, -1.0, 0.02);
    EXPECT_GE(r.min, -3.0);
    EXPECT_LT(r.max, 1.0);
    const Moments z = moments(randn({n}, dt, Device::cpu(), &g));
    EXPECT_NEAR(z.mean, 0.0, 0.01);
    EXPECT_NEAR(z.var, 1.0, 0.02);
    const Moments s = moments(normal({n}, 3.0, 0.5, dt, Device::cpu(), &g));
    EXPECT_NEAR(s.mean, 3.0, 0.01);
    EXPECT_NEAR(std::sqrt(s.var), 0.5, 0.01);
    const Moments b = moments(bernoulli({n}, 0.25, dt, Device::cpu(), &g));
    EXPECT_NEAR(b.mean, 0.25, 0.01);
    EXPECT_EQ(b.min, 0.0);
    EXPECT_EQ(b.max, 1.0);
  }
  EXPECT_EQ(moments(bernoulli({1000}, 0.0, DType::Float32, Device::cpu(), &g)).max, 0.0);
  EXPECT_EQ(moments(bernoulli({1000}, 1.0, DType::Float32, Device::cpu(), &g)).min, 1.0);
  // A degenerate range gives its single value.
  EXPECT_EQ(moments(uniform({10}, 2.0, 2.0, DType::Float64, Device::cpu(), &g)).max, 2.0);
}

TEST(Randperm, IsADeterministicPermutation) {
  Generator g(5), h(5);
  const Tensor p = randperm(1000, &g);
  EXPECT_EQ(p.dtype(), DType::Int64);
  std::vector<std::int64_t> v = p.to_vector<std::int64_t>();
  EXPECT_EQ(v, randperm(1000, &h).to_vector<std::int64_t>());
  EXPECT_NE(v, randperm(1000, &g).to_vector<std::int64_t>());
  std::vector<std::int64_t> sorted = v;
  std::sort(sorted.begin(), sorted.end());
  for (std::int64_t i = 0; i < 1000; ++i) EXPECT_EQ(sorted[static_cast<std::size_t>(i)], i);
  std::int64_t fixed_points = 0;
  for (std::int64_t i = 0; i < 1000; ++i) fixed_points += v[static_cast<std::size_t>(i)] == i;
  EXPECT_LT(fixed_points, 10);  // expected about 1 for a uniform permutation
  EXPECT_EQ(randperm(0, &g).numel(), 0);
  EXPECT_EQ(randperm(1, &g).to_vector<std::int64_t>(), (std::vector<std::int64_t>{0}));
}

TEST(Random, ErrorsNameTheOp) {
  expect_throws_with([] { uniform({3}, 2.0, 1.0); }, {"uniform"});
  expect_throws_with([] { normal({3}, 0.0, -1.0); }, {"normal", "stddev"});
  expect_throws_with([] { bernoulli({3}, 1.5); }, {"bernoulli", "1.5"});
  expect_throws_with([] { rand({3}, DType::Int64); }, {"uniform", "int64"});
  expect_throws_with([] { randn({-1, 3}); }, {"normal", "[-1, 3]"});
  expect_throws_with([] { randperm(-2); }, {"randperm", "-2"});
  EXPECT_EQ(rand({0, 4}).numel(), 0);
}

}  // namespace
}  // namespace ortho
