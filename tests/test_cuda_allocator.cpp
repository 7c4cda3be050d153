// The CUDA caching allocator seen through core/allocator.h: memory_stats counts the bytes of
// live tensors, peak and reset_peak_memory, freed blocks stay reserved and are reused until
// empty_cache, and an impossible request throws "CUDA out of memory" and leaves the allocator
// usable. Skips without a GPU (one test checks the error a GPU-less build gives instead).
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/device.h"
#include "core/ops/elementwise.h"
#include "core/ops/matmul.h"
#include "core/ops/reduce.h"
#include "core/tensor.h"
#include "support/cuda_test_support.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using testing::gpu;

class CudaAllocator : public testing::CudaTest {
 protected:
  // Starts each test with no cached blocks, so reserved_bytes counts live blocks only.
  void SetUp() override {
    testing::CudaTest::SetUp();
    if (IsSkipped()) return;
    synchronize(gpu());
    empty_cache(gpu());
  }
};

constexpr std::int64_t kMiB = 1 << 20;

// Bytes of a float32 tensor of n elements.
constexpr std::int64_t float_bytes(std::int64_t n) {
  return 4 * n;
}

TEST_F(CudaAllocator, CurrentBytesFollowTheLiveTensors) {
  const MemoryStats before = memory_stats(gpu());
  EXPECT_LE(before.current_bytes, before.reserved_bytes);
  {
    const Tensor a = Tensor::empty({1000}, DType::Float32, gpu());
    MemoryStats s = memory_stats(gpu());
    EXPECT_EQ(s.current_bytes, before.current_bytes + float_bytes(1000)) << "the requested size";
    EXPECT_EQ(s.live_allocations, before.live_allocations + 1);
    EXPECT_EQ(s.allocations, before.allocations + 1);
    EXPECT_GE(s.reserved_bytes, before.reserved_bytes + float_bytes(1000));
    {
      const Tensor b = Tensor::zeros({3, kMiB}, DType::Float64, gpu());
      s = memory_stats(gpu());
      EXPECT_EQ(s.current_bytes, before.current_bytes + float_bytes(1000) + 24 * kMiB);
      EXPECT_EQ(s.live_allocations, before.live_allocations + 2);
      // Views share the storage: no new bytes.
      const Tensor view = b.t().slice(0, 0, 10);
      EXPECT_EQ(memory_stats(gpu()).current_bytes, s.current_bytes);
    }
    s = memory_stats(gpu());
    EXPECT_EQ(s.current_bytes, before.current_bytes + float_bytes(1000));
    EXPECT_EQ(s.live_allocations, before.live_allocations + 1);
  }
  const MemoryStats after = memory_stats(gpu());
  EXPECT_EQ(after.current_bytes, before.current_bytes);
  EXPECT_EQ(after.live_allocations, before.live_allocations);
  EXPECT_EQ(after.allocations, before.allocations + 2);
}

TEST_F(CudaAllocator, CopiesToTheDeviceAllocateThere) {
  const Tensor host = testing::random_tensor({256, 256}, 1, DType::Float32);
  const std::int64_t cpu_before = memory_stats(Device::cpu()).current_bytes;
  const std::int64_t gpu_before = memory_stats(gpu()).current_bytes;
  const Tensor device = host.to(gpu());
  EXPECT_EQ(memory_stats(gpu()).current_bytes, gpu_before + float_bytes(256 * 256));
  EXPECT_EQ(memory_stats(Device::cpu()).current_bytes, cpu_before) << "no host bytes kept";
}

TEST_F(CudaAllocator, PeakRecordsTheMostLiveBytesUntilReset) {
  synchronize(gpu());
  reset_peak_memory(gpu());
  const MemoryStats start = memory_stats(gpu());
  EXPECT_EQ(start.peak_bytes, start.current_bytes);
  {
    const Tensor a = Tensor::empty({kMiB}, DType::Float32, gpu());
    const Tensor b = Tensor::empty({2 * kMiB}, DType::Float32, gpu());
    EXPECT_EQ(memory_stats(gpu()).peak_bytes, start.current_bytes + float_bytes(3 * kMiB));
  }
  {
    const Tensor small = Tensor::empty({kMiB}, DType::Float32, gpu());
    EXPECT_EQ(memory_stats(gpu()).peak_bytes, start.current_bytes + float_bytes(3 * kMiB))
        << "a smaller later allocation leaves the peak";
  }
  const MemoryStats after = memory_stats(gpu());
  EXPECT_EQ(after.current_bytes, start.current_bytes);
  EXPECT_EQ(after.peak_bytes, start.current_bytes + float_bytes(3 * kMiB));
  reset_peak_memory(gpu());
  EXPECT_EQ(memory_stats(gpu()).peak_bytes, memory_stats(gpu()).current_bytes);

  // The peak of one op: a matmul holds at least its inputs and its output at once.
  const Tensor x = Tensor::ones({512, 256}, DType::Float32, gpu());
  const Tensor y = Tensor::ones({256, 1024}, DType::Float32, gpu());
  synchronize(gpu());
  reset_peak_memory(gpu());
  const std::int64_t live = memory_stats(gpu()).current_bytes;
  const Tensor z = matmul(x, y);
  synchronize(gpu());
  EXPECT_GE(memory_stats(gpu()).peak_bytes, live + float_bytes(512 * 1024));
  EXPECT_EQ(z.to(Device::cpu()).to_vector<float>()[0], 256.0f);
}

