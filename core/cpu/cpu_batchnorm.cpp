// PLACEHOLDER: replaced by the real kernels.
#include <stdexcept>
#pragma GCC diagnostic ignored "-Wunused-parameter"

#include "core/cpu/cpu_backend.h"

namespace ortho::cpu {

void CpuBackend::batch_norm_forward_train(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps, Tensor& y, Tensor& mean, Tensor& invstd) { (void)0; throw std::logic_error("batch_norm_forward_train: not yet written"); }
void CpuBackend::batch_norm_forward_eval(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean, const Tensor& running_var, double eps, Tensor& y) { (void)0; throw std::logic_error("batch_norm_forward_eval: not yet written"); }
void CpuBackend::batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight, const Tensor& mean, const Tensor& invstd, Tensor& grad_x, Tensor& grad_weight, Tensor& grad_bias) { (void)0; throw std::logic_error("batch_norm_backward: not yet written"); }

}  // namespace ortho::cpu
