#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/random.h"
#include "core/tensor.h"
#include "data/dataset.h"

namespace ortho::data {

// An in-place image transform on a raw channel-major float buffer. Every random decision is
// drawn from the Generator it is given, so a sample's augmentation is a function of that
// generator's seed alone. apply() is const and keeps no state: one Transform serves every
// DataLoader worker at once.
class Transform {
 public:
  virtual ~Transform() = default;
  // Transforms spec.numel() floats at `image` in place.
  virtual void apply(float* image, const ImageSpec& spec, Generator& gen) const = 0;

  // A transformed copy of a float32 (C, H, W) tensor; throws std::invalid_argument otherwise.
  Tensor operator()(const Tensor& image, Generator& gen) const;
};

// Applies its transforms in order.
class Compose final : public Transform {
 public:
  explicit Compose(std::vector<std::shared_ptr<const Transform>> transforms);
  void apply(float* image, const ImageSpec& spec, Generator& gen) const override;

 private:
  std::vector<std::shared_ptr<const Transform>> transforms_;
};

// Zero-pads `padding` pixels on every side and crops back to the input size at an offset
// drawn uniformly from [0, 2 * padding] in each axis (two draws: rows, then columns).
// Equivalent to shifting the image by (dy, dx) in [-padding, padding] and filling with zeros.
class RandomCrop final : public Transform {
 public:
  explicit RandomCrop(std::int64_t padding);
  void apply(float* image, const ImageSpec& spec, Generator& gen) const override;

 private:
  std::int64_t padding_;
};

// Mirrors the columns with probability p (one draw).
class RandomHorizontalFlip final : public Transform {
 public:
  explicit RandomHorizontalFlip(double p = 0.5);
  void apply(float* image, const ImageSpec& spec, Generator& gen) const override;

 private:
  double p_;
};

// x <- (x - mean[c]) / std[c] for each channel c; draws nothing.
class Normalize final : public Transform {
 public:
  Normalize(std::vector<float> mean, std::vector<float> std);
  void apply(float* image, const ImageSpec& spec, Generator& gen) const override;

 private:
  std::vector<float> mean_;
  std::vector<float> inv_std_;
};

// Cutout (DeVries & Taylor 2017): zeroes a size x size square in every channel, centred on a
// pixel drawn uniformly (row, then column) and clipped at the borders. Rows
// [cy - size/2, cy - size/2 + size) and likewise columns, so even and odd sizes both cover
// `size` pixels when the square lies inside the image.
class Cutout final : public Transform {
 public:
  explicit Cutout(std::int64_t size);
  void apply(float* image, const ImageSpec& spec, Generator& gen) const override;

 private:
  std::int64_t size_;
};

// A uniform integer in [0, n) for n >= 1. Modulo of a 64-bit draw: the bias is below n / 2^64.
std::int64_t uniform_index(Generator& gen, std::int64_t n);

}  // namespace ortho::data
