#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "core/random.h"
#include "layers/models/resnet_cifar.h"
#include "layers/module.h"
#include "layers/momentum.h"

namespace ortho::nn {

// Rewrites a ResNet into its momentum form in place, through the public Module API, as the
// reference package's transform_to_momentumnet does (Sander et al., ICML 2021): in every
// Sequential of BasicBlocks (a stage, at any depth of the tree), each run of blocks that keep
// the shape (identity shortcut) becomes one MomentumSequential of those blocks with
// residual_blocks = true, i.e. f_n(x) = block_n(x) - x; blocks with a projection shortcut (the
// downsampling transitions) stay ordinary. A stage that is one run is replaced by the
// MomentumSequential itself (parameter names unchanged: "layer1.0.conv1.weight"); a stage that
// opens with a transition becomes Sequential{"0": transition, "1": MomentumSequential}
// ("layer2.1.0.conv1.weight"). The blocks and their parameters are shared, not copied; stages
// already converted are left alone. `options.residual_blocks` is ignored (always true).
// Returns the number of MomentumSequential stages made.
std::size_t to_momentum(Module& network, const MomentumOptions& options = {});
std::size_t to_momentum(Module& network, double gamma);

// resnet_cifar(depth) (same layers, same initialization from `gen`) with to_momentum applied:
// the momentum ResNets of the paper's CIFAR experiments ("mresnet20", "mresnet110", ...).
std::shared_ptr<ResNetCifar> momentum_resnet_cifar(std::int64_t depth,
                                                   std::int64_t num_classes = 10,
                                                   Generator* gen = nullptr,
                                                   const MomentumOptions& options = {});

}  // namespace ortho::nn
