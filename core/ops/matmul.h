#pragma once

#include "core/tensor.h"

namespace ortho {

// Matrix product with NumPy semantics: 1-D operands are promoted, leading dims broadcast.
// Transposed views (x.t(), x.transpose(-1, -2)) are folded into the gemm call, never copied.
Tensor matmul(const Tensor& a, const Tensor& b);
// Batched product of (B, m, k) and (B, k, n).
Tensor bmm(const Tensor& a, const Tensor& b);

}  // namespace ortho
