// Reductions of the CUDA backend: sum, mean, max and min over any set of dims, and argmax.
//
// The input is seen as outputs (kept dims) times reduced elements (reduced dims); each output
// is combined by a group of threads with a tree of warp shuffles, so the result does not
// depend on scheduling. A "row" kernel gives each output a warp or a block whose lanes read
// consecutive reduced elements (reduced dims innermost in memory); a "column" kernel gives
// each thread its own output (kept dims innermost, or few elements per output). When the
// outputs are too few to fill the GPU, blocks along grid.y split each output's elements and
// a second pass combines their partial results. Sums accumulate in double (as the CPU).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/dispatch.h"
#include "cuda/cuda_backend.h"
#include "cuda/kernel_utils.cuh"

namespace ortho::cuda {
namespace {

constexpr unsigned int kFullMask = 0xffffffffu;
constexpr int kWarp = 32;
// A thread reads at least this many elements before an output is split across more blocks.
constexpr std::int64_t kMinPerThread = 32;
// Most blocks sharing one output (the grid.y limit).
constexpr std::int64_t kMaxSplits = 65535;
// Cap of grid.x; the kernels loop over further output blocks.
constexpr std::int64_t kMaxGridX = std::int64_t{1} << 20;
// Loads a thread issues before combining them.
constexpr int kUnroll = 4;

// Device-side constants (std::numeric_limits is host-only constexpr for nvcc).
template <typename T>
__device__ inline T infinity() {
  return static_cast<T>(INFINITY);
}

// Sum (and Mean, through `scale` = 1 / count) accumulates in double whatever T is.
template <typename T>
struct SumOp {
  using Acc = double;
  using Out = T;
  __device__ static Acc identity() { return 0.0; }
  __device__ static Acc load(T x, std::int64_t) { return static_cast<double>(x); }
  __device__ static Acc combine(Acc a, Acc b) { return a + b; }
  __device__ static Acc shuffle_xor(Acc v, int mask) { return __shfl_xor_sync(kFullMask, v, mask); }
  __device__ static Out finish(Acc a, double scale) { return static_cast<T>(a * scale); }
};

// Max (kMax) or Min in T; any NaN makes the result NaN (as the CPU and torch.amax).
template <typename T, bool kMax>
struct ExtremumOp {
  using Acc = T;
  using Out = T;
  __device__ static Acc identity() { return kMax ? -infinity<T>() : infinity<T>(); }
  __device__ static Acc load(T x, std::int64_t) { return x; }
  __device__ static Acc combine(Acc a, Acc b) {
    if (a != a) return a;
    if (b != b) return b;
    return kMax ? (a < b ? b : a) : (b < a ? b : a);
  }
  __device__ static Acc shuffle_xor(Acc v, int mask) { return __shfl_xor_sync(kFullMask, v, mask); }
  __device__ static Out finish(Acc a, double) { return a; }
};

// A value and its index along the reduced dim.
template <typename T>
struct ValueIndex {
  T value;
  std::int64_t index;
};

// Argmax: the first maximum wins and a NaN counts as the maximum (the first NaN wins), as
// the CPU's sequential scan and torch.argmax. Ties go to the smaller index, so the combine
// is commutative and associative and any tree order gives the scan's answer.
template <typename T>
struct ArgmaxOp {
  using Acc = ValueIndex<T>;
  using Out = std::int64_t;
  __device__ static Acc identity() { return {-infinity<T>(), INT64_MAX}; }
  __device__ static Acc load(T x, std::int64_t r) { return {x, r}; }
  __device__ static Acc combine(Acc a, Acc b) {
    const bool a_nan = a.value != a.value, b_nan = b.value != b.value;
    if (a_nan != b_nan) return a_nan ? a : b;
    if (!a_nan && a.value != b.value) return a.value > b.value ? a : b;
    return a.index <= b.index ? a : b;
  }
  __device__ static Acc shuffle_xor(Acc v, int mask) {
    return {__shfl_xor_sync(kFullMask, v.value, mask), __shfl_xor_sync(kFullMask, v.index, mask)};
  }
  __device__ static Out finish(Acc a, double) { return a.index; }
};

// The reduced elements of one output: flat index r -> input offset from the output's base.
// The innermost merged reduced dim is walked incrementally; the outer ones are indexed only
// when a lane's walk crosses into another row.
struct ReducedWalk {
  std::int64_t inner_size = 1;
  std::int64_t inner_stride = 0;
  StridedIndexer<1> outer;
};

struct ReducePlan {
  StridedIndexer<2> kept;  // output index -> {output offset, input offset of its base}
  ReducedWalk reduced;
  std::int64_t outputs = 1;
  std::int64_t per_output = 1;  // reduced elements per output
  std::int64_t splits = 1;      // blocks along grid.y sharing one output
  std::int64_t chunk = 1;       // reduced elements of one split
  bool row = true;              // row kernel (else column kernel)
  int lanes = kWarp;            // row kernel: threads per output (32 or kThreads)
  int rows = 1;                 // column kernel: threads per output (1 or 8)
};

__device__ inline std::int64_t outer_offset(const ReducedWalk& w, std::int64_t row) {
  std::int64_t off[1];
  w.outer.offsets(row, off);
  return off[0];
}

// Adds one element (input value at reduced index r, or a first pass's partial) to acc.
template <typename Op, bool kPartialIn, typename In>
__device__ typename Op::Acc combine_in(typename Op::Acc acc, In v, std::int64_t r) {
  if constexpr (kPartialIn) {
    return Op::combine(acc, v);
  } else {
    return Op::combine(acc, Op::load(v, r));
  }
}

// Combines elements first, first + step, ... (< end) of the output whose input starts at base;
// with kPartialIn the input holds Acc values of a first pass.
template <typename Op, bool kPartialIn, typename In>
__device__ typename Op::Acc accumulate(const In* base, const ReducedWalk& w, std::int64_t first,
                                       std::int64_t end, std::int64_t step) {
  typename Op::Acc acc = Op::identity();
  if (w.outer.rank == 0) {
    // One merged run (every contiguous case): kUnroll independent loads in flight per thread
    // keep enough bytes moving to saturate memory bandwidth.
    const std::int64_t s = w.inner_stride;
    std::int64_t r = first;
    for (; r + (kUnroll - 1) * step < end; r += kUnroll * step) {
      In v[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) v[u] = base[(r + u * step) * s];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) acc = combine_in<Op, kPartialIn>(acc, v[u], r + u * step);
    }
    for (; r < end; r += step) acc = combine_in<Op, kPartialIn>(acc, base[r * s], r);
    return acc;
  }
  if (first >= end) return acc;
  // r = row * inner_size + col, advanced by step without dividing.
  const std::int64_t row_step = step / w.inner_size, col_step = step % w.inner_size;
  std::int64_t row = first / w.inner_size, col = first % w.inner_size;
  std::int64_t row_off = outer_offset(w, row);
  for (std::int64_t r = first; r < end; r += step) {
    acc = combine_in<Op, kPartialIn>(acc, base[row_off + col * w.inner_stride], r);
    std::int64_t next_row = row + row_step;
    col += col_step;
    if (col >= w.inner_size) {
      col -= w.inner_size;
      ++next_row;
    }
    if (next_row != row && r + step < end) row_off = outer_offset(w, next_row);
    row = next_row;
  }
  return acc;
}

// Tree over the lanes of a warp: every lane ends with the same combination.
template <typename Op>
__device__ typename Op::Acc warp_reduce(typename Op::Acc v) {
  for (int mask = kWarp / 2; mask > 0; mask /= 2) v = Op::combine(v, Op::shuffle_xor(v, mask));
  return v;
}

// Writes an output's final value, or (kFinalOut false) the split's partial Acc.
template <typename Op, bool kFinalOut, typename Out>
__device__ void store(Out* out, const std::int64_t (&off)[2], std::int64_t o, const ReducePlan& p,
                      typename Op::Acc acc, double scale) {
  if constexpr (kFinalOut) {
    out[off[0]] = Op::finish(acc, scale);
  } else {
    out[o * p.splits + blockIdx.y] = acc;
  }
}

// kLanes threads per output (a warp, or the whole block), reading consecutive elements.
template <typename Op, bool kPartialIn, bool kFinalOut, int kLanes, typename In, typename Out>
__global__ void __launch_bounds__(kThreads)
    reduce_row_kernel(const In* in, Out* out, ReducePlan p, double scale) {
  using Acc = typename Op::Acc;
  constexpr int kGroups = kThreads / kLanes;
  constexpr int kWarps = kThreads / kWarp;
  __shared__ Acc warp_acc[kWarps];
  const int lane = static_cast<int>(threadIdx.x) % kLanes;
  const int group = static_cast<int>(threadIdx.x) / kLanes;
  const std::int64_t begin = static_cast<std::int64_t>(blockIdx.y) * p.chunk;
  const std::int64_t end = begin + p.chunk < p.per_output ? begin + p.chunk : p.per_output;
  const std::int64_t out_blocks = (p.outputs + kGroups - 1) / kGroups;
  // The loop bound depends on the block only, so every thread reaches each __syncthreads.
  for (std::int64_t ob = blockIdx.x; ob < out_blocks; ob += gridDim.x) {
    const std::int64_t o = ob * kGroups + group;
    std::int64_t off[2] = {0, 0};
    Acc acc = Op::identity();
    if (o < p.outputs) {
      p.kept.offsets(o, off);
      acc = accumulate<Op, kPartialIn>(in + off[1], p.reduced, begin + lane, end, kLanes);
    }
    acc = warp_reduce<Op>(acc);
    if constexpr (kLanes > kWarp) {
      const int warp = static_cast<int>(threadIdx.x) / kWarp;
      if (threadIdx.x % kWarp == 0) warp_acc[warp] = acc;
      __syncthreads();
      acc = warp_acc[0];
      for (int w = 1; w < kWarps; ++w) acc = Op::combine(acc, warp_acc[w]);
      __syncthreads();  // warp_acc is rewritten by the next output block
    }
    if (lane == 0 && o < p.outputs) store<Op, kFinalOut>(out, off, o, p, acc, scale);
  }
}

// One output per threadIdx.x (consecutive outputs: coalesced when kept dims are innermost);
// kRows threads along threadIdx.y share an output's elements and combine through shared memory.
template <typename Op, bool kPartialIn, bool kFinalOut, int kRows, typename In, typename Out>
__global__ void __launch_bounds__(kThreads)
    reduce_column_kernel(const In* in, Out* out, ReducePlan p, double scale) {
  using Acc = typename Op::Acc;
  constexpr int kCols = kThreads / kRows;
  __shared__ Acc partial[kRows][kCols];
  const int tx = static_cast<int>(threadIdx.x), ty = static_cast<int>(threadIdx.y);
  const std::int64_t begin = static_cast<std::int64_t>(blockIdx.y) * p.chunk;
  const std::int64_t end = begin + p.chunk < p.per_output ? begin + p.chunk : p.per_output;
  const std::int64_t out_blocks = (p.outputs + kCols - 1) / kCols;
  for (std::int64_t ob = blockIdx.x; ob < out_blocks; ob += gridDim.x) {
    const std::int64_t o = ob * kCols + tx;
    std::int64_t off[2] = {0, 0};
    Acc acc = Op::identity();
    if (o < p.outputs) {
      p.kept.offsets(o, off);
      acc = accumulate<Op, kPartialIn>(in + off[1], p.reduced, begin + ty, end, kRows);
    }
    if constexpr (kRows > 1) {
      partial[ty][tx] = acc;
      __syncthreads();
      for (int half = kRows / 2; half > 0; half /= 2) {
        if (ty < half) partial[ty][tx] = Op::combine(partial[ty][tx], partial[ty + half][tx]);
        __syncthreads();
      }
      acc = partial[0][tx];
      __syncthreads();  // partial is rewritten by the next output block
    }
    if (ty == 0 && o < p.outputs) store<Op, kFinalOut>(out, off, o, p, acc, scale);
  }
}

template <typename Op, bool kPartialIn, bool kFinalOut, typename In, typename Out>
void launch_pass(const DeviceContext& ctx, const ReducePlan& p, const In* in, Out* out,
                 double scale) {
  const char* name = "reduce";
  if (p.row) {
    const std::int64_t per_block = kThreads / p.lanes;
    const std::int64_t blocks = std::min((p.outputs + per_block - 1) / per_block, kMaxGridX);
    const dim3 grid(static_cast<unsigned int>(blocks), static_cast<unsigned int>(p.splits));
    if (p.lanes == kWarp) {
      reduce_row_kernel<Op, kPartialIn, kFinalOut, kWarp>
          <<<grid, kThreads, 0, ctx.stream>>>(in, out, p, scale);
    } else {
      reduce_row_kernel<Op, kPartialIn, kFinalOut, kThreads>
          <<<grid, kThreads, 0, ctx.stream>>>(in, out, p, scale);
    }
  } else {
    const std::int64_t per_block = kThreads / p.rows;
    const std::int64_t blocks = std::min((p.outputs + per_block - 1) / per_block, kMaxGridX);
    const dim3 grid(static_cast<unsigned int>(blocks), static_cast<unsigned int>(p.splits));
    const dim3 block(static_cast<unsigned int>(per_block), static_cast<unsigned int>(p.rows));
    if (p.rows == 1) {
      reduce_column_kernel<Op, kPartialIn, kFinalOut, 1>
          <<<grid, block, 0, ctx.stream>>>(in, out, p, scale);
    } else {
      reduce_column_kernel<Op, kPartialIn, kFinalOut, 8>
          <<<grid, block, 0, ctx.stream>>>(in, out, p, scale);
    }
  }
  ORTHO_CUDA_CHECK_LAUNCH(name);
}

// The kept and reduced dims of `in`: kept dims pair the output's strides with the input's,
// reduced dims walk the input. Size-1 dims are dropped, adjacent dims merged. With
// `reorder_reduced` (order-free reductions) the reduced dims are sorted by falling stride so
// the innermost is the one contiguous in memory, e.g. for a transposed input.
ReducePlan make_geometry(const Tensor& in, const std::vector<std::int64_t>& dims, const Tensor& out,
                         bool reorder_reduced) {
  struct Dim {
    std::int64_t size, in_stride, out_stride;
  };
  std::vector<Dim> kept, reduced;
  for (std::int64_t d = 0; d < in.dim(); ++d) {
    const std::int64_t size = in.shape()[d];
    if (size == 1) continue;
    const std::size_t i = static_cast<std::size_t>(d);
    const Dim dim{size, in.strides()[i], out.strides()[i]};
    if (std::binary_search(dims.begin(), dims.end(), d)) {
      reduced.push_back(dim);
    } else {
      kept.push_back(dim);
    }
  }
  if (reorder_reduced) {
    std::stable_sort(reduced.begin(), reduced.end(),
                     [](const Dim& a, const Dim& b) { return a.in_stride > b.in_stride; });
  }
  ReducePlan p;
  std::vector<std::int64_t> kept_sizes, kept_out, kept_in, red_sizes, red_in;
  for (const Dim& d : kept) {
    kept_sizes.push_back(d.size);
    kept_out.push_back(d.out_stride);
    kept_in.push_back(d.in_stride);
    p.outputs *= d.size;
  }
  for (const Dim& d : reduced) {
    red_sizes.push_back(d.size);
    red_in.push_back(d.in_stride);
    p.per_output *= d.size;
  }
  p.kept = make_indexer<2>(Shape(kept_sizes), {&kept_out, &kept_in});
  const StridedIndexer<1> red = make_indexer<1>(Shape(red_sizes), {&red_in});
  if (red.rank > 0) {
    p.reduced.inner_size = red.sizes[red.rank - 1];
    p.reduced.inner_stride = red.strides[0][red.rank - 1];
    p.reduced.outer.rank = red.rank - 1;
    for (int d = 0; d + 1 < red.rank; ++d) {
      p.reduced.outer.sizes[d] = red.sizes[d];
      p.reduced.outer.strides[0][d] = red.strides[0][d];
    }
  }
  return p;
}

// Input stride of the innermost kept dim (none: no kept dim).
std::int64_t kept_inner_stride(const ReducePlan& p) {
  return p.kept.rank > 0 ? p.kept.strides[1][p.kept.rank - 1]
                         : std::numeric_limits<std::int64_t>::max();
}

// Blocks that fill the device once (8 resident blocks of kThreads per multiprocessor).
std::int64_t target_blocks(const DeviceContext& ctx) {
  int sms = 0;
  ORTHO_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, ctx.device));
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(sms) * 8);
}

