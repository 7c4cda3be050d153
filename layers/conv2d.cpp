#include "layers/conv2d.h"

#include "autograd/ops/conv.h"
#include "core/error.h"
#include "layers/init.h"

namespace ortho::nn {

Conv2d::Conv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel_size,
               std::int64_t stride, std::int64_t padding, std::int64_t groups, bool bias,
               std::int64_t dilation, Generator* gen)
    : Conv2d(in_channels, out_channels, kernel_size, stride, padding, groups, bias, dilation, gen,
             Manifold::Euclidean) {}

Conv2d::Conv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel_size,
               std::int64_t stride, std::int64_t padding, std::int64_t groups, bool bias,
               std::int64_t dilation, Generator* gen, Manifold weight_manifold)
    : in_channels_(in_channels), out_channels_(out_channels), kernel_size_(kernel_size) {
  check_argument(in_channels > 0 && out_channels > 0 && kernel_size > 0 && stride > 0 &&
                     padding >= 0 && groups > 0 && dilation > 0,
                 "Conv2d: invalid configuration in ", in_channels, " out ", out_channels,
                 " kernel ", kernel_size, " stride ", stride, " padding ", padding, " groups ",
                 groups, " dilation ", dilation);
  check_argument(in_channels % groups == 0 && out_channels % groups == 0, "Conv2d: groups ", groups,
                 " must divide in_channels ", in_channels, " and out_channels ", out_channels);
  params_ = {stride, stride, padding, padding, dilation, dilation, groups};
  weight_ = register_parameter(
      "weight",
      Parameter(Tensor::empty({out_channels, in_channels / groups, kernel_size, kernel_size}),
                weight_manifold));
  init::manifold_weight_(weight_.value(), weight_manifold, gen);
  if (bias) {
    bias_ = register_parameter("bias", Parameter(Tensor::empty({out_channels})));
    init::default_bias_(bias_.value(), init::compute_fans(weight_.value()).fan_in, gen);
  }
}

autograd::Variable Conv2d::forward(const autograd::Variable& x) {
  check_argument(x.dim() == 4 && x.size(1) == in_channels_, "Conv2d: input ", x.shape(),
                 " is not NCHW with ", in_channels_, " channels");
  return autograd::conv2d(x, weight_, bias_, params_);
}

}  // namespace ortho::nn
