#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "core/cpu/cpu_backend.h"
#include "core/shape.h"

namespace ortho::cpu {

// The iteration space of N operands that share a shape but not strides, with adjacent
// dimensions merged wherever every operand allows it, so a contiguous case is one row.
template <std::size_t N>
struct StridedLayout {
  std::vector<std::int64_t> sizes;                   // outer dims, then the inner dim last
  std::array<std::vector<std::int64_t>, N> strides;  // per operand, same order as sizes

  StridedLayout(const Shape& shape, const std::array<const std::vector<std::int64_t>*, N>& in) {
    for (std::int64_t d = 0; d < shape.rank(); ++d) {
      if (shape[d] == 1) continue;
      const bool merge = !sizes.empty() && mergeable(in, d, shape[d]);
      if (merge) {
        sizes.back() *= shape[d];
        for (std::size_t k = 0; k < N; ++k)
          strides[k].back() = (*in[k])[static_cast<std::size_t>(d)];
      } else {
        sizes.push_back(shape[d]);
        for (std::size_t k = 0; k < N; ++k)
          strides[k].push_back((*in[k])[static_cast<std::size_t>(d)]);
      }
    }
    if (sizes.empty()) {
      sizes.push_back(1);
      for (std::size_t k = 0; k < N; ++k) strides[k].push_back(0);
    }
  }

  std::int64_t inner() const { return sizes.back(); }
  std::int64_t rows() const {
    std::int64_t r = 1;
    for (std::size_t d = 0; d + 1 < sizes.size(); ++d) r *= sizes[d];
    return r;
  }
  // Element offsets of each operand at the start of row `row`.
  std::array<std::int64_t, N> row_offsets(std::int64_t row) const {
    std::array<std::int64_t, N> off{};
    for (std::size_t d = sizes.size() - 1; d-- > 0;) {
      const std::int64_t i = row % sizes[d];
      row /= sizes[d];
      for (std::size_t k = 0; k < N; ++k) off[k] += i * strides[k][d];
    }
    return off;
  }

 private:
  // Dim d folds into the previous block when, for every operand, stepping over all of d
  // lands exactly on the block's next element.
  bool mergeable(const std::array<const std::vector<std::int64_t>*, N>& in, std::int64_t d,
                 std::int64_t size) const {
    for (std::size_t k = 0; k < N; ++k) {
      if (strides[k].back() != (*in[k])[static_cast<std::size_t>(d)] * size) return false;
    }
    return true;
  }
};

}  // namespace ortho::cpu

namespace ortho::cpu {

// Runs fn(offsets, n, inner_strides) for every row of the layout, rows split across OpenMP
// threads when the whole iteration has at least kParallelGrain elements.
template <std::size_t N, typename Fn>
void for_each_row(const StridedLayout<N>& layout, Fn&& fn) {
  const std::int64_t rows = layout.rows();
  const std::int64_t n = layout.inner();
  std::array<std::int64_t, N> inner_strides;
  for (std::size_t k = 0; k < N; ++k) inner_strides[k] = layout.strides[k].back();
  const bool parallel = rows > 1 && rows * n >= kParallelGrain;
#pragma omp parallel for schedule(static) if (parallel)
  for (std::int64_t r = 0; r < rows; ++r) fn(layout.row_offsets(r), n, inner_strides);
}

}  // namespace ortho::cpu
