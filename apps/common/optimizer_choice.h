#pragma once

#include <memory>
#include <string>
#include <vector>

#include "layers/parameter.h"
#include "optim/optimizer.h"

namespace ortho::apps {

// An optimizer chosen by name on the command line (ortho-train, ortho-bench --model), with the
// hyperparameters the apps expose.
struct OptimizerChoice {
  std::string name = "sgd";
  double lr = 0.1;
  double momentum = 0.9;  // SGD, Landing and RiemannianSGD
  double weight_decay = 5e-4;
  double landing_lambda = 1.0;  // Landing, LandingAdam
  bool safe_step = true;        // Landing, LandingAdam
};

// sgd, adam, adamw; landing, landing-adam (landing on orthogonal weights, SGD / Adam on the
// others); rsgd-exp, rsgd-cayley, rsgd-qr, rsgd-polar (Riemannian SGD with that retraction).
const std::vector<std::string>& optimizer_names();

// The chosen optimizer over `params` (one group); std::invalid_argument for an unknown name.
std::unique_ptr<optim::Optimizer> make_optimizer(const OptimizerChoice& choice,
                                                 const std::vector<nn::Parameter>& params);

}  // namespace ortho::apps
