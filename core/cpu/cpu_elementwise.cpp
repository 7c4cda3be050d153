// PLACEHOLDER: replaced by the real kernels.
#include <stdexcept>
#pragma GCC diagnostic ignored "-Wunused-parameter"

#include "core/cpu/cpu_backend.h"

namespace ortho::cpu {

void CpuBackend::unary(UnaryOp op, const Tensor& in, Tensor& out, double a, double b) { (void)0; throw std::logic_error("unary: not yet written"); }
void CpuBackend::binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) { (void)0; throw std::logic_error("binary: not yet written"); }
void CpuBackend::where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) { (void)0; throw std::logic_error("where: not yet written"); }
void CpuBackend::axpy(double alpha, const Tensor& x, Tensor& out) { (void)0; throw std::logic_error("axpy: not yet written"); }

}  // namespace ortho::cpu
