#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/random.h"
#include "layers/models/basic_block.h"
#include "layers/sequential.h"

namespace ortho::nn {

// A ResNet of BasicBlocks for 32x32 inputs (He et al. 2016, Section 4.2), built from the public
// layer API. Children, in order (a PyTorch mirror must match this exactly):
//   conv1    3x3 conv, 3 -> widths[0], stride 1, padding 1, no bias (no max-pool in the stem)
//   bn1, relu
//   layer1..layerK  Sequential of `blocks_per_stage` BasicBlocks of width widths[k-1]; the first
//            block of every stage after the first has stride 2, every other block stride 1
//   avgpool  global average pooling (AdaptiveAvgPool2d(1)), then flatten
//   fc       Linear(widths.back(), num_classes) with bias
// Block: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), both convs 3x3, padding 1, no
// bias. The shortcut is the identity when the block keeps the shape and otherwise option B: a
// 1x1 conv (stride of the block, no bias) then BN, i.e. only in the first block of stages
// 2..K (ResNet-18's layer1.0 keeps 64 channels and is the identity too).
// Init: every convolution (stem, blocks, shortcuts) Kaiming normal with fan_out and ReLU gain,
// std = sqrt(2 / (out_channels * k * k)), as torchvision's ResNet; every BN weight 1 and bias 0
// (no zero-init of the last BN), eps 1e-5, momentum 0.1; fc keeps PyTorch's Linear default,
// weight and bias U(-1/sqrt(in), 1/sqrt(in)).
// Parameters read "conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "layer1.0.bn2.bias",
// "layer2.0.shortcut.0.weight" (1x1 conv), "layer2.0.shortcut.1.weight" (its BN), "fc.weight",
// "fc.bias"; stages can be swapped with replace_module.
class ResNetCifar : public Sequential {
 public:
  ResNetCifar(const std::vector<std::int64_t>& widths, std::int64_t blocks_per_stage,
              std::int64_t num_classes = 10, Generator* gen = nullptr);

  std::int64_t num_stages() const { return num_stages_; }
  // Stage k in [1, num_stages()]: the Sequential "layer<k>" of BasicBlocks.
  std::shared_ptr<Sequential> stage(std::int64_t k) const;

 private:
  std::int64_t num_stages_;
};

// He et al. 2016, Section 4.2: depth 6n + 2 with three stages of n blocks of 16, 32, 64
// channels. With option-B shortcuts ResNet-20 has 272,474 parameters for 10 classes (the
// paper's option A: 269,722), ResNet-56 855,770, ResNet-110 1,730,714. std::invalid_argument
// unless depth = 6n + 2 with n >= 1.
std::shared_ptr<ResNetCifar> resnet_cifar(std::int64_t depth, std::int64_t num_classes = 10,
                                          Generator* gen = nullptr);
std::shared_ptr<ResNetCifar> resnet20(std::int64_t num_classes = 10, Generator* gen = nullptr);
std::shared_ptr<ResNetCifar> resnet32(std::int64_t num_classes = 10, Generator* gen = nullptr);
std::shared_ptr<ResNetCifar> resnet44(std::int64_t num_classes = 10, Generator* gen = nullptr);
std::shared_ptr<ResNetCifar> resnet56(std::int64_t num_classes = 10, Generator* gen = nullptr);
std::shared_ptr<ResNetCifar> resnet110(std::int64_t num_classes = 10, Generator* gen = nullptr);
std::shared_ptr<ResNetCifar> resnet1202(std::int64_t num_classes = 10, Generator* gen = nullptr);

// The ResNet-18 layout adapted to CIFAR (3x3 stem, no max-pool): four stages of two blocks of
// 64, 128, 256, 512 channels (11,173,962 parameters for 10 classes).
std::shared_ptr<ResNetCifar> resnet18_cifar(std::int64_t num_classes = 10,
                                            Generator* gen = nullptr);

}  // namespace ortho::nn
