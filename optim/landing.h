#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "optim/optimizer.h"

namespace ortho::optim {

// The landing algorithm (Ablin & Peyré, AISTATS 2022; Ablin, Vary, Gao & Absil 2023): a
// Stiefel- or Orthogonal-tagged parameter X moves along the landing field
//   X <- X - eta * Lambda(X),   Lambda(X) = skew(D X^T) X + lambda X (X^T X - I)
// (optim/manifold.h, tall view), where D is the parameter's Euclidean direction. No
// retraction: only matrix products, O(n p^2) per n x p matrix. X leaves the manifold by a
// controlled amount and is pulled back by the second term. With the safe step on, eta is
// min(lr, safe_step_size(...)) per matrix, so ||X^T X - I||_F never exceeds epsilon.
//
// Euclidean parameters of the same groups get the matching plain update (SGD for Landing and
// LandingSAGA, Adam for LandingAdam), so one optimizer trains a whole network.
struct LandingOptions {
  double lr = 0.1;
  double momentum = 0.0;
  double weight_decay = 0.0;
  double lambda = 1.0;    // weight of the attraction to the manifold
  bool safe_step = true;  // cap the step so the distance stays under epsilon
  double epsilon = 0.5;   // the largest distance the safe step allows
};

// Landing with momentum: D = b, b <- momentum * b + (G + weight_decay * X) (torch SGD's
// buffer, started at the first gradient). The momentum is kept on the Euclidean gradient and
// the relative gradient skew(b X^T) X is formed at the current point, so the step keeps the
// landing field's form (and the safe step its guarantee) where the reference code's momentum
// on skew(G X^T) would need n x n matrices for St(n, p). Group options: "lr", "momentum",
// "weight_decay", "lambda", "safe_step" (0 or 1), "epsilon". State: "momentum_buffer".
class Landing : public Optimizer {
 public:
  explicit Landing(std::vector<nn::Parameter> params, LandingOptions options = {});
  void add_param_group(std::vector<nn::Parameter> params, LandingOptions options);
  void step() override;

 protected:
  void validate_options(const Hyperparameters& options) const override;
  std::vector<std::string> buffer_names() const override { return {"momentum_buffer"}; }
};

struct LandingAdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double lambda = 1.0;
  bool safe_step = true;
  double epsilon = 0.5;
};

// The Adam-style landing: D is Adam's bias-corrected direction m_hat / (sqrt(v_hat) + eps) of
// the relative gradient R = skew(G X^T) X (G + weight_decay * X in place of G), and the step
// lr * Lambda(X) uses D in place of the gradient. Preconditioning R rather than G keeps the
// fixed points: R vanishes at critical points, while G, and Adam's sign-like rescaling of it,
// need not. Euclidean parameters get torch's Adam. Options: Adam's plus "lambda", "safe_step",
// "epsilon". State: "exp_avg", "exp_avg_sq".
class LandingAdam : public Optimizer {
 public:
  explicit LandingAdam(std::vector<nn::Parameter> params, LandingAdamOptions options = {});
  void add_param_group(std::vector<nn::Parameter> params, LandingAdamOptions options);
  void step() override;

 protected:
  void validate_options(const Hyperparameters& options) const override;
  std::vector<std::string> buffer_names() const override { return {"exp_avg", "exp_avg_sq"}; }
};

struct LandingSAGAOptions {
  double lr = 0.1;
  double lambda = 1.0;
  bool safe_step = true;
  double epsilon = 0.5;
};

// Variance-reduced landing for a finite sum f = (1/n) sum_i f_i (Ablin et al. 2023, SAGA):
// each step uses D = g_i - table_i + mean(table), then table_i <- g_i, where g_i is the
// gradient of the term named by set_term(i) (held in .grad when step() runs). Its variance
// vanishes at the solution, so a constant step converges where stochastic landing only
// reaches a noise ball. Euclidean parameters take the step p <- p - lr * D. Options: "lr",
// "lambda", "safe_step", "epsilon", "num_terms". State: "gradient_table" (num_terms x the
// parameter's shape, zeros at first) and "gradient_mean".
class LandingSAGA : public Optimizer {
 public:
  LandingSAGA(std::vector<nn::Parameter> params, std::int64_t num_terms,
              LandingSAGAOptions options = {});
  // The term (0 <= term < num_terms) whose gradient the next step() receives.
  void set_term(std::int64_t term);
  // std::invalid_argument when no term has been set since the last step.
  void step() override;

 protected:
  void validate_options(const Hyperparameters& options) const override;
  std::vector<std::string> buffer_names() const override {
    return {"gradient_table", "gradient_mean"};
  }
  Shape buffer_shape(const std::string& buffer, const nn::Parameter& param) const override;

 private:
  std::int64_t num_terms_;
  std::int64_t term_ = -1;
};

}  // namespace ortho::optim
