#pragma once

#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace ortho::optim {

// Hyperparameters of SGD, stored in each group as "lr", "momentum", "dampening",
// "weight_decay" and "nesterov" (0 or 1).
struct SGDOptions {
  double lr = 0.01;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

// Stochastic gradient descent with exactly torch.optim.SGD's semantics:
//   d = g + weight_decay * p                      (coupled L2)
//   b = d on the first step, else momentum * b + (1 - dampening) * d
//   d = nesterov ? d + momentum * b : b            (when momentum != 0)
//   p = p - lr * d
// State: "momentum_buffer" (only when momentum != 0). Fused into one pass per parameter.
class SGD : public Optimizer {
 public:
  explicit SGD(std::vector<nn::Parameter> params, SGDOptions options = {});
  void add_param_group(std::vector<nn::Parameter> params, SGDOptions options);
  void step() override;

 protected:
  // As torch: lr, momentum and weight_decay non-negative; Nesterov needs a positive
  // momentum and zero dampening.
  void validate_options(const Hyperparameters& options) const override;
  std::vector<std::string> buffer_names() const override { return {"momentum_buffer"}; }
};

// One SGD update of `p` (in place) with gradient `g` and its state, by a group's options: "lr",
// "momentum", "weight_decay" and, when present, "dampening" and "nesterov". How optimizers of
// manifold parameters (Landing, RiemannianSGD) move the Euclidean parameters of their groups.
void sgd_update(Tensor& p, const Tensor& g, ParamState& state, const Hyperparameters& options);

}  // namespace ortho::optim
