// 2-D convolution kernels of the CPU backend, lowered onto OpenBLAS gemm.
//
// The batch is split across threads, one image at a time: each thread unfolds its image into
// a private buffer that stays in its L2 cache and runs single-threaded gemms on it (OpenBLAS
// does not spawn threads inside an OpenMP region), so threads never wait on one another.
// The unfolding (see Lowering) copies only the horizontal taps where it can and lets kernel
// rows read it shifted, a third of im2col's copy for 3x3 kernels. Backward-input with unit
// stride is itself a convolution of grad_out with the flipped, transposed kernel (Dumoulin &
// Visin 2016, "A guide to convolution arithmetic", relationship 8), so it reuses the forward
// path instead of a gemm + col2im scatter; strided backward-input is gemm + col2im. Pointwise
// (1x1, stride 1, no padding) windows need no unfolding at all. With a horizontal stride the
// image's rows are first split into stride phases (see RowLayout) so that every copy runs at
// unit stride, and gemms are cut into pieces OpenBLAS runs unpacked (see kSmallGemmMacs).
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/cpu/cpu_backend.h"
#include "core/cpu/cpu_blas.h"
#include "core/dispatch.h"

namespace ortho::cpu {
namespace {

// Bytes of column matrix unfolded at a time per thread: half of a 512 KiB L2, and a bound on
// the workspace whatever the image size.
constexpr std::int64_t kColumnBudget = 256 * 1024;

std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
  return (a + b - 1) / b;
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a >= 0 ? a / b : -ceil_div(-a, b);
}

// Products of at most this many multiply-adds run through OpenBLAS's unpacked small-matrix
// kernels on AVX-512 (its sgemm_small_kernel_permit, OpenBLAS >= 0.3.17), which on the skinny
// products of convolutions outrun its packed path by 1.3x to 1.9x (measured on ResNet-20's).
constexpr std::int64_t kSmallGemmMacs = 1000000;
// Narrower pieces than this lose more to the calls than the small kernels win.
constexpr std::int64_t kMinSmallGemmPiece = 32;
// The same permit takes a transposed operand only into products of at most this many entries.
constexpr std::int64_t kSmallTransposedGemmEntries = 1200;

// How much of a dimension `n` one gemm takes so that an (m x k) by (k x piece) product stays
// small, in pieces of equal size; all of it when even a narrow piece would not (the packed
// path suits such sizes).
std::int64_t small_gemm_piece(std::int64_t m, std::int64_t k, std::int64_t n) {
  const std::int64_t piece = kSmallGemmMacs / std::max<std::int64_t>(m * k, 1);
  if (piece < kMinSmallGemmPiece || piece >= n) return std::max<std::int64_t>(n, 1);
  return ceil_div(n, ceil_div(n, piece));
}

// c (m x n) = op(a) b + beta c, op(a) m x k, as small-matrix products over pieces of the
// columns of b and c (all row-major).
template <typename T>
void gemm_in_pieces(bool trans_a, std::int64_t m, std::int64_t n, std::int64_t k, const T* a,
                    std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c,
                    std::int64_t ldc) {
  const std::int64_t piece = small_gemm_piece(m, k, n);
  for (std::int64_t p0 = 0; p0 < n; p0 += piece) {
    blas_gemm<T>(trans_a, false, m, std::min(piece, n - p0), k, T(1), a, lda, b + p0, ldb, beta,
                 c + p0, ldc);
  }
}

// A sliding window over an (h x w) plane producing an (oh x ow) plane.
struct Window {
  std::int64_t h = 0, w = 0, kh = 1, kw = 1, oh = 0, ow = 0;
  std::int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0, dilation_h = 1, dilation_w = 1;

  std::int64_t taps() const { return kh * kw; }
  std::int64_t in_plane() const { return h * w; }
  std::int64_t out_plane() const { return oh * ow; }
  // Every output pixel reads exactly its own input pixel: the image is its column matrix.
  bool identity() const {
    return kh == 1 && kw == 1 && stride_h == 1 && stride_w == 1 && pad_h == 0 && pad_w == 0;
  }
};

// The sizes of one convolution: input (n, c, h, w), weight (o, c / groups, kh, kw).
struct ConvShape {
  std::int64_t n = 0, c = 0, o = 0, groups = 1;
  Window window;

