#include "apps/ortho-procrustes/methods.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>

#include "autograd/grad_mode.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/matmul.h"
#include "autograd/ops/reduce.h"
#include "autograd/variable.h"
#include "core/device.h"
#include "core/error.h"
#include "core/ops/matmul.h"
#include "layers/orthogonal_maps.h"
#include "layers/parameter.h"
#include "optim/landing.h"
#include "optim/manifold.h"
#include "optim/riemannian.h"
#include "optim/sgd.h"

namespace ortho::apps {
namespace {

using Clock = std::chrono::steady_clock;

// One iteration of a method: moves its iterate and returns f at the point it started from.
using Step = std::function<double()>;

// Runs `step` until the iteration count or the time limit, recording the trace; `current`
// gives the iterate after each step.
MethodTrace trace_method(const std::string& name, const ProcrustesProblem& problem,
                         const MethodOptions& options, const Step& step,
                         const std::function<Tensor()>& current) {
  MethodTrace trace{name, {}, {}, {}, {}};
  const Device device = problem.start.device();
  double elapsed = 0;
  for (std::int64_t t = 0; t < options.iterations; ++t) {
    const Tensor before = current();
    trace.distance.push_back(optim::distance_to_manifold(before).to(DType::Float64).item<double>());
    synchronize(device);
    const auto start = Clock::now();
    const double loss = step();
    synchronize(device);  // the update may still be queued on a GPU
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    trace.seconds.push_back(elapsed);
    trace.loss.push_back(loss);
    trace.step_seconds.push_back(seconds);
    elapsed += seconds;
    if (options.time_limit_s > 0 && elapsed >= options.time_limit_s) break;
  }
  const Tensor last = current();
  trace.seconds.push_back(elapsed);
  trace.loss.push_back(problem.loss_and_gradient(last).first);
  trace.distance.push_back(optim::distance_to_manifold(last).to(DType::Float64).item<double>());
  return trace;
}

// Landing or RiemannianSGD on a parameter X tagged Orthogonal, with the closed-form gradient.
template <typename Optimizer>
MethodTrace run_optimizer(const std::string& name, const ProcrustesProblem& problem,
                          const MethodOptions& options, nn::Parameter& x, Optimizer& optimizer) {
  const Step step = [&] {
    auto [loss, gradient] = problem.loss_and_gradient(x.value());
    x.set_grad(std::move(gradient));
    optimizer.step();
    return loss;
  };
  return trace_method(name, problem, options, step, [&] { return x.value(); });
}

// X = exp((A - A^T) / 2) X0 with A = 0 at first; f and its gradient in A through autograd.
MethodTrace run_trivialization(const ProcrustesProblem& problem, const MethodOptions& options) {
  const Tensor x0 = problem.start;
  nn::Parameter a(Tensor::zeros(x0.shape(), x0.dtype(), x0.device()));
  optim::SGD sgd({a}, {.lr = options.lr});
  const autograd::Variable ata(problem.ata), atb(problem.atb);
  const auto point = [&] {
    return autograd::matmul(nn::matrix_exp_orthogonal(a), autograd::Variable(x0));
  };
  const Step step = [&] {
    const autograd::Variable x = point();
    // <X, A^T A X> - 2 <X, A^T B> + ||B||^2
    const autograd::Variable loss =
        autograd::sub(autograd::sum(autograd::mul(x, autograd::matmul(ata, x))),
                      autograd::mul(autograd::sum(autograd::mul(x, atb)), 2.0));
    a.zero_grad();
    loss.backward();
    sgd.step();
    return loss.value().to(DType::Float64).item<double>() + problem.b_squared_norm;
  };
  return trace_method("trivialization", problem, options, step, [&] {
    autograd::NoGradGuard no_grad;
    return point().value();
  });
}

}  // namespace

const std::vector<std::string>& procrustes_methods() {
  static const std::vector<std::string> methods = {"landing", "rgd-exp",   "rgd-cayley",
                                                   "rgd-qr",  "rgd-polar", "trivialization"};
  return methods;
}

MethodTrace run_method(const std::string& method, const ProcrustesProblem& problem,
                       const MethodOptions& options) {
  if (method == "trivialization") return run_trivialization(problem, options);
  nn::Parameter x(problem.start.clone(), nn::Manifold::Orthogonal);
  if (method == "landing") {
    optim::Landing landing(
        {x}, {.lr = options.lr, .lambda = options.lambda, .safe_step = options.safe_step});
    return run_optimizer(method, problem, options, x, landing);
  }
  check_argument(method.starts_with("rgd-"), "unknown method '", method,
                 "' (expected landing, rgd-exp, rgd-cayley, rgd-qr, rgd-polar or trivialization)");
  optim::RiemannianSGD rgd(
      {x}, {.lr = options.lr, .retraction = optim::parse_retraction(method.substr(4))});
  return run_optimizer(method, problem, options, x, rgd);
}

}  // namespace ortho::apps
