// PLACEHOLDER: replaced by the real kernels.
#include <stdexcept>
#pragma GCC diagnostic ignored "-Wunused-parameter"

#include "core/cpu/cpu_backend.h"

namespace ortho::cpu {

void CpuBackend::conv2d_forward(const Tensor& input, const Tensor& weight, const Tensor& bias, const Conv2dParams& p, Tensor& out) { (void)0; throw std::logic_error("conv2d_forward: not yet written"); }
void CpuBackend::conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Conv2dParams& p, Tensor& grad_input) { (void)0; throw std::logic_error("conv2d_backward_input: not yet written"); }
void CpuBackend::conv2d_backward_weight(const Tensor& grad_out, const Tensor& input, const Conv2dParams& p, Tensor& grad_weight) { (void)0; throw std::logic_error("conv2d_backward_weight: not yet written"); }

}  // namespace ortho::cpu
