#pragma once

#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace ortho::optim {

// Hyperparameters of Adam, stored in each group as "lr", "beta1", "beta2", "eps" and
// "weight_decay", plus "decoupled_weight_decay" (0 for Adam, 1 for AdamW) so that a
// checkpoint of one does not load into the other.
struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

// AdamW's hyperparameters: Adam's, with PyTorch's default weight decay of 0.01.
struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};

// Adam (Kingma & Ba, ICLR 2015, Algorithm 1) with exactly torch.optim.Adam's semantics:
//   g = g + weight_decay * p                       (coupled L2)
//   m = beta1 * m + (1 - beta1) * g,   v = beta2 * v + (1 - beta2) * g * g
//   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// with t the parameter's step count (eps outside the square root). State: "exp_avg",
// "exp_avg_sq". Fused into one pass per parameter. Options are checked as torch does:
// lr, eps, weight_decay >= 0 and beta1, beta2 in [0, 1).
class Adam : public Optimizer {
 public:
  explicit Adam(std::vector<nn::Parameter> params, AdamOptions options = {});
  void add_param_group(std::vector<nn::Parameter> params, AdamOptions options);
  void step() override;

 protected:
  Adam(std::string name, bool decoupled, std::vector<nn::Parameter> params,
       Hyperparameters options);
  // `options` without "decoupled_weight_decay", which this optimizer's kind sets.
  void add_group_of_kind(std::vector<nn::Parameter> params, Hyperparameters options);
  void validate_options(const Hyperparameters& options) const override;
  std::vector<std::string> buffer_names() const override { return {"exp_avg", "exp_avg_sq"}; }

 private:
  bool decoupled_;
};

// AdamW (Loshchilov & Hutter, ICLR 2019) as torch.optim.AdamW: the weight decay is decoupled,
// p = p * (1 - lr * weight_decay) before the Adam update on the raw gradient.
class AdamW : public Adam {
 public:
  explicit AdamW(std::vector<nn::Parameter> params, AdamWOptions options = {});
  void add_param_group(std::vector<nn::Parameter> params, AdamWOptions options);
};

// One Adam update of `p` (in place) with gradient `g` and its state ("exp_avg", "exp_avg_sq",
// created on first use), by a group's "lr", "beta1", "beta2", "eps" and "weight_decay"; AdamW's
// when `decoupled`. How optimizers of manifold parameters move their Euclidean parameters.
void adam_update(Tensor& p, const Tensor& g, ParamState& state, const Hyperparameters& options,
                 bool decoupled);

}  // namespace ortho::optim
