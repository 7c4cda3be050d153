// PLACEHOLDER: replaced by the real kernels.
#include <stdexcept>
#pragma GCC diagnostic ignored "-Wunused-parameter"

#include "core/cpu/cpu_backend.h"

namespace ortho::cpu {

void CpuBackend::qr(const Tensor& a, Tensor& q, Tensor& r) { (void)0; throw std::logic_error("qr: not yet written"); }
void CpuBackend::eigh(const Tensor& a, Tensor& eigenvalues, Tensor& eigenvectors) { (void)0; throw std::logic_error("eigh: not yet written"); }
void CpuBackend::svd(const Tensor& a, Tensor& u, Tensor& s, Tensor& vh) { (void)0; throw std::logic_error("svd: not yet written"); }
void CpuBackend::solve(const Tensor& a, const Tensor& b, Tensor& x) { (void)0; throw std::logic_error("solve: not yet written"); }
void CpuBackend::inverse(const Tensor& a, Tensor& out) { (void)0; throw std::logic_error("inverse: not yet written"); }

}  // namespace ortho::cpu