  std::int64_t in_group() const { return c / groups; }
  std::int64_t out_group() const { return o / groups; }
  // Rows of one group's column matrix, = columns of its weight matrix.
  std::int64_t group_rows() const { return in_group() * window.taps(); }
};

ConvShape conv_shape(const Tensor& input, const Tensor& weight, const Shape& out,
                     const Conv2dParams& p) {
  ConvShape s;
  s.n = input.size(0);
  s.c = input.size(1);
  s.o = weight.size(0);
  s.groups = p.groups;
  s.window = Window{input.size(2), input.size(3), weight.size(2), weight.size(3),
                    out[2],        out[3],        p.stride_h,     p.stride_w,
                    p.pad_h,       p.pad_w,       p.dilation_h,   p.dilation_w};
  return s;
}

// The window that maps grad_out back onto the input when the stride is 1: same kernel and
// dilation, padding dilation * (k - 1) - pad (negative padding crops).
Window transposed_window(const Window& w) {
  Window t = w;
  t.h = w.oh;
  t.w = w.ow;
  t.oh = w.h;
  t.ow = w.w;
  t.pad_h = w.dilation_h * (w.kh - 1) - w.pad_h;
  t.pad_w = w.dilation_w * (w.kw - 1) - w.pad_w;
  return t;
}

// How the unfolding stores an input row. With a horizontal stride s > 1 the row is split into
// s phase segments of ceil(w / s) pixels, pixel x at position x / s of segment x % s, so that
// every tap reads its pixels at unit stride: a gather with stride s runs element by element.
struct RowLayout {
  std::int64_t stride = 1, segment = 0;

