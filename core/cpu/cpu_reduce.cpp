// Reduction kernels of the CPU backend. The input's dims are merged into runs of reduced and
// kept dims; the innermost run decides the loop: a reduced inner run sums contiguous rows
// (bias gradients over N, H, W), a kept inner run adds whole rows into an accumulator row
// (sums over N of (N, C)). Neither transposes the input. Work is cut into chunks of a fixed
// size, so the result does not depend on the thread count; float32 sums accumulate in double.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/cpu/cpu_backend.h"
#include "core/dispatch.h"

namespace ortho::cpu {
namespace {

// Elements one work item reduces before its partial result is combined with the others.
constexpr std::int64_t kChunk = 8192;
// Width of the accumulator row one work item holds when the inner run is kept, and the
// elements it reduces into that row (larger: fewer partial rows to write and combine).
constexpr std::int64_t kColumnBlock = 1024;
constexpr std::int64_t kColumnChunk = 65536;

// Flat index -> element offset over a list of (size, stride) dims, row-major.
struct Indexer {
  std::vector<std::int64_t> sizes, strides;

  std::int64_t count() const {
    std::int64_t n = 1;
    for (std::int64_t s : sizes) n *= s;
    return n;
  }
  std::int64_t offset(std::int64_t flat) const {
    std::int64_t off = 0;
    for (std::size_t d = sizes.size(); d-- > 0;) {
      off += (flat % sizes[d]) * strides[d];
      flat /= sizes[d];
    }
    return off;
  }
};

// A contiguous input seen as outer kept dims, outer reduced dims and one inner run.
struct ReduceGeometry {
  Indexer kept;     // outer kept dims (output order)
  Indexer reduced;  // outer reduced dims
  bool inner_reduced = true;
  std::int64_t inner = 1;  // length of the innermost run (stride 1)
};

ReduceGeometry make_geometry(const Shape& shape, const std::vector<std::int64_t>& dims) {
  struct Run {
    std::int64_t size, stride;
    bool reduced;
  };
  std::vector<bool> is_reduced(static_cast<std::size_t>(shape.rank()), false);
  for (std::int64_t d : dims) is_reduced[static_cast<std::size_t>(d)] = true;
  const std::vector<std::int64_t> strides = shape.contiguous_strides();
  std::vector<Run> runs;
  for (std::int64_t d = 0; d < shape.rank(); ++d) {
    if (shape[d] == 1) continue;
    const bool r = is_reduced[static_cast<std::size_t>(d)];
    const std::int64_t stride = strides[static_cast<std::size_t>(d)];
    if (!runs.empty() && runs.back().reduced == r) {
      runs.back().size *= shape[d];
      runs.back().stride = stride;
    } else {
      runs.push_back({shape[d], stride, r});
    }
  }
  ReduceGeometry g;
  if (runs.empty()) return g;
  g.inner_reduced = runs.back().reduced;
  g.inner = runs.back().size;
  runs.pop_back();
  for (const Run& run : runs) {
    Indexer& target = run.reduced ? g.reduced : g.kept;
    target.sizes.push_back(run.size);
    target.strides.push_back(run.stride);
  }
  return g;
}

// Sum (and Mean) accumulate in double whatever the input type.
template <typename T>
struct SumOp {
  using Acc = double;
  static Acc identity() { return 0.0; }
  static Acc combine(Acc a, Acc b) { return a + b; }
  static Acc row(const T* x, std::int64_t n) {
    double acc = 0.0;
#pragma omp simd reduction(+ : acc)
    for (std::int64_t i = 0; i < n; ++i) acc += static_cast<double>(x[i]);
    return acc;
  }
  static void accumulate(Acc* acc, const T* x, std::int64_t n) {
    for (std::int64_t j = 0; j < n; ++j) acc[j] += static_cast<double>(x[j]);
  }
  // Four rows per pass: a quarter of the accumulator loads and stores.
  static void accumulate4(Acc* acc, const T* a, const T* b, const T* c, const T* d,
                          std::int64_t n) {
    for (std::int64_t j = 0; j < n; ++j) {
      acc[j] += (static_cast<double>(a[j]) + static_cast<double>(b[j])) +
                (static_cast<double>(c[j]) + static_cast<double>(d[j]));
    }
  }
};

// Max (kMax) or Min in the input type; any NaN makes the result NaN (as torch.amax).
template <typename T, bool kMax>
struct ExtremumOp {
  using Acc = T;
  static Acc identity() {
    return kMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
  }
  static Acc combine(Acc a, Acc b) {
    if (a != a || b != b) return a != a ? a : b;
    return kMax ? std::max(a, b) : std::min(a, b);
  }
  static Acc row(const T* x, std::int64_t n) {
    T best = identity();
    int nan = 0;
    if constexpr (kMax) {
#pragma omp simd reduction(max : best) reduction(| : nan)
      for (std::int64_t i = 0; i < n; ++i) {
        best = std::max(best, x[i]);
        nan |= x[i] != x[i];
      }
    } else {
#pragma omp simd reduction(min : best) reduction(| : nan)
      for (std::int64_t i = 0; i < n; ++i) {
        best = std::min(best, x[i]);
        nan |= x[i] != x[i];
      }
    }
    return nan ? std::numeric_limits<T>::quiet_NaN() : best;
  }
  // The better of v and acc; a NaN accumulator stays NaN (no comparison with it is true).
  static T pick(T acc, T v) {
    return ((kMax ? v > acc : v < acc) || v != v) ? v : acc;
  }
  static void accumulate(Acc* acc, const T* x, std::int64_t n) {
    for (std::int64_t j = 0; j < n; ++j) acc[j] = pick(acc[j], x[j]);
  }
  static void accumulate4(Acc* acc, const T* a, const T* b, const T* c, const T* d,
                          std::int64_t n) {
    for (std::int64_t j = 0; j < n; ++j)
      acc[j] = pick(pick(pick(pick(acc[j], a[j]), b[j]), c[j]), d[j]);
  }
};

// Inner run reduced: output o combines rows of `inner` contiguous elements. The R * inner
// elements of each output are cut into chunks of kChunk, reduced in parallel, then combined
// in chunk order.
template <typename T, typename Op>
void reduce_inner(const T* in, const ReduceGeometry& g, double scale, T* out) {
  using Acc = typename Op::Acc;
  const std::int64_t outputs = g.kept.count();
  const std::int64_t per_output = g.reduced.count() * g.inner;
  const std::int64_t chunks = (per_output + kChunk - 1) / kChunk;
  const std::int64_t items = outputs * chunks;
  auto reduce_range = [&](std::int64_t o, std::int64_t begin, std::int64_t end) {
    const T* base = in + g.kept.offset(o);
    Acc acc = Op::identity();
    for (std::int64_t e = begin; e < end;) {
      const std::int64_t r = e / g.inner, j = e % g.inner;
      const std::int64_t n = std::min(g.inner - j, end - e);
      acc = Op::combine(acc, Op::row(base + g.reduced.offset(r) + j, n));
      e += n;
    }
    return acc;
  };
  auto finish = [&](Acc acc) {
    if constexpr (std::is_same_v<Op, SumOp<T>>) return static_cast<T>(acc * scale);
    return static_cast<T>(acc);
  };
  const bool parallel = items > 1 && outputs * per_output >= kParallelGrain;
  if (chunks == 1) {
#pragma omp parallel for schedule(static) if (parallel)
    for (std::int64_t o = 0; o < outputs; ++o) out[o] = finish(reduce_range(o, 0, per_output));
    return;
  }
  std::vector<Acc> partial(static_cast<std::size_t>(items));
#pragma omp parallel for schedule(static) if (parallel)
  for (std::int64_t w = 0; w < items; ++w) {
    const std::int64_t o = w / chunks, c = w % chunks;
    partial[static_cast<std::size_t>(w)] =
        reduce_range(o, c * kChunk, std::min(per_output, (c + 1) * kChunk));
  }
  for (std::int64_t o = 0; o < outputs; ++o) {
    Acc acc = Op::identity();
    for (std::int64_t c = 0; c < chunks; ++c) {
      acc = Op::combine(acc, partial[static_cast<std::size_t>(o * chunks + c)]);
    }
    out[o] = finish(acc);
  }
}

// Inner run kept: output row o (inner elements) combines R input rows. Work items are
// (output row, column block, block of input rows); partial rows are combined in order.
template <typename T, typename Op>
void reduce_outer(const T* in, const ReduceGeometry& g, double scale, T* out) {
  using Acc = typename Op::Acc;
  const std::int64_t out_rows = g.kept.count();
  const std::int64_t rows = g.reduced.count();
  const std::int64_t width = g.inner;
  const std::int64_t col_blocks = (width + kColumnBlock - 1) / kColumnBlock;
  const std::int64_t block_width = std::min(width, kColumnBlock);
  const std::int64_t rows_per_item = std::max<std::int64_t>(1, kColumnChunk / block_width);
  const std::int64_t row_blocks = (rows + rows_per_item - 1) / rows_per_item;
  const std::int64_t items = out_rows * col_blocks * row_blocks;
  // partial[rb][o * width + j]: the combination of input row block rb.
  std::vector<Acc> partial(static_cast<std::size_t>(row_blocks * out_rows * width));
  const bool parallel = items > 1 && out_rows * rows * width >= kParallelGrain;
#pragma omp parallel for schedule(static) if (parallel)
  for (std::int64_t w = 0; w < items; ++w) {
    const std::int64_t rb = w % row_blocks;
    const std::int64_t cb = (w / row_blocks) % col_blocks;
    const std::int64_t o = w / (row_blocks * col_blocks);
    const std::int64_t j0 = cb * kColumnBlock;
    const std::int64_t n = std::min(kColumnBlock, width - j0);
    Acc* acc = partial.data() + rb * out_rows * width + o * width + j0;
    std::fill(acc, acc + n, Op::identity());
    const T* base = in + g.kept.offset(o) + j0;
    const std::int64_t r_end = std::min(rows, (rb + 1) * rows_per_item);
    std::int64_t r = rb * rows_per_item;
    for (; r + 4 <= r_end; r += 4) {
      Op::accumulate4(acc, base + g.reduced.offset(r), base + g.reduced.offset(r + 1),
                      base + g.reduced.offset(r + 2), base + g.reduced.offset(r + 3), n);
    }
    for (; r < r_end; ++r) Op::accumulate(acc, base + g.reduced.offset(r), n);
  }
  const std::int64_t total = out_rows * width;
  const bool parallel_out = total >= kParallelGrain;
#pragma omp parallel for schedule(static) if (parallel_out)
  for (std::int64_t i = 0; i < total; ++i) {
    Acc acc = partial[static_cast<std::size_t>(i)];
    for (std::int64_t rb = 1; rb < row_blocks; ++rb) {
      acc = Op::combine(acc, partial[static_cast<std::size_t>(rb * total + i)]);
    }
    if constexpr (std::is_same_v<Op, SumOp<T>>) {
      out[i] = static_cast<T>(acc * scale);
    } else {
      out[i] = static_cast<T>(acc);
    }
  }
}

template <typename T, typename Op>
void reduce_with(const Tensor& in, const ReduceGeometry& g, double scale, Tensor& out) {
  const T* x = static_cast<const T*>(in.raw_data());
  T* y = static_cast<T*>(out.raw_data());
  if (g.inner_reduced) {
    reduce_inner<T, Op>(x, g, scale, y);
  } else {
    reduce_outer<T, Op>(x, g, scale, y);
  }
}

// Argmax over the middle dim of a contiguous (outer, n, inner) view; the first maximum wins
// and a NaN counts as the maximum (as torch.argmax).
template <typename T>
void argmax_contiguous(const T* x, std::int64_t outer, std::int64_t n, std::int64_t inner,
                       std::int64_t* out) {
  auto better = [](T v, T best) { return v > best || (v != v && best == best); };
  const bool parallel = outer * n * inner >= kParallelGrain;
  if (inner == 1) {
    // A vectorized max, then the first position holding it: no data-dependent branch per
    // element, which random data would mispredict.
#pragma omp parallel for schedule(static) if (parallel && outer > 1)
    for (std::int64_t o = 0; o < outer; ++o) {
      const T* row = x + o * n;
      const T m = ExtremumOp<T, true>::row(row, n);
      std::int64_t arg = 0;
      if (m != m) {
        while (row[arg] == row[arg]) ++arg;
      } else {
        while (row[arg] != m) ++arg;
      }
      out[o] = arg;
    }
    return;
  }
  const std::int64_t col_blocks = (inner + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static) if (parallel && outer * col_blocks > 1)
  for (std::int64_t w = 0; w < outer * col_blocks; ++w) {
    const std::int64_t o = w / col_blocks;
    const std::int64_t j0 = (w % col_blocks) * kColumnBlock;
    const std::int64_t m = std::min(kColumnBlock, inner - j0);
    const T* base = x + o * n * inner + j0;
    std::int64_t* arg = out + o * inner + j0;
    std::vector<T> best(base, base + m);
    std::fill(arg, arg + m, 0);
    for (std::int64_t k = 1; k < n; ++k) {
      const T* row = base + k * inner;
      T* b = best.data();
      for (std::int64_t j = 0; j < m; ++j) {
        const bool take = better(row[j], b[j]);
        b[j] = take ? row[j] : b[j];
        arg[j] = take ? k : arg[j];
      }
    }
  }
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, const Tensor& in, const std::vector<std::int64_t>& dims,
                        Tensor& out) {
  if (!out.is_contiguous()) {
    Tensor tmp = Tensor::empty(out.shape(), out.dtype(), out.device());
    reduce(op, in, dims, tmp);
    copy(tmp, out);
    return;
  }
  const Tensor x = in.contiguous();
  const ReduceGeometry g = make_geometry(x.shape(), dims);
  const double scale = op == ReduceOp::Mean
                           ? static_cast<double>(out.numel()) / static_cast<double>(x.numel())
                           : 1.0;
  dispatch_floating(out.dtype(), "reduce", [&]<typename T>() {
    switch (op) {
      case ReduceOp::Sum:
      case ReduceOp::Mean:
        return reduce_with<T, SumOp<T>>(x, g, scale, out);
      case ReduceOp::Max:
        return reduce_with<T, ExtremumOp<T, true>>(x, g, scale, out);
      case ReduceOp::Min:
        return reduce_with<T, ExtremumOp<T, false>>(x, g, scale, out);
    }
  });
}

void CpuBackend::argmax(const Tensor& in, std::int64_t dim, Tensor& out) {
  const Tensor x = in.contiguous();
  std::int64_t outer = 1, inner = 1;
  for (std::int64_t d = 0; d < dim; ++d) outer *= x.shape()[d];
  for (std::int64_t d = dim + 1; d < x.dim(); ++d) inner *= x.shape()[d];
  const std::int64_t n = x.dim() == 0 ? 1 : x.shape()[dim];
  Tensor result = out.is_contiguous() ? out : Tensor::empty(out.shape(), DType::Int64);
  dispatch_floating(x.dtype(), "argmax", [&]<typename T>() {
    argmax_contiguous<T>(static_cast<const T*>(x.raw_data()), outer, n, inner,
                         static_cast<std::int64_t*>(result.raw_data()));
  });
  if (!out.is_contiguous()) copy(result, out);
}

}  // namespace ortho::cpu
