#pragma once

#include "autograd/variable.h"
#include "core/random.h"
#include "layers/module.h"

namespace ortho::nn {

// Srivastava et al. 2014 with inverted scaling: in training each element is kept with
// probability 1 - p and scaled by 1 / (1 - p), so evaluation is the identity. Masks are drawn
// from `gen`, which must outlive the module, or from the input device's default generator.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator* gen = nullptr);
  autograd::Variable forward(const autograd::Variable& x) override;
  double p() const { return p_; }

 private:
  double p_;
  Generator* gen_;
};

}  // namespace ortho::nn
