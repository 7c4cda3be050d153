#include "data/dataset.h"

#include <stdexcept>

#include "core/error.h"

namespace ortho::data {

Example Dataset::get(std::int64_t index) const {
  check_index(index, "Dataset::get");
  const ImageSpec spec = image_spec();
  Tensor image = Tensor::empty({spec.channels, spec.height, spec.width}, DType::Float32);
  read_image(index, image.data<float>());
  return Example{std::move(image), label(index)};
}

void Dataset::check_index(std::int64_t index, const char* what) const {
  if (index < 0 || index >= size()) {
    throw std::out_of_range(
        error_message(what, ": index ", index, " is out of range for a dataset of ", size()));
  }
}

void bytes_to_unit_floats(const std::uint8_t* in, std::int64_t count, float* out) {
  constexpr float kScale = 1.0f / 255.0f;
  for (std::int64_t i = 0; i < count; ++i) out[i] = static_cast<float>(in[i]) * kScale;
}

}  // namespace ortho::data
