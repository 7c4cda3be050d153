#include "layers/models/resnet_cifar.h"

#include <string>

#include "core/error.h"
#include "layers/activation.h"
#include "layers/batchnorm2d.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/init.h"
#include "layers/linear.h"
#include "layers/pooling.h"

namespace ortho::nn {
namespace {

// Kaiming normal (fan_out, ReLU) for every convolution in the tree, as in torchvision's ResNet.
void init_convolutions(const Module& module, Generator* gen) {
  for (const auto& [name, child] : module.named_children()) {
    if (const auto* conv = dynamic_cast<const Conv2d*>(child.get())) {
      init::kaiming_normal_(conv->weight().value(), 0.0, init::FanMode::FanOut,
                            init::Nonlinearity::ReLU, gen);
    }
    init_convolutions(*child, gen);
  }
}

}  // namespace

ResNetCifar::ResNetCifar(const std::vector<std::int64_t>& widths, std::int64_t blocks_per_stage,
                         std::int64_t num_classes, Generator* gen)
    : num_stages_(static_cast<std::int64_t>(widths.size())) {
  check_argument(!widths.empty() && blocks_per_stage > 0 && num_classes > 0,
                 "ResNetCifar: need at least one stage, one block per stage and one class, got ",
                 widths.size(), " stages, ", blocks_per_stage, " blocks, ", num_classes,
                 " classes");
  add("conv1", std::make_shared<Conv2d>(3, widths[0], 3, 1, 1, 1, /*bias=*/false, 1, gen));
  add("bn1", std::make_shared<BatchNorm2d>(widths[0]));
  add("relu", std::make_shared<ReLU>());
  std::int64_t channels = widths[0];
  for (std::size_t s = 0; s < widths.size(); ++s) {
    auto stage = add("layer" + std::to_string(s + 1), std::make_shared<Sequential>());
    for (std::int64_t b = 0; b < blocks_per_stage; ++b) {
      const std::int64_t stride = (s > 0 && b == 0) ? 2 : 1;
      stage->push_back(std::make_shared<BasicBlock>(channels, widths[s], stride, gen));
      channels = widths[s];
    }
  }
  add("avgpool", std::make_shared<AdaptiveAvgPool2d>(1));
  add("flatten", std::make_shared<Flatten>(1));
  add("fc", std::make_shared<Linear>(channels, num_classes, /*bias=*/true, gen));
  init_convolutions(*this, gen);
}

std::shared_ptr<Sequential> ResNetCifar::stage(std::int64_t k) const {
  check_argument(k >= 1 && k <= num_stages_, "ResNetCifar::stage: stage ", k, " out of range [1, ",
                 num_stages_, "]");
  auto stage = std::dynamic_pointer_cast<Sequential>(child("layer" + std::to_string(k)));
  check_argument(stage != nullptr, "ResNetCifar::stage: layer", k, " is not a Sequential");
  return stage;
}

std::shared_ptr<ResNetCifar> resnet_cifar(std::int64_t depth, std::int64_t num_classes,
                                          Generator* gen) {
  check_argument(depth >= 8 && (depth - 2) % 6 == 0,
                 "resnet_cifar: depth must be 6n + 2 with n >= 1 (20, 32, 44, 56, 110, 1202), got ",
                 depth);
  return std::make_shared<ResNetCifar>(std::vector<std::int64_t>{16, 32, 64}, (depth - 2) / 6,
                                       num_classes, gen);
}

std::shared_ptr<ResNetCifar> resnet20(std::int64_t num_classes, Generator* gen) {
  return resnet_cifar(20, num_classes, gen);
}
std::shared_ptr<ResNetCifar> resnet32(std::int64_t num_classes, Generator* gen) {
  return resnet_cifar(32, num_classes, gen);
}
std::shared_ptr<ResNetCifar> resnet44(std::int64_t num_classes, Generator* gen) {
  return resnet_cifar(44, num_classes, gen);
}
std::shared_ptr<ResNetCifar> resnet56(std::int64_t num_classes, Generator* gen) {
  return resnet_cifar(56, num_classes, gen);
}
std::shared_ptr<ResNetCifar> resnet110(std::int64_t num_classes, Generator* gen) {
  return resnet_cifar(110, num_classes, gen);
}
std::shared_ptr<ResNetCifar> resnet1202(std::int64_t num_classes, Generator* gen) {
  return resnet_cifar(1202, num_classes, gen);
}

std::shared_ptr<ResNetCifar> resnet18_cifar(std::int64_t num_classes, Generator* gen) {
  return std::make_shared<ResNetCifar>(std::vector<std::int64_t>{64, 128, 256, 512}, 2, num_classes,
                                       gen);
}

}  // namespace ortho::nn
