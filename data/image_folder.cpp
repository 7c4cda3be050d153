#include "data/image_folder.h"

#include <stb/stb_image.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <stdexcept>
#include <system_error>

#include "core/error.h"

namespace ortho::data {
namespace {

namespace fs = std::filesystem;

bool is_image_file(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".bmp";
}

std::vector<fs::path> sorted_entries(const fs::path& dir, bool want_directories) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (want_directories ? entry.is_directory() : entry.is_regular_file()) {
      out.push_back(entry.path());
    }
  }
  if (ec) {
    throw std::runtime_error(
        error_message("ImageFolder: cannot list ", dir.string(), ": ", ec.message()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

[[noreturn]] void decode_failure(const fs::path& file, const char* stage) {
  const char* reason = stbi_failure_reason();
  throw std::runtime_error(error_message("ImageFolder: cannot ", stage, " ", file.string(), ": ",
                                         reason ? reason : "unknown stb_image error"));
}

}  // namespace

ImageFolder::ImageFolder(const fs::path& root, std::int64_t channels) {
  check_argument(channels == 1 || channels == 3, "ImageFolder: channels must be 1 or 3, got ",
                 channels);
  if (!fs::is_directory(root)) {
    throw std::runtime_error(error_message("ImageFolder: ", root.string(), " is not a directory"));
  }
  for (const fs::path& class_dir : sorted_entries(root, true)) {
    const auto label = static_cast<std::int64_t>(classes_.size());
    classes_.push_back(class_dir.filename().string());
    for (const fs::path& file : sorted_entries(class_dir, false)) {
      if (!is_image_file(file)) continue;
      int width = 0;
      int height = 0;
      int file_channels = 0;
      if (stbi_info(file.c_str(), &width, &height, &file_channels) == 0) {
        decode_failure(file, "read the image header of");
      }
      const ImageSpec spec{channels, height, width};
      if (files_.empty()) {
        spec_ = spec;
      } else if (!(spec == spec_)) {
        throw std::runtime_error(
            error_message("ImageFolder: ", file.string(), " is ", width, "x", height, " but ",
                          files_.front().string(), " is ", spec_.width, "x", spec_.height,
                          "; every image must share one size (resize them beforehand)"));
      }
      files_.push_back(file);
      labels_.push_back(label);
    }
  }
  if (files_.empty()) {
    throw std::runtime_error(error_message("ImageFolder: no .png/.jpg/.jpeg/.bmp images in ",
                                           root.string(), "/<class>/"));
  }
}

std::int64_t ImageFolder::label(std::int64_t index) const {
  check_index(index, "ImageFolder::label");
  return labels_[static_cast<std::size_t>(index)];
}

const fs::path& ImageFolder::file(std::int64_t index) const {
  check_index(index, "ImageFolder::file");
  return files_[static_cast<std::size_t>(index)];
}

void ImageFolder::read_image(std::int64_t index, float* out) const {
  const fs::path& path = file(index);
  int width = 0;
  int height = 0;
  int file_channels = 0;
  const std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
      stbi_load(path.c_str(), &width, &height, &file_channels, static_cast<int>(spec_.channels)),
      stbi_image_free);
  if (!pixels) decode_failure(path, "decode");
  if (width != spec_.width || height != spec_.height) {
    throw std::runtime_error(error_message("ImageFolder: ", path.string(), " is now ", width, "x",
                                           height, ", expected ", spec_.width, "x", spec_.height));
  }
  // stb_image gives interleaved HWC; the dataset layout is channel-major CHW.
  const std::int64_t plane = spec_.plane();
  const std::int64_t channels = spec_.channels;
  constexpr float kScale = 1.0f / 255.0f;
  for (std::int64_t c = 0; c < channels; ++c) {
    float* dst = out + c * plane;
    const stbi_uc* src = pixels.get() + c;
    for (std::int64_t i = 0; i < plane; ++i)
      dst[i] = static_cast<float>(src[i * channels]) * kScale;
  }
}

}  // namespace ortho::data