// Picks the kernel and, with `split`, how many blocks share each output.
void choose_launch(ReducePlan& p, bool split, std::int64_t blocks_wanted) {
  const std::int64_t r = p.per_output;
  const bool reduced_innermost = p.reduced.inner_stride < kept_inner_stride(p);
  p.row = reduced_innermost && r >= kWarp;
  p.lanes = r >= 2048 ? kThreads : kWarp;
  p.rows = r >= 64 ? 8 : 1;
  const std::int64_t per_output_threads = p.row ? p.lanes : p.rows;
  const std::int64_t outputs_per_block = kThreads / per_output_threads;
  const std::int64_t blocks_x = (p.outputs + outputs_per_block - 1) / outputs_per_block;
  p.splits = 1;
  if (split) {
    const std::int64_t useful =
        (r + per_output_threads * kMinPerThread - 1) / (per_output_threads * kMinPerThread);
    const std::int64_t room = std::max<std::int64_t>(1, blocks_wanted / blocks_x);
    p.splits = std::clamp<std::int64_t>(std::min(useful, room), 1, kMaxSplits);
  }
  p.chunk = std::max<std::int64_t>(1, (r + p.splits - 1) / p.splits);
  p.splits = std::max<std::int64_t>(1, (r + p.chunk - 1) / p.chunk);  // no empty split
}

