#pragma once

#include <string>

#include "autograd/variable.h"
#include "core/tensor.h"

namespace ortho::nn {

// The set a parameter lives on; optimizers read it to choose their update.
//  Euclidean: unconstrained.
//  Stiefel: orthonormal rows (or columns when taller than wide) after reshaping to 2-D as
//           (size(0), numel / size(0)); a conv kernel (out, in, k, k) becomes (out, in*k*k).
//  Orthogonal: a square matrix with X^T X = I.
enum class Manifold { Euclidean, Stiefel, Orthogonal };

std::string manifold_name(Manifold manifold);

// A trainable leaf variable with its manifold tag. Copies share the variable (value and
// gradient), so a module and its optimizer see the same parameter.
class Parameter : public autograd::Variable {
 public:
  Parameter() = default;
  explicit Parameter(Tensor value, Manifold manifold = Manifold::Euclidean)
      : autograd::Variable(std::move(value), /*requires_grad=*/true), manifold_(manifold) {}

  Manifold manifold() const { return manifold_; }

 private:
  Manifold manifold_ = Manifold::Euclidean;
};

}  // namespace ortho::nn
