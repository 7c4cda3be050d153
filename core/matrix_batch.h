#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace ortho {

// A contiguous (..., rows, cols) tensor seen as `batch` row-major matrices: how the backends'
// dense linear algebra walks a batch.
struct MatrixBatch {
  std::int64_t batch = 1, rows = 0, cols = 0;
};

inline MatrixBatch matrix_batch(const Tensor& t) {
  MatrixBatch mb;
  mb.rows = t.size(-2);
  mb.cols = t.size(-1);
  for (std::int64_t d = 0; d + 2 < t.dim(); ++d) mb.batch *= t.size(d);
  return mb;
}

}  // namespace ortho
