#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "autograd/variable.h"
#include "core/random.h"
#include "layers/module.h"
#include "layers/opt.h"

// Turning a network's layers into OPT layers (layers/opt.h) and the training-loop hooks OPT
// needs. ortho-train's flags map onto them directly:
//   --opt none|gs|hr|ls|cp|ogd|or|landing  OPTOptions::method (parse_opt_method)
//   --sopt-dim p                           OPTOptions::sopt_dim
//   --opt-layers all|conv|classifier       OPTLayers (parse_opt_layers)
// A training step is then: loss (+ opt_penalty(model) when defined), backward, optimizer.step(),
// opt_resample(model, gen); OGD wants optim::RiemannianSGD and Landing optim::Landing, which
// give the other parameters plain SGD.
namespace ortho::nn {

// Which layers make_opt converts: every Linear and ungrouped Conv2d, only those convolutions,
// or only the classifier, the last Linear of the network (the paper's CLS-OPT).
enum class OPTLayers { All, Conv, Classifier };

std::string opt_layers_name(OPTLayers layers);
// "all", "conv" or "classifier"; std::invalid_argument naming the choices otherwise.
OPTLayers parse_opt_layers(const std::string& name);

// Replaces, anywhere under `root`, each chosen Linear / Conv2d (groups 1, Euclidean weight: an
// orthogonal layer is left alone) by an OPTLinear / OPTConv2d of the same configuration and
// options, freshly initialized from `gen` (V random, R = I, as make_orthogonal does), in the
// layer's train/eval mode, dtype and device. Returns the number replaced: 0 for OPTMethod::None.
// std::invalid_argument for OPTLayers::Classifier when the network has no Linear.
std::int64_t make_opt(Module& root, const OPTOptions& options, OPTLayers layers = OPTLayers::All,
                      Generator* gen = nullptr);

// Every OPT layer under `root`, in registration order.
std::vector<std::shared_ptr<OPTLayer>> opt_layers(const Module& root);

// The sum of the OR layers' orthogonality_penalty(), to add to the loss; undefined when the
// network has none.
autograd::Variable opt_penalty(const Module& root);

// S-OPT: resample(gen) on every OPT layer (a no-op on full-OPT layers), after optimizer.step().
void opt_resample(const Module& root, Generator& gen);

// Replaces every OPT layer under `root` by its fold(): a plain network with the same outputs,
// for inference or export. Returns the number replaced.
std::int64_t fold_opt(Module& root);

}  // namespace ortho::nn