TEST_F(CudaAllocator, FreedBlocksStayReservedAndAreReused) {
  const std::int64_t bytes = float_bytes(kMiB);  // 4 MiB
  const MemoryStats empty = memory_stats(gpu());
  std::optional<Tensor> kept(Tensor::empty({kMiB}, DType::Float32, gpu()));
  const MemoryStats one = memory_stats(gpu());
  EXPECT_GE(one.reserved_bytes, empty.reserved_bytes + bytes) << "the cache was empty";

  std::optional<Tensor> freed(Tensor::empty({kMiB}, DType::Float32, gpu()));
  const MemoryStats two = memory_stats(gpu());
  EXPECT_GE(two.reserved_bytes, one.reserved_bytes + bytes);
  freed.reset();
  synchronize(gpu());
  const MemoryStats cached = memory_stats(gpu());
  EXPECT_EQ(cached.current_bytes, one.current_bytes);
  EXPECT_EQ(cached.reserved_bytes, two.reserved_bytes) << "a freed block stays reserved";

  // The same size again comes from the cache: nothing new is reserved.
  for (int i = 0; i < 20; ++i) {
    const Tensor again = Tensor::empty({kMiB}, DType::Float32, gpu());
    EXPECT_EQ(memory_stats(gpu()).reserved_bytes, two.reserved_bytes) << "iteration " << i;
    EXPECT_EQ(memory_stats(gpu()).current_bytes, one.current_bytes + bytes);
  }
  synchronize(gpu());
  // empty_cache returns the cached block; the live one stays.
  empty_cache(gpu());
  const MemoryStats released = memory_stats(gpu());
  EXPECT_EQ(released.reserved_bytes, one.reserved_bytes);
  EXPECT_EQ(released.current_bytes, one.current_bytes);
  EXPECT_EQ(kept->to(Device::cpu()).numel(), kMiB) << "the live tensor is still readable";

  kept.reset();
  synchronize(gpu());
  empty_cache(gpu());
  EXPECT_EQ(memory_stats(gpu()).reserved_bytes, empty.reserved_bytes);
  EXPECT_EQ(memory_stats(gpu()).current_bytes, empty.current_bytes);
}

TEST_F(CudaAllocator, RepeatedTrainingLikeWorkReservesNoMoreAfterTheFirstRound) {
  // The same sequence of differently sized temporaries each round, as in training steps.
  const Tensor w = testing::random_tensor({256, 256}, 2, DType::Float32).to(gpu());
  const auto round = [&] {
    Tensor x = Tensor::ones({64, 256}, DType::Float32, gpu());
    for (int layer = 0; layer < 4; ++layer) x = tanh(matmul(x, w));
    return sum(x).item<double>();
  };
  const double first = round();
  synchronize(gpu());
  const MemoryStats after_first = memory_stats(gpu());
  for (int i = 0; i < 10; ++i) EXPECT_EQ(round(), first);
  synchronize(gpu());
  const MemoryStats after_more = memory_stats(gpu());
  EXPECT_EQ(after_more.current_bytes, after_first.current_bytes);
  EXPECT_EQ(after_more.reserved_bytes, after_first.reserved_bytes) << "the cache served them";
}

TEST_F(CudaAllocator, OutOfMemoryNamesTheRequestAndTheAllocatorStillWorks) {
  const MemoryStats before = memory_stats(gpu());
  const std::int64_t elements = std::int64_t{1} << 48;  // 2^50 bytes of float32: 1 PiB
  const std::string requested = std::to_string(std::int64_t{1} << 50);
  try {
    const Tensor huge = Tensor::empty({elements}, DType::Float32, gpu());
    ADD_FAILURE() << "allocating " << requested << " bytes succeeded";
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("CUDA out of memory"), std::string::npos) << message;
    EXPECT_NE(message.find(requested), std::string::npos) << message;
    EXPECT_NE(message.find("cuda:0"), std::string::npos) << message;
  }
  const MemoryStats after = memory_stats(gpu());
  EXPECT_EQ(after.current_bytes, before.current_bytes) << "a failed request counts nothing";
  EXPECT_EQ(after.live_allocations, before.live_allocations);

  // Through an op too: zeros() of an absurd shape fails the same way.
  EXPECT_THROW(Tensor::zeros({std::int64_t{1} << 24, std::int64_t{1} << 24}, DType::Float64, gpu()),
               std::runtime_error);

  // The allocator and the device still work: allocate, compute, read back.
  const Tensor a = Tensor::full({1000, 100}, 0.5, DType::Float32, gpu());
  const Tensor b = add(a, 1.5);
  EXPECT_EQ(sum(b).item<double>(), 2.0 * 100000);
  EXPECT_EQ(memory_stats(gpu()).current_bytes, before.current_bytes + 2 * float_bytes(100000));
}

TEST(CudaAllocatorWithoutDevice, CudaTensorsAreRejectedWithoutADevice) {
  if (cuda_is_available()) GTEST_SKIP() << "a CUDA device is present: the GPU-less path is moot";
  // A build without the backend, or a machine without a GPU: a clear invalid_argument.
  testing::expect_invalid_argument([] { memory_stats(Device::cuda(0)); }, "cuda:0");
  testing::expect_invalid_argument([] { Tensor::empty({4}, DType::Float32, Device::cuda(0)); },
                                   "cuda:0");
  EXPECT_EQ(cuda_device_count(), 0);
  synchronize(Device::cpu());  // a no-op on the CPU
  // On the CPU, reserved bytes are exactly the live bytes.
  const Tensor t = Tensor::empty({100}, DType::Float32);
  const MemoryStats cpu = memory_stats(Device::cpu());
  EXPECT_EQ(cpu.reserved_bytes, cpu.current_bytes);
}

}  // namespace
}  // namespace ortho