// The second pass: output o combines the `splits` partials stored contiguously at o * splits.
ReducePlan combine_plan(const ReducePlan& first) {
  ReducePlan p = first;
  std::int64_t stride = first.splits;
  for (int d = p.kept.rank - 1; d >= 0; --d) {
    p.kept.strides[1][d] = stride;
    stride *= p.kept.sizes[d];
  }
  p.reduced = ReducedWalk{};
  p.reduced.inner_size = first.splits;
  p.reduced.inner_stride = 1;
  p.per_output = first.splits;
  choose_launch(p, false, 1);
  return p;
}

template <typename Op, typename T>
void run_reduction(const DeviceContext& ctx, ReducePlan p, const Tensor& in, typename Op::Out* out,
                   double scale) {
  using Acc = typename Op::Acc;
  if (p.outputs == 0) return;
  choose_launch(p, true, target_blocks(ctx));
  const T* x = device_ptr<const T>(in);
  if (p.splits == 1) {
    launch_pass<Op, false, true>(ctx, p, x, out, scale);
    return;
  }
  Workspace ws(ctx, static_cast<std::size_t>(p.outputs * p.splits) * sizeof(Acc));
  Acc* partial = static_cast<Acc*>(ws.data());
  launch_pass<Op, false, false>(ctx, p, x, partial, scale);
  launch_pass<Op, true, true>(ctx, combine_plan(p), static_cast<const Acc*>(partial), out, scale);
}