  bool split() const { return stride > 1; }
  std::int64_t row_len() const { return stride * segment; }
  // Where a tap at horizontal offset `offset` starts: output column x reads start + x.
  std::int64_t tap_start(std::int64_t offset) const {
    const std::int64_t shift = floor_div(offset, stride);
    return (offset - shift * stride) * segment + shift;
  }
};

RowLayout row_layout(const Window& win) {
  return {win.stride_w, ceil_div(win.w, win.stride_w)};
}

// Output columns [first, last) of a row whose input index x * stride + offset lies in [0, w).
struct ValidSpan {
  std::int64_t first, last;
};

ValidSpan valid_span(std::int64_t w, std::int64_t ow, std::int64_t stride, std::int64_t offset) {
  const std::int64_t first = offset >= 0 ? 0 : std::min(ow, ceil_div(-offset, stride));
  const std::int64_t last = w - offset <= 0 ? 0 : std::min(ow, ceil_div(w - offset, stride));
  return {first, std::max(first, last)};
}

// Where kernel tap (i, j) reads for output rows [y0, y1): output rows [first, last) and
// columns `cols` fall inside the input, at input (y * stride_h + offset_h,
// x * stride_w + offset_w). Computed once per tap and shared by every channel.
struct TapSpan {
  std::int64_t first = 0, last = 0;
  ValidSpan cols{0, 0};
  std::int64_t offset_h = 0, offset_w = 0;
};

TapSpan tap_span(const Window& win, std::int64_t tap, std::int64_t y0, std::int64_t y1) {
  TapSpan t;
  t.offset_h = tap / win.kw * win.dilation_h - win.pad_h;
  t.offset_w = tap % win.kw * win.dilation_w - win.pad_w;
  const ValidSpan rows = valid_span(win.h, win.oh, win.stride_h, t.offset_h);
  t.first = std::clamp(rows.first, y0, y1);
  t.last = std::clamp(rows.last, t.first, y1);
  t.cols = valid_span(win.w, win.ow, win.stride_w, t.offset_w);
  if (t.cols.first == t.cols.last) t.last = t.first;  // nothing of any row is inside
  return t;
}

// One row (channel, tap) of the column matrix for output rows [y0, y1): the plane (rows laid
// out as row_layout(win)) under the tap at each of those output pixels, zero in the padding.
template <typename T>
void unfold_tap(const T* plane, const Window& win, const TapSpan& t, std::int64_t y0,
                std::int64_t y1, T* dst) {
  const std::int64_t ow = win.ow, cf = t.cols.first, cl = t.cols.last;
  std::fill(dst, dst + (t.first - y0) * ow, T(0));
  if (t.first < t.last && win.stride_h == 1 && win.stride_w == 1 && ow == win.w) {
    // Same-width unit-stride window: the valid rows are one shifted copy of the plane, whose
    // entries that wrapped around a row edge are then zeroed.
    const std::int64_t begin = t.first * ow + cf, end = (t.last - 1) * ow + cl;
    const std::int64_t shift = t.offset_h * win.w + t.offset_w;  // begin + shift >= 0
    std::copy(plane + (begin + shift), plane + (end + shift), dst + (begin - y0 * ow));
    for (std::int64_t y = t.first; y < t.last; ++y) {
      T* out = dst + (y - y0) * ow;
      for (std::int64_t x = 0; x < cf; ++x) out[x] = T(0);
      for (std::int64_t x = cl; x < ow; ++x) out[x] = T(0);
    }
  } else {
    const RowLayout layout = row_layout(win);
    const std::int64_t start = layout.tap_start(t.offset_w);
    for (std::int64_t y = t.first; y < t.last; ++y) {
      const T* src = plane + ((y * win.stride_h + t.offset_h) * layout.row_len() + start);
      T* out = dst + (y - y0) * ow;
      for (std::int64_t x = 0; x < cf; ++x) out[x] = T(0);
      for (std::int64_t x = cf; x < cl; ++x) out[x] = src[x];
      for (std::int64_t x = cl; x < ow; ++x) out[x] = T(0);
    }
  }
  std::fill(dst + (t.last - y0) * ow, dst + (y1 - y0) * ow, T(0));
}

// im2col of output rows [y0, y1): unfolds `channels` planes, rows laid out as row_layout(win),
// into the column matrix (channels * kh * kw) x ((y1 - y0) * ow), row (channel, tap).
template <typename T>
void im2col(const T* image, std::int64_t channels, const Window& win, std::int64_t y0,
            std::int64_t y1, T* col, bool parallel) {
  const std::int64_t taps = win.taps(), cols = (y1 - y0) * win.ow;
  const std::int64_t plane = win.h * row_layout(win).row_len();
  const bool split = parallel && taps > 1 && channels * taps * cols >= kParallelGrain;
#pragma omp parallel for schedule(static) if (split)
  for (std::int64_t tap = 0; tap < taps; ++tap) {
    const TapSpan t = tap_span(win, tap, y0, y1);
    for (std::int64_t ch = 0; ch < channels; ++ch) {
      unfold_tap(image + ch * plane, win, t, y0, y1, col + (ch * taps + tap) * cols);
    }
  }
}

// Lays `rows` rows of w pixels out as `layout` (see RowLayout); padding pixels of a short last
// segment are zero.
template <typename T>
void split_rows(const T* image, std::int64_t rows, std::int64_t w, const RowLayout& layout,
                T* dst) {
  const std::int64_t s = layout.stride, seg = layout.segment;
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* src = image + r * w;
    T* out = dst + r * layout.row_len();
    if (s == 2 && w == 2 * seg) {  // the common case, as one loop the compiler vectorizes
      for (std::int64_t x = 0; x < seg; ++x) {
        out[x] = src[2 * x];
        out[seg + x] = src[2 * x + 1];
      }
      continue;
    }
    for (std::int64_t q = 0; q < s; ++q) {
      for (std::int64_t x = 0; x < seg; ++x)
        out[q * seg + x] = x * s + q < w ? src[x * s + q] : T(0);
    }
  }
}

// The inverse of split_rows.
template <typename T>
void merge_rows(const T* split, std::int64_t rows, std::int64_t w, const RowLayout& layout,
                T* image) {
  const std::int64_t s = layout.stride, seg = layout.segment;
  for (std::int64_t r = 0; r < rows; ++r) {
    const T* src = split + r * layout.row_len();
    T* out = image + r * w;
    if (s == 2 && w == 2 * seg) {
      for (std::int64_t x = 0; x < seg; ++x) {
        out[2 * x] = src[x];
        out[2 * x + 1] = src[seg + x];
      }
      continue;
    }
    for (std::int64_t x = 0; x < w; ++x) out[x] = src[x % s * seg + x / s];
  }
}

// How a window is lowered onto gemm. Full im2col unfolds every tap of a block of output rows
// into one column matrix for one gemm. Row unfolding copies only the horizontal taps, over
// the block's rows plus the kernel's vertical reach, once per input-row phase (row mod
// vertical stride): kernel row i then reads phase (i * dilation_h) % stride_h shifted down by
// (i * dilation_h) / stride_h rows, so kh gemms share an unfolding about kh / stride_h times
// smaller (the copy, not the gemm, is what im2col costs beyond the arithmetic).
struct Lowering {
  Window unfold;            // im2col window of phase 0; phase p reads input rows p further down
  std::int64_t phases = 1;  // input-row phases unfolded apart: the vertical stride
  std::int64_t shifts = 1;  // gemms per block, one per kernel row the unfolding leaves out
  std::int64_t reach = 0;   // rows unfolded per phase beyond a block's output rows
  std::int64_t dilation_h = 1;

