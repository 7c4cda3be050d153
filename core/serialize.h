#pragma once

#include <map>
#include <string>

#include "core/tensor.h"

namespace ortho {

using TensorMap = std::map<std::string, Tensor>;
using Metadata = std::map<std::string, std::string>;

// safetensors: 8-byte little-endian header length, a JSON header naming each tensor's dtype,
// shape and byte range, then the raw little-endian data. Files open in numpy and PyTorch.
// The file is written to a temporary beside `path` and renamed into place, so a crash never
// leaves a torn file. Tensors on other devices are copied to the host first.
void save_safetensors(const std::string& path, const TensorMap& tensors,
                      const Metadata& metadata = {});

struct SafetensorsFile {
  TensorMap tensors;  // CPU tensors
  Metadata metadata;
};
// Throws std::runtime_error naming the path and what is wrong for a missing, truncated or
// corrupt file.
SafetensorsFile load_safetensors(const std::string& path);

}  // namespace ortho
