#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace ortho::data {

// Images stored as root/<class>/<image>.png|jpg|jpeg|bmp (extension case-insensitive; other
// files are ignored), decoded by stb_image. Classes are the subfolders sorted by name (label k
// is the k-th); images within a class are sorted by file name. Construction reads every
// header, so an unreadable image or one whose size differs from the first fails early, naming
// the file; pixels are decoded on each read_image() call (in the DataLoader's workers).
class ImageFolder final : public Dataset {
 public:
  // `channels`: 1 (grey) or 3 (RGB); stb_image converts whatever the file holds.
  explicit ImageFolder(const std::filesystem::path& root, std::int64_t channels = 3);

  std::int64_t size() const override { return static_cast<std::int64_t>(files_.size()); }
  ImageSpec image_spec() const override { return spec_; }
  std::int64_t label(std::int64_t index) const override;
  // Throws std::runtime_error naming the file and stb_image's reason when decoding fails.
  void read_image(std::int64_t index, float* out) const override;
  const std::vector<std::string>& class_names() const override { return classes_; }

  const std::filesystem::path& file(std::int64_t index) const;

 private:
  std::vector<std::string> classes_;
  std::vector<std::filesystem::path> files_;
  std::vector<std::int64_t> labels_;
  ImageSpec spec_;
};

}  // namespace ortho::data
