#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/tensor.h"
#include "data/dataset.h"
#include "data/transforms.h"

namespace ortho::data {

struct DataLoaderOptions {
  std::int64_t batch_size = 128;
  // Reshuffle every epoch; epoch e's order is a function of (seed, e) alone.
  bool shuffle = true;
  // Skip the last batch when it would be smaller than batch_size.
  bool drop_last = false;
  // Seeds both the shuffles and the per-sample augmentation.
  std::uint64_t seed = 0;
  // Threads that build batches ahead of the consumer; 0 builds each batch inside next().
  int num_workers = 1;
  // Batches each worker may hold ready beyond the one the consumer waits for.
  int prefetch_per_worker = 2;
  // When positive, only the first `subset` samples (at most all of them) are used.
  std::int64_t subset = 0;
  // Build batches in page-locked memory (Tensor::empty_pinned), so batch.images.to(cuda)
  // copies by DMA without staging; plain host memory when there is no GPU.
  bool pin_memory = false;
};

struct Batch {
  Tensor images;                      // float32 (B, C, H, W)
  Tensor labels;                      // int64 (B,)
  std::vector<std::int64_t> indices;  // the dataset index of each sample, in batch order
  std::int64_t index = 0;             // the batch's position within its epoch
};

// Batches a Dataset, shuffling with a seed and prefetching on worker threads. Usage:
//   loader.start_epoch(e);
//   while (auto batch = loader.next()) { ... batch->images ... }
// Batches arrive in order. Sample i's augmentation draws from a Generator seeded by
// (seed, epoch, i), so batches are identical for any num_workers and an epoch can be replayed
// (resuming at epoch e) from the seed alone. An exception thrown while building a batch is
// rethrown by the next() that would have returned it, which also ends the epoch. Destroying
// the loader or starting another epoch mid-epoch stops the workers and discards their batches.
class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options,
             std::shared_ptr<const Transform> transform = nullptr);
  ~DataLoader();
  DataLoader(DataLoader&&) noexcept;
  DataLoader& operator=(DataLoader&&) noexcept;
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Begins epoch `epoch` (>= 0): computes its order and starts the workers.
  void start_epoch(std::int64_t epoch);
  // The next batch of the current epoch, or std::nullopt once it is exhausted. Throws
  // std::logic_error when no epoch was started.
  std::optional<Batch> next();

  std::int64_t num_samples() const;  // samples per epoch before drop_last
  std::int64_t num_batches() const;  // batches per epoch
  const DataLoaderOptions& options() const;
  const Dataset& dataset() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The order of epoch `epoch`: a Fisher-Yates permutation of 0..n-1 seeded by (seed, epoch).
std::vector<std::int64_t> epoch_permutation(std::int64_t n, std::uint64_t seed, std::int64_t epoch);
// The seed of sample `index`'s augmentation Generator in epoch `epoch`.
std::uint64_t sample_seed(std::uint64_t seed, std::int64_t epoch, std::int64_t index);

}  // namespace ortho::data
