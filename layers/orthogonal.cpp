#include "layers/orthogonal.h"

#include <memory>
#include <stdexcept>

#include "core/error.h"

namespace ortho::nn {

OrthogonalLinear::OrthogonalLinear(std::int64_t in_features, std::int64_t out_features, bool bias,
                                   Generator* gen)
    : Linear(in_features, out_features, bias, gen, Manifold::Stiefel) {}

OrthogonalConv2d::OrthogonalConv2d(std::int64_t in_channels, std::int64_t out_channels,
                                   std::int64_t kernel_size, std::int64_t stride,
                                   std::int64_t padding, bool bias, std::int64_t dilation,
                                   Generator* gen)
    : Conv2d(in_channels, out_channels, kernel_size, stride, padding, /*groups=*/1, bias, dilation,
             gen, Manifold::Stiefel) {}

namespace {

// `module` in the dtype and on the device of `like`, the weight of the layer it replaces: a
// network may be converted after Module::to.
std::shared_ptr<Module> placed_like(std::shared_ptr<Module> module, const Tensor& like) {
  module->to(like.dtype());
  module->to(like.device());
  return module;
}

// The orthogonal replacement of `module`, or null when it is not one to convert.
std::shared_ptr<Module> orthogonal_counterpart(const Module& module, OrthogonalLayers layers,
                                               Generator* gen) {
  if (const auto* conv = dynamic_cast<const Conv2d*>(&module)) {
    const Conv2dParams& p = conv->params();
    if (dynamic_cast<const OrthogonalConv2d*>(conv) != nullptr || p.groups != 1) return nullptr;
    return placed_like(std::make_shared<OrthogonalConv2d>(
                           conv->in_channels(), conv->out_channels(), conv->kernel_size(),
                           p.stride_h, p.pad_h, conv->bias().defined(), p.dilation_h, gen),
                       conv->weight().value());
  }
  const auto* linear = dynamic_cast<const Linear*>(&module);
  if (layers != OrthogonalLayers::All || linear == nullptr ||
      dynamic_cast<const OrthogonalLinear*>(linear) != nullptr) {
    return nullptr;
  }
  return placed_like(
      std::make_shared<OrthogonalLinear>(linear->in_features(), linear->out_features(),
                                         linear->bias().defined(), gen),
      linear->weight().value());
}

}  // namespace

std::string orthogonal_layers_name(OrthogonalLayers layers) {
  switch (layers) {
    case OrthogonalLayers::None:
      return "none";
    case OrthogonalLayers::Conv:
      return "conv";
    case OrthogonalLayers::All:
      return "all";
  }
  return "?";
}

OrthogonalLayers parse_orthogonal_layers(const std::string& name) {
  for (OrthogonalLayers l :
       {OrthogonalLayers::None, OrthogonalLayers::Conv, OrthogonalLayers::All}) {
    if (orthogonal_layers_name(l) == name) return l;
  }
  throw std::invalid_argument(
      error_message("unknown orthogonal layers '", name, "' (expected none, conv or all)"));
}

std::int64_t make_orthogonal(Module& root, OrthogonalLayers layers, Generator* gen) {
  if (layers == OrthogonalLayers::None) return 0;
  std::int64_t replaced = 0;
  for (const auto& [name, child] : root.named_children()) {
    if (auto counterpart = orthogonal_counterpart(*child, layers, gen)) {
      counterpart->train(child->is_training());
      root.replace_module(name, std::move(counterpart));
      ++replaced;
    } else {
      replaced += make_orthogonal(*child, layers, gen);
    }
  }
  return replaced;
}

}  // namespace ortho::nn
