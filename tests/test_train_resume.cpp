#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "apps/common/checkpoint.h"
#include "apps/common/training.h"
#include "core/random.h"
#include "core/serialize.h"
#include "data/cifar10.h"
#include "data/dataloader.h"
#include "layers/activation.h"
#include "layers/batchnorm2d.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/loss.h"
#include "layers/pooling.h"
#include "layers/sequential.h"
#include "optim/scheduler.h"
#include "optim/sgd.h"
#include "support/test_support.h"

namespace ortho::apps {
namespace {

namespace fs = std::filesystem;

constexpr std::int64_t kRecordsPerFile = 7;  // 35 training images: batches of 16, 16, 3
constexpr std::int64_t kBatchSize = 16;
constexpr std::int64_t kEpochs = 2;

// A CIFAR-format file of random records: labels 0-9, pixels from a seeded generator.
void write_cifar_file(const fs::path& file, std::uint64_t seed) {
  Generator gen(seed);
  std::ofstream out(file, std::ios::binary);
  for (std::int64_t r = 0; r < kRecordsPerFile; ++r) {
    out.put(static_cast<char>(gen.next_u64() % 10));
    for (std::int64_t i = 0; i < data::Cifar10::kImageBytes; ++i) {
      out.put(static_cast<char>(gen.next_u64() % 256));
    }
  }
}

void write_cifar_dir(const fs::path& dir) {
  std::uint64_t seed = 1;
  for (const auto split : {data::Cifar10::Split::Train, data::Cifar10::Split::Test}) {
    for (const std::string& name : data::Cifar10::file_names(split)) {
      write_cifar_file(dir / name, seed++);
    }
  }
}

// A small convolutional network: conv (stride 2) -> BN -> ReLU -> max-pool -> linear.
std::shared_ptr<nn::Sequential> tiny_model(std::uint64_t seed) {
  Generator gen(seed);
  auto model = std::make_shared<nn::Sequential>();
  model->push_back(std::make_shared<nn::Conv2d>(3, 4, 3, 2, 1, 1, true, 1, &gen));
  model->push_back(std::make_shared<nn::BatchNorm2d>(4));
  model->push_back(std::make_shared<nn::ReLU>());
  model->push_back(std::make_shared<nn::MaxPool2d>(4));
  model->push_back(std::make_shared<nn::Flatten>());
  model->push_back(std::make_shared<nn::Linear>(4 * 4 * 4, 10, true, &gen));
  return model;
}

// Everything one training run holds, built as ortho-train builds it (small).
struct TinyRun {
  std::shared_ptr<nn::Sequential> model;
  nn::CrossEntropyLoss loss{0.1};
  std::unique_ptr<optim::SGD> optimizer;
  std::unique_ptr<optim::LRScheduler> scheduler;
  std::unique_ptr<data::DataLoader> train_loader, test_loader;

  TinyRun(const fs::path& data_dir, std::uint64_t init_seed) : model(tiny_model(init_seed)) {
    optim::SGDOptions sgd;
    sgd.lr = 0.05;
    sgd.momentum = 0.9;
    sgd.weight_decay = 5e-4;
    optimizer = std::make_unique<optim::SGD>(model->parameters(), sgd);
    data::DataLoaderOptions options;
    options.batch_size = kBatchSize;
    options.seed = 7;
    options.num_workers = 1;
    train_loader = std::make_unique<data::DataLoader>(
        std::make_shared<const data::Cifar10>(data_dir, data::Cifar10::Split::Train), options,
        data::cifar10_train_transform());
    options.shuffle = false;
    test_loader = std::make_unique<data::DataLoader>(
        std::make_shared<const data::Cifar10>(data_dir, data::Cifar10::Split::Test), options,
        data::cifar10_test_transform());
    scheduler = std::make_unique<optim::LRScheduler>(
        *optimizer,
        std::make_shared<optim::CosineAnnealing>(kEpochs * train_loader->num_batches()));
  }

