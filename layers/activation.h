#pragma once

#include "autograd/ops/elementwise.h"
#include "autograd/variable.h"
#include "layers/module.h"

namespace ortho::nn {

// max(x, 0) element-wise.
class ReLU : public Module {
 public:
  autograd::Variable forward(const autograd::Variable& x) override { return autograd::relu(x); }
};

}  // namespace ortho::nn
