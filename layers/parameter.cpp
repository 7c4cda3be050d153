#include "layers/parameter.h"

#include <string>

namespace ortho::nn {

std::string manifold_name(Manifold manifold) {
  switch (manifold) {
    case Manifold::Euclidean:
      return "euclidean";
    case Manifold::Stiefel:
      return "stiefel";
    case Manifold::Orthogonal:
      return "orthogonal";
  }
  return "unknown";
}

}  // namespace ortho::nn
