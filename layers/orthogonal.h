#pragma once

#include <cstdint>
#include <string>

#include "core/random.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/module.h"

namespace ortho::nn {

// Linear whose weight (out, in) is a Stiefel-tagged Parameter: orthonormal rows when
// out <= in, else orthonormal columns, initialized on the manifold (QR of a Gaussian). Plain
// SGD/Adam treat it as Euclidean; Landing and RiemannianSGD (optim/) keep it orthogonal. Norm
// preserving, hence 1-Lipschitz (Ablin & Peyré 2022, Sec. 1).
class OrthogonalLinear : public Linear {
 public:
  OrthogonalLinear(std::int64_t in_features, std::int64_t out_features, bool bias = true,
                   Generator* gen = nullptr);
};

// Conv2d whose kernel (out, in, k, k) is a Stiefel-tagged Parameter on its (out, in*k*k)
// view: rows orthonormal when out <= in*k*k, else columns. Without groups (each group would
// be its own manifold).
class OrthogonalConv2d : public Conv2d {
 public:
  OrthogonalConv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel_size,
                   std::int64_t stride = 1, std::int64_t padding = 0, bool bias = true,
                   std::int64_t dilation = 1, Generator* gen = nullptr);
};

// Which layers make_orthogonal converts: none, every ungrouped Conv2d, or those and every
// Linear too.
enum class OrthogonalLayers { None, Conv, All };

std::string orthogonal_layers_name(OrthogonalLayers layers);
// "none", "conv" or "all"; std::invalid_argument naming the choices otherwise.
OrthogonalLayers parse_orthogonal_layers(const std::string& name);

// Replaces, anywhere under `root`, each Conv2d with groups == 1 (and with OrthogonalLayers::All
// each Linear) by its orthogonal counterpart of the same configuration, freshly initialized on
// the manifold from `gen` (on the host, then moved to the replaced layer's dtype and device):
// a user's network gets orthogonal layers through the public API. Returns the number of layers
// replaced.
std::int64_t make_orthogonal(Module& root, OrthogonalLayers layers, Generator* gen = nullptr);

}  // namespace ortho::nn