  std::int64_t taps() const { return unfold.taps(); }  // kernel taps per gemm
  bool identity() const { return unfold.identity(); }
  std::int64_t out_rows() const { return unfold.oh - reach; }
  std::int64_t phase(std::int64_t row) const { return row * dilation_h % phases; }
  std::int64_t shift_rows(std::int64_t row) const { return row * dilation_h / phases; }
  bool uses_phase(std::int64_t p) const {
    for (std::int64_t row = 0; row < shifts; ++row) {
      if (phase(row) == p) return true;
    }
    return false;
  }
  Window phase_window(std::int64_t p) const {
    Window w = unfold;
    w.pad_h -= p;
    return w;
  }
};

// Row unfolding shrinks each gemm's inner dimension to channels * kw; below this OpenBLAS
// loses more than the smaller copy saves.
constexpr std::int64_t kMinRowUnfoldInner = 48;

// Full im2col: every tap unfolded, one gemm per block.
Lowering full_lowering(const Window& win) {
  Lowering l;
  l.unfold = win;
  return l;
}

Lowering plan_lowering(const Window& win, std::int64_t in_group) {
  Lowering l = full_lowering(win);
  if (win.kh > 1 && win.stride_h <= win.kh && in_group * win.kw >= kMinRowUnfoldInner) {
    l.phases = win.stride_h;
    l.shifts = win.kh;
    l.dilation_h = win.dilation_h;
    l.reach = (win.kh - 1) * win.dilation_h / win.stride_h;
    l.unfold.kh = 1;
    l.unfold.oh = win.oh + l.reach;
  }
  return l;
}

// Output rows per block, so that a block's unfolded matrices of `channels` planes stay in
// the per-core L2 cache, where the gemm's packing reads them back.
std::int64_t block_rows(std::int64_t channels, const Lowering& l, std::size_t element) {
  const std::int64_t row_bytes =
      l.phases * channels * l.taps() * l.unfold.ow * static_cast<std::int64_t>(element);
  const std::int64_t rows = kColumnBudget / std::max<std::int64_t>(row_bytes, 1) - l.reach;
  return std::clamp<std::int64_t>(rows, 1, std::max<std::int64_t>(l.out_rows(), 1));
}

// Elements of `channels` planes laid out as row_layout(win), when that is not the image itself.
std::int64_t split_elements(std::int64_t channels, const Window& win) {
  const RowLayout layout = row_layout(win);
  return layout.split() ? channels * win.h * layout.row_len() : 0;
}

// Workspace elements one thread needs for blocks of `rows` output rows: the split image, if
// any, then the unfolded matrices.
std::int64_t unfolded_elements(std::int64_t channels, const Lowering& l, std::int64_t rows) {
  if (l.identity()) return 0;
  return split_elements(channels, l.unfold) +
         l.phases * channels * l.taps() * (rows + l.reach) * l.unfold.ow;
}

// Output rows [y0, y1) of one image, lowered: operand(g, inner, s) is the (inner x width)
// matrix, rows `ld` apart, that group g's kernel row s multiplies (for full im2col s = 0).
template <typename T>
struct Block {
  const Lowering* lowering;
  const T* base;
  std::int64_t ld, phase_size, y0, y1;

  std::int64_t width() const { return (y1 - y0) * lowering->unfold.ow; }
  const T* operand(std::int64_t g, std::int64_t inner, std::int64_t s) const {
    return base + lowering->phase(s) * phase_size + g * inner * ld +
           lowering->shift_rows(s) * lowering->unfold.ow;
  }
};

