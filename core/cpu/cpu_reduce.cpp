// PLACEHOLDER: replaced by the real kernels.
#include <stdexcept>
#pragma GCC diagnostic ignored "-Wunused-parameter"

#include "core/cpu/cpu_backend.h"

namespace ortho::cpu {

void CpuBackend::reduce(ReduceOp op, const Tensor& in, const std::vector<std::int64_t>& dims, Tensor& out) { (void)0; throw std::logic_error("reduce: not yet written"); }
void CpuBackend::argmax(const Tensor& in, std::int64_t dim, Tensor& out) { (void)0; throw std::logic_error("argmax: not yet written"); }
void CpuBackend::softmax_forward(const Tensor& x, Tensor& y, bool log) { (void)0; throw std::logic_error("softmax_forward: not yet written"); }
void CpuBackend::softmax_backward(const Tensor& grad_y, const Tensor& y, bool log, Tensor& grad_x) { (void)0; throw std::logic_error("softmax_backward: not yet written"); }
void CpuBackend::cross_entropy_forward(const Tensor& logits, const Tensor& targets, double label_smoothing, Tensor& losses, Tensor& log_probs) { (void)0; throw std::logic_error("cross_entropy_forward: not yet written"); }
void CpuBackend::cross_entropy_backward(const Tensor& grad_losses, const Tensor& log_probs, const Tensor& targets, double label_smoothing, Tensor& grad_logits) { (void)0; throw std::logic_error("cross_entropy_backward: not yet written"); }

}  // namespace ortho::cpu
