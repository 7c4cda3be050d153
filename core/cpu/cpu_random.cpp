// PLACEHOLDER: replaced by the real kernels.
#include <stdexcept>
#pragma GCC diagnostic ignored "-Wunused-parameter"

#include "core/cpu/cpu_backend.h"

namespace ortho::cpu {

void CpuBackend::uniform(const RandomState& state, double low, double high, Tensor& out) { (void)0; throw std::logic_error("uniform: not yet written"); }
void CpuBackend::normal(const RandomState& state, double mean, double stddev, Tensor& out) { (void)0; throw std::logic_error("normal: not yet written"); }
void CpuBackend::bernoulli(const RandomState& state, double p, Tensor& out) { (void)0; throw std::logic_error("bernoulli: not yet written"); }

}  // namespace ortho::cpu
