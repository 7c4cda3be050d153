#pragma once

#include <cstdint>
#include <memory>

#include "autograd/variable.h"
#include "core/random.h"
#include "layers/module.h"
#include "layers/sequential.h"

namespace ortho::nn {

// The two-layer residual block of He et al. 2016 ("Deep Residual Learning", Fig. 2):
//   out = relu(f(x) + shortcut(x)),  f = conv3x3(stride) -> BN -> ReLU -> conv3x3 -> BN.
// The shortcut is the identity when shape is kept and otherwise option B of the paper
// (Section 3.3): a 1x1 convolution with the block's stride followed by BN.
// Children: conv1, bn1, relu, conv2, bn2, shortcut (an empty Sequential for the identity), so
// parameters are named "conv1.weight", "shortcut.0.weight", ... as in common PyTorch code.
class BasicBlock : public Module {
 public:
  BasicBlock(std::int64_t in_channels, std::int64_t out_channels, std::int64_t stride = 1,
             Generator* gen = nullptr);

  autograd::Variable forward(const autograd::Variable& x) override;

  // The residual branch f as a Sequential over this block's own modules (shared, not
  // copied), in this block's current mode: f(x) + shortcut(x) is the block before its ReLU.
  std::shared_ptr<Sequential> f() const;
  // The shortcut branch; empty (the identity) unless the block changes shape.
  std::shared_ptr<Sequential> shortcut() const;
  bool has_projection() const { return !shortcut()->empty(); }
  std::int64_t in_channels() const { return in_channels_; }
  std::int64_t out_channels() const { return out_channels_; }
  std::int64_t stride() const { return stride_; }

 private:
  std::int64_t in_channels_, out_channels_, stride_;
};

}  // namespace ortho::nn
