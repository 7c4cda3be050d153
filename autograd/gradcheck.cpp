#include "autograd/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "core/random.h"

namespace ortho::autograd {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();

void check_input(const Tensor& t, std::size_t index) {
  check_argument(t.defined(), "gradcheck: input ", index, " is undefined");
  check_argument(t.dtype() == DType::Float64, "gradcheck: input ", index, " of shape ", t.shape(),
                 " is ", dtype_name(t.dtype()), "; finite differences need float64");
  check_argument(t.device().is_cpu(), "gradcheck: input ", index, " of shape ", t.shape(),
                 " is on ", t.device().to_string(), "; finite differences run on the cpu");
  for (std::int64_t d = 0; d < t.dim(); ++d) {
    check_argument(t.size(d) <= 1 || t.stride(d) != 0, "gradcheck: input ", index, " of shape ",
                   t.shape(), " is a broadcast view; its elements share memory");
  }
}

// Address of the element at row-major flat index `flat` of a strided float64 CPU tensor.
double* element(const Tensor& t, std::int64_t flat) {
  std::int64_t offset = 0;
  for (std::int64_t d = t.dim() - 1; d >= 0; --d) {
    offset += (flat % t.size(d)) * t.stride(d);
    flat /= t.size(d);
  }
  return t.data<double>() + offset;
}

// L = sum(f(x) * w) as a double, without recording.
double weighted_output(const GradcheckFunction& f, const std::vector<Variable>& inputs,
                       const Tensor& weights) {
  NoGradGuard no_grad;
  const Variable y = f(inputs);
  return ortho::sum(ortho::mul(y.value(), weights)).item<double>();
}

void record(GradcheckResult& result, const GradcheckOptions& options, std::size_t input,
            std::int64_t index, double analytical, double numerical, double& worst_excess) {
  const double error = std::abs(analytical - numerical);
  const double tolerance = options.atol + options.rtol * std::abs(numerical);
  result.max_abs_error = std::max(result.max_abs_error, error);
  result.max_rel_error =
      std::max(result.max_rel_error, error / std::max(std::abs(numerical), options.atol));
  if (!(error <= tolerance)) result.passed = false;  // NaN fails too
  const double excess = std::isnan(error) ? kInfinity : error - tolerance;
  if (excess > worst_excess) {
    worst_excess = excess;
    result.worst_input = input;
    result.worst_element = index;
    result.worst_analytical = analytical;
    result.worst_numerical = numerical;
  }
}

}  // namespace

std::string GradcheckResult::summary() const {
  std::ostringstream out;
  out << (passed ? "gradcheck passed" : "gradcheck FAILED") << ": max abs error " << max_abs_error
      << ", max rel error " << max_rel_error << "; worst at input " << worst_input << " element "
      << worst_element << " (analytical " << worst_analytical << ", numerical " << worst_numerical
      << ")";
  return out.str();
}

GradcheckResult gradcheck(const GradcheckFunction& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options) {
  std::vector<Variable> variables;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    check_input(inputs[i], i);
    variables.emplace_back(inputs[i], true);
  }

  Variable y;
  {
    EnableGradGuard recording;
    y = f(variables);
  }
  check_argument(y.defined() && y.dtype() == DType::Float64, "gradcheck: f must return a float64 ",
                 "Variable");
  Generator generator(options.seed);
  const Tensor weights =
      ortho::uniform(y.shape(), -1.0, 1.0, DType::Float64, y.device(), &generator);
  if (y.requires_grad()) y.backward(weights);

  GradcheckResult result;
  double worst_excess = -kInfinity;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    const Tensor analytical = variables[i].grad().defined()
                                  ? variables[i].grad().contiguous()
                                  : Tensor::zeros(x.shape(), DType::Float64);
    const double* a = analytical.data<double>();
    for (std::int64_t k = 0; k < x.numel(); ++k) {
      double* p = element(x, k);
      const double original = *p;
      *p = original + options.eps;
      const double plus = weighted_output(f, variables, weights);
      *p = original - options.eps;
      const double minus = weighted_output(f, variables, weights);
      *p = original;
      record(result, options, i, k, a[k], (plus - minus) / (2.0 * options.eps), worst_excess);
    }
  }
  return result;
}

}  // namespace ortho::autograd
