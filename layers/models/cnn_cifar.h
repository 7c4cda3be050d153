#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/random.h"
#include "layers/sequential.h"

namespace ortho::nn {

// The plain CNNs of the OPT paper's CIFAR experiments (Liu et al., CVPR 2021), laid out
// as the authors' code (github.com/wy1iu/OPT, architecture.py) builds CNN-6, for 32x32 inputs.
// Children, in order, for stages s = 1..K of widths[s-1] channels and c convs per stage:
//   conv<s>_<i>, bn<s>_<i>, relu<s>_<i>  (i = 0..c-1)  3x3 conv, padding 1, no bias; BN; ReLU
//   pool<s>                                              2x2 max-pool, stride 2
//   fc6      4x4 conv widths.back() -> widths.back(), no padding (the 4x4 map becomes 1x1), no
//            bias, no BN, no ReLU, as in the authors' code
//   flatten
//   fc       Linear(widths.back(), num_classes) with bias (the authors' 1x1 "score" conv has none)
// Init: every conv (fc6 included) N(0, 2 / fan_in) as the authors' code; fc PyTorch's Linear
// default. BN eps 1e-5 (the authors' 1e-3), momentum 0.1. With --opt-layers conv, OPT covers
// every layer but the classifier, the authors' setting.
class CNNCifar : public Sequential {
 public:
  CNNCifar(const std::vector<std::int64_t>& widths, std::int64_t convs_per_stage,
           std::int64_t num_classes = 10, Generator* gen = nullptr);
};

// CNN-6: three stages of two 64-channel convs. 253,002 parameters for 10 classes (258,852 for
// 100; the paper's 258K counts no classifier bias).
std::shared_ptr<CNNCifar> cnn6(std::int64_t num_classes = 10, Generator* gen = nullptr);
// CNN-9: three stages of three 64-channel convs. 363,978 parameters for 10 classes.
std::shared_ptr<CNNCifar> cnn9(std::int64_t num_classes = 10, Generator* gen = nullptr);
// The paper's wide CNN-9 (S-OPT experiments): three convs per stage of 64, 128, 256 channels.
// 2,972,490 parameters for 10 classes (the paper's 2.99M for 100).
std::shared_ptr<CNNCifar> wide_cnn9(std::int64_t num_classes = 10, Generator* gen = nullptr);

}  // namespace ortho::nn
