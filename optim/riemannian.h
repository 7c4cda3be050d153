#pragma once

#include <string>
#include <vector>

#include "optim/manifold.h"
#include "optim/optimizer.h"

namespace ortho::optim {

struct RiemannianSGDOptions {
  double lr = 0.1;
  double momentum = 0.0;
  double weight_decay = 0.0;
  Retraction retraction = Retraction::Cayley;
};

// Riemannian SGD, the baseline the landing method is measured against (Absil, Mahony &
// Sepulchre 2008, Sec. 4.1; Bonnabel 2013): for a Stiefel- or Orthogonal-tagged parameter X
// (tall view, optim/manifold.h)
//   r = proj_X(G + weight_decay * X)                   Riemannian gradient
//   b = r on the first step, else momentum * proj_X(b) + r   (transport by projection)
//   X <- R_X(-lr * b)                                  one of the four retractions
// Euclidean parameters of the same groups get torch's SGD with the same lr, momentum and
// weight decay. Options: "lr", "momentum", "weight_decay", "retraction" (the Retraction's
// index). State: "momentum_buffer".
class RiemannianSGD : public Optimizer {
 public:
  explicit RiemannianSGD(std::vector<nn::Parameter> params, RiemannianSGDOptions options = {});
  void add_param_group(std::vector<nn::Parameter> params, RiemannianSGDOptions options);
  void step() override;

 protected:
  void validate_options(const Hyperparameters& options) const override;
  std::vector<std::string> buffer_names() const override { return {"momentum_buffer"}; }
};

}  // namespace ortho::optim
