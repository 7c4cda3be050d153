#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/variable.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "core/random.h"
#include "core/tensor.h"
#include "layers/module.h"

namespace ortho::testing {

// L = sum(module(x) * w) without recording, for finite differences.
inline double weighted_output(nn::Module& module, const Tensor& x, const Tensor& w) {
  autograd::NoGradGuard no_grad;
  return sum(mul(module(autograd::Variable(x)).value(), w)).item<double>();
}

// autograd::gradcheck for a float64 module: its own Parameters are the leaves backward reaches,
// so each element is perturbed in place (and the input's, when `check_input`) and the central
// difference of L = sum(module(x) * w), w fixed and random, is compared with grad().
inline ::testing::AssertionResult module_passes_gradcheck(nn::Module& module, const Tensor& input,
                                                          bool check_input = true) {
  constexpr double kStep = 1e-6, kAtol = 1e-5, kRtol = 1e-4;
  module.zero_grad();
  const autograd::Variable x(input, /*requires_grad=*/check_input);
  const autograd::Variable y = module(x);
  Generator generator(7);
  const Tensor w = uniform(y.shape(), -1.0, 1.0, DType::Float64, Device::cpu(), &generator);
  y.backward(w);

  std::vector<std::pair<std::string, autograd::Variable>> leaves;
  if (check_input) leaves.emplace_back("input", x);
  for (const auto& [name, p] : module.named_parameters()) leaves.emplace_back(name, p);
  for (const auto& [name, leaf] : leaves) {
    const Tensor& value = leaf.value();
    if (value.dtype() != DType::Float64 || !value.is_contiguous()) {
      return ::testing::AssertionFailure() << name << " is not contiguous float64";
    }
    const Tensor grad = leaf.grad().defined() ? leaf.grad().contiguous()
                                              : Tensor::zeros(value.shape(), DType::Float64);
    double* v = value.data<double>();
    const double* g = grad.data<double>();
    for (std::int64_t k = 0; k < value.numel(); ++k) {
      const double original = v[k];
      v[k] = original + kStep;
      const double plus = weighted_output(module, input, w);
      v[k] = original - kStep;
      const double minus = weighted_output(module, input, w);
      v[k] = original;
      const double numerical = (plus - minus) / (2.0 * kStep);
      if (!(std::abs(g[k] - numerical) <= kAtol + kRtol * std::abs(numerical))) {
        return ::testing::AssertionFailure()
               << name << "[" << k << "]: analytical " << g[k] << ", numerical " << numerical;
      }
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace ortho::testing
