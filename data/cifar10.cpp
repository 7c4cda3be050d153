#include "data/cifar10.h"

#include <fstream>
#include <stdexcept>
#include <system_error>

#include "core/error.h"

namespace ortho::data {
namespace {

[[noreturn]] void fail(const std::filesystem::path& file, const std::string& what) {
  throw std::runtime_error(error_message("Cifar10: ", file.string(), ": ", what));
}

}  // namespace

Cifar10::Cifar10(const std::filesystem::path& root, Split split) {
  const std::vector<std::string> names = file_names(split);
  std::vector<std::filesystem::path> files;
  std::uintmax_t total_bytes = 0;
  for (const std::string& name : names) {
    const std::filesystem::path file = root / name;
    std::error_code ec;
    const std::uintmax_t bytes = std::filesystem::file_size(file, ec);
    if (ec) {
      fail(file, error_message("cannot read the file (", ec.message(),
                               "); get CIFAR-10 with scripts/download_cifar10.sh and pass the "
                               "folder holding ",
                               names.front(), " as the root"));
    }
    files.push_back(file);
    total_bytes += bytes;
  }
  records_.reserve(total_bytes);
  for (const auto& file : files) load_file(file);
}

std::vector<std::string> Cifar10::file_names(Split split) {
  if (split == Split::Test) return {"test_batch.bin"};
  return {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
          "data_batch_5.bin"};
}

void Cifar10::load_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) fail(file, "cannot open the file; get CIFAR-10 with scripts/download_cifar10.sh");
  in.seekg(0, std::ios::end);
  const auto bytes = static_cast<std::int64_t>(in.tellg());
  in.seekg(0, std::ios::beg);
  if (bytes % kRecordBytes != 0) {
    const std::int64_t whole = bytes / kRecordBytes;
    fail(file, error_message("size ", bytes, " bytes is not a multiple of the record size ",
                             kRecordBytes, ": record ", whole, " at byte offset ",
                             whole * kRecordBytes, " is partial (", bytes - whole * kRecordBytes,
                             " bytes); the file is truncated or not CIFAR-10 binary"));
  }
  const std::size_t start = records_.size();
  records_.resize(start + static_cast<std::size_t>(bytes));
  if (!in.read(reinterpret_cast<char*>(records_.data() + start), bytes)) {
    fail(file, error_message("read failed after ", in.gcount(), " of ", bytes, " bytes"));
  }
  const std::int64_t count = bytes / kRecordBytes;
  labels_.reserve(labels_.size() + static_cast<std::size_t>(count));
  for (std::int64_t r = 0; r < count; ++r) {
    const std::uint8_t label = records_[start + static_cast<std::size_t>(r * kRecordBytes)];
    if (label >= kNumClasses) {
      fail(file, error_message("record ", r, " (byte offset ", r * kRecordBytes, ") has label ",
                               static_cast<int>(label), ", expected 0-9"));
    }
    labels_.push_back(label);
  }
}

std::int64_t Cifar10::label(std::int64_t index) const {
  check_index(index, "Cifar10::label");
  return labels_[static_cast<std::size_t>(index)];
}

const std::uint8_t* Cifar10::pixels(std::int64_t index) const {
  check_index(index, "Cifar10::pixels");
  return records_.data() + index * kRecordBytes + 1;
}

void Cifar10::read_image(std::int64_t index, float* out) const {
  bytes_to_unit_floats(pixels(index), kImageBytes, out);
}

const std::vector<std::string>& Cifar10::class_names() const {
  static const std::vector<std::string> names = {
      "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  return names;
}

std::shared_ptr<const Transform> cifar10_train_transform(std::int64_t cutout_size) {
  std::vector<std::shared_ptr<const Transform>> steps = {
      std::make_shared<RandomCrop>(4), std::make_shared<RandomHorizontalFlip>(0.5),
      std::make_shared<Normalize>(std::vector<float>(kCifar10Mean.begin(), kCifar10Mean.end()),
                                  std::vector<float>(kCifar10Std.begin(), kCifar10Std.end()))};
  if (cutout_size > 0) steps.push_back(std::make_shared<Cutout>(cutout_size));
  return std::make_shared<Compose>(std::move(steps));
}

std::shared_ptr<const Transform> cifar10_test_transform() {
  return std::make_shared<Normalize>(std::vector<float>(kCifar10Mean.begin(), kCifar10Mean.end()),
                                     std::vector<float>(kCifar10Std.begin(), kCifar10Std.end()));
}

}  // namespace ortho::data