// Calls fn(block) for consecutive blocks of output rows of one image, using `workspace` of
// unfolded_elements. An identity window needs no copy: the image is its own column matrix.
template <typename T, typename Fn>
void for_each_block(const T* image, std::int64_t channels, const Lowering& l, std::int64_t rows,
                    T* workspace, bool parallel, Fn&& fn) {
  const std::int64_t oh = l.out_rows(), ow = l.unfold.ow;
  if (l.identity()) {
    fn(Block<T>{&l, image, oh * ow, 0, 0, oh});
    return;
  }
  const RowLayout layout = row_layout(l.unfold);
  if (layout.split()) {
    split_rows(image, channels * l.unfold.h, l.unfold.w, layout, workspace);
    image = workspace;
  }
  T* const col = workspace + split_elements(channels, l.unfold);
  for (std::int64_t y0 = 0; y0 < oh; y0 += rows) {
    const std::int64_t y1 = std::min(oh, y0 + rows);
    const std::int64_t ld = (y1 - y0 + l.reach) * ow, phase_size = channels * l.taps() * ld;
    for (std::int64_t p = 0; p < l.phases; ++p) {
      if (!l.uses_phase(p)) continue;
      im2col(image, channels, l.phase_window(p), y0, y1 + l.reach, col + p * phase_size, parallel);
    }
    fn(Block<T>{&l, col, ld, phase_size, y0, y1});
  }
}

// The weight as one (og x cg*taps) matrix per (group, shift): entry (o, c * taps + t) of
// block (g, s) is w[g * og + o, c, s * taps + t]. Without shifts that is w itself.
template <typename T>
const T* arrange_weight(const T* w, std::int64_t o, std::int64_t groups, std::int64_t cg,
                        const Lowering& l, T* buffer) {
  if (l.shifts == 1) return w;
  const std::int64_t og = o / groups, taps = l.taps(), all = l.shifts * taps;
  for (std::int64_t g = 0; g < groups; ++g) {
    for (std::int64_t s = 0; s < l.shifts; ++s) {
      for (std::int64_t oc = 0; oc < og; ++oc) {
        T* dst = buffer + ((g * l.shifts + s) * og + oc) * cg * taps;
        const T* src = w + (g * og + oc) * cg * all + s * taps;
        for (std::int64_t c = 0; c < cg; ++c) {
          for (std::int64_t t = 0; t < taps; ++t) dst[c * taps + t] = src[c * all + t];
        }
      }
    }
  }
  return buffer;
}

// col2im of output rows [y0, y1): the adjoint of im2col, adding every column entry onto the
// input pixel it was read from, into planes laid out as row_layout(win); the first block
// (y0 == 0) overwrites the planes instead.
template <typename T>
void col2im(const T* col, std::int64_t channels, const Window& win, std::int64_t y0,
            std::int64_t y1, T* image, bool parallel) {
  const std::int64_t taps = win.taps(), cols = (y1 - y0) * win.ow;
  const RowLayout layout = row_layout(win);
  const std::int64_t plane_size = win.h * layout.row_len();
  std::vector<TapSpan> spans;
  for (std::int64_t tap = 0; tap < taps; ++tap) spans.push_back(tap_span(win, tap, y0, y1));
  const bool split = parallel && channels > 1 && channels * taps * cols >= kParallelGrain;
#pragma omp parallel for schedule(static) if (split)
  for (std::int64_t ch = 0; ch < channels; ++ch) {
    T* plane = image + ch * plane_size;
    if (y0 == 0) std::fill(plane, plane + plane_size, T(0));
    for (std::int64_t tap = 0; tap < taps; ++tap) {
      const TapSpan& t = spans[static_cast<std::size_t>(tap)];
      const T* src = col + (ch * taps + tap) * cols;
      const std::int64_t start = layout.tap_start(t.offset_w);
      for (std::int64_t y = t.first; y < t.last; ++y) {
        T* row = plane + ((y * win.stride_h + t.offset_h) * layout.row_len() + start);
        const T* s = src + (y - y0) * win.ow;
        for (std::int64_t x = t.cols.first; x < t.cols.last; ++x) row[x] += s[x];
      }
    }
  }
}

// Which images a thread takes when the batch is split across threads.
enum class ImageSplit {
  balanced,  // the next image goes to whichever thread is free, so a thread slowed by its
             // neighbours on a shared machine takes fewer
  fixed,     // thread t always gets the same images, so per-thread sums are reproducible
};

// Runs fn(image, workspace, slot, parallel) for every image of the batch. With at least as
// many images as threads, images are split across threads and each thread owns slot
// `slot` of `per_slot` workspace elements; otherwise images run in order on slot 0 and fn
// may parallelize inside (parallel = true).
template <typename T, typename Fn>
void for_each_image(std::int64_t n, std::int64_t per_slot, T* workspace, int slots,
                    ImageSplit split, Fn&& fn) {
  if (slots > 1) {
#pragma omp parallel num_threads(slots)
    {
      const int slot = omp_get_thread_num();
      T* ws = workspace + slot * per_slot;
      if (split == ImageSplit::balanced) {
#pragma omp for schedule(dynamic)
        for (std::int64_t img = 0; img < n; ++img) fn(img, ws, slot, false);
      } else {
#pragma omp for schedule(static)
        for (std::int64_t img = 0; img < n; ++img) fn(img, ws, slot, false);
      }
    }
    return;
  }
  for (std::int64_t img = 0; img < n; ++img) fn(img, workspace, 0, true);
}

