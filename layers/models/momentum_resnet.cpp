#include "layers/models/momentum_resnet.h"

#include <string>
#include <vector>

#include "layers/models/basic_block.h"
#include "layers/sequential.h"

namespace ortho::nn {
namespace {

// True for a Sequential (not yet momentum) whose children are all BasicBlocks.
bool is_resnet_stage(const Module& module) {
  const auto* stage = dynamic_cast<const Sequential*>(&module);
  if (stage == nullptr || stage->empty() || dynamic_cast<const MomentumSequential*>(&module)) {
    return false;
  }
  for (const auto& [name, child] : stage->named_children()) {
    if (dynamic_cast<const BasicBlock*>(child.get()) == nullptr) return false;
  }
  return true;
}

// The momentum form of a stage: transitions kept, each run of same-shape blocks one
// MomentumSequential. Counts the runs into `made`.
std::shared_ptr<Module> momentum_stage(const Sequential& stage, const MomentumOptions& options,
                                       std::size_t& made) {
  std::vector<std::shared_ptr<Module>> pieces, run;
  const auto close_run = [&] {
    if (run.empty()) return;
    pieces.push_back(std::make_shared<MomentumSequential>(run, options));
    run.clear();
    ++made;
  };
  for (const auto& block : stage.children()) {
    if (static_cast<const BasicBlock&>(*block).has_projection()) {
      close_run();
      pieces.push_back(block);
    } else {
      run.push_back(block);
    }
  }
  close_run();
  if (pieces.size() == 1) return pieces.front();
  return std::make_shared<Sequential>(pieces);
}

}  // namespace

std::size_t to_momentum(Module& network, const MomentumOptions& options) {
  MomentumOptions residual = options;
  residual.residual_blocks = true;
  std::size_t made = 0;
  for (const auto& [name, child] : std::vector(network.named_children())) {
    if (is_resnet_stage(*child)) {
      std::shared_ptr<Module> stage =
          momentum_stage(static_cast<const Sequential&>(*child), residual, made);
      stage->train(child->is_training());
      network.replace_module(name, stage);
    } else if (dynamic_cast<const BasicBlock*>(child.get()) == nullptr) {
      made += to_momentum(*child, options);
    }
  }
  return made;
}

std::size_t to_momentum(Module& network, double gamma) {
  MomentumOptions options;
  options.gamma = gamma;
  return to_momentum(network, options);
}

std::shared_ptr<ResNetCifar> momentum_resnet_cifar(std::int64_t depth, std::int64_t num_classes,
                                                   Generator* gen, const MomentumOptions& options) {
  std::shared_ptr<ResNetCifar> network = resnet_cifar(depth, num_classes, gen);
  to_momentum(*network, options);
  return network;
}

}  // namespace ortho::nn
