#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "autograd/variable.h"
#include "core/tensor.h"

namespace ortho::autograd {

struct GradcheckOptions {
  double eps = 1e-6;   // finite-difference step
  double atol = 1e-5;  // an element passes when |analytical - numerical| <= atol + rtol |numerical|
  double rtol = 1e-4;
  std::uint64_t seed = 0;  // of the random output weights w
};

struct GradcheckResult {
  bool passed = true;
  double max_abs_error = 0.0;
  double max_rel_error = 0.0;  // |analytical - numerical| / max(|numerical|, atol)
  // The element whose error exceeds its tolerance the most (or comes closest to it).
  std::size_t worst_input = 0;
  std::int64_t worst_element = 0;  // flat row-major index into that input
  double worst_analytical = 0.0;
  double worst_numerical = 0.0;
  // One readable line with all of the above, for test failure messages.
  std::string summary() const;
};

using GradcheckFunction = std::function<Variable(const std::vector<Variable>& inputs)>;

// Checks the gradient of L = sum(f(x) * w), for a fixed random w, with respect to every
// element of every input: backward's analytical gradient against central finite differences
// in float64. The inputs are used as given (views, transposed or sliced layouts included) and
// must be float64 CPU tensors whose elements do not overlap; std::invalid_argument otherwise.
GradcheckResult gradcheck(const GradcheckFunction& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

}  // namespace ortho::autograd
