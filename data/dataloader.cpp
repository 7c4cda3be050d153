#include "data/dataloader.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>

#include "core/error.h"
#include "core/random.h"

namespace ortho::data {
namespace {

// Stream tags keep the shuffle and augmentation seeds apart for the same (seed, epoch).
constexpr std::uint64_t kShuffleStream = 0x53485546464C45ull;  // "SHUFFLE"
constexpr std::uint64_t kAugmentStream = 0x4155474D454E54ull;  // "AUGMENT"

// SplitMix64's finalizer (Steele, Lea, Flood 2014): a bijective avalanche mix, so nearby
// (seed, epoch, index) triples give unrelated generator seeds.
std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

std::uint64_t combine(std::uint64_t a, std::int64_t b) {
  return mix64(a ^ mix64(static_cast<std::uint64_t>(b)));
}

}  // namespace

std::vector<std::int64_t> epoch_permutation(std::int64_t n, std::uint64_t seed,
                                            std::int64_t epoch) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  Generator gen(combine(mix64(seed ^ kShuffleStream), epoch));
  for (std::int64_t i = n - 1; i > 0; --i) {
    std::swap(order[static_cast<std::size_t>(i)],
              order[static_cast<std::size_t>(uniform_index(gen, i + 1))]);
  }
  return order;
}

std::uint64_t sample_seed(std::uint64_t seed, std::int64_t epoch, std::int64_t index) {
  return combine(combine(mix64(seed ^ kAugmentStream), epoch), index);
}

struct DataLoader::Impl {
  // A built batch or the exception that building it threw.
  struct Result {
    std::optional<Batch> batch;
    std::exception_ptr error;
  };

  std::shared_ptr<const Dataset> dataset;
  std::shared_ptr<const Transform> transform;
  DataLoaderOptions options;
  ImageSpec spec;
  std::int64_t num_samples = 0;
  std::int64_t num_batches = 0;

  // The current epoch. `order` and `epoch` change only while no worker runs.
  bool started = false;
  std::int64_t epoch = 0;
  std::vector<std::int64_t> order;

  // Guarded by `mutex`: the consumer's position, the next batch to claim, finished batches.
  std::mutex mutex;
  std::condition_variable batch_ready;
  std::condition_variable space_free;
  std::int64_t next_batch = 0;
  std::int64_t claimed = 0;
  std::map<std::int64_t, Result> ready;
  bool stopping = false;
  std::vector<std::thread> workers;

  ~Impl() { stop_workers(); }

  std::int64_t capacity() const {
    return static_cast<std::int64_t>(options.num_workers) * options.prefetch_per_worker;
  }

  Batch build(std::int64_t k) const {
    const std::int64_t begin = k * options.batch_size;
    const std::int64_t end = std::min(begin + options.batch_size, num_samples);
    const std::int64_t count = end - begin;
    Batch batch;
    batch.index = k;
    const Shape image_shape{count, spec.channels, spec.height, spec.width};
    batch.images = options.pin_memory ? Tensor::empty_pinned(image_shape, DType::Float32)
                                      : Tensor::empty(image_shape, DType::Float32);
    batch.labels = options.pin_memory ? Tensor::empty_pinned({count}, DType::Int64)
                                      : Tensor::empty({count}, DType::Int64);
    batch.indices.assign(order.begin() + begin, order.begin() + end);
    float* images = batch.images.data<float>();
    std::int64_t* labels = batch.labels.data<std::int64_t>();
    for (std::int64_t j = 0; j < count; ++j) {
      const std::int64_t sample = batch.indices[static_cast<std::size_t>(j)];
      float* image = images + j * spec.numel();
      dataset->read_image(sample, image);
      labels[j] = dataset->label(sample);
      if (transform) {
        Generator gen(sample_seed(options.seed, epoch, sample));
        transform->apply(image, spec, gen);
      }
    }
    return batch;
  }

  void worker_loop() {
    for (;;) {
      std::int64_t k = 0;
      {
        std::unique_lock<std::mutex> lock(mutex);
        space_free.wait(lock, [&] {
          return stopping || claimed >= num_batches || claimed < next_batch + capacity();
        });
        if (stopping || claimed >= num_batches) return;
        k = claimed++;
      }
      Result result;
      try {
        result.batch = build(k);
      } catch (...) {
        result.error = std::current_exception();
      }
      {
        const std::lock_guard<std::mutex> lock(mutex);
        ready.emplace(k, std::move(result));
      }
      batch_ready.notify_all();
    }
  }

