// Front end of matmul and bmm: NumPy promotion and batch broadcasting, with each operand's
// last two dims handed to gemm as a row-major or a transposed matrix, so transposed views
// and broadcast batches are never copied.
#include "core/ops/matmul.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "core/error.h"

namespace ortho {
namespace {

// One operand as BLAS reads it: op(X) = X stored row-major (trans = false) or the transpose
// of a row-major matrix (trans = true), rows `ld` elements apart.
struct BlasMatrix {
  Tensor tensor;
  bool trans = false;
  std::int64_t ld = 1;
};

// Row-major when the last dim has unit stride, column-major (a transposed view) when the
// second-to-last has; a size-1 dim constrains nothing. Copies only when neither layout holds.
BlasMatrix as_blas_matrix(const Tensor& t) {
  const std::int64_t rows = t.size(-2), cols = t.size(-1);
  const std::int64_t rs = t.stride(-2), cs = t.stride(-1);
  if ((cols <= 1 || cs == 1) && (rows <= 1 || rs >= cols)) {
    return {t, false, rows <= 1 ? std::max<std::int64_t>(cols, 1) : std::max<std::int64_t>(rs, 1)};
  }
  if ((rows <= 1 || rs == 1) && (cols <= 1 || cs >= rows)) {
    return {t, true, cols <= 1 ? std::max<std::int64_t>(rows, 1) : std::max<std::int64_t>(cs, 1)};
  }
  return {t.contiguous(), false, std::max<std::int64_t>(cols, 1)};
}

// The batch dims of A, B and C merged wherever all three allow it (like a strided loop), so
// the innermost merged dim becomes one batched gemm call and the outer ones a loop of calls.
struct BatchLayout {
  std::vector<std::int64_t> sizes;
  std::array<std::vector<std::int64_t>, 3> strides;
};

BatchLayout merge_batch_dims(const Shape& batch, const std::array<const Tensor*, 3>& operands) {
  BatchLayout layout;
  for (std::int64_t d = 0; d < batch.rank(); ++d) {
    if (batch[d] == 1) continue;
    bool merge = !layout.sizes.empty();
    for (std::size_t k = 0; k < 3 && merge; ++k) {
      merge = layout.strides[k].back() == operands[k]->stride(d) * batch[d];
    }
    if (merge) {
      layout.sizes.back() *= batch[d];
      for (std::size_t k = 0; k < 3; ++k) layout.strides[k].back() = operands[k]->stride(d);
    } else {
      layout.sizes.push_back(batch[d]);
      for (std::size_t k = 0; k < 3; ++k) layout.strides[k].push_back(operands[k]->stride(d));
    }
  }
  if (layout.sizes.empty()) {
    layout.sizes.push_back(1);
    for (auto& s : layout.strides) s.push_back(0);
  }
  return layout;
}

// The same view of `t`'s storage starting `extra` elements further on.
Tensor shifted(const Tensor& t, std::int64_t extra) {
  return Tensor(t.storage(), t.shape(), t.strides(), t.offset() + extra, t.dtype());
}

Shape with_matrix_dims(const Shape& batch, std::int64_t rows, std::int64_t cols) {
  std::vector<std::int64_t> dims = batch.dims();
  dims.push_back(rows);
  dims.push_back(cols);
  return Shape(std::move(dims));
}

// (batch..., m, k) x (batch..., k, n) -> contiguous (batch..., m, n); a and b have at least
// two dims each and their batch dims broadcast to `batch`.
Tensor multiply(const Tensor& a, const Tensor& b, const Shape& batch) {
  const std::int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  Tensor c = Tensor::empty(with_matrix_dims(batch, m, n), a.dtype(), a.device());
  if (c.numel() == 0) return c;
  if (k == 0) return c.zero_();

  const BlasMatrix ma = as_blas_matrix(a);
  const BlasMatrix mb = as_blas_matrix(b);
  const Tensor ea = ma.tensor.expand(with_matrix_dims(batch, m, k));
  const Tensor eb = mb.tensor.expand(with_matrix_dims(batch, k, n));
  const BatchLayout layout = merge_batch_dims(batch, {&ea, &eb, &c});

  GemmDesc desc;
  desc.trans_a = ma.trans;
  desc.trans_b = mb.trans;
  desc.m = m;
  desc.n = n;
  desc.k = k;
  desc.lda = ma.ld;
  desc.ldb = mb.ld;
  desc.ldc = n;
  desc.batch = layout.sizes.back();
  desc.stride_a = layout.strides[0].back();
  desc.stride_b = layout.strides[1].back();
  desc.stride_c = layout.strides[2].back();
  // A shared B and row-major A whose matrices follow one another: one tall gemm.
  if (layout.sizes.size() == 1 && desc.stride_b == 0 && !desc.trans_a &&
      desc.stride_a == m * desc.lda) {
    desc.m = m * desc.batch;
    desc.batch = 1;
  }

  Backend& backend = backend_for(a.device());
  std::int64_t outer = 1;
  for (std::size_t d = 0; d + 1 < layout.sizes.size(); ++d) outer *= layout.sizes[d];
  for (std::int64_t i = 0; i < outer; ++i) {
    std::array<std::int64_t, 3> off{};
    std::int64_t rest = i;
    for (std::size_t d = layout.sizes.size() - 1; d-- > 0;) {
      const std::int64_t idx = rest % layout.sizes[d];
      rest /= layout.sizes[d];
      for (std::size_t op = 0; op < 3; ++op) off[op] += idx * layout.strides[op][d];
    }
    Tensor ci = shifted(c, off[2]);
    backend.gemm(desc, shifted(ea, off[0]), shifted(eb, off[1]), ci);
  }
  return c;
}

// NumPy broadcast of the batch dims, with an error that names both full shapes.
Shape broadcast_batch(const Tensor& a, const Tensor& b) {
  const std::int64_t ra = a.dim() - 2, rb = b.dim() - 2, rank = std::max(ra, rb);
  std::vector<std::int64_t> dims(static_cast<std::size_t>(rank));
  for (std::int64_t i = 0; i < rank; ++i) {
    const std::int64_t da = i - (rank - ra) >= 0 ? a.size(i - (rank - ra)) : 1;
    const std::int64_t db = i - (rank - rb) >= 0 ? b.size(i - (rank - rb)) : 1;
    check_argument(da == db || da == 1 || db == 1, "matmul: batch dimensions of shapes ", a.shape(),
                   " and ", b.shape(), " do not broadcast");
    dims[static_cast<std::size_t>(i)] = da == 1 ? db : da;
  }
  return Shape(std::move(dims));
}

void check_operands(const char* op, const Tensor& a, const Tensor& b) {
  check_floating(op, a);
  check_floating(op, b);
  check_same_device_and_dtype(op, {&a, &b});
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_operands("matmul", a, b);
  check_argument(a.dim() >= 1 && b.dim() >= 1, "matmul: both operands must be at least 1-D, got ",
                 "shapes ", a.shape(), " and ", b.shape());
  const Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
  const Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
  check_argument(a2.size(-1) == b2.size(-2), "matmul: shapes ", a.shape(), " and ", b.shape(),
                 " do not align (", a2.size(-1), " != ", b2.size(-2), ")");
  const Shape batch = broadcast_batch(a2, b2);
  const Tensor c = multiply(a2, b2, batch);

  // Drop the dims that 1-D promotion added.
  std::vector<std::int64_t> dims = batch.dims();
  if (a.dim() > 1) dims.push_back(a2.size(-2));
  if (b.dim() > 1) dims.push_back(b2.size(-1));
  return c.view(Shape(std::move(dims)));
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  check_operands("bmm", a, b);
  check_argument(a.dim() == 3 && b.dim() == 3, "bmm: expected 3-D operands, got shapes ", a.shape(),
                 " and ", b.shape());
  check_argument(a.size(0) == b.size(0), "bmm: batch sizes of shapes ", a.shape(), " and ",
                 b.shape(), " differ");
  check_argument(a.size(2) == b.size(1), "bmm: shapes ", a.shape(), " and ", b.shape(),
                 " do not align (", a.size(2), " != ", b.size(1), ")");
  return multiply(a, b, Shape{a.size(0)});
}

}  // namespace ortho
