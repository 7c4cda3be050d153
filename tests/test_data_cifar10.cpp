#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "data/cifar10.h"
#include "data/dataloader.h"
#include "support/test_support.h"

namespace ortho::data {
namespace {

namespace fs = std::filesystem;
constexpr std::int64_t kRecord = Cifar10::kRecordBytes;

// The pixel byte `i` of global record `r` in the generated files.
std::uint8_t pixel_byte(std::int64_t r, std::int64_t i) {
  return static_cast<std::uint8_t>((r * 31 + i * 7) % 256);
}

// Writes records with `labels`, numbering them from `first` so every record's pixels differ.
void write_records(const fs::path& file, const std::vector<int>& labels, std::int64_t first) {
  std::ofstream out(file, std::ios::binary);
  for (std::size_t k = 0; k < labels.size(); ++k) {
    out.put(static_cast<char>(labels[k]));
    for (std::int64_t i = 0; i < Cifar10::kImageBytes; ++i) {
      out.put(static_cast<char>(pixel_byte(first + static_cast<std::int64_t>(k), i)));
    }
  }
}

// data_batch_1..5 with 2, 1, 1, 1, 3 records; labels 0..7 in order.
void write_train_set(const fs::path& dir) {
  const std::vector<std::vector<int>> files = {{0, 1}, {2}, {3}, {4}, {5, 6, 9}};
  std::int64_t first = 0;
  for (std::size_t f = 0; f < files.size(); ++f) {
    write_records(dir / ("data_batch_" + std::to_string(f + 1) + ".bin"), files[f], first);
    first += static_cast<std::int64_t>(files[f].size());
  }
}

std::string message_of(const fs::path& root, Cifar10::Split split) {
  try {
    Cifar10 data(root, split);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected std::runtime_error";
  return {};
}

TEST(Cifar10, LoadsAllTrainFilesInOrder) {
  ortho::testing::TempDir dir("ortho_cifar10");
  write_train_set(dir.path());
  const Cifar10 data(dir.path(), Cifar10::Split::Train);
  ASSERT_EQ(data.size(), 8);
  EXPECT_EQ(data.labels(), (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 9}));
  EXPECT_EQ(data.image_spec(), (ImageSpec{3, 32, 32}));
  EXPECT_EQ(data.class_names().size(), 10u);
  EXPECT_EQ(data.class_names()[0], "airplane");
  EXPECT_EQ(data.class_names()[9], "truck");
  for (std::int64_t r : {0, 4, 7}) {
    const std::uint8_t* px = data.pixels(r);
    for (std::int64_t i : {0, 1, 1023, 1024, 3071}) EXPECT_EQ(px[i], pixel_byte(r, i));
  }
  const Example ex = data.get(6);
  EXPECT_EQ(ex.label, 6);
  ASSERT_EQ(ex.image.shape(), Shape({3, 32, 32}));
  const std::vector<float> v = ex.image.to_vector<float>();
  // Channel-major: element (c, y, x) is byte c * 1024 + y * 32 + x.
  for (std::int64_t i : {0, 33, 1024 + 5 * 32 + 7, 2047, 3071}) {
    EXPECT_FLOAT_EQ(v[static_cast<std::size_t>(i)], static_cast<float>(pixel_byte(6, i)) / 255.0f);
  }
  EXPECT_THROW(data.get(8), std::out_of_range);
  EXPECT_THROW(data.label(-1), std::out_of_range);
}

TEST(Cifar10, TestSplitReadsTestBatch) {
  ortho::testing::TempDir dir("ortho_cifar10");
  write_records(dir.path() / "test_batch.bin", {7, 8, 0}, 100);
  const Cifar10 data(dir.path(), Cifar10::Split::Test);
  EXPECT_EQ(data.labels(), (std::vector<std::int64_t>{7, 8, 0}));
  EXPECT_EQ(data.pixels(2)[5], pixel_byte(102, 5));
}

TEST(Cifar10, TruncatedFileNamesFileSizeAndOffset) {
  ortho::testing::TempDir dir("ortho_cifar10");
  write_train_set(dir.path());
  const fs::path bad = dir.path() / "data_batch_5.bin";
  fs::resize_file(bad, 2 * kRecord + 100);
  const std::string msg = message_of(dir.path(), Cifar10::Split::Train);
  EXPECT_NE(msg.find("data_batch_5.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::to_string(2 * kRecord + 100)), std::string::npos) << msg;
  EXPECT_NE(msg.find("record 2 at byte offset " + std::to_string(2 * kRecord)), std::string::npos)
      << msg;
}

TEST(Cifar10, BadLabelNamesFileRecordAndOffset) {
  ortho::testing::TempDir dir("ortho_cifar10");
  write_records(dir.path() / "test_batch.bin", {3, 10, 1}, 0);
  const std::string msg = message_of(dir.path(), Cifar10::Split::Test);
  EXPECT_NE(msg.find("test_batch.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("record 1 (byte offset 3073)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("label 10"), std::string::npos) << msg;
}

TEST(Cifar10, MissingFileNamesFileAndDownloadScript) {
  ortho::testing::TempDir dir("ortho_cifar10");
  write_train_set(dir.path());
  fs::remove(dir.path() / "data_batch_4.bin");
  const std::string msg = message_of(dir.path(), Cifar10::Split::Train);
  EXPECT_NE(msg.find("data_batch_4.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("scripts/download_cifar10.sh"), std::string::npos) << msg;
  const std::string test_msg = message_of(dir.path() / "nowhere", Cifar10::Split::Test);
  EXPECT_NE(test_msg.find("test_batch.bin"), std::string::npos) << test_msg;
}

TEST(Cifar10, TestTransformNormalizesPerChannel) {
  ortho::testing::TempDir dir("ortho_cifar10");
  write_records(dir.path() / "test_batch.bin", {1}, 3);
  const Cifar10 data(dir.path(), Cifar10::Split::Test);
  Generator gen(0);
  const std::vector<float> out =
      (*cifar10_test_transform())(data.get(0).image, gen).to_vector<float>();
  for (std::int64_t c = 0; c < 3; ++c) {
    const std::int64_t i = c * 1024 + 77;
    const float x = static_cast<float>(pixel_byte(3, i)) / 255.0f;
    EXPECT_NEAR(
        out[static_cast<std::size_t>(i)],
        (x - kCifar10Mean[static_cast<std::size_t>(c)]) / kCifar10Std[static_cast<std::size_t>(c)],
        1e-5);
  }
}

// The real data set (or the subset in /work/shared/data) when ORTHO_CIFAR10_DIR names it.
TEST(Cifar10, RealDataWhenAvailable) {
  const char* env = std::getenv("ORTHO_CIFAR10_DIR");
  if (env == nullptr || *env == '\0') GTEST_SKIP() << "set ORTHO_CIFAR10_DIR to run on CIFAR-10";
  const fs::path root(env);
  for (Cifar10::Split split : {Cifar10::Split::Train, Cifar10::Split::Test}) {
    std::uintmax_t bytes = 0;
    for (const std::string& name : Cifar10::file_names(split)) bytes += fs::file_size(root / name);
    const auto data = std::make_shared<Cifar10>(root, split);
    EXPECT_EQ(data->size(), static_cast<std::int64_t>(bytes / kRecord));
    if (bytes == 8068u * kRecord) {
      EXPECT_EQ(data->size(), 8068);  // the shared subset
    }
    if (split == Cifar10::Split::Test && bytes == 1017u * kRecord) {
      EXPECT_EQ(data->size(), 1017);
    }
    const std::set<std::int64_t> classes(data->labels().begin(), data->labels().end());
    EXPECT_EQ(classes.size(), 10u);
    EXPECT_GE(*classes.begin(), 0);
    EXPECT_LE(*classes.rbegin(), 9);

    if (split != Cifar10::Split::Train) continue;
    // One pass of the standard augmentation on one worker, reported (not asserted: timings
    // depend on the machine's load).
    DataLoaderOptions options;
    options.num_workers = 1;
    options.subset = 2048;
    DataLoader loader(data, options, cifar10_train_transform(16));
    const auto start = std::chrono::steady_clock::now();
    loader.start_epoch(0);
    std::int64_t images = 0;
    double sum = 0.0;
    while (auto batch = loader.next()) {
      images += batch->images.size(0);
      const std::vector<float> v = batch->images.to_vector<float>();
      sum += std::accumulate(v.begin(), v.end(), 0.0);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(images, loader.num_samples());
    EXPECT_TRUE(std::isfinite(sum));
    std::cout << "[ info ] augmented " << images << " CIFAR-10 images on 1 worker at "
              << static_cast<double>(images) / seconds << " images/s\n";
  }
}

}  // namespace
}  // namespace ortho::data