// Below this many multiply-adds a convolution finishes sooner on one thread than a parallel
// region takes to start (tens of microseconds), e.g. in gradient checks and tiny layers.
constexpr std::int64_t kParallelMacs = std::int64_t{1} << 20;

// Threads that split the batch: all of them when every thread gets an image and the whole
// convolution (`macs` multiply-adds) is worth a parallel region, else one.
int image_slots(std::int64_t n, std::int64_t macs) {
  const int threads = omp_get_max_threads();
  return threads > 1 && n >= threads && macs >= kParallelMacs ? threads : 1;
}

// out = conv(in, weight) + bias over the window `win`; `weight` is (o, c / groups, kh, kw).
// Forward, and backward-input at unit stride, are both this.
template <typename T>
void convolve(std::int64_t n, std::int64_t c, std::int64_t o, std::int64_t groups,
              const Window& win, const T* in, const T* weight, const T* bias, T* out) {
  const std::int64_t cg = c / groups, og = o / groups, plane = win.out_plane();
  const Lowering l = plan_lowering(win, cg);
  const std::int64_t inner = cg * l.taps();
  const int slots = image_slots(n, n * o * cg * win.taps() * plane);
  const std::int64_t block = block_rows(c, l, sizeof(T));
  const std::int64_t per_slot = unfolded_elements(c, l, block);
  const std::int64_t arranged = l.shifts > 1 ? o * cg * win.taps() : 0;
  Tensor workspace = Tensor::empty({slots * per_slot + arranged + 1}, dtype_of<T>);
  T* const scratch = workspace.data<T>();
  const T* w = arrange_weight(weight, o, groups, cg, l, scratch + slots * per_slot);
  const auto convolve_image = [&](std::int64_t img, T* col, int, bool par) {
    T* y = out + img * o * plane;
    for (std::int64_t oc = 0; bias != nullptr && oc < o; ++oc) {
      std::fill(y + oc * plane, y + (oc + 1) * plane, bias[oc]);
    }
    for_each_block(in + img * c * win.in_plane(), c, l, block, col, par, [&](const Block<T>& b) {
      for (std::int64_t g = 0; g < groups; ++g) {
        for (std::int64_t sh = 0; sh < l.shifts; ++sh) {
          const T beta = bias != nullptr || sh > 0 ? T(1) : T(0);
          gemm_in_pieces<T>(false, og, b.width(), inner, w + (g * l.shifts + sh) * og * inner,
                            inner, b.operand(g, inner, sh), b.ld, beta,
                            y + g * og * plane + b.y0 * win.ow, plane);
        }
      }
    });
  };
  for_each_image(n, per_slot, scratch, slots, ImageSplit::balanced, convolve_image);
}

// Flipped, transposed kernel: row (group g, in channel c) holds w[g * og + o, c, kh-1-i,
// kw-1-j] over (o, i, j), so group g's block is a (c/groups x og*kh*kw) matrix.
template <typename T>
void flip_kernel(const ConvShape& s, const T* weight, T* flipped) {
  const std::int64_t cg = s.in_group(), og = s.out_group(), taps = s.window.taps();
  for (std::int64_t g = 0; g < s.groups; ++g) {
    for (std::int64_t c = 0; c < cg; ++c) {
      T* row = flipped + (g * cg + c) * og * taps;
      for (std::int64_t o = 0; o < og; ++o) {
        const T* src = weight + ((g * og + o) * cg + c) * taps;
        for (std::int64_t t = 0; t < taps; ++t) row[o * taps + t] = src[taps - 1 - t];
      }
    }
  }
}

