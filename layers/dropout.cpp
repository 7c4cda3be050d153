#include "layers/dropout.h"

#include "autograd/ops/elementwise.h"
#include "core/error.h"
#include "core/ops/elementwise.h"

namespace ortho::nn {

Dropout::Dropout(double p, Generator* gen) : p_(p), gen_(gen) {
  check_argument(p >= 0.0 && p <= 1.0, "Dropout: p must be in [0, 1], got ", p);
}

autograd::Variable Dropout::forward(const autograd::Variable& x) {
  if (!is_training() || p_ == 0.0) return x;
  const double scale = p_ < 1.0 ? 1.0 / (1.0 - p_) : 0.0;
  const Tensor mask = bernoulli(x.shape(), 1.0 - p_, x.dtype(), x.device(), gen_);
  return autograd::mul(x, autograd::Variable(mul(mask, scale)));
}

}  // namespace ortho::nn
