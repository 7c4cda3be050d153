#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/transforms.h"

namespace ortho::data {

// CIFAR-10 (Krizhevsky 2009) in its official binary layout: each record is 1 label byte (0-9)
// then 3072 pixel bytes (1024 red, 1024 green, 1024 blue, each a row-major 32x32 plane).
// Any file whose size is a multiple of 3073 is accepted, so subsets read like the full set.
class Cifar10 final : public Dataset {
 public:
  enum class Split { Train, Test };

  static constexpr std::int64_t kChannels = 3;
  static constexpr std::int64_t kSide = 32;
  static constexpr std::int64_t kImageBytes = kChannels * kSide * kSide;  // 3072
  static constexpr std::int64_t kRecordBytes = 1 + kImageBytes;           // 3073
  static constexpr std::int64_t kNumClasses = 10;

  // Reads data_batch_1..5.bin (Train) or test_batch.bin (Test) from `root`. Throws
  // std::runtime_error naming the file when one is missing, is not a whole number of records
  // (with the offset of the partial record) or holds a label outside 0-9 (with the record
  // index and byte offset).
  Cifar10(const std::filesystem::path& root, Split split);

  // The files a split reads, in order.
  static std::vector<std::string> file_names(Split split);

  std::int64_t size() const override { return static_cast<std::int64_t>(labels_.size()); }
  ImageSpec image_spec() const override { return {kChannels, kSide, kSide}; }
  std::int64_t label(std::int64_t index) const override;
  void read_image(std::int64_t index, float* out) const override;
  const std::vector<std::string>& class_names() const override;

  const std::vector<std::int64_t>& labels() const { return labels_; }
  // The kImageBytes raw pixel bytes of record `index` (channel-major RGB).
  const std::uint8_t* pixels(std::int64_t index) const;

 private:
  // Appends the records of one file to records_ and labels_, validating as it goes.
  void load_file(const std::filesystem::path& file);

  // Every record exactly as stored on disk (label byte + pixels), one contiguous buffer.
  std::vector<std::uint8_t> records_;
  std::vector<std::int64_t> labels_;
};

// Per-channel mean and standard deviation of the CIFAR-10 training images in [0, 1].
inline constexpr std::array<float, 3> kCifar10Mean = {0.4914f, 0.4822f, 0.4465f};
inline constexpr std::array<float, 3> kCifar10Std = {0.2470f, 0.2435f, 0.2616f};

// The standard CIFAR ResNet augmentation (He et al. 2016, section 4.2): 4-pixel zero-padded
// random crop, random horizontal flip, normalization; then cutout of `cutout_size` pixels
// when it is positive (DeVries & Taylor 2017).
std::shared_ptr<const Transform> cifar10_train_transform(std::int64_t cutout_size = 0);
// Normalization only, for evaluation.
std::shared_ptr<const Transform> cifar10_test_transform();

}  // namespace ortho::data
