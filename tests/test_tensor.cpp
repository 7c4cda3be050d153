#include <gtest/gtest.h>

#include "core/allocator.h"
#include "core/tensor.h"
#include "support/test_support.h"

namespace ortho {
namespace {

TEST(Tensor, FactoriesFillAndRead) {
  const Tensor t = Tensor::full({2, 3}, 1.5);
  EXPECT_EQ(t.shape(), Shape({2, 3}));
  EXPECT_EQ(t.dtype(), DType::Float32);
  EXPECT_TRUE(t.is_contiguous());
  for (float v : t.to_vector<float>()) EXPECT_EQ(v, 1.5f);
  EXPECT_EQ(Tensor::scalar(4.0, DType::Float64).item<double>(), 4.0);
  EXPECT_EQ(Tensor::eye(3).to_vector<float>(), (std::vector<float>{1, 0, 0, 0, 1, 0, 0, 0, 1}));
}

TEST(Tensor, ViewsShareStorage) {
  const Tensor base = Tensor::arange(24).reshape({2, 3, 4});
  const Tensor p = base.permute({2, 0, 1});
  const Tensor s = base.slice(2, 1, 3);
  const Tensor e = base.slice(0, 0, 1).expand({5, 3, 4});
  const Tensor t = base.transpose(0, 2);
  for (const Tensor* v : {&p, &s, &e, &t}) EXPECT_TRUE(v->shares_storage(base));
  EXPECT_EQ(p.shape(), Shape({4, 2, 3}));
  EXPECT_FALSE(p.is_contiguous());
  EXPECT_EQ(s.to_vector<float>()[0], 1.0f);
  EXPECT_EQ(e.stride(0), 0);
  EXPECT_EQ(t.contiguous().to_vector<float>()[1], 12.0f);
  Tensor writable = base.slice(1, 1, 2);
  writable.fill_(-1.0);
  EXPECT_EQ(base.to_vector<float>()[4], -1.0f);
}

TEST(Tensor, ContiguousCopiesOnlyWhenNeeded) {
  const Tensor base = Tensor::arange(6).reshape({2, 3});
  EXPECT_TRUE(base.contiguous().shares_storage(base));
  const Tensor c = base.t().contiguous();
  EXPECT_FALSE(c.shares_storage(base));
  EXPECT_EQ(c.to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_TRUE(base.t().reshape({3, 2}).shares_storage(base));
  EXPECT_FALSE(base.t().reshape({6}).shares_storage(base));
  EXPECT_THROW(base.t().view({6}), std::invalid_argument);
}

TEST(Tensor, ReshapeInfersAndRejects) {
  const Tensor base = Tensor::zeros({4, 6});
  EXPECT_EQ(base.reshape({-1, 3}).shape(), Shape({8, 3}));
  EXPECT_THROW(base.reshape({5, -1}), std::invalid_argument);
  EXPECT_THROW(base.reshape({-1, -1}), std::invalid_argument);
  EXPECT_THROW(base.expand({3, 6}), std::invalid_argument);
  EXPECT_EQ(Tensor::scalar(1.0).reshape({1}).shape(), Shape({1}));
}

TEST(Allocator, StatsCountExactly) {
  Allocator& alloc = allocator_for(Device::cpu());
  const MemoryStats before = alloc.stats();
  alloc.reset_peak();
  {
    const Tensor a = Tensor::empty({1000}, DType::Float64);
    const Tensor b = Tensor::empty({500}, DType::Float32);
    const MemoryStats during = alloc.stats();
    EXPECT_EQ(during.current_bytes - before.current_bytes, 8000 + 2000);
    EXPECT_EQ(during.allocations - before.allocations, 2);
    EXPECT_EQ(during.live_allocations - before.live_allocations, 2);
  }
  const MemoryStats after = alloc.stats();
  EXPECT_EQ(after.current_bytes, before.current_bytes);
  EXPECT_EQ(after.live_allocations, before.live_allocations);
  EXPECT_EQ(after.peak_bytes - before.current_bytes, 10000);
  alloc.reset_peak();
  EXPECT_EQ(alloc.stats().peak_bytes, after.current_bytes);
}

TEST(Tensor, DtypeConversionAndErrors) {
  const Tensor d = Tensor::arange(4, DType::Float64).to(DType::Float32);
  EXPECT_EQ(d.dtype(), DType::Float32);
  EXPECT_EQ(d.to_vector<double>(), (std::vector<double>{0, 1, 2, 3}));
  EXPECT_THROW(d.data<double>(), std::invalid_argument);
  EXPECT_THROW(d.item<float>(), std::invalid_argument);
  EXPECT_THROW(Tensor::from_vector(std::vector<float>{1, 2}, {3}), std::invalid_argument);
}

}  // namespace
}  // namespace ortho
