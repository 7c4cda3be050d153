#include "layers/parametrized_orthogonal.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

#include "autograd/ops/conv.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/matmul.h"
#include "autograd/ops/views.h"
#include "core/error.h"
#include "layers/init.h"
#include "layers/orthogonal_maps.h"

namespace ortho::nn {
namespace {

using autograd::Variable;

// The weight from its wide (p, n) form: transposed back when the weight is tall.
Variable oriented(const Variable& wide, bool tall) {
  return tall ? autograd::t(wide) : wide;
}

std::int64_t checked_conv_fan_in(std::int64_t in_channels, std::int64_t out_channels,
                                 std::int64_t kernel_size, std::int64_t stride,
                                 std::int64_t padding) {
  check_argument(
      in_channels > 0 && out_channels > 0 && kernel_size > 0 && stride > 0 && padding >= 0,
      "ParametrizedOrthogonalConv2d: invalid configuration in ", in_channels, " out ", out_channels,
      " kernel ", kernel_size, " stride ", stride, " padding ", padding);
  return in_channels * kernel_size * kernel_size;
}

}  // namespace

ParametrizedOrthogonal::ParametrizedOrthogonal(std::int64_t out, std::int64_t fan_in,
                                               const OrthogonalMapOptions& options, Generator* gen)
    : out_(out), fan_in_(fan_in), options_(options) {
  check_argument(out > 0 && fan_in > 0, "ParametrizedOrthogonal: weight (", out, ", ", fan_in,
                 ") must have positive sizes");
  check_argument(options.bjorck_iterations >= 0 && options.bjorck_order >= 1,
                 "ParametrizedOrthogonal: need bjorck_iterations >= 0 and bjorck_order >= 1, got ",
                 options.bjorck_iterations, " and ", options.bjorck_order);
  init_parameters(gen);
}

void ParametrizedOrthogonal::init_parameters(Generator* gen) {
  const std::int64_t p = std::min(out_, fan_in_), n = std::max(out_, fan_in_);
  switch (options_.map) {
    case OrthogonalMap::Cayley:
    case OrthogonalMap::MatrixExp:
      free_ = register_parameter("generator", Parameter(Tensor::empty({n, n})));
      init::normal_(free_.value(), 0.0, std::numbers::pi / std::sqrt(2.0 * n), gen);
      break;
    case OrthogonalMap::Householder:
      free_ = register_parameter("reflectors", Parameter(Tensor::empty({p, n})));
      init::normal_(free_.value(), 0.0, 1.0, gen);
      break;
    case OrthogonalMap::Bjorck:
      free_ = register_parameter("matrix", Parameter(Tensor::empty({out_, fan_in_})));
      init::orthogonal_(free_.value(), 1.0, gen);
      break;
    case OrthogonalMap::Trivialization:
      free_ = register_parameter("generator", Parameter(Tensor::zeros({n, n})));
      init::orthogonal_(register_buffer("base", Tensor::empty({out_, fan_in_})), 1.0, gen);
      break;
  }
}

Variable ParametrizedOrthogonal::weight() const {
  const bool tall = out_ > fan_in_;
  const std::int64_t p = std::min(out_, fan_in_);
  switch (options_.map) {
    case OrthogonalMap::Cayley:
      return oriented(autograd::slice(cayley(free_), 0, 0, p), tall);
    case OrthogonalMap::MatrixExp:
      return oriented(autograd::slice(matrix_exp_orthogonal(free_), 0, 0, p), tall);
    case OrthogonalMap::Householder:
      return oriented(householder_product(free_, p), tall);
    case OrthogonalMap::Bjorck:
      return bjorck(free_, options_.bjorck_iterations, options_.bjorck_order);
    case OrthogonalMap::Trivialization: {
      const Variable base(buffer("base"));
      const Variable rotation = matrix_exp_orthogonal(free_);
      return tall ? autograd::matmul(rotation, base) : autograd::matmul(base, rotation);
    }
  }
  throw std::invalid_argument("ParametrizedOrthogonal: unknown map");
}

ParametrizedOrthogonalLinear::ParametrizedOrthogonalLinear(std::int64_t in_features,
                                                           std::int64_t out_features,
                                                           const OrthogonalMapOptions& options,
                                                           bool bias, Generator* gen)
    : ParametrizedOrthogonal(out_features, in_features, options, gen),
      in_features_(in_features),
      out_features_(out_features) {
  if (bias) {
    bias_ = register_parameter("bias", Parameter(Tensor::empty({out_features})));
    init::default_bias_(bias_.value(), in_features, gen);
  }
}

Variable ParametrizedOrthogonalLinear::forward(const Variable& x) {
  check_argument(x.dim() >= 1 && x.size(-1) == in_features_, "ParametrizedOrthogonalLinear: input ",
                 x.shape(), " does not end in in_features ", in_features_);
  const Variable y = autograd::matmul(x, autograd::t(weight()));
  return bias_.defined() ? autograd::add(y, bias_) : y;
}

ParametrizedOrthogonalConv2d::ParametrizedOrthogonalConv2d(
    std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel_size,
    std::int64_t stride, std::int64_t padding, const OrthogonalMapOptions& options, bool bias,
    Generator* gen)
    : ParametrizedOrthogonal(
          out_channels,
          checked_conv_fan_in(in_channels, out_channels, kernel_size, stride, padding), options,
          gen),
      in_channels_(in_channels),
      out_channels_(out_channels),
      kernel_size_(kernel_size),
      params_{stride, stride, padding, padding, 1, 1, 1} {
  if (bias) {
    bias_ = register_parameter("bias", Parameter(Tensor::empty({out_channels})));
    init::default_bias_(bias_.value(), in_channels * kernel_size * kernel_size, gen);
  }
}

Variable ParametrizedOrthogonalConv2d::forward(const Variable& x) {
  check_argument(x.dim() == 4 && x.size(1) == in_channels_, "ParametrizedOrthogonalConv2d: input ",
                 x.shape(), " is not NCHW with ", in_channels_, " channels");
  const Variable kernel =
      autograd::reshape(weight(), {out_channels_, in_channels_, kernel_size_, kernel_size_});
  return autograd::conv2d(x, kernel, bias_, params_);
}

}  // namespace ortho::nn
