#include "optim/landing.h"

#include <cmath>
#include <cstddef>
#include <vector>

#include "core/error.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "optim/adam.h"
#include "optim/manifold.h"
#include "optim/sgd.h"

namespace ortho::optim {
namespace {

bool on_manifold(const nn::Parameter& param) {
  return param.manifold() != nn::Manifold::Euclidean;
}

// The landing options every variant shares, added to a group's map.
void add_landing_options(Hyperparameters& o, double lambda, bool safe_step, double epsilon) {
  o["lambda"] = lambda;
  o["safe_step"] = safe_step ? 1.0 : 0.0;
  o["epsilon"] = epsilon;
}

void validate_landing_options(const std::string& name, const Hyperparameters& o) {
  for (const char* key : {"lr", "lambda", "safe_step", "epsilon"}) {
    check_argument(o.contains(key), name, ": missing option '", key, "'");
  }
  check_argument(o.at("lr") >= 0.0, name, ": invalid learning rate ", o.at("lr"));
  check_argument(o.at("lambda") >= 0.0, name, ": invalid lambda ", o.at("lambda"),
                 " (must be >= 0)");
  check_argument(o.at("safe_step") == 0.0 || o.at("safe_step") == 1.0, name,
                 ": option 'safe_step' must be 0 or 1, got ", o.at("safe_step"));
  check_argument(o.at("safe_step") == 0.0 || o.at("epsilon") > 0.0, name,
                 ": the safe step needs epsilon > 0, got ", o.at("epsilon"));
}

// The learning rate of each matrix of the batch, as a (..., 1, 1) tensor: lr, capped by the
// safe step when it is on.
Tensor step_sizes(const LandingDirection& direction, const Hyperparameters& o) {
  const Tensor& field = direction.field;
  Shape per_matrix = field.shape();
  per_matrix[per_matrix.rank() - 1] = 1;
  per_matrix[per_matrix.rank() - 2] = 1;
  const double lr = o.at("lr");
  if (o.at("safe_step") == 0.0) {
    return Tensor::full(per_matrix, lr, field.dtype(), field.device());
  }
  const std::vector<double> distances = direction.distance.to(DType::Float64).to_vector<double>();
  const std::vector<double> norms =
      sqrt(sum(square(field), {-2, -1})).to(DType::Float64).to_vector<double>();
  std::vector<double> eta(distances.size());
  for (std::size_t i = 0; i < eta.size(); ++i) {
    eta[i] = std::min(lr, safe_step_size(distances[i], norms[i], o.at("lambda"), o.at("epsilon")));
  }
  return Tensor::from_vector(eta, per_matrix).to(field.dtype()).to(field.device());
}

// X <- X - eta * Lambda(X) for a manifold parameter whose direction D (in place of the
// gradient in Lambda) is given in the tall view.
void landing_tall_update(const nn::Parameter& param, const Tensor& d, const Hyperparameters& o) {
  Tensor x = manifold_matrix(param.value(), param.manifold());
  const LandingDirection direction = landing_direction(x, d, o.at("lambda"));
  x.copy_(sub(x, mul(direction.field, step_sizes(direction, o))));
}

// The same with a direction in the parameter's shape.
void landing_update(const nn::Parameter& param, const Tensor& direction, const Hyperparameters& o) {
  landing_tall_update(param, manifold_matrix(direction.contiguous(), param.manifold()), o);
}

// G + weight_decay * X, the direction before momentum or moments.
Tensor decayed_gradient(const nn::Parameter& param, double weight_decay) {
  if (weight_decay == 0.0) return param.grad();
  return add(param.grad(), mul(param.value(), weight_decay));
}

Hyperparameters to_hyperparameters(const LandingOptions& o) {
  Hyperparameters h{{"lr", o.lr}, {"momentum", o.momentum}, {"weight_decay", o.weight_decay}};
  add_landing_options(h, o.lambda, o.safe_step, o.epsilon);
  return h;
}

Hyperparameters to_hyperparameters(const LandingAdamOptions& o) {
  Hyperparameters h{{"lr", o.lr},
                    {"beta1", o.beta1},
                    {"beta2", o.beta2},
                    {"eps", o.eps},
                    {"weight_decay", o.weight_decay}};
  add_landing_options(h, o.lambda, o.safe_step, o.epsilon);
  return h;
}

Hyperparameters to_hyperparameters(const LandingSAGAOptions& o, std::int64_t num_terms) {
  Hyperparameters h{{"lr", o.lr}, {"num_terms", static_cast<double>(num_terms)}};
  add_landing_options(h, o.lambda, o.safe_step, o.epsilon);
  return h;
}

// Adam's bias-corrected direction m_hat / (sqrt(v_hat) + eps) of the relative gradient of a
// manifold parameter, its moments (kept in the parameter's shape) updated in place.
Tensor adam_direction(const nn::Parameter& param, ParamState& state, const Hyperparameters& o) {
  const Tensor& value = param.value();
  for (const char* buffer : {"exp_avg", "exp_avg_sq"}) {
    if (!state.buffers.contains(buffer)) {
      state.buffers.emplace(buffer, Tensor::zeros(value.shape(), value.dtype(), value.device()));
    }
  }
  Tensor m = manifold_matrix(state.buffers.at("exp_avg"), param.manifold());
  Tensor v = manifold_matrix(state.buffers.at("exp_avg_sq"), param.manifold());
  const Tensor x = manifold_matrix(value, param.manifold());
  const Tensor g =
      manifold_matrix(decayed_gradient(param, o.at("weight_decay")).contiguous(), param.manifold());
  const Tensor r = relative_gradient(x, g);
  ++state.step;
  const double beta1 = o.at("beta1"), beta2 = o.at("beta2");
  const double t = static_cast<double>(state.step);
  mul_(m, beta1);
  add_(m, r, 1.0 - beta1);
  mul_(v, beta2);
  add_(v, square(r), 1.0 - beta2);
  const Tensor denom = add(sqrt(v) / std::sqrt(1.0 - std::pow(beta2, t)), o.at("eps"));
  return div(m, denom) / (1.0 - std::pow(beta1, t));
}

}  // namespace

Landing::Landing(std::vector<nn::Parameter> params, LandingOptions options) : Optimizer("Landing") {
  add_param_group(std::move(params), options);
}

void Landing::add_param_group(std::vector<nn::Parameter> params, LandingOptions options) {
  add_group(std::move(params), to_hyperparameters(options));
}

void Landing::validate_options(const Hyperparameters& o) const {
  validate_landing_options(name(), o);
  for (const char* key : {"momentum", "weight_decay"}) {
    check_argument(o.contains(key), name(), ": missing option '", key, "'");
    check_argument(o.at(key) >= 0.0, name(), ": invalid ", key, " ", o.at(key));
  }
}

void Landing::step() {
  for_each_update([](nn::Parameter& param, ParamState& state, const Hyperparameters& o) {
    if (!on_manifold(param)) {
      Tensor p = param.value();
      sgd_update(p, param.grad(), state, o);
      return;
    }
    Tensor direction = decayed_gradient(param, o.at("weight_decay"));
    if (o.at("momentum") != 0.0) {
      auto it = state.buffers.find("momentum_buffer");
      if (it == state.buffers.end()) {
        it = state.buffers.emplace("momentum_buffer", direction.clone()).first;
      } else {
        mul_(it->second, o.at("momentum"));
        add_(it->second, direction);
      }
      direction = it->second;
    }
    ++state.step;
    landing_update(param, direction, o);
  });
}

LandingAdam::LandingAdam(std::vector<nn::Parameter> params, LandingAdamOptions options)
    : Optimizer("LandingAdam") {
  add_param_group(std::move(params), options);
}

void LandingAdam::add_param_group(std::vector<nn::Parameter> params, LandingAdamOptions options) {
  add_group(std::move(params), to_hyperparameters(options));
}

void LandingAdam::validate_options(const Hyperparameters& o) const {
  validate_landing_options(name(), o);
  for (const char* key : {"beta1", "beta2", "eps", "weight_decay"}) {
    check_argument(o.contains(key), name(), ": missing option '", key, "'");
  }
  check_argument(o.at("eps") >= 0.0, name(), ": invalid eps ", o.at("eps"));
  check_argument(o.at("weight_decay") >= 0.0, name(), ": invalid weight_decay ",
                 o.at("weight_decay"));
  for (const char* key : {"beta1", "beta2"}) {
    check_argument(o.at(key) >= 0.0 && o.at(key) < 1.0, name(), ": invalid ", key, " ", o.at(key),
                   " (must be in [0, 1))");
  }
}

void LandingAdam::step() {
  for_each_update([](nn::Parameter& param, ParamState& state, const Hyperparameters& o) {
    if (on_manifold(param)) {
      landing_tall_update(param, adam_direction(param, state, o), o);
    } else {
      Tensor p = param.value();
      adam_update(p, param.grad(), state, o, /*decoupled=*/false);
    }
  });
}

LandingSAGA::LandingSAGA(std::vector<nn::Parameter> params, std::int64_t num_terms,
                         LandingSAGAOptions options)
    : Optimizer("LandingSAGA"), num_terms_(num_terms) {
  check_argument(num_terms > 0, "LandingSAGA: num_terms must be positive, got ", num_terms);
  add_group(std::move(params), to_hyperparameters(options, num_terms));
}

void LandingSAGA::validate_options(const Hyperparameters& o) const {
  validate_landing_options(name(), o);
  check_argument(o.contains("num_terms") && o.at("num_terms") == static_cast<double>(num_terms_),
                 name(), ": option 'num_terms' must be ", num_terms_);
}

Shape LandingSAGA::buffer_shape(const std::string& buffer, const nn::Parameter& param) const {
  if (buffer != "gradient_table") return Optimizer::buffer_shape(buffer, param);
  std::vector<std::int64_t> dims{num_terms_};
  dims.insert(dims.end(), param.shape().begin(), param.shape().end());
  return Shape(std::move(dims));
}

void LandingSAGA::set_term(std::int64_t term) {
  check_argument(term >= 0 && term < num_terms_, "LandingSAGA: term ", term, " is outside [0, ",
                 num_terms_, ")");
  term_ = term;
}

void LandingSAGA::step() {
  check_argument(term_ >= 0,
                 "LandingSAGA: call set_term(i) with the term whose gradient is in "
                 ".grad before each step()");
  for_each_update([this](nn::Parameter& param, ParamState& state, const Hyperparameters& o) {
    if (!state.buffers.contains("gradient_table")) {
      const Tensor& v = param.value();
      state.buffers.emplace("gradient_table", Tensor::zeros(buffer_shape("gradient_table", param),
                                                            v.dtype(), v.device()));
      state.buffers.emplace("gradient_mean", Tensor::zeros(v.shape(), v.dtype(), v.device()));
    }
    Tensor stored = state.buffers.at("gradient_table").select(0, term_);
    Tensor& mean = state.buffers.at("gradient_mean");
    const Tensor change = sub(param.grad(), stored);
    const Tensor direction = add(change, mean);
    add_(mean, change, 1.0 / static_cast<double>(num_terms_));
    stored.copy_(param.grad());
    ++state.step;
    if (on_manifold(param)) {
      landing_update(param, direction, o);
    } else {
      Tensor p = param.value();
      add_(p, direction, -o.at("lr"));
    }
  });
  term_ = -1;
}

}  // namespace ortho::optim
