#include "layers/opt_energy.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "core/ops/elementwise.h"
#include "core/ops/matmul.h"
#include "core/ops/reduce.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/opt.h"
#include "layers/parametrized_orthogonal.h"

namespace ortho::nn {
namespace {

double pair_energy(double distance, double s) {
  if (distance <= 0.0) return std::numeric_limits<double>::infinity();
  return s == 0.0 ? -std::log(distance) : std::pow(distance, -s);
}

// The weight of a layer with neurons, or an undefined tensor for any other module.
Tensor layer_weight(const Module& module) {
  autograd::NoGradGuard no_grad;
  if (const auto* linear = dynamic_cast<const Linear*>(&module)) return linear->weight().value();
  if (const auto* conv = dynamic_cast<const Conv2d*>(&module)) return conv->weight().value();
  if (const auto* opt = dynamic_cast<const OPTLayer*>(&module)) return opt->weight().value();
  if (const auto* po = dynamic_cast<const ParametrizedOrthogonal*>(&module)) {
    return po->weight().value();
  }
  return {};
}

void collect(const Module& module, const std::string& prefix, double s,
             std::vector<std::pair<std::string, double>>& out) {
  for (const auto& [name, child] : module.named_children()) {
    const std::string path = prefix.empty() ? name : prefix + "." + name;
    const Tensor weight = layer_weight(*child);
    if (weight.defined()) {
      out.emplace_back(path, hyperspherical_energy(weight, s));
    } else {
      collect(*child, path, s, out);
    }
  }
}

}  // namespace

double hyperspherical_energy(const Tensor& weight, double s) {
  check_argument(weight.defined() && weight.dim() >= 2 && weight.size(0) >= 2 && s >= 0.0,
                 "hyperspherical_energy: need at least 2 neurons (rows) and s >= 0, got weight ",
                 weight.defined() ? weight.shape().to_string() : "undefined", " and s ", s);
  const std::int64_t n = weight.size(0);
  const Tensor w =
      weight.to(Device::cpu()).to(DType::Float64).contiguous().reshape({n, weight.numel() / n});
  const Tensor norms = ortho::sqrt(ortho::sum(ortho::square(w), {1}, true));
  check_argument(ortho::amin(norms).item<double>() > 0.0,
                 "hyperspherical_energy: a neuron of weight ", weight.shape(), " is zero");
  const Tensor unit = ortho::div(w, norms);
  const Tensor gram = ortho::matmul(unit, unit.t()).contiguous();
  const double* g = gram.data<double>();
  double total = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < n; ++j) {
      // ||a - b||^2 = 2 - 2 a.b for unit a, b.
      if (i != j) total += pair_energy(std::sqrt(std::max(0.0, 2.0 - 2.0 * g[i * n + j])), s);
    }
  }
  return total / static_cast<double>(n * (n - 1));
}

std::vector<std::pair<std::string, double>> hyperspherical_energies(const Module& root, double s) {
  std::vector<std::pair<std::string, double>> out;
  collect(root, "", s, out);
  return out;
}

}  // namespace ortho::nn
