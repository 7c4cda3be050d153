#include "layers/linear.h"

#include "autograd/ops/elementwise.h"
#include "autograd/ops/matmul.h"
#include "autograd/ops/views.h"
#include "core/error.h"
#include "layers/init.h"

namespace ortho::nn {

Linear::Linear(std::int64_t in_features, std::int64_t out_features, bool bias, Generator* gen)
    : Linear(in_features, out_features, bias, gen, Manifold::Euclidean) {}

Linear::Linear(std::int64_t in_features, std::int64_t out_features, bool bias, Generator* gen,
               Manifold weight_manifold)
    : in_features_(in_features), out_features_(out_features) {
  check_argument(in_features > 0 && out_features > 0, "Linear: features must be positive, got ",
                 in_features, " -> ", out_features);
  weight_ = register_parameter(
      "weight", Parameter(Tensor::empty({out_features, in_features}), weight_manifold));
  init::manifold_weight_(weight_.value(), weight_manifold, gen);
  if (bias) {
    bias_ = register_parameter("bias", Parameter(Tensor::empty({out_features})));
    init::default_bias_(bias_.value(), in_features, gen);
  }
}

autograd::Variable Linear::forward(const autograd::Variable& x) {
  check_argument(x.dim() >= 1 && x.size(-1) == in_features_, "Linear: input ", x.shape(),
                 " does not end in in_features ", in_features_);
  autograd::Variable y = autograd::matmul(x, autograd::t(weight_));
  return bias_.defined() ? autograd::add(y, bias_) : y;
}

}  // namespace ortho::nn
