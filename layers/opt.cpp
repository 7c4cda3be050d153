#include "layers/opt.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "autograd/grad_mode.h"
#include "autograd/ops/conv.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/matmul.h"
#include "autograd/ops/reduce.h"
#include "autograd/ops/views.h"
#include "core/error.h"
#include "core/ops/elementwise.h"
#include "core/ops/matmul.h"
#include "core/ops/reduce.h"
#include "layers/init.h"
#include "layers/orthogonal_maps.h"

namespace ortho::nn {
namespace {

using autograd::Variable;

constexpr OPTMethod kMethods[] = {
    OPTMethod::None,   OPTMethod::GramSchmidt, OPTMethod::Householder, OPTMethod::Lowdin,
    OPTMethod::Cayley, OPTMethod::OGD,         OPTMethod::Regularized, OPTMethod::Landing};

void check_options(const std::string& layer, const OPTOptions& o) {
  check_argument(o.method != OPTMethod::None, layer, ": method 'none' is not an OPT method");
  check_argument(o.sopt_dim >= 0 && o.sopt_fraction >= 0.0 && o.sopt_fraction <= 1.0, layer,
                 ": need sopt_dim >= 0 and sopt_fraction in [0, 1], got ", o.sopt_dim, " and ",
                 o.sopt_fraction);
  check_argument(o.sopt_dim == 0 || o.sopt_fraction == 0.0, layer,
                 ": set sopt_dim or sopt_fraction, not both (got ", o.sopt_dim, " and ",
                 o.sopt_fraction, ")");
  check_argument(o.beta >= 0.0, layer, ": beta must be >= 0, got ", o.beta);
}

std::int64_t block_size_for(const OPTOptions& o, std::int64_t d) {
  if (o.sopt_dim > 0) return std::min(o.sopt_dim, d);
  if (o.sopt_fraction > 0.0) {
    const auto p =
        static_cast<std::int64_t>(std::llround(o.sopt_fraction * static_cast<double>(d)));
    return std::clamp<std::int64_t>(p, 1, d);
  }
  return d;
}

std::int64_t checked_conv_fan_in(std::int64_t in_channels, std::int64_t out_channels,
                                 std::int64_t kernel_size, std::int64_t stride,
                                 std::int64_t padding, std::int64_t dilation) {
  check_argument(in_channels > 0 && out_channels > 0 && kernel_size > 0 && stride > 0 &&
                     padding >= 0 && dilation > 0,
                 "OPTConv2d: invalid configuration in ", in_channels, " out ", out_channels,
                 " kernel ", kernel_size, " stride ", stride, " padding ", padding, " dilation ",
                 dilation);
  return in_channels * kernel_size * kernel_size;
}

Tensor eye_like(std::int64_t n, const Tensor& like) {
  return Tensor::eye(n, like.dtype(), like.device());
}

// The reflectors' (2m, q) value seen as m pairs (m, 2, q), sharing storage.
Tensor reflector_pairs(const Tensor& reflectors) {
  return reflectors.reshape({reflectors.size(0) / 2, 2, reflectors.size(1)});
}

// Copies `from` into `to` of another dtype or device (a buffer that to() has moved).
void assign(const Tensor& to, const Tensor& from) {
  Tensor target = to;
  target.copy_(from.to(to.dtype()).to(to.device()));
}

}  // namespace

std::string opt_method_name(OPTMethod method) {
  switch (method) {
    case OPTMethod::None:
      return "none";
    case OPTMethod::GramSchmidt:
      return "gs";
    case OPTMethod::Householder:
      return "hr";
    case OPTMethod::Lowdin:
      return "ls";
    case OPTMethod::Cayley:
      return "cp";
    case OPTMethod::OGD:
      return "ogd";
    case OPTMethod::Regularized:
      return "or";
    case OPTMethod::Landing:
      return "landing";
  }
  return "?";
}

OPTMethod parse_opt_method(const std::string& name) {
  for (const OPTMethod m : kMethods) {
    if (opt_method_name(m) == name) return m;
  }
  throw std::invalid_argument(error_message("unknown OPT method '", name,
                                            "' (expected none, gs, hr, ls, cp, ogd, or, landing)"));
}

OPTLayer::OPTLayer(const std::string& layer, std::int64_t num_neurons, std::int64_t fan_in,
                   const OPTOptions& options, Generator* gen)
    : layer_(layer), n_(num_neurons), d_(fan_in), options_(options) {
  check_argument(num_neurons > 0 && fan_in > 0, layer, ": weight (", num_neurons, ", ", fan_in,
                 ") must have positive sizes");
  check_options(layer, options);
  p_ = block_size_for(options, d_);
  // The authors' fixed neurons: N(0, 2/d), He et al.'s fan-in std.
  init::normal_(register_buffer("V", Tensor::empty({d_, n_})), 0.0, std::sqrt(2.0 / d_), gen);
  init_rotation(gen);
  if (stochastic()) {
    register_buffer("selection", Tensor::zeros({p_, d_}));
    const std::vector<std::int64_t> perm = randperm(d_, gen).to_vector<std::int64_t>();
    std::vector<std::int64_t> dims(perm.begin(), perm.begin() + p_);
    std::sort(dims.begin(), dims.end());
    select(dims);
  }
}

void OPTLayer::init_rotation(Generator* gen) {
  const std::int64_t q = p_;
  switch (options_.method) {
    case OPTMethod::GramSchmidt:
    case OPTMethod::Lowdin:
      free_ = register_parameter("matrix", Parameter(Tensor::eye(q)));
      return;
    case OPTMethod::Householder: {
      const std::int64_t pairs = (q + 1) / 2;
      free_ = register_parameter("reflectors", Parameter(Tensor::empty({2 * pairs, q})));
      const Tensor first = reflector_pairs(free_.value()).select(1, 0);
      init::normal_(first, 0.0, 1.0, gen);
      restart_rotation();
      return;
    }
    case OPTMethod::Cayley:
      free_ = register_parameter("generator", Parameter(Tensor::zeros({q, q})));
      return;
    case OPTMethod::OGD:
    case OPTMethod::Landing:
      free_ = register_parameter("rotation", Parameter(Tensor::eye(q), Manifold::Orthogonal));
      return;
    case OPTMethod::Regularized:
      free_ = register_parameter("rotation", Parameter(Tensor::eye(q)));
      return;
    case OPTMethod::None:
      break;
  }
  throw std::invalid_argument(layer_ + ": method 'none' is not an OPT method");
}

void OPTLayer::restart_rotation() {
  Tensor value = free_.value();
  switch (options_.method) {
    case OPTMethod::Householder: {
      const Tensor pairs = reflector_pairs(value);
      Tensor second = pairs.select(1, 1);
      second.copy_(pairs.select(1, 0));
      return;
    }
    case OPTMethod::Cayley:
      value.copy_(Tensor::zeros(value.shape(), value.dtype(), value.device()));
      return;
    default:
      value.copy_(eye_like(p_, value));
      return;
  }
}

void OPTLayer::select(const std::vector<std::int64_t>& dims) {
  std::vector<double> one_hot(static_cast<std::size_t>(p_ * d_), 0.0);
  for (std::size_t i = 0; i < dims.size(); ++i) {
    one_hot[i * static_cast<std::size_t>(d_) + static_cast<std::size_t>(dims[i])] = 1.0;
  }
  assign(buffer("selection"), Tensor::from_vector(one_hot, {p_, d_}));
}

Variable OPTLayer::rotation() const {
  switch (options_.method) {
    case OPTMethod::GramSchmidt:
      return gram_schmidt(free_);
    case OPTMethod::Householder:
      return householder_product(free_);
    case OPTMethod::Lowdin:
      return lowdin(free_);
    case OPTMethod::Cayley:
      return cayley(free_);
    default:
      return free_;
  }
}

Variable OPTLayer::rotated_neurons() const {
  const Tensor& v = buffer("V");
  const Variable r = rotation();
  if (!stochastic()) return autograd::matmul(r, Variable(v));
  // R V = V + P^T (B - I) P V: only the p selected rows move.
  const Tensor& selection = buffer("selection");
  const Variable picked(ortho::matmul(selection, v));
  const Variable moved = autograd::matmul(r, picked) - picked;
  return Variable(v) + autograd::matmul(Variable(selection.t()), moved);
}

Variable OPTLayer::weight() const {
  return autograd::t(rotated_neurons());
}

double OPTLayer::orthogonality_error() const {
  autograd::NoGradGuard no_grad;
  const Tensor r = rotation().value();
  return ortho::norm(ortho::sub(ortho::matmul(r.t(), r), eye_like(p_, r)))
      .to(DType::Float64)
      .item<double>();
}

Variable OPTLayer::orthogonality_penalty() const {
  if (options_.method != OPTMethod::Regularized) return {};
  const Variable gram = autograd::matmul(autograd::t(free_), free_);
  return autograd::sum(autograd::square(gram - Variable(eye_like(p_, free_.value())))) *
         options_.beta;
}

std::vector<std::int64_t> OPTLayer::sampled_dims() const {
  if (!stochastic()) {
    std::vector<std::int64_t> all(static_cast<std::size_t>(d_));
    std::iota(all.begin(), all.end(), 0);
    return all;
  }
  return ortho::argmax(buffer("selection"), 1).to(Device::cpu()).to_vector<std::int64_t>();
}

void OPTLayer::commit() {
  if (!stochastic()) return;
  autograd::NoGradGuard no_grad;
  assign(buffer("V"), rotated_neurons().value());
  restart_rotation();
}

void OPTLayer::resample(Generator& gen) {
  if (!stochastic()) return;
  commit();
  const std::vector<std::int64_t> perm = randperm(d_, &gen).to_vector<std::int64_t>();
  std::vector<std::int64_t> dims(perm.begin(), perm.begin() + p_);
  std::sort(dims.begin(), dims.end());
  select(dims);
}

OPTLinear::OPTLinear(std::int64_t in_features, std::int64_t out_features, const OPTOptions& options,
                     bool bias, Generator* gen)
    : OPTLayer("OPTLinear", out_features, in_features, options, gen) {
  if (bias) {
    bias_ = register_parameter("bias", Parameter(Tensor::empty({out_features})));
    init::default_bias_(bias_.value(), in_features, gen);
  }
}

Variable OPTLinear::forward(const Variable& x) {
  check_argument(x.dim() >= 1 && x.size(-1) == in_features(), "OPTLinear: input ", x.shape(),
                 " does not end in in_features ", in_features());
  const Variable y = autograd::matmul(x, autograd::t(weight()));
  return bias_.defined() ? autograd::add(y, bias_) : y;
}

std::shared_ptr<Linear> OPTLinear::fold() const {
  autograd::NoGradGuard no_grad;
  Generator unused(0);  // the plain layer's own init is overwritten; keep the default stream
  auto plain = std::make_shared<Linear>(in_features(), out_features(), bias_.defined(), &unused);
  const Tensor w = weight().value();
  plain->to(w.dtype());
  plain->to(w.device());
  assign(plain->weight().value(), w);
  if (bias_.defined()) assign(plain->bias().value(), bias_.value());
  plain->train(is_training());
  return plain;
}

OPTConv2d::OPTConv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel_size,
                     std::int64_t stride, std::int64_t padding, const OPTOptions& options,
                     bool bias, std::int64_t dilation, Generator* gen)
    : OPTLayer(
          "OPTConv2d", out_channels,
          checked_conv_fan_in(in_channels, out_channels, kernel_size, stride, padding, dilation),
          options, gen),
      in_channels_(in_channels),
      kernel_size_(kernel_size),
      params_{stride, stride, padding, padding, dilation, dilation, 1} {
  if (bias) {
    bias_ = register_parameter("bias", Parameter(Tensor::empty({out_channels})));
    init::default_bias_(bias_.value(), fan_in(), gen);
  }
}

Variable OPTConv2d::forward(const Variable& x) {
  check_argument(x.dim() == 4 && x.size(1) == in_channels_, "OPTConv2d: input ", x.shape(),
                 " is not NCHW with ", in_channels_, " channels");
  const Variable kernel =
      autograd::reshape(weight(), {out_channels(), in_channels_, kernel_size_, kernel_size_});
  return autograd::conv2d(x, kernel, bias_, params_);
}

std::shared_ptr<Conv2d> OPTConv2d::fold() const {
  autograd::NoGradGuard no_grad;
  Generator unused(0);  // the plain layer's own init is overwritten; keep the default stream
  auto plain = std::make_shared<Conv2d>(in_channels_, out_channels(), kernel_size_,
                                        params_.stride_h, params_.pad_h, /*groups=*/1,
                                        bias_.defined(), params_.dilation_h, &unused);
  const Tensor w = weight().value();
  plain->to(w.dtype());
  plain->to(w.device());
  assign(plain->weight().value(),
         w.contiguous().reshape({out_channels(), in_channels_, kernel_size_, kernel_size_}));
  if (bias_.defined()) assign(plain->bias().value(), bias_.value());
  plain->train(is_training());
  return plain;
}

}  // namespace ortho::nn
