// PLACEHOLDER: replaced by the real kernels.
#include <stdexcept>
#pragma GCC diagnostic ignored "-Wunused-parameter"

#include "core/cpu/cpu_backend.h"

namespace ortho::cpu {

void CpuBackend::max_pool2d_forward(const Tensor& input, const Pool2dParams& p, Tensor& out, Tensor& indices) { (void)0; throw std::logic_error("max_pool2d_forward: not yet written"); }
void CpuBackend::max_pool2d_backward(const Tensor& grad_out, const Tensor& indices, Tensor& grad_input) { (void)0; throw std::logic_error("max_pool2d_backward: not yet written"); }
void CpuBackend::avg_pool2d_forward(const Tensor& input, const Pool2dParams& p, Tensor& out) { (void)0; throw std::logic_error("avg_pool2d_forward: not yet written"); }
void CpuBackend::avg_pool2d_backward(const Tensor& grad_out, const Pool2dParams& p, Tensor& grad_input) { (void)0; throw std::logic_error("avg_pool2d_backward: not yet written"); }

}  // namespace ortho::cpu