template <typename T>
void reduce_typed(const DeviceContext& ctx, ReduceOp op, const Tensor& in, const ReducePlan& p,
                  double scale, Tensor& out) {
  T* y = device_ptr<T>(out);
  switch (op) {
    case ReduceOp::Sum:
    case ReduceOp::Mean:
      return run_reduction<SumOp<T>, T>(ctx, p, in, y, scale);
    case ReduceOp::Max:
      return run_reduction<ExtremumOp<T, true>, T>(ctx, p, in, y, scale);
    case ReduceOp::Min:
      return run_reduction<ExtremumOp<T, false>, T>(ctx, p, in, y, scale);
  }
}

// More dims than an indexer holds: a contiguous copy merges them.
Tensor indexable(const Tensor& in) {
  return in.dim() > kMaxDims ? in.contiguous() : in;
}

}  // namespace

void CudaBackend::reduce(ReduceOp op, const Tensor& in, const std::vector<std::int64_t>& dims,
                         Tensor& out) {
  const DeviceContext& ctx = context(out);
  const Tensor x = indexable(in);
  const ReducePlan p = make_geometry(x, dims, out, true);
  // Mean = sum * (outputs / inputs), the CPU's scale.
  const double scale = op == ReduceOp::Mean
                           ? static_cast<double>(out.numel()) / static_cast<double>(x.numel())
                           : 1.0;
  dispatch_floating(x.dtype(), "reduce",
                    [&]<typename T>() { reduce_typed<T>(ctx, op, x, p, scale, out); });
}

void CudaBackend::argmax(const Tensor& in, std::int64_t dim, Tensor& out) {
  const DeviceContext& ctx = context(out);
  const Tensor x = indexable(in);
  // A rank-0 input has one element and no dim to reduce: its argmax is 0.
  const std::vector<std::int64_t> dims =
      x.dim() == 0 ? std::vector<std::int64_t>{} : std::vector<std::int64_t>{dim};
  const ReducePlan p = make_geometry(x, dims, out, false);
  dispatch_floating(x.dtype(), "argmax", [&]<typename T>() {
    run_reduction<ArgmaxOp<T>, T>(ctx, p, x, device_ptr<std::int64_t>(out), 1.0);
  });
}

}  // namespace ortho::cuda
