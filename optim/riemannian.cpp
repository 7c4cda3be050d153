#include "optim/riemannian.h"

#include "core/error.h"
#include "core/ops/elementwise.h"
#include "optim/sgd.h"

namespace ortho::optim {
namespace {

Hyperparameters to_hyperparameters(const RiemannianSGDOptions& o) {
  return {{"lr", o.lr},
          {"momentum", o.momentum},
          {"weight_decay", o.weight_decay},
          {"retraction", static_cast<double>(o.retraction)}};
}

Retraction retraction_option(const Hyperparameters& o) {
  return static_cast<Retraction>(static_cast<int>(o.at("retraction")));
}

// r or momentum * proj_X(b) + r, kept in the state's buffer (the parameter's shape).
Tensor momentum_direction(const Tensor& x, const Tensor& r, ParamState& state,
                          const nn::Parameter& param, double momentum) {
  auto it = state.buffers.find("momentum_buffer");
  if (it == state.buffers.end()) {
    it = state.buffers
             .emplace("momentum_buffer", Tensor::zeros(param.shape(), r.dtype(), r.device()))
             .first;
    Tensor buffer = manifold_matrix(it->second, param.manifold());
    buffer.copy_(r);
    return buffer;
  }
  Tensor buffer = manifold_matrix(it->second, param.manifold());
  buffer.copy_(add(mul(project_tangent(x, buffer), momentum), r));
  return buffer;
}

}  // namespace

RiemannianSGD::RiemannianSGD(std::vector<nn::Parameter> params, RiemannianSGDOptions options)
    : Optimizer("RiemannianSGD") {
  add_param_group(std::move(params), options);
}

void RiemannianSGD::add_param_group(std::vector<nn::Parameter> params,
                                    RiemannianSGDOptions options) {
  add_group(std::move(params), to_hyperparameters(options));
}

void RiemannianSGD::validate_options(const Hyperparameters& o) const {
  for (const char* key : {"lr", "momentum", "weight_decay", "retraction"}) {
    check_argument(o.contains(key), name(), ": missing option '", key, "'");
    check_argument(o.at(key) >= 0.0, name(), ": invalid ", key, " ", o.at(key));
  }
  const double r = o.at("retraction");
  check_argument(r == static_cast<int>(r) && r <= static_cast<int>(Retraction::Polar), name(),
                 ": option 'retraction' must be 0 (exp), 1 (cayley), 2 (qr) or 3 (polar), got ", r);
}

void RiemannianSGD::step() {
  for_each_update([](nn::Parameter& param, ParamState& state, const Hyperparameters& o) {
    if (param.manifold() == nn::Manifold::Euclidean) {
      Tensor p = param.value();
      sgd_update(p, param.grad(), state, o);
      return;
    }
    Tensor x = manifold_matrix(param.value(), param.manifold());
    Tensor g = manifold_matrix(param.grad().contiguous(), param.manifold());
    if (o.at("weight_decay") != 0.0) g = add(g, mul(x, o.at("weight_decay")));
    Tensor direction = project_tangent(x, g);
    if (o.at("momentum") != 0.0) {
      direction = momentum_direction(x, direction, state, param, o.at("momentum"));
    }
    ++state.step;
    x.copy_(retract(retraction_option(o), x, mul(direction, -o.at("lr"))));
  });
}

}  // namespace ortho::optim
