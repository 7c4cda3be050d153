#include "apps/common/optimizer_choice.h"

#include <stdexcept>

#include "optim/adam.h"
#include "optim/landing.h"
#include "optim/manifold.h"
#include "optim/riemannian.h"
#include "optim/sgd.h"

namespace ortho::apps {

const std::vector<std::string>& optimizer_names() {
  static const std::vector<std::string> names = {"sgd",         "adam",         "adamw",
                                                 "landing",     "landing-adam", "rsgd-exp",
                                                 "rsgd-cayley", "rsgd-qr",      "rsgd-polar"};
  return names;
}

std::unique_ptr<optim::Optimizer> make_optimizer(const OptimizerChoice& c,
                                                 const std::vector<nn::Parameter>& params) {
  if (c.name == "sgd") {
    return std::make_unique<optim::SGD>(
        params,
        optim::SGDOptions{.lr = c.lr, .momentum = c.momentum, .weight_decay = c.weight_decay});
  }
  if (c.name == "adam") {
    return std::make_unique<optim::Adam>(
        params, optim::AdamOptions{.lr = c.lr, .weight_decay = c.weight_decay});
  }
  if (c.name == "adamw") {
    return std::make_unique<optim::AdamW>(
        params, optim::AdamWOptions{.lr = c.lr, .weight_decay = c.weight_decay});
  }
  if (c.name == "landing") {
    return std::make_unique<optim::Landing>(params,
                                            optim::LandingOptions{.lr = c.lr,
                                                                  .momentum = c.momentum,
                                                                  .weight_decay = c.weight_decay,
                                                                  .lambda = c.landing_lambda,
                                                                  .safe_step = c.safe_step});
  }
  if (c.name == "landing-adam") {
    return std::make_unique<optim::LandingAdam>(
        params, optim::LandingAdamOptions{.lr = c.lr,
                                          .weight_decay = c.weight_decay,
                                          .lambda = c.landing_lambda,
                                          .safe_step = c.safe_step});
  }
  if (c.name.starts_with("rsgd-")) {
    return std::make_unique<optim::RiemannianSGD>(
        params,
        optim::RiemannianSGDOptions{.lr = c.lr,
                                    .momentum = c.momentum,
                                    .weight_decay = c.weight_decay,
                                    .retraction = optim::parse_retraction(c.name.substr(5))});
  }
  throw std::invalid_argument("unknown optimizer '" + c.name + "'");
}

}  // namespace ortho::apps