// Any stride: per block of output rows, columns = W^T grad_out per group, which col2im then
// adds onto the input gradient.
template <typename T>
void backward_input_strided(const ConvShape& s, const T* grad_out, const T* weight, T* grad_in) {
  const Window& win = s.window;
  const std::int64_t rows = s.group_rows(), plane = win.out_plane(), og = s.out_group();
  const int slots = image_slots(s.n, s.n * s.o * rows * plane);
  const std::int64_t block = block_rows(s.c, full_lowering(win), sizeof(T));
  const std::int64_t split_size = split_elements(s.c, win);
  const std::int64_t per_slot = split_size + s.c * win.taps() * block * win.ow;
  Tensor workspace = Tensor::empty({std::max<std::int64_t>(slots * per_slot, 1)}, dtype_of<T>);
  const auto image_gradient = [&](std::int64_t img, T* ws, int, bool par) {
    const T* g_out = grad_out + img * s.o * plane;
    T* const image = grad_in + img * s.c * win.in_plane();
    T* const g_in = split_size > 0 ? ws : image;
    T* const col = ws + split_size;
    for (std::int64_t y0 = 0; y0 < win.oh; y0 += block) {
      const std::int64_t y1 = std::min(win.oh, y0 + block), width = (y1 - y0) * win.ow;
      for (std::int64_t g = 0; g < s.groups; ++g) {
        gemm_in_pieces<T>(true, rows, width, og, weight + g * og * rows, rows,
                          g_out + g * og * plane + y0 * win.ow, plane, T(0), col + g * rows * width,
                          width);
      }
      col2im(col, s.c, win, y0, y1, g_in, par);
    }
    if (split_size > 0) merge_rows(g_in, s.c * win.h, win.w, row_layout(win), image);
  };
  for_each_image(s.n, per_slot, workspace.data<T>(), slots, ImageSplit::balanced, image_gradient);
}

// dst (cols x rows) = src (rows x cols)^T, src rows `ld` apart.
template <typename T>
void transpose(const T* src, std::int64_t rows, std::int64_t cols, std::int64_t ld, T* dst) {
  constexpr std::int64_t kTile = 16;
  for (std::int64_t r0 = 0; r0 < rows; r0 += kTile) {
    for (std::int64_t c0 = 0; c0 < cols; c0 += kTile) {
      for (std::int64_t c = c0; c < std::min(cols, c0 + kTile); ++c) {
        for (std::int64_t r = r0; r < std::min(rows, r0 + kTile); ++r) {
          dst[c * rows + r] = src[r * ld + c];
        }
      }
    }
  }
}

// acc (inner x og) += columns (inner x width, rows `ld` apart) x grad_out^T, with grad_out
// either (og x width) as stored or already transposed to (width x og), rows `ld_g` apart; the
// transposed form is a plain product, cut along the pixels into small-matrix pieces.
template <typename T>
void accumulate_weight_block(const T* columns, std::int64_t ld, std::int64_t inner,
                             std::int64_t width, const T* g_out, std::int64_t ld_g, bool transposed,
                             std::int64_t og, T* acc) {
  if (!transposed) {
    blas_gemm<T>(false, true, inner, og, width, T(1), columns, ld, g_out, ld_g, T(1), acc, og);
    return;
  }
  const std::int64_t piece = small_gemm_piece(inner, og, width);
  for (std::int64_t p0 = 0; p0 < width; p0 += piece) {
    blas_gemm<T>(false, false, inner, og, std::min(piece, width - p0), T(1), columns + p0, ld,
                 g_out + p0 * ld_g, ld_g, T(1), acc, og);
  }
}

// grad_weight[g*og + o, c, sh*taps + t] = sum over slots of block (g, sh)[c*taps + t, o].
template <typename T>
void sum_weight_blocks(const ConvShape& s, const Lowering& l, const T* accumulators, int slots,
                       T* grad_weight) {
  const std::int64_t cg = s.in_group(), og = s.out_group(), inner = cg * l.taps();
  const std::int64_t taps = l.taps(), all = l.shifts * taps, weight_size = s.o * s.group_rows();
  for (std::int64_t g = 0; g < s.groups; ++g) {
    for (std::int64_t oc = 0; oc < og; ++oc) {
      for (std::int64_t c = 0; c < cg; ++c) {
        for (std::int64_t k = 0; k < all; ++k) {
          const std::int64_t sh = k / taps, t = k % taps;
          const std::int64_t from = ((g * l.shifts + sh) * inner + c * taps + t) * og + oc;
          T sum = T(0);
          for (int slot = 0; slot < slots; ++slot) sum += accumulators[slot * weight_size + from];
          grad_weight[((g * og + oc) * cg + c) * all + k] = sum;
        }
      }
    }
  }
}

