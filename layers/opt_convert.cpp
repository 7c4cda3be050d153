#include "layers/opt_convert.h"

#include <stdexcept>

#include "autograd/ops/elementwise.h"
#include "core/error.h"
#include "layers/conv2d.h"
#include "layers/linear.h"

namespace ortho::nn {
namespace {

bool convertible(const Conv2d& conv) {
  return conv.params().groups == 1 && conv.weight().manifold() == Manifold::Euclidean;
}

bool convertible(const Linear& linear) {
  return linear.weight().manifold() == Manifold::Euclidean;
}

// The last convertible Linear under `module` (depth first, registration order), or null.
const Linear* last_linear(const Module& module) {
  const Linear* last = nullptr;
  for (const auto& [name, child] : module.named_children()) {
    const auto* linear = dynamic_cast<const Linear*>(child.get());
    if (linear != nullptr && convertible(*linear)) {
      last = linear;
    } else if (const Linear* inner = last_linear(*child)) {
      last = inner;
    }
  }
  return last;
}

struct Conversion {
  const OPTOptions& options;
  OPTLayers layers;
  const Linear* classifier;  // for OPTLayers::Classifier
  Generator* gen;
};

// `module` in the dtype and on the device of `like`, the weight of the layer it replaces: a
// network may be converted after Module::to.
std::shared_ptr<Module> placed_like(std::shared_ptr<Module> module, const Tensor& like) {
  module->to(like.dtype());
  module->to(like.device());
  return module;
}

// The OPT replacement of `module`, or null when it is not one to convert.
std::shared_ptr<Module> opt_counterpart(const Module& module, const Conversion& c) {
  if (const auto* conv = dynamic_cast<const Conv2d*>(&module)) {
    if (c.layers == OPTLayers::Classifier || !convertible(*conv)) return nullptr;
    const Conv2dParams& p = conv->params();
    return placed_like(
        std::make_shared<OPTConv2d>(conv->in_channels(), conv->out_channels(), conv->kernel_size(),
                                    p.stride_h, p.pad_h, c.options, conv->bias().defined(),
                                    p.dilation_h, c.gen),
        conv->weight().value());
  }
  const auto* linear = dynamic_cast<const Linear*>(&module);
  if (linear == nullptr || !convertible(*linear) || c.layers == OPTLayers::Conv ||
      (c.layers == OPTLayers::Classifier && linear != c.classifier)) {
    return nullptr;
  }
  return placed_like(std::make_shared<OPTLinear>(linear->in_features(), linear->out_features(),
                                                 c.options, linear->bias().defined(), c.gen),
                     linear->weight().value());
}

std::int64_t convert(Module& root, const Conversion& c) {
  std::int64_t replaced = 0;
  for (const auto& [name, child] : root.named_children()) {
    if (auto counterpart = opt_counterpart(*child, c)) {
      counterpart->train(child->is_training());
      root.replace_module(name, std::move(counterpart));
      ++replaced;
    } else {
      replaced += convert(*child, c);
    }
  }
  return replaced;
}

void collect(const Module& module, std::vector<std::shared_ptr<OPTLayer>>& out) {
  for (const auto& [name, child] : module.named_children()) {
    if (auto layer = std::dynamic_pointer_cast<OPTLayer>(child)) {
      out.push_back(std::move(layer));
    } else {
      collect(*child, out);
    }
  }
}

std::shared_ptr<Module> folded(const Module& module) {
  if (const auto* linear = dynamic_cast<const OPTLinear*>(&module)) return linear->fold();
  if (const auto* conv = dynamic_cast<const OPTConv2d*>(&module)) return conv->fold();
  return nullptr;
}

}  // namespace

std::string opt_layers_name(OPTLayers layers) {
  switch (layers) {
    case OPTLayers::All:
      return "all";
    case OPTLayers::Conv:
      return "conv";
    case OPTLayers::Classifier:
      return "classifier";
  }
  return "?";
}

OPTLayers parse_opt_layers(const std::string& name) {
  for (const OPTLayers l : {OPTLayers::All, OPTLayers::Conv, OPTLayers::Classifier}) {
    if (opt_layers_name(l) == name) return l;
  }
  throw std::invalid_argument(
      error_message("unknown OPT layers '", name, "' (expected all, conv or classifier)"));
}

std::int64_t make_opt(Module& root, const OPTOptions& options, OPTLayers layers, Generator* gen) {
  if (options.method == OPTMethod::None) return 0;
  const Linear* classifier = nullptr;
  if (layers == OPTLayers::Classifier) {
    classifier = last_linear(root);
    check_argument(classifier != nullptr,
                   "make_opt: the classifier option needs a Linear layer, the network has none");
  }
  return convert(root, Conversion{options, layers, classifier, gen});
}

std::vector<std::shared_ptr<OPTLayer>> opt_layers(const Module& root) {
  std::vector<std::shared_ptr<OPTLayer>> out;
  collect(root, out);
  return out;
}

autograd::Variable opt_penalty(const Module& root) {
  autograd::Variable total;
  for (const auto& layer : opt_layers(root)) {
    const autograd::Variable penalty = layer->orthogonality_penalty();
    if (penalty.defined()) total = total.defined() ? total + penalty : penalty;
  }
  return total;
}

void opt_resample(const Module& root, Generator& gen) {
  for (const auto& layer : opt_layers(root)) layer->resample(gen);
}

std::int64_t fold_opt(Module& root) {
  std::int64_t replaced = 0;
  for (const auto& [name, child] : root.named_children()) {
    if (auto plain = folded(*child)) {
      root.replace_module(name, std::move(plain));
      ++replaced;
    } else {
      replaced += fold_opt(*child);
    }
  }
  return replaced;
}

}  // namespace ortho::nn
