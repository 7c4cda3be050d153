#include "optim/sgd.h"

#include "core/cpu/cpu_backend.h"
#include "core/dispatch.h"
#include "core/error.h"
#include "core/ops/elementwise.h"

namespace ortho::optim {
namespace {

struct SGDStep {
  double lr, momentum, dampening, weight_decay;
  bool nesterov;
  bool first;  // the momentum buffer starts as a copy of d
};

// "dampening" and "nesterov" are optional: other optimizers' groups may lack them.
SGDStep step_options(const Hyperparameters& o) {
  const auto optional = [&o](const char* key) { return o.contains(key) ? o.at(key) : 0.0; };
  return {o.at("lr"),
          o.at("momentum"),
          optional("dampening"),
          o.at("weight_decay"),
          optional("nesterov") != 0.0,
          false};
}

Hyperparameters to_hyperparameters(const SGDOptions& o) {
  return {{"lr", o.lr},
          {"momentum", o.momentum},
          {"dampening", o.dampening},
          {"weight_decay", o.weight_decay},
          {"nesterov", o.nesterov ? 1.0 : 0.0}};
}

// One pass over contiguous buffers; `buf` is null when momentum is 0.
template <typename T>
void sgd_kernel(T* p, const T* g, T* buf, std::int64_t n, const SGDStep& s) {
  const T lr = static_cast<T>(s.lr), mom = static_cast<T>(s.momentum);
  const T damp = static_cast<T>(1.0 - s.dampening), wd = static_cast<T>(s.weight_decay);
  const bool decay = s.weight_decay != 0.0;
#pragma omp parallel for simd schedule(static) if (n >= cpu::kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    T d = decay ? g[i] + wd * p[i] : g[i];
    if (buf != nullptr) {
      const T b = s.first ? d : mom * buf[i] + damp * d;
      buf[i] = b;
      d = s.nesterov ? d + mom * b : b;
    }
    p[i] -= lr * d;
  }
}

// The same update with front-end ops, for non-CPU or non-contiguous tensors.
void sgd_composite(Tensor& p, const Tensor& g, Tensor* buf, const SGDStep& s) {
  Tensor d = g.clone();
  if (s.weight_decay != 0.0) add_(d, p, s.weight_decay);
  if (buf != nullptr) {
    if (s.first) {
      buf->copy_(d);
    } else {
      mul_(*buf, s.momentum);
      add_(*buf, d, 1.0 - s.dampening);
    }
    if (s.nesterov) {
      add_(d, *buf, s.momentum);
    } else {
      d.copy_(*buf);
    }
  }
  add_(p, d, -s.lr);
}

}  // namespace

SGD::SGD(std::vector<nn::Parameter> params, SGDOptions options) : Optimizer("SGD") {
  add_param_group(std::move(params), options);
}

void SGD::add_param_group(std::vector<nn::Parameter> params, SGDOptions options) {
  add_group(std::move(params), to_hyperparameters(options));
}

void SGD::validate_options(const Hyperparameters& o) const {
  for (const char* key : {"lr", "momentum", "dampening", "weight_decay", "nesterov"}) {
    check_argument(o.contains(key), "SGD: missing option '", key, "'");
  }
  check_argument(o.at("lr") >= 0.0, "SGD: invalid learning rate ", o.at("lr"));
  check_argument(o.at("momentum") >= 0.0, "SGD: invalid momentum ", o.at("momentum"));
  check_argument(o.at("weight_decay") >= 0.0, "SGD: invalid weight_decay ", o.at("weight_decay"));
  check_argument(o.at("nesterov") == 0.0 || (o.at("momentum") > 0.0 && o.at("dampening") == 0.0),
                 "SGD: Nesterov momentum requires a momentum and zero dampening");
}

void sgd_update(Tensor& p, const Tensor& g, ParamState& state, const Hyperparameters& options) {
  SGDStep s = step_options(options);
  Tensor* buf = nullptr;
  if (s.momentum != 0.0) {
    auto it = state.buffers.find("momentum_buffer");
    s.first = it == state.buffers.end();
    if (s.first) {
      it = state.buffers.emplace("momentum_buffer", Tensor::empty(p.shape(), p.dtype(), p.device()))
               .first;
    }
    buf = &it->second;
  }
  ++state.step;
  if (fusable({&p, &g}) && (buf == nullptr || fusable({&p, buf}))) {
    dispatch_floating(p.dtype(), "SGD", [&]<typename T>() {
      sgd_kernel<T>(p.data<T>(), g.data<T>(), buf == nullptr ? nullptr : buf->data<T>(), p.numel(),
                    s);
    });
  } else {
    sgd_composite(p, g, buf, s);
  }
}

void SGD::step() {
  for_each_update([](nn::Parameter& param, ParamState& state, const Hyperparameters& o) {
    Tensor p = param.value();
    sgd_update(p, param.grad(), state, o);
  });
}

}  // namespace ortho::optim
