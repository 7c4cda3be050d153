// Teacher, student and training loop of ortho-distill.
#include "apps/ortho-distill/distill.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <utility>

#include "autograd/grad_mode.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/reduce.h"
#include "core/device.h"
#include "core/random.h"
#include "layers/init.h"
#include "layers/module.h"
#include "layers/orthogonal.h"
#include "layers/parametrized_orthogonal.h"
#include "optim/landing.h"
#include "optim/manifold.h"
#include "optim/riemannian.h"
#include "optim/sgd.h"

namespace ortho::apps {
namespace {

using autograd::Variable;

// x_{n+1} = tanh(W_n x_n + b_n), tanh as in the authors' distillation example
// (pierreablin/landing, examples/plot_nn_distillation.py). Layers are OrthogonalLinear or
// ParametrizedOrthogonalLinear; weight_matrices() reads either.
class Mlp : public nn::Module {
 public:
  void add_layer(std::shared_ptr<nn::Module> layer) {
    layers_.push_back(register_module(std::to_string(layers_.size()), std::move(layer)));
  }

  Variable forward(const Variable& x) override {
    Variable h = x;
    for (const auto& layer : layers_) h = autograd::tanh(layer->forward(h));
    return h;
  }

  std::vector<Tensor> weight_matrices() const {
    autograd::NoGradGuard no_grad;
    std::vector<Tensor> weights;
    for (const auto& layer : layers_) {
      if (const auto* linear = dynamic_cast<const nn::Linear*>(layer.get())) {
        weights.push_back(linear->weight().value());
      } else {
        weights.push_back(dynamic_cast<const nn::ParametrizedOrthogonal&>(*layer).weight().value());
      }
    }
    return weights;
  }

