#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "data/dataloader.h"

namespace ortho::data {
namespace {

// Sample i: label i % 10, pixel k = ((i * 37 + k) % 251) / 251. Optionally throws on one index
// or sleeps on every read (to keep workers busy while the loader is destroyed).
class FakeDataset final : public Dataset {
 public:
  explicit FakeDataset(std::int64_t n, ImageSpec spec = {3, 8, 8}) : n_(n), spec_(spec) {}

  std::int64_t size() const override { return n_; }
  ImageSpec image_spec() const override { return spec_; }
  std::int64_t label(std::int64_t index) const override { return index % 10; }
  void read_image(std::int64_t index, float* out) const override {
    if (index == throw_on) throw std::runtime_error("FakeDataset: sample " + std::to_string(index));
    if (sleep_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
    reads.fetch_add(1);
    for (std::int64_t k = 0; k < spec_.numel(); ++k) out[k] = pixel(index, k);
  }
  const std::vector<std::string>& class_names() const override { return names_; }

  static float pixel(std::int64_t index, std::int64_t k) {
    return static_cast<float>((index * 37 + k) % 251) / 251.0f;
  }

  std::int64_t throw_on = -1;
  int sleep_us = 0;
  mutable std::atomic<std::int64_t> reads{0};

 private:
  std::int64_t n_;
  ImageSpec spec_;
  std::vector<std::string> names_ = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
};

std::shared_ptr<const Transform> augmentation() {
  return std::make_shared<Compose>(std::vector<std::shared_ptr<const Transform>>{
      std::make_shared<RandomCrop>(2), std::make_shared<RandomHorizontalFlip>(),
      std::make_shared<Cutout>(3)});
}

struct EpochData {
  std::vector<std::vector<float>> images;
  std::vector<std::vector<std::int64_t>> labels;
  std::vector<std::vector<std::int64_t>> indices;
  bool operator==(const EpochData&) const = default;
};

EpochData run_epoch(DataLoader& loader, std::int64_t epoch) {
  EpochData out;
  loader.start_epoch(epoch);
  std::int64_t expected_index = 0;
  while (auto batch = loader.next()) {
    EXPECT_EQ(batch->index, expected_index++);
    EXPECT_EQ(batch->images.dtype(), DType::Float32);
    EXPECT_EQ(batch->labels.dtype(), DType::Int64);
    EXPECT_EQ(batch->images.size(0), batch->labels.size(0));
    out.images.push_back(batch->images.to_vector<float>());
    out.labels.push_back(batch->labels.to_vector<std::int64_t>());
    out.indices.push_back(batch->indices);
  }
  EXPECT_FALSE(loader.next().has_value());
  return out;
}

DataLoaderOptions options_with(int workers, std::uint64_t seed = 7) {
  DataLoaderOptions o;
  o.batch_size = 8;
  o.num_workers = workers;
  o.seed = seed;
  return o;
}

TEST(DataLoader, SameSeedSameBatchesForAnyWorkerCount) {
  const auto data = std::make_shared<FakeDataset>(45);
  DataLoader inline_loader(data, options_with(0), augmentation());
  DataLoader one(data, options_with(1), augmentation());
  DataLoader three(data, options_with(3), augmentation());
  for (std::int64_t epoch : {0, 3}) {
    const EpochData reference = run_epoch(one, epoch);
    EXPECT_EQ(reference.images.size(), 6u);
    EXPECT_EQ(run_epoch(three, epoch), reference);
    EXPECT_EQ(run_epoch(inline_loader, epoch), reference);
  }
  // A fresh loader resuming at epoch 3 replays it.
  DataLoader resumed(data, options_with(3), augmentation());
  EXPECT_EQ(run_epoch(resumed, 3), run_epoch(one, 3));
}

TEST(DataLoader, EpochsAndSeedsDiffer) {
  const auto data = std::make_shared<FakeDataset>(40);
  DataLoader loader(data, options_with(2), augmentation());
  const EpochData e0 = run_epoch(loader, 0);
  const EpochData e1 = run_epoch(loader, 1);
  EXPECT_NE(e0.indices, e1.indices);
  DataLoader other(data, options_with(2, 8), augmentation());
  EXPECT_NE(run_epoch(other, 0).indices, e0.indices);
  EXPECT_NE(epoch_permutation(40, 7, 0), epoch_permutation(40, 7, 1));
  EXPECT_NE(sample_seed(7, 0, 1), sample_seed(7, 1, 0));
}

TEST(DataLoader, EverySampleOnceWithMatchingLabelsAndPixels) {
  const auto data = std::make_shared<FakeDataset>(29, ImageSpec{2, 3, 4});
  DataLoader loader(data, options_with(2));  // no transform: images are the raw samples
  const EpochData e = run_epoch(loader, 0);
  ASSERT_EQ(e.indices.size(), 4u);
  EXPECT_EQ(e.indices.back().size(), 5u);  // 29 = 3 * 8 + 5
  std::vector<std::int64_t> seen;
  for (std::size_t b = 0; b < e.indices.size(); ++b) {
    for (std::size_t j = 0; j < e.indices[b].size(); ++j) {
      const std::int64_t i = e.indices[b][j];
      seen.push_back(i);
      EXPECT_EQ(e.labels[b][j], i % 10);
      for (std::int64_t k = 0; k < 24; ++k) {
        EXPECT_EQ(e.images[b][j * 24 + static_cast<std::size_t>(k)], FakeDataset::pixel(i, k));
      }
    }
  }
  std::sort(seen.begin(), seen.end());
  for (std::int64_t i = 0; i < 29; ++i) EXPECT_EQ(seen[static_cast<std::size_t>(i)], i);
}

TEST(DataLoader, ShapesDropLastSubsetAndNoShuffle) {
  const auto data = std::make_shared<FakeDataset>(29);
  DataLoaderOptions o = options_with(1);
  o.drop_last = true;
  DataLoader dropping(data, o);
  EXPECT_EQ(dropping.num_batches(), 3);
  dropping.start_epoch(0);
  int batches = 0;
  while (auto batch = dropping.next()) {
    EXPECT_EQ(batch->images.shape(), Shape({8, 3, 8, 8}));
    EXPECT_EQ(batch->labels.shape(), Shape({8}));
    ++batches;
  }
  EXPECT_EQ(batches, 3);

  o = options_with(2);
  o.subset = 10;
  o.shuffle = false;
  DataLoader first_ten(data, o);
  EXPECT_EQ(first_ten.num_samples(), 10);
  const EpochData e = run_epoch(first_ten, 4);
  EXPECT_EQ(e.indices, (std::vector<std::vector<std::int64_t>>{{0, 1, 2, 3, 4, 5, 6, 7}, {8, 9}}));
  o.subset = 1000;  // more than the data set holds: all of it
  EXPECT_EQ(DataLoader(data, o).num_samples(), 29);
}

TEST(DataLoader, WorkerExceptionReachesConsumerInOrder) {
  auto data = std::make_shared<FakeDataset>(40);
  data->throw_on = 20;
  DataLoaderOptions o = options_with(3);
  o.shuffle = false;  // sample 20 sits in batch 2
  for (int workers : {0, 3}) {
    o.num_workers = workers;
    DataLoader loader(data, o);
    loader.start_epoch(0);
    ASSERT_TRUE(loader.next().has_value());
    ASSERT_TRUE(loader.next().has_value());
    try {
      loader.next();
      ADD_FAILURE() << "expected the worker's exception";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("sample 20"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(loader.next().has_value());  // the failed epoch is over
    loader.start_epoch(1);                    // and a new one starts cleanly
    ASSERT_TRUE(loader.next().has_value());
  }
}

TEST(DataLoader, DestroyOrRestartMidEpochDoesNotHang) {
  auto data = std::make_shared<FakeDataset>(400);
  data->sleep_us = 200;
  {
    DataLoader loader(data, options_with(3), augmentation());
    loader.start_epoch(0);
    ASSERT_TRUE(loader.next().has_value());
    loader.start_epoch(1);  // abandons epoch 0 mid-way
    ASSERT_TRUE(loader.next().has_value());
  }  // destroyed with workers running
  // Prefetch stays bounded: never more than 3 workers x 2 batches ahead of the consumer.
  data->reads = 0;
  {
    DataLoader loader(data, options_with(3));
    loader.start_epoch(0);
    ASSERT_TRUE(loader.next().has_value());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_LE(data->reads.load(), (1 + 6) * 8);
  }
  {
    DataLoader never_started(data, options_with(2));
    DataLoader started_unread(data, options_with(2));
    started_unread.start_epoch(0);
  }
}

TEST(DataLoader, MovedLoaderKeepsRunning) {
  const auto data = std::make_shared<FakeDataset>(30);
  DataLoader a(data, options_with(2), augmentation());
  const EpochData expected = run_epoch(a, 2);
  a.start_epoch(2);
  auto first = a.next();
  DataLoader b(std::move(a));
  EpochData rest;
  while (auto batch = b.next()) rest.indices.push_back(batch->indices);
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->indices, expected.indices[0]);
  EXPECT_EQ(rest.indices, std::vector<std::vector<std::int64_t>>(expected.indices.begin() + 1,
                                                                 expected.indices.end()));
}

TEST(DataLoader, RejectsBadOptionsAndMisuse) {
  const auto data = std::make_shared<FakeDataset>(10);
  DataLoaderOptions o;
  o.batch_size = 0;
  EXPECT_THROW(DataLoader(data, o), std::invalid_argument);
  o = DataLoaderOptions{};
  o.num_workers = -1;
  EXPECT_THROW(DataLoader(data, o), std::invalid_argument);
  o = DataLoaderOptions{};
  o.prefetch_per_worker = 0;
  EXPECT_THROW(DataLoader(data, o), std::invalid_argument);
  o = DataLoaderOptions{};
  o.subset = -2;
  EXPECT_THROW(DataLoader(data, o), std::invalid_argument);
  EXPECT_THROW(DataLoader(nullptr, DataLoaderOptions{}), std::invalid_argument);
  DataLoader loader(data, DataLoaderOptions{});
  EXPECT_THROW(loader.next(), std::logic_error);
  EXPECT_THROW(loader.start_epoch(-1), std::invalid_argument);
}

TEST(DataLoader, PermutationIsAPermutation) {
  std::vector<std::int64_t> p = epoch_permutation(1000, 3, 5);
  EXPECT_EQ(p, epoch_permutation(1000, 3, 5));
  std::sort(p.begin(), p.end());
  for (std::int64_t i = 0; i < 1000; ++i) EXPECT_EQ(p[static_cast<std::size_t>(i)], i);
  EXPECT_TRUE(epoch_permutation(0, 1, 0).empty());
}

}  // namespace
}  // namespace ortho::data