// Each slot accumulates the transposed gradient, columns x grad_out^T, over its images with
// beta = 1, one (cg*taps x og) block per (group, shift), in small-matrix products (see
// kSmallGemmMacs): blocks of more than kSmallTransposedGemmEntries transpose grad_out once per
// image. The slots' blocks are summed into grad_weight at the end, so threads never share an
// accumulator.
template <typename T>
void backward_weight(const ConvShape& s, const T* grad_out, const T* in, T* grad_weight) {
  const Window& win = s.window;
  const std::int64_t cg = s.in_group(), og = s.out_group(), plane = win.out_plane();
  const Lowering l = plan_lowering(win, cg);
  const std::int64_t inner = cg * l.taps(), weight_size = s.o * s.group_rows();
  const int slots = image_slots(s.n, s.n * s.o * s.group_rows() * plane);
  const std::int64_t block = block_rows(s.c, l, sizeof(T));
  const bool transposed = inner * og > kSmallTransposedGemmEntries;
  const std::int64_t g_out_size = transposed ? plane * s.o : 0;
  const std::int64_t per_slot = unfolded_elements(s.c, l, block) + g_out_size;
  Tensor workspace = Tensor::empty({slots * (per_slot + weight_size)}, dtype_of<T>);
  T* accumulators = workspace.data<T>() + slots * per_slot;
  std::fill(accumulators, accumulators + slots * weight_size, T(0));
  const auto accumulate_image = [&](std::int64_t img, T* ws, int slot, bool par) {
    const T* g_out = grad_out + img * s.o * plane;
    if (transposed) transpose(g_out, s.o, plane, plane, ws);  // (plane x o)
    T* acc = accumulators + slot * weight_size;
    const T* in_image = in + img * s.c * win.in_plane();
    for_each_block(in_image, s.c, l, block, ws + g_out_size, par, [&](const Block<T>& b) {
      const std::int64_t first = b.y0 * win.ow;
      for (std::int64_t g = 0; g < s.groups; ++g) {
        const T* g_block = transposed ? ws + first * s.o + g * og : g_out + g * og * plane + first;
        for (std::int64_t sh = 0; sh < l.shifts; ++sh) {
          accumulate_weight_block(b.operand(g, inner, sh), b.ld, inner, b.width(), g_block,
                                  transposed ? s.o : plane, transposed, og,
                                  acc + (g * l.shifts + sh) * inner * og);
        }
      }
    });
  };
  for_each_image(s.n, per_slot, workspace.data<T>(), slots, ImageSplit::fixed, accumulate_image);
  sum_weight_blocks(s, l, accumulators, slots, grad_weight);
}

}  // namespace

void CpuBackend::conv2d_forward(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                const Conv2dParams& p, Tensor& out) {
  const ConvShape s = conv_shape(input, weight, out.shape(), p);
  dispatch_floating(input.dtype(), "conv2d", [&]<typename T>() {
    convolve<T>(s.n, s.c, s.o, s.groups, s.window, input.data<T>(), weight.data<T>(),
                bias.defined() ? bias.data<T>() : nullptr, out.data<T>());
  });
}

void CpuBackend::conv2d_backward_input(const Tensor& grad_out, const Tensor& weight,
                                       const Conv2dParams& p, Tensor& grad_input) {
  const ConvShape s = conv_shape(grad_input, weight, grad_out.shape(), p);
  dispatch_floating(grad_out.dtype(), "conv2d_backward_input", [&]<typename T>() {
    if (p.stride_h == 1 && p.stride_w == 1) {
      Tensor flipped = Tensor::empty({s.c, s.out_group() * s.window.taps()}, grad_out.dtype());
      flip_kernel(s, weight.data<T>(), flipped.data<T>());
      convolve<T>(s.n, s.o, s.c, s.groups, transposed_window(s.window), grad_out.data<T>(),
                  flipped.data<T>(), nullptr, grad_input.data<T>());
    } else {
      backward_input_strided<T>(s, grad_out.data<T>(), weight.data<T>(), grad_input.data<T>());
    }
  });
}

void CpuBackend::conv2d_backward_weight(const Tensor& grad_out, const Tensor& input,
                                        const Conv2dParams& p, Tensor& grad_weight) {
  const ConvShape s = conv_shape(input, grad_weight, grad_out.shape(), p);
  dispatch_floating(input.dtype(), "conv2d_backward_weight", [&]<typename T>() {
    backward_weight<T>(s, grad_out.data<T>(), input.data<T>(), grad_weight.data<T>());
  });
}

}  // namespace ortho::cpu
