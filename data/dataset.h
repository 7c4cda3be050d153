#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace ortho::data {

// The layout of one image: channel-major (C, H, W) float32, row-major within a channel.
struct ImageSpec {
  std::int64_t channels = 0;
  std::int64_t height = 0;
  std::int64_t width = 0;

  std::int64_t plane() const { return height * width; }
  std::int64_t numel() const { return channels * height * width; }
  bool operator==(const ImageSpec&) const = default;
};

// One sample: a float32 (C, H, W) image with values in [0, 1] (byte / 255) and its class.
struct Example {
  Tensor image;
  std::int64_t label = 0;
};

// A fixed-size, random-access collection of labelled images that all share one ImageSpec.
// read_image() writes into a caller-owned float buffer so the DataLoader fills a batch tensor
// in place, with no per-image Tensor. Implementations must allow concurrent const calls:
// DataLoader workers read samples from several threads at once.
class Dataset {
 public:
  virtual ~Dataset() = default;

  virtual std::int64_t size() const = 0;
  virtual ImageSpec image_spec() const = 0;
  virtual std::int64_t label(std::int64_t index) const = 0;
  // Writes image `index` as image_spec().numel() floats in [0, 1] (channel-major) to `out`.
  virtual void read_image(std::int64_t index, float* out) const = 0;
  // Class names in label order: label k is class_names()[k].
  virtual const std::vector<std::string>& class_names() const = 0;

  // Sample `index` as a fresh tensor; throws std::out_of_range when index is not in [0, size()).
  Example get(std::int64_t index) const;

 protected:
  // Throws std::out_of_range naming `what` unless index is in [0, size()).
  void check_index(std::int64_t index, const char* what) const;
};

// Converts `count` bytes to floats in [0, 1]: out[i] = in[i] * (1 / 255).
void bytes_to_unit_floats(const std::uint8_t* in, std::int64_t count, float* out);

}  // namespace ortho::data