  EpochStats train(std::int64_t epoch) {
    return train_epoch({*model, loss, *optimizer, scheduler.get()}, *train_loader, epoch);
  }
  EpochStats test() { return evaluate(*model, loss, *test_loader); }
};

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  return std::memcmp(ca.raw_data(), cb.raw_data(), dtype_size(a.dtype()) * a.numel()) == 0;
}

void expect_same_state(const TensorMap& a, const TensorMap& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, tensor] : a) {
    ASSERT_TRUE(b.contains(name)) << name;
    EXPECT_TRUE(same_bits(tensor, b.at(name))) << name;
  }
}

void expect_same_stats(const EpochStats& a, const EpochStats& b) {
  EXPECT_EQ(a.loss_sum, b.loss_sum);
  EXPECT_EQ(a.correct, b.correct);
  EXPECT_EQ(a.samples, b.samples);
}

std::string runtime_error_of(const std::string& path) {
  try {
    load_checkpoint(path);
  } catch (const std::runtime_error& error) {
    return error.what();
  }
  ADD_FAILURE() << "expected std::runtime_error for " << path;
  return {};
}

TEST(TrainResume, ResumedRunMatchesUninterruptedRunBitForBit) {
  ortho::testing::TempDir dir("ortho_train");
  write_cifar_dir(dir.path());

  TinyRun straight(dir.path(), 3);
  std::vector<EpochStats> straight_train, straight_test;
  for (std::int64_t epoch = 0; epoch < kEpochs; ++epoch) {
    straight_train.push_back(straight.train(epoch));
    straight_test.push_back(straight.test());
  }
  EXPECT_EQ(straight_train[0].samples, 5 * kRecordsPerFile);

  const std::string path = dir.file("checkpoint.safetensors");
  {
    TinyRun first(dir.path(), 3);
    expect_same_stats(first.train(0), straight_train[0]);
    expect_same_stats(first.test(), straight_test[0]);
    default_generator().manual_seed(11);
    save_checkpoint(path, capture_checkpoint(*first.model, *first.optimizer, *first.scheduler,
                                             default_generator(), 1));
  }
  default_generator().manual_seed(99);
  TinyRun resumed(dir.path(), /*init_seed=*/12345);  // different init: the checkpoint must win
  const TrainingCheckpoint checkpoint = load_checkpoint(path);
  EXPECT_EQ(checkpoint.epochs_done, 1);
  restore_checkpoint(checkpoint, path, *resumed.model, *resumed.optimizer, *resumed.scheduler,
                     default_generator());
  EXPECT_EQ(default_generator().state().seed, 11u);
  const std::int64_t batches = resumed.train_loader->num_batches();
  EXPECT_DOUBLE_EQ(resumed.optimizer->lr(),
                   optim::CosineAnnealing(kEpochs * batches).lr(0.05, batches));

  expect_same_stats(resumed.train(1), straight_train[1]);
  expect_same_stats(resumed.test(), straight_test[1]);
  expect_same_state(resumed.model->state_dict(), straight.model->state_dict());
  expect_same_state(resumed.optimizer->state_dict(), straight.optimizer->state_dict());
  EXPECT_EQ(resumed.scheduler->last_step(), straight.scheduler->last_step());
  EXPECT_EQ(resumed.optimizer->lr(), straight.optimizer->lr());
}

TEST(TrainResume, CheckpointKeepsMetadataAndGenerator) {
  ortho::testing::TempDir dir("ortho_train");
  const std::string path = dir.file("c.safetensors");
  TrainingCheckpoint saved;
  saved.epochs_done = 4;
  saved.model = {{"w", Tensor::from_vector(std::vector<float>{1, 2, 3}, {3})}};
  saved.generator = {0xFFFFFFFFFFFFFFF0ull, 12345};
  saved.metadata = {{"history", "[1,2]"}};
  save_checkpoint(path, saved);
  const TrainingCheckpoint loaded = load_checkpoint(path);
  EXPECT_EQ(loaded.epochs_done, 4);
  EXPECT_EQ(loaded.generator.seed, saved.generator.seed);
  EXPECT_EQ(loaded.generator.offset, saved.generator.offset);
  EXPECT_EQ(loaded.metadata, saved.metadata);
  expect_same_state(loaded.model, saved.model);
  EXPECT_TRUE(loaded.optimizer.empty());
  EXPECT_FALSE(fs::exists(path + ".tmp." + std::to_string(::getpid())));
}

