#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "data/transforms.h"

namespace ortho::data {
namespace {

// A (C, H, W) image whose every element is distinct and nonzero: 1 + c * 100 + y * 10 + x.
std::vector<float> ramp_image(const ImageSpec& s) {
  std::vector<float> v(static_cast<std::size_t>(s.numel()));
  for (std::int64_t c = 0; c < s.channels; ++c)
    for (std::int64_t y = 0; y < s.height; ++y)
      for (std::int64_t x = 0; x < s.width; ++x)
        v[static_cast<std::size_t>((c * s.height + y) * s.width + x)] =
            static_cast<float>(1 + c * 100 + y * 10 + x);
  return v;
}

float at(const std::vector<float>& v, const ImageSpec& s, std::int64_t c, std::int64_t y,
         std::int64_t x) {
  return v[static_cast<std::size_t>((c * s.height + y) * s.width + x)];
}

// Reference crop: zero-pad by p, then take the H x W window at (oy, ox) of the padded image.
std::vector<float> padded_crop(const std::vector<float>& in, const ImageSpec& s, std::int64_t p,
                               std::int64_t oy, std::int64_t ox) {
  const std::int64_t ph = s.height + 2 * p;
  const std::int64_t pw = s.width + 2 * p;
  std::vector<float> padded(static_cast<std::size_t>(s.channels * ph * pw), 0.0f);
  for (std::int64_t c = 0; c < s.channels; ++c)
    for (std::int64_t y = 0; y < s.height; ++y)
      for (std::int64_t x = 0; x < s.width; ++x)
        padded[static_cast<std::size_t>((c * ph + y + p) * pw + x + p)] = at(in, s, c, y, x);
  std::vector<float> out;
  for (std::int64_t c = 0; c < s.channels; ++c)
    for (std::int64_t y = 0; y < s.height; ++y)
      for (std::int64_t x = 0; x < s.width; ++x)
        out.push_back(padded[static_cast<std::size_t>((c * ph + y + oy) * pw + x + ox)]);
  return out;
}

std::vector<float> run(const Transform& t, std::vector<float> image, const ImageSpec& s,
                       std::uint64_t seed) {
  Generator gen(seed);
  t.apply(image.data(), s, gen);
  return image;
}

TEST(Transforms, RandomCropMatchesPaddedWindowForEveryOffset) {
  for (const ImageSpec s : {ImageSpec{2, 4, 5}, ImageSpec{1, 3, 3}}) {
    for (std::int64_t p : {1, 2, 4}) {
      const RandomCrop crop(p);
      const std::vector<float> in = ramp_image(s);
      std::set<std::pair<std::int64_t, std::int64_t>> offsets;
      for (std::uint64_t seed = 0; seed < 1000; ++seed) {
        // The documented draws: row offset, then column offset, each uniform in [0, 2p].
        Generator draws(seed);
        const std::int64_t oy = uniform_index(draws, 2 * p + 1);
        const std::int64_t ox = uniform_index(draws, 2 * p + 1);
        offsets.insert({oy, ox});
        EXPECT_EQ(run(crop, in, s, seed), padded_crop(in, s, p, oy, ox))
            << "p=" << p << " offset (" << oy << ", " << ox << ")";
      }
      EXPECT_EQ(offsets.size(), static_cast<std::size_t>((2 * p + 1) * (2 * p + 1)));
    }
  }
}

TEST(Transforms, RandomCropHandComputedShift) {
  // 1 x 3 x 3 image 1..9 shifted down-right by one (offset (0, 0) of the 1-padded image).
  const ImageSpec s{1, 3, 3};
  const std::vector<float> in = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_EQ(padded_crop(in, s, 1, 0, 0), (std::vector<float>{0, 0, 0, 0, 1, 2, 0, 4, 5}));
  for (std::uint64_t seed = 0;; ++seed) {
    Generator draws(seed);
    if (uniform_index(draws, 3) != 0 || uniform_index(draws, 3) != 0) continue;
    EXPECT_EQ(run(RandomCrop(1), in, s, seed), (std::vector<float>{0, 0, 0, 0, 1, 2, 0, 4, 5}));
    break;
  }
}

TEST(Transforms, HorizontalFlipMirrorsRows) {
  const ImageSpec s{2, 2, 3};
  const std::vector<float> in = ramp_image(s);
  const std::vector<float> mirrored = {3, 2, 1, 13, 12, 11, 103, 102, 101, 113, 112, 111};
  EXPECT_EQ(run(RandomHorizontalFlip(1.0), in, s, 5), mirrored);
  EXPECT_EQ(run(RandomHorizontalFlip(0.0), in, s, 5), in);
  int flipped = 0;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    Generator draws(seed);
    const bool expect_flip = draws.next_double() < 0.5;
    const std::vector<float> out = run(RandomHorizontalFlip(), in, s, seed);
    EXPECT_EQ(out, expect_flip ? mirrored : in);
    flipped += expect_flip ? 1 : 0;
  }
  EXPECT_GT(flipped, 60);
  EXPECT_LT(flipped, 140);
}

TEST(Transforms, NormalizePerChannel) {
  const ImageSpec s{2, 1, 2};
  const Normalize norm({0.5f, 1.0f}, {0.25f, 2.0f});
  const std::vector<float> out = run(norm, {0.0f, 1.0f, 3.0f, -1.0f}, s, 0);
  EXPECT_FLOAT_EQ(out[0], -2.0f);
  EXPECT_FLOAT_EQ(out[1], 2.0f);
  EXPECT_FLOAT_EQ(out[2], 1.0f);
  EXPECT_FLOAT_EQ(out[3], -1.0f);
  Generator gen(0);
  std::vector<float> three(3, 0.0f);
  EXPECT_THROW(norm.apply(three.data(), ImageSpec{3, 1, 1}, gen), std::invalid_argument);
}

TEST(Transforms, CutoutZeroesClippedSquare) {
  const ImageSpec s{2, 5, 6};
  const std::vector<float> in = ramp_image(s);
  for (std::int64_t size : {1, 2, 3, 4, 9}) {
    for (std::uint64_t seed = 0; seed < 60; ++seed) {
      Generator draws(seed);
      const std::int64_t cy = uniform_index(draws, s.height);
      const std::int64_t cx = uniform_index(draws, s.width);
      const std::vector<float> out = run(Cutout(size), in, s, seed);
      for (std::int64_t c = 0; c < s.channels; ++c) {
        for (std::int64_t y = 0; y < s.height; ++y) {
          for (std::int64_t x = 0; x < s.width; ++x) {
            const bool inside = y >= cy - size / 2 && y < cy - size / 2 + size &&
                                x >= cx - size / 2 && x < cx - size / 2 + size;
            EXPECT_EQ(at(out, s, c, y, x), inside ? 0.0f : at(in, s, c, y, x))
                << "size " << size << " centre (" << cy << ", " << cx << ") at (" << y << ", " << x
                << ")";
          }
        }
      }
    }
  }
  // A 2 x 2 cutout centred at (2, 1) on 4 x 4 covers rows [1, 3) and columns [0, 2).
  const ImageSpec small{1, 4, 4};
  for (std::uint64_t seed = 0;; ++seed) {
    Generator draws(seed);
    if (uniform_index(draws, 4) != 2 || uniform_index(draws, 4) != 1) continue;
    const std::vector<float> out = run(Cutout(2), std::vector<float>(16, 1.0f), small, seed);
    EXPECT_EQ(out, (std::vector<float>{1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1}));
    break;
  }
}

TEST(Transforms, ComposeAppliesInOrderFromOneGenerator) {
  const ImageSpec s{3, 6, 6};
  const std::vector<float> in = ramp_image(s);
  auto crop = std::make_shared<RandomCrop>(2);
  auto flip = std::make_shared<RandomHorizontalFlip>();
  auto norm = std::make_shared<Normalize>(std::vector<float>{1, 2, 3}, std::vector<float>{2, 2, 2});
  auto cut = std::make_shared<Cutout>(3);
  const Compose all({crop, flip, norm, cut});
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    std::vector<float> expected = in;
    Generator gen(seed);
    for (const Transform* t :
         std::vector<const Transform*>{crop.get(), flip.get(), norm.get(), cut.get()}) {
      t->apply(expected.data(), s, gen);
    }
    EXPECT_EQ(run(all, in, s, seed), expected);
    EXPECT_EQ(run(all, in, s, seed), run(all, in, s, seed));
  }
  std::set<std::vector<float>> distinct;
  for (std::uint64_t seed = 0; seed < 20; ++seed) distinct.insert(run(all, in, s, seed));
  EXPECT_GT(distinct.size(), 10u);
}