  void stop_workers() {
    {
      const std::lock_guard<std::mutex> lock(mutex);
      stopping = true;
    }
    space_free.notify_all();
    for (std::thread& w : workers) w.join();
    workers.clear();
    ready.clear();
    stopping = false;
  }

  // Ends the epoch early: next() returns std::nullopt until the next start_epoch().
  void abandon_epoch() {
    stop_workers();
    next_batch = num_batches;
  }
};

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options,
                       std::shared_ptr<const Transform> transform)
    : impl_(std::make_unique<Impl>()) {
  check_argument(dataset != nullptr, "DataLoader: null dataset");
  check_argument(options.batch_size > 0, "DataLoader: batch_size must be > 0, got ",
                 options.batch_size);
  check_argument(options.num_workers >= 0, "DataLoader: num_workers must be >= 0, got ",
                 options.num_workers);
  check_argument(options.prefetch_per_worker >= 1,
                 "DataLoader: prefetch_per_worker must be >= 1, got ", options.prefetch_per_worker);
  check_argument(options.subset >= 0, "DataLoader: subset must be >= 0, got ", options.subset);
  Impl& s = *impl_;
  s.spec = dataset->image_spec();
  s.num_samples = options.subset > 0 ? std::min(options.subset, dataset->size()) : dataset->size();
  s.num_batches = options.drop_last ? s.num_samples / options.batch_size
                                    : (s.num_samples + options.batch_size - 1) / options.batch_size;
  s.dataset = std::move(dataset);
  s.transform = std::move(transform);
  s.options = options;
}

DataLoader::~DataLoader() = default;
DataLoader::DataLoader(DataLoader&&) noexcept = default;
DataLoader& DataLoader::operator=(DataLoader&&) noexcept = default;

void DataLoader::start_epoch(std::int64_t epoch) {
  check_argument(epoch >= 0, "DataLoader::start_epoch: epoch must be >= 0, got ", epoch);
  Impl& s = *impl_;
  s.stop_workers();
  s.epoch = epoch;
  if (s.options.shuffle) {
    s.order = epoch_permutation(s.num_samples, s.options.seed, epoch);
  } else {
    s.order.resize(static_cast<std::size_t>(s.num_samples));
    for (std::int64_t i = 0; i < s.num_samples; ++i) s.order[static_cast<std::size_t>(i)] = i;
  }
  s.next_batch = 0;
  s.claimed = 0;
  s.started = true;
  const int threads =
      static_cast<int>(std::min<std::int64_t>(s.options.num_workers, s.num_batches));
  for (int w = 0; w < threads; ++w) s.workers.emplace_back([&s] { s.worker_loop(); });
}

std::optional<Batch> DataLoader::next() {
  Impl& s = *impl_;
  if (!s.started) throw std::logic_error("DataLoader::next: call start_epoch(epoch) first");
  if (s.next_batch >= s.num_batches) return std::nullopt;
  if (s.options.num_workers == 0) {
    try {
      return s.build(s.next_batch++);
    } catch (...) {
      s.abandon_epoch();
      throw;
    }
  }
  Impl::Result result;
  {
    std::unique_lock<std::mutex> lock(s.mutex);
    s.batch_ready.wait(lock, [&] { return s.ready.count(s.next_batch) > 0; });
    auto node = s.ready.extract(s.next_batch);
    result = std::move(node.mapped());
    ++s.next_batch;
  }
  s.space_free.notify_all();
  if (result.error) {
    s.abandon_epoch();
    std::rethrow_exception(result.error);
  }
  return std::move(result.batch);
}

std::int64_t DataLoader::num_samples() const {
  return impl_->num_samples;
}
std::int64_t DataLoader::num_batches() const {
  return impl_->num_batches;
}
const DataLoaderOptions& DataLoader::options() const {
  return impl_->options;
}
const Dataset& DataLoader::dataset() const {
  return *impl_->dataset;
}

}  // namespace ortho::data
