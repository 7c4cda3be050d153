#include "data/transforms.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "core/error.h"

namespace ortho::data {
namespace {

// Moves row `src_row` of one channel plane to `dst_row`, shifted right by `dx` columns
// (negative: left), zero-filling the columns that fall outside. memmove: the rows may alias.
void shift_row(const float* src_row, float* dst_row, std::int64_t width, std::int64_t dx) {
  const std::int64_t kept = width - std::abs(dx);
  const std::int64_t dst_start = std::max<std::int64_t>(dx, 0);
  const std::int64_t src_start = std::max<std::int64_t>(-dx, 0);
  std::memmove(dst_row + dst_start, src_row + src_start, sizeof(float) * kept);
  if (dx > 0) std::fill(dst_row, dst_row + dx, 0.0f);
  if (dx < 0) std::fill(dst_row + kept, dst_row + width, 0.0f);
}

// Shifts one plane by (dy, dx) in place: out(y, x) = in(y - dy, x - dx), zero outside. Rows are
// visited in the order that reads each source row before it is overwritten.
void shift_plane(float* plane, std::int64_t height, std::int64_t width, std::int64_t dy,
                 std::int64_t dx) {
  const auto move_row = [&](std::int64_t y) {
    float* dst = plane + y * width;
    const std::int64_t src_y = y - dy;
    if (src_y < 0 || src_y >= height) {
      std::fill(dst, dst + width, 0.0f);
    } else {
      shift_row(plane + src_y * width, dst, width, dx);
    }
  };
  if (dy > 0) {
    for (std::int64_t y = height - 1; y >= 0; --y) move_row(y);
  } else {
    for (std::int64_t y = 0; y < height; ++y) move_row(y);
  }
}

}  // namespace

std::int64_t uniform_index(Generator& gen, std::int64_t n) {
  return static_cast<std::int64_t>(gen.next_u64() % static_cast<std::uint64_t>(n));
}

Tensor Transform::operator()(const Tensor& image, Generator& gen) const {
  check_argument(image.defined() && image.dim() == 3 && image.dtype() == DType::Float32 &&
                     image.device().is_cpu(),
                 "Transform: expected a float32 (C, H, W) CPU image, got ",
                 image.defined() ? dtype_name(image.dtype()) : std::string("undefined"), " ",
                 image.shape());
  Tensor out = image.clone().contiguous();
  apply(out.data<float>(), ImageSpec{image.size(0), image.size(1), image.size(2)}, gen);
  return out;
}

Compose::Compose(std::vector<std::shared_ptr<const Transform>> transforms)
    : transforms_(std::move(transforms)) {
  for (const auto& t : transforms_) check_argument(t != nullptr, "Compose: null transform");
}

void Compose::apply(float* image, const ImageSpec& spec, Generator& gen) const {
  for (const auto& t : transforms_) t->apply(image, spec, gen);
}

RandomCrop::RandomCrop(std::int64_t padding) : padding_(padding) {
  check_argument(padding >= 0, "RandomCrop: padding must be >= 0, got ", padding);
}

void RandomCrop::apply(float* image, const ImageSpec& spec, Generator& gen) const {
  // Crop offset o in [0, 2p] of the padded image = shift of the original by p - o.
  const std::int64_t dy = padding_ - uniform_index(gen, 2 * padding_ + 1);
  const std::int64_t dx = padding_ - uniform_index(gen, 2 * padding_ + 1);
  if (dy == 0 && dx == 0) return;
  if (std::abs(dy) >= spec.height || std::abs(dx) >= spec.width) {
    std::fill(image, image + spec.numel(), 0.0f);
    return;
  }
  for (std::int64_t c = 0; c < spec.channels; ++c) {
    shift_plane(image + c * spec.plane(), spec.height, spec.width, dy, dx);
  }
}

RandomHorizontalFlip::RandomHorizontalFlip(double p) : p_(p) {
  check_argument(p >= 0.0 && p <= 1.0, "RandomHorizontalFlip: p must be in [0, 1], got ", p);
}

void RandomHorizontalFlip::apply(float* image, const ImageSpec& spec, Generator& gen) const {
  if (gen.next_double() >= p_) return;
  const std::int64_t rows = spec.channels * spec.height;
  for (std::int64_t r = 0; r < rows; ++r) {
    float* row = image + r * spec.width;
    std::reverse(row, row + spec.width);
  }
}

Normalize::Normalize(std::vector<float> mean, std::vector<float> std) : mean_(std::move(mean)) {
  check_argument(!mean_.empty() && mean_.size() == std.size(),
                 "Normalize: mean and std need one value per channel, got ", mean_.size(), " and ",
                 std.size());
  inv_std_.reserve(std.size());
  for (float s : std) {
    check_argument(s > 0.0f && std::isfinite(s), "Normalize: std must be positive, got ", s);
    inv_std_.push_back(1.0f / s);
  }
}

void Normalize::apply(float* image, const ImageSpec& spec, Generator& /*gen*/) const {
  check_argument(spec.channels == static_cast<std::int64_t>(mean_.size()), "Normalize: built for ",
                 mean_.size(), " channels, got an image with ", spec.channels);
  const std::int64_t plane = spec.plane();
  for (std::int64_t c = 0; c < spec.channels; ++c) {
    float* p = image + c * plane;
    const float m = mean_[static_cast<std::size_t>(c)];
    const float s = inv_std_[static_cast<std::size_t>(c)];
    for (std::int64_t i = 0; i < plane; ++i) p[i] = (p[i] - m) * s;
  }
}

Cutout::Cutout(std::int64_t size) : size_(size) {
  check_argument(size > 0, "Cutout: size must be > 0, got ", size);
}

void Cutout::apply(float* image, const ImageSpec& spec, Generator& gen) const {
  const std::int64_t cy = uniform_index(gen, spec.height);
  const std::int64_t cx = uniform_index(gen, spec.width);
  const std::int64_t y0 = std::max<std::int64_t>(cy - size_ / 2, 0);
  const std::int64_t y1 = std::min<std::int64_t>(cy - size_ / 2 + size_, spec.height);
  const std::int64_t x0 = std::max<std::int64_t>(cx - size_ / 2, 0);
  const std::int64_t x1 = std::min<std::int64_t>(cx - size_ / 2 + size_, spec.width);
  for (std::int64_t c = 0; c < spec.channels; ++c) {
    float* plane = image + c * spec.plane();
    for (std::int64_t y = y0; y < y1; ++y)
      std::fill(plane + y * spec.width + x0, plane + y * spec.width + x1, 0.0f);
  }
}

}  // namespace ortho::data
