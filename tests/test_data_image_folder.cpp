#include <gtest/gtest.h>
#include <stb/stb_image_write.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/image_folder.h"
#include "support/test_support.h"

// stb_image_write's implementation comes from Debian's libstb, which ortho links.

namespace ortho::data {
namespace {

namespace fs = std::filesystem;

constexpr int kWidth = 3;
constexpr int kHeight = 2;

// Interleaved RGB bytes (HWC) of image `seed`: value (seed * 40 + y * 9 + x * 3 + c) % 256.
std::vector<std::uint8_t> rgb_pixels(int seed) {
  std::vector<std::uint8_t> px;
  for (int y = 0; y < kHeight; ++y)
    for (int x = 0; x < kWidth; ++x)
      for (int c = 0; c < 3; ++c)
        px.push_back(static_cast<std::uint8_t>((seed * 40 + y * 9 + x * 3 + c) % 256));
  return px;
}

void write_png(const fs::path& file, int seed, int width = kWidth, int height = kHeight) {
  fs::create_directories(file.parent_path());
  std::vector<std::uint8_t> px(static_cast<std::size_t>(width * height * 3));
  if (width == kWidth && height == kHeight) px = rgb_pixels(seed);
  ASSERT_NE(stbi_write_png(file.c_str(), width, height, 3, px.data(), width * 3), 0) << file;
}

void write_bmp(const fs::path& file, int seed) {
  fs::create_directories(file.parent_path());
  const std::vector<std::uint8_t> px = rgb_pixels(seed);
  ASSERT_NE(stbi_write_bmp(file.c_str(), kWidth, kHeight, 3, px.data()), 0) << file;
}

// Expects the dataset's CHW floats to equal rgb_pixels(seed) / 255.
void expect_image(const ImageFolder& data, std::int64_t index, int seed) {
  const std::vector<float> v = data.get(index).image.to_vector<float>();
  const std::vector<std::uint8_t> px = rgb_pixels(seed);
  ASSERT_EQ(v.size(), px.size());
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < kWidth * kHeight; ++i)
      EXPECT_FLOAT_EQ(v[static_cast<std::size_t>(c * kWidth * kHeight + i)],
                      static_cast<float>(px[static_cast<std::size_t>(i * 3 + c)]) / 255.0f)
          << "image " << index << " channel " << c << " pixel " << i;
}

std::string error_of(const fs::path& root) {
  try {
    ImageFolder data(root);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected std::runtime_error";
  return {};
}

TEST(ImageFolder, LoadsSortedClassesAndPixels) {
  ortho::testing::TempDir dir("ortho_imgfolder");
  write_png(dir.path() / "dog" / "b.png", 2);
  write_png(dir.path() / "cat" / "z.PNG", 1);
  write_bmp(dir.path() / "cat" / "a.bmp", 0);
  std::ofstream(dir.path() / "dog" / "notes.txt") << "not an image";
  fs::create_directories(dir.path() / "empty_class");
  const ImageFolder data(dir.path());
  EXPECT_EQ(data.class_names(), (std::vector<std::string>{"cat", "dog", "empty_class"}));
  ASSERT_EQ(data.size(), 3);
  EXPECT_EQ(data.image_spec(), (ImageSpec{3, kHeight, kWidth}));
  EXPECT_EQ(data.label(0), 0);
  EXPECT_EQ(data.label(1), 0);
  EXPECT_EQ(data.label(2), 1);
  EXPECT_EQ(data.file(0).filename(), "a.bmp");
  EXPECT_EQ(data.file(1).filename(), "z.PNG");
  expect_image(data, 0, 0);
  expect_image(data, 1, 1);
  expect_image(data, 2, 2);
  EXPECT_THROW(data.get(3), std::out_of_range);
}

TEST(ImageFolder, GreyscaleLoad) {
  ortho::testing::TempDir dir("ortho_imgfolder");
  write_png(dir.path() / "only" / "a.png", 3);
  const ImageFolder grey(dir.path(), 1);
  EXPECT_EQ(grey.image_spec(), (ImageSpec{1, kHeight, kWidth}));
  const std::vector<float> v = grey.get(0).image.to_vector<float>();
  const std::vector<std::uint8_t> px = rgb_pixels(3);
  // stb_image's luma: (77 r + 150 g + 29 b) >> 8.
  for (int i = 0; i < kWidth * kHeight; ++i) {
    const int r = px[static_cast<std::size_t>(3 * i)];
    const int g = px[static_cast<std::size_t>(3 * i + 1)];
    const int b = px[static_cast<std::size_t>(3 * i + 2)];
    EXPECT_FLOAT_EQ(v[static_cast<std::size_t>(i)],
                    static_cast<float>((r * 77 + g * 150 + b * 29) >> 8) / 255.0f);
  }
  EXPECT_THROW(ImageFolder(dir.path(), 2), std::invalid_argument);
}

TEST(ImageFolder, CorruptImageNamesFile) {
  ortho::testing::TempDir dir("ortho_imgfolder");
  write_png(dir.path() / "cat" / "good.png", 0);
  std::ofstream(dir.path() / "cat" / "broken.png", std::ios::binary) << "definitely not a png";
  const std::string msg = error_of(dir.path());
  EXPECT_NE(msg.find("broken.png"), std::string::npos) << msg;
}

TEST(ImageFolder, TruncatedImageFailsOnDecodeNamingFile) {
  ortho::testing::TempDir dir("ortho_imgfolder");
  write_png(dir.path() / "cat" / "a.png", 0);
  const fs::path cut = dir.path() / "cat" / "b.png";
  write_png(cut, 1);
  fs::resize_file(cut, 40);  // the header survives, the pixel data does not
  const ImageFolder data(dir.path());
  expect_image(data, 0, 0);
  try {
    data.get(1);
    ADD_FAILURE() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("b.png"), std::string::npos) << e.what();
  }
}

TEST(ImageFolder, MixedSizesNameBothFiles) {
  ortho::testing::TempDir dir("ortho_imgfolder");
  write_png(dir.path() / "a" / "small.png", 0);
  write_png(dir.path() / "b" / "large.png", 0, 5, 4);
  const std::string msg = error_of(dir.path());
  EXPECT_NE(msg.find("small.png"), std::string::npos) << msg;
  EXPECT_NE(msg.find("large.png"), std::string::npos) << msg;
  EXPECT_NE(msg.find("5x4"), std::string::npos) << msg;
}

TEST(ImageFolder, MissingOrEmptyRoot) {
  ortho::testing::TempDir dir("ortho_imgfolder");
  EXPECT_NE(error_of(dir.path() / "absent").find("absent"), std::string::npos);
  fs::create_directories(dir.path() / "cls");
  EXPECT_NE(error_of(dir.path()).find("no .png"), std::string::npos);
}

}  // namespace
}  // namespace ortho::data
