#include "optim/adam.h"

#include <cmath>

#include "core/cpu/cpu_backend.h"
#include "core/dispatch.h"
#include "core/error.h"
#include "core/ops/elementwise.h"

namespace ortho::optim {
namespace {

// Scalars of one parameter's update, bias corrections already applied.
struct AdamStep {
  double beta1, beta2, eps, weight_decay;
  bool decoupled;
  double decay_factor;  // 1 - lr * weight_decay (decoupled only)
  double step_size;     // lr / (1 - beta1^t)
  double bc2_sqrt;      // sqrt(1 - beta2^t)
};

AdamStep step_options(const Hyperparameters& o, bool decoupled, std::int64_t t) {
  const double lr = o.at("lr"), beta1 = o.at("beta1"), beta2 = o.at("beta2");
  const double tt = static_cast<double>(t);
  return {beta1,
          beta2,
          o.at("eps"),
          o.at("weight_decay"),
          decoupled,
          1.0 - lr * o.at("weight_decay"),
          lr / (1.0 - std::pow(beta1, tt)),
          std::sqrt(1.0 - std::pow(beta2, tt))};
}

template <typename Options>
Hyperparameters to_hyperparameters(const Options& o) {
  return {{"lr", o.lr},
          {"beta1", o.beta1},
          {"beta2", o.beta2},
          {"eps", o.eps},
          {"weight_decay", o.weight_decay}};
}

template <typename T>
void adam_kernel(T* p, const T* g, T* m, T* v, std::int64_t n, const AdamStep& s) {
  const T b1 = static_cast<T>(s.beta1), b2 = static_cast<T>(s.beta2);
  const T c1 = static_cast<T>(1.0 - s.beta1), c2 = static_cast<T>(1.0 - s.beta2);
  const T eps = static_cast<T>(s.eps), wd = static_cast<T>(s.weight_decay);
  const T decay = static_cast<T>(s.decay_factor), step = static_cast<T>(s.step_size);
  const T bc2 = static_cast<T>(s.bc2_sqrt);
  const bool coupled = !s.decoupled && s.weight_decay != 0.0;
  const bool decoupled = s.decoupled && s.weight_decay != 0.0;
#pragma omp parallel for simd schedule(static) if (n >= cpu::kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    const T gi = coupled ? g[i] + wd * p[i] : g[i];
    T pi = decoupled ? p[i] * decay : p[i];
    const T mi = b1 * m[i] + c1 * gi;
    const T vi = b2 * v[i] + c2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    pi += -step * (mi / (std::sqrt(vi) / bc2 + eps));
    p[i] = pi;
  }
}

// The same update with front-end ops, for non-CPU or non-contiguous tensors.
void adam_composite(Tensor& p, const Tensor& grad, Tensor& m, Tensor& v, const AdamStep& s) {
  Tensor g = grad;
  if (s.weight_decay != 0.0) {
    if (s.decoupled) {
      mul_(p, s.decay_factor);
    } else {
      g = grad.clone();
      add_(g, p, s.weight_decay);
    }
  }
  mul_(m, s.beta1);
  add_(m, g, 1.0 - s.beta1);
  mul_(v, s.beta2);
  add_(v, mul(g, g), 1.0 - s.beta2);
  const Tensor denom = add(sqrt(v) / s.bc2_sqrt, s.eps);
  add_(p, m / denom, -s.step_size);
}

}  // namespace

Adam::Adam(std::vector<nn::Parameter> params, AdamOptions options)
    : Adam("Adam", false, std::move(params), to_hyperparameters(options)) {}

Adam::Adam(std::string name, bool decoupled, std::vector<nn::Parameter> params,
           Hyperparameters options)
    : Optimizer(std::move(name)), decoupled_(decoupled) {
  add_group_of_kind(std::move(params), std::move(options));
}

void Adam::add_param_group(std::vector<nn::Parameter> params, AdamOptions options) {
  add_group_of_kind(std::move(params), to_hyperparameters(options));
}

void Adam::add_group_of_kind(std::vector<nn::Parameter> params, Hyperparameters options) {
  options["decoupled_weight_decay"] = decoupled_ ? 1.0 : 0.0;
  add_group(std::move(params), std::move(options));
}

void Adam::validate_options(const Hyperparameters& o) const {
  for (const char* key :
       {"lr", "beta1", "beta2", "eps", "weight_decay", "decoupled_weight_decay"}) {
    check_argument(o.contains(key), name(), ": missing option '", key, "'");
  }
  check_argument(o.at("decoupled_weight_decay") == (decoupled_ ? 1.0 : 0.0), name(),
                 ": option 'decoupled_weight_decay' must be ", decoupled_ ? 1 : 0, " (",
                 decoupled_ ? "Adam" : "AdamW", " state given to ", name(), "?)");
  check_argument(o.at("lr") >= 0.0, name(), ": invalid learning rate ", o.at("lr"));
  check_argument(o.at("eps") >= 0.0, name(), ": invalid eps ", o.at("eps"));
  check_argument(o.at("beta1") >= 0.0 && o.at("beta1") < 1.0, name(), ": invalid beta1 ",
                 o.at("beta1"), " (must be in [0, 1))");
  check_argument(o.at("beta2") >= 0.0 && o.at("beta2") < 1.0, name(), ": invalid beta2 ",
                 o.at("beta2"), " (must be in [0, 1))");
  check_argument(o.at("weight_decay") >= 0.0, name(), ": invalid weight_decay ",
                 o.at("weight_decay"));
}

void adam_update(Tensor& p, const Tensor& g, ParamState& state, const Hyperparameters& options,
                 bool decoupled) {
  for (const char* buffer : {"exp_avg", "exp_avg_sq"}) {
    if (!state.buffers.contains(buffer)) {
      state.buffers.emplace(buffer, Tensor::zeros(p.shape(), p.dtype(), p.device()));
    }
  }
  Tensor& m = state.buffers.at("exp_avg");
  Tensor& v = state.buffers.at("exp_avg_sq");
  ++state.step;
  const AdamStep s = step_options(options, decoupled, state.step);
  if (fusable({&p, &g, &m, &v})) {
    dispatch_floating(p.dtype(), "Adam", [&]<typename T>() {
      adam_kernel<T>(p.data<T>(), g.data<T>(), m.data<T>(), v.data<T>(), p.numel(), s);
    });
  } else {
    adam_composite(p, g, m, v, s);
  }
}

void Adam::step() {
  for_each_update([this](nn::Parameter& param, ParamState& state, const Hyperparameters& o) {
    Tensor p = param.value();
    adam_update(p, param.grad(), state, o, decoupled_);
  });
}

AdamW::AdamW(std::vector<nn::Parameter> params, AdamWOptions options)
    : Adam("AdamW", true, std::move(params), to_hyperparameters(options)) {}

void AdamW::add_param_group(std::vector<nn::Parameter> params, AdamWOptions options) {
  add_group_of_kind(std::move(params), to_hyperparameters(options));
}

}  // namespace ortho::optim