 private:
  std::vector<std::shared_ptr<nn::Module>> layers_;
};

bool is_trivialization(DistillMethod method) {
  return method == DistillMethod::Trivialization;
}

// An MLP of the method's layer type in `dtype` on `device`, holding `weights` and `biases`: the
// trivialized layers take them as their base X0 with a zero generator, so they start at the
// same point.
std::shared_ptr<Mlp> make_mlp(DistillMethod method, const std::vector<Tensor>& weights,
                              const std::vector<Tensor>& biases, DType dtype,
                              Device device = Device::cpu()) {
  auto mlp = std::make_shared<Mlp>();
  Generator unused;  // every value is overwritten below
  TensorMap state;
  for (std::size_t l = 0; l < weights.size(); ++l) {
    const std::int64_t width = weights[l].size(0);
    const std::string prefix = std::to_string(l) + ".";
    if (is_trivialization(method)) {
      nn::OrthogonalMapOptions map;
      map.map = nn::OrthogonalMap::Trivialization;
      mlp->add_layer(
          std::make_shared<nn::ParametrizedOrthogonalLinear>(width, width, map, true, &unused));
      state[prefix + "base"] = weights[l];
      state[prefix + "generator"] = Tensor::zeros({width, width}, weights[l].dtype());
    } else {
      mlp->add_layer(std::make_shared<nn::OrthogonalLinear>(width, width, true, &unused));
      state[prefix + "weight"] = weights[l];
    }
    state[prefix + "bias"] = biases[l];
  }
  mlp->to(dtype);
  mlp->to(device);
  mlp->load_state_dict(state);  // copies each tensor to its parameter's dtype and device
  return mlp;
}

// L random orthogonal (width, width) matrices (QR of a Gaussian) and N(0, 1) biases, float64.
std::pair<std::vector<Tensor>, std::vector<Tensor>> random_layers(const DistillOptions& o,
                                                                  Generator& gen) {
  std::vector<Tensor> weights, biases;
  for (std::int64_t l = 0; l < o.depth; ++l) {
    weights.push_back(Tensor::empty({o.width, o.width}, DType::Float64));
    nn::init::orthogonal_(weights.back(), 1.0, &gen);
  }
  for (std::int64_t l = 0; l < o.depth; ++l) {
    biases.push_back(randn({o.width}, DType::Float64, Device::cpu(), &gen));
  }
  return {weights, biases};
}

std::vector<Tensor> converted(const std::vector<Tensor>& tensors, DType dtype) {
  std::vector<Tensor> out;
  for (const Tensor& t : tensors) out.push_back(t.to(dtype));
  return out;
}

// f = mean_i ||prediction_i - target_i||^2, the loss of the talk's distillation slide.
Variable distill_loss(const Variable& prediction, const Tensor& target) {
  return autograd::mean(autograd::sum(autograd::square(prediction - Variable(target)), {1}));
}

double loss_on(Mlp& model, const Tensor& x, const Tensor& y) {
  autograd::NoGradGuard no_grad;
  return distill_loss(model.forward(Variable(x)), y).value().item<double>();
}

double max_distance_to_manifold(const Mlp& model) {
  double distance = 0;
  for (const Tensor& w : model.weight_matrices()) {
    const Tensor x = optim::manifold_matrix(w.contiguous(), nn::Manifold::Stiefel);
    distance = std::max(distance, optim::distance_to_manifold(x).item<double>());
  }
  return distance;
}

optim::Retraction retraction_of(DistillMethod method) {
  switch (method) {
    case DistillMethod::RsgdExp:
      return optim::Retraction::Exp;
    case DistillMethod::RsgdCayley:
      return optim::Retraction::Cayley;
    case DistillMethod::RsgdQr:
      return optim::Retraction::QR;
    case DistillMethod::RsgdPolar:
      return optim::Retraction::Polar;
    default:
      throw std::logic_error(distill_method_name(method) + " uses no retraction");
  }
}

std::unique_ptr<optim::Optimizer> make_optimizer(DistillMethod method,
                                                 std::vector<nn::Parameter> params,
                                                 const DistillOptions& o) {
  const double lr = o.lr > 0 ? o.lr : default_lr(method);
  switch (method) {
    case DistillMethod::Landing:
      return std::make_unique<optim::Landing>(
          std::move(params),
          optim::LandingOptions{.lr = lr, .momentum = o.momentum, .lambda = o.lambda});
    case DistillMethod::Trivialization:
      return std::make_unique<optim::SGD>(std::move(params),
                                          optim::SGDOptions{.lr = lr, .momentum = o.momentum});
    default:
      return std::make_unique<optim::RiemannianSGD>(
          std::move(params),
          optim::RiemannianSGDOptions{
              .lr = lr, .momentum = o.momentum, .retraction = retraction_of(method)});
  }
}

// The training set itself each step, or minibatches of its rows in an order reshuffled at every
// pass from a generator seeded alike for every method, so all see the same batches. Minibatches
// are gathered on the CPU, row by row, and copied to the data's device in one piece.
class Batches {
 public:
  Batches(const DistillProblem& problem, const DistillOptions& o)
      : x_(problem.train_x),
        y_(problem.train_y),
        host_x_(x_.to(Device::cpu())),
        host_y_(y_.to(Device::cpu())),
        batch_(o.batch),
        gen_(o.seed + 1) {}

  std::pair<Tensor, Tensor> next() {
    if (batch_ == 0 || batch_ == x_.size(0)) return {x_, y_};
    if (order_.empty() || next_ + batch_ > static_cast<std::int64_t>(order_.size())) {
      order_ = randperm(x_.size(0), &gen_).to_vector<std::int64_t>();
      next_ = 0;
    }
    Tensor x = Tensor::empty({batch_, x_.size(1)}, x_.dtype());
    Tensor y = Tensor::empty({batch_, y_.size(1)}, y_.dtype());
    for (std::int64_t i = 0; i < batch_; ++i, ++next_) {
      const std::int64_t row = order_[static_cast<std::size_t>(next_)];
      x.select(0, i).copy_(host_x_.select(0, row));
      y.select(0, i).copy_(host_y_.select(0, row));
    }
    return {x.to(x_.device()), y.to(y_.device())};
  }

