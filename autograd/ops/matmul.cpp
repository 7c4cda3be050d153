// Matrix products: for C = A B, dA = dC B^T and dB = A^T dC (transposed views, which the gemm
// front end folds into the BLAS call instead of copying).
#include "autograd/ops/matmul.h"

#include "autograd/record.h"
#include "core/ops/matmul.h"
#include "core/ops/reduce.h"

namespace ortho::autograd {
namespace {

Tensor mT(const Tensor& t) {
  return t.transpose(-1, -2);
}

// A^T dC summed over the batch for a shared 2-D B: one gemm over the stacked rows of the
// batch instead of a batch of products and a sum.
Tensor shared_rhs_grad(const Tensor& a, const Tensor& g) {
  const Tensor rows_a = a.reshape({-1, a.size(-1)});
  const Tensor rows_g = g.reshape({-1, g.size(-1)});
  return ortho::matmul(rows_a.t(), rows_g);
}

}  // namespace

Variable matmul(const Variable& a, const Variable& b) {
  const Tensor av = a.value(), bv = b.value();
  Tensor out = ortho::matmul(av, bv);
  return make_output(
      "matmul", {a, b}, std::move(out),
      [av, bv, need = needs_input_grad({a, b})](const Tensor& grad) -> Grads {
        // Undo the promotion of 1-D operands: a (k) is (1, k), b (k) is (k, 1).
        const Tensor a2 = av.dim() == 1 ? av.unsqueeze(0) : av;
        const Tensor b2 = bv.dim() == 1 ? bv.unsqueeze(1) : bv;
        Tensor g = grad;
        if (bv.dim() == 1) g = g.unsqueeze(-1);
        if (av.dim() == 1) g = g.unsqueeze(-2);
        Tensor ga, gb;
        if (need[0]) {
          ga = ortho::sum_to(ortho::matmul(g, mT(b2)), a2.shape()).reshape(av.shape());
        }
        if (need[1]) {
          // A 2-D b is shared by the whole batch, which comes from a alone.
          const Tensor full =
              b2.dim() == 2 && g.dim() > 2 ? shared_rhs_grad(a2, g) : ortho::matmul(mT(a2), g);
          gb = ortho::sum_to(full, b2.shape()).reshape(bv.shape());
        }
        return {ga, gb};
      });
}

Variable bmm(const Variable& a, const Variable& b) {
  const Tensor av = a.value(), bv = b.value();
  return make_output("bmm", {a, b}, ortho::bmm(av, bv),
                     [av, bv, need = needs_input_grad({a, b})](const Tensor& g) -> Grads {
                       return {need[0] ? ortho::bmm(g, mT(bv)) : Tensor(),
                               need[1] ? ortho::bmm(mT(av), g) : Tensor()};
                     });
}

}  // namespace ortho::autograd