TEST(TrainResume, CorruptCheckpointFailsWithItsPath) {
  ortho::testing::TempDir dir("ortho_train");
  const std::string garbage = dir.file("garbage.safetensors");
  std::ofstream(garbage, std::ios::binary) << "definitely not a safetensors file";
  EXPECT_NE(runtime_error_of(garbage).find(garbage), std::string::npos);

  const std::string truncated = dir.file("truncated.safetensors");
  save_checkpoint(truncated, TrainingCheckpoint{});
  fs::resize_file(truncated, fs::file_size(truncated) - 4);
  EXPECT_NE(runtime_error_of(truncated).find(truncated), std::string::npos);

  const std::string other = dir.file("weights.safetensors");
  save_safetensors(other, {{"w", Tensor::zeros({2})}});
  const std::string message = runtime_error_of(other);
  EXPECT_NE(message.find(other), std::string::npos);
  EXPECT_NE(message.find("not a training checkpoint"), std::string::npos);

  const std::string missing = dir.file("missing.safetensors");
  EXPECT_NE(runtime_error_of(missing).find(missing), std::string::npos);
}

TEST(TrainResume, CheckpointOfAnotherModelIsRejectedWithItsPath) {
  ortho::testing::TempDir dir("ortho_train");
  write_cifar_dir(dir.path());
  TinyRun run(dir.path(), 3);
  const std::string path = dir.file("other.safetensors");
  TrainingCheckpoint other =
      capture_checkpoint(*run.model, *run.optimizer, *run.scheduler, default_generator(), 1);
  other.model.erase(other.model.begin());
  save_checkpoint(path, other);
  try {
    restore_checkpoint(load_checkpoint(path), path, *run.model, *run.optimizer, *run.scheduler,
                       default_generator());
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find(path), std::string::npos) << error.what();
  }
}

TEST(TrainResume, StepHooksAddToTheLossAndRunAfterEveryUpdate) {
  ortho::testing::TempDir dir("ortho_train");
  write_cifar_dir(dir.path());
  TinyRun plain(dir.path(), 3), hooked(dir.path(), 3);
  std::vector<std::int64_t> batches;
  TrainStep step{*hooked.model, hooked.loss, *hooked.optimizer, hooked.scheduler.get()};
  // A constant extra loss changes no gradient: the runs stay identical, the hook runs.
  step.extra_loss = [] { return autograd::Variable(Tensor::scalar(5.0), true); };
  step.after_step = [&](std::int64_t epoch, std::int64_t batch) {
    EXPECT_EQ(epoch, 0);
    batches.push_back(batch);
  };
  expect_same_stats(train_epoch(step, *hooked.train_loader, 0), plain.train(0));
  ASSERT_EQ(static_cast<std::int64_t>(batches.size()), hooked.train_loader->num_batches());
  for (std::size_t i = 0; i < batches.size(); ++i)
    EXPECT_EQ(batches[i], static_cast<std::int64_t>(i));
}

TEST(TrainResume, CountCorrectComparesArgmaxWithLabels) {
  const Tensor logits = Tensor::from_vector(std::vector<float>{0, 1, 5, 2, 3, 1}, {3, 2});
  const Tensor labels = Tensor::from_vector(std::vector<std::int64_t>{1, 0, 1}, {3});
  EXPECT_EQ(count_correct(logits, labels), 2);
  EXPECT_THROW(count_correct(logits, labels.slice(0, 0, 2)), std::invalid_argument);
}

}  // namespace
}  // namespace ortho::apps