 private:
  Tensor x_, y_;            // on the device
  Tensor host_x_, host_y_;  // the same rows on the CPU
  std::int64_t batch_;
  Generator gen_;
  std::vector<std::int64_t> order_;
  std::int64_t next_ = 0;
};

void record_test_loss(DistillCurves& curves, std::int64_t t, Mlp& model,
                      const DistillProblem& problem) {
  curves.test_iters.push_back(t);
  curves.test_loss.push_back(loss_on(model, problem.test_x, problem.test_y));
}

}  // namespace

const std::vector<std::string>& distill_method_names() {
  static const std::vector<std::string> names = {"landing", "rsgd-exp",   "rsgd-cayley",
                                                 "rsgd-qr", "rsgd-polar", "trivialization"};
  return names;
}

std::string distill_method_name(DistillMethod method) {
  return distill_method_names().at(static_cast<std::size_t>(method));
}

DistillMethod parse_distill_method(const std::string& name) {
  const auto& names = distill_method_names();
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) {
    throw std::invalid_argument("unknown method '" + name +
                                "' (landing, rsgd-exp, rsgd-cayley, rsgd-qr, rsgd-polar, "
                                "trivialization)");
  }
  return static_cast<DistillMethod>(it - names.begin());
}

double default_lr(DistillMethod /*method*/) {
  return 0.02;
}

void check_distill_options(const DistillOptions& o) {
  if (o.width < 1 || o.depth < 1 || o.samples < 1 || o.test_samples < 1 || o.iters < 1 ||
      o.eval_every < 1) {
    throw std::invalid_argument(
        "width, depth, samples, test samples, iters and eval-every "
        "must be at least 1");
  }
  if (o.batch < 0 || o.batch > o.samples) {
    throw std::invalid_argument("--batch " + std::to_string(o.batch) +
                                " must be in [0, --samples " + std::to_string(o.samples) +
                                "] (0: full batch)");
  }
  if (o.lr < 0 || o.momentum < 0 || o.momentum >= 1 || o.lambda <= 0) {
    throw std::invalid_argument("need lr >= 0, 0 <= momentum < 1 and lambda > 0");
  }
}

DistillProblem make_distill_problem(const DistillOptions& o) {
  check_distill_options(o);
  Generator gen(o.seed);
  const auto [teacher_weights, teacher_biases] = random_layers(o, gen);
  const Tensor train_x = randn({o.samples, o.width}, DType::Float64, Device::cpu(), &gen);
  const Tensor test_x = randn({o.test_samples, o.width}, DType::Float64, Device::cpu(), &gen);
  const auto [student_weights, student_biases] = random_layers(o, gen);

  const auto teacher =
      make_mlp(DistillMethod::Landing, teacher_weights, teacher_biases, DType::Float64);
  autograd::NoGradGuard no_grad;
  DistillProblem problem;
  problem.train_x = train_x.to(o.dtype).to(o.device);
  problem.test_x = test_x.to(o.dtype).to(o.device);
  problem.train_y = teacher->forward(Variable(train_x)).value().to(o.dtype).to(o.device);
  problem.test_y = teacher->forward(Variable(test_x)).value().to(o.dtype).to(o.device);
  problem.student_weights = converted(student_weights, o.dtype);
  problem.student_biases = converted(student_biases, o.dtype);
  return problem;
}

DistillCurves run_distill(const DistillProblem& problem, DistillMethod method,
                          const DistillOptions& options,
                          const std::function<void(std::int64_t, double)>& on_step) {
  check_distill_options(options);
  const auto model = make_mlp(method, problem.student_weights, problem.student_biases,
                              options.dtype, options.device);
  const auto optimizer = make_optimizer(method, model->parameters(), options);
  Batches batches(problem, options);

  DistillCurves curves;
  curves.distance.push_back(max_distance_to_manifold(*model));
  curves.step_seconds.push_back(0);
  record_test_loss(curves, 0, *model, problem);
  for (std::int64_t t = 1; t <= options.iters; ++t) {
    const auto [x, y] = batches.next();
    synchronize(options.device);
    const auto start = std::chrono::steady_clock::now();
    optimizer->zero_grad();
    const Variable loss = distill_loss(model->forward(Variable(x)), y);
    loss.backward();
    optimizer->step();
    synchronize(options.device);  // a GPU may still be running the step
    curves.step_seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    curves.train_loss.push_back(loss.value().item<double>());
    curves.distance.push_back(max_distance_to_manifold(*model));
    if (t % options.eval_every == 0 && t != options.iters) {
      record_test_loss(curves, t, *model, problem);
    }
    if (on_step) on_step(t, curves.train_loss.back());
  }
  curves.train_loss.push_back(loss_on(*model, problem.train_x, problem.train_y));
  record_test_loss(curves, options.iters, *model, problem);
  return curves;
}

}  // namespace ortho::apps