TEST(Transforms, TensorCallCopies) {
  const Tensor image = Tensor::arange(12).reshape({1, 3, 4});
  Generator gen(0);
  const Tensor out = RandomHorizontalFlip(1.0)(image, gen);
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8}));
  EXPECT_EQ(image.to_vector<float>()[0], 0.0f);
  EXPECT_THROW(RandomHorizontalFlip(1.0)(Tensor::zeros({3, 4}), gen), std::invalid_argument);
  EXPECT_THROW(RandomHorizontalFlip(1.0)(Tensor::zeros({1, 3, 4}, DType::Float64), gen),
               std::invalid_argument);
}

TEST(Transforms, RejectsBadOptions) {
  EXPECT_THROW(RandomCrop(-1), std::invalid_argument);
  EXPECT_THROW(RandomHorizontalFlip(1.5), std::invalid_argument);
  EXPECT_THROW(RandomHorizontalFlip(-0.1), std::invalid_argument);
  EXPECT_THROW(Normalize({0.5f}, {0.5f, 0.5f}), std::invalid_argument);
  EXPECT_THROW(Normalize({}, {}), std::invalid_argument);
  EXPECT_THROW(Normalize({0.5f}, {0.0f}), std::invalid_argument);
  EXPECT_THROW(Cutout(0), std::invalid_argument);
  EXPECT_THROW(Compose({nullptr}), std::invalid_argument);
}

}  // namespace
}  // namespace ortho::data
