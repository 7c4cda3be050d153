#pragma once

#include <cstdint>
#include <vector>

#include "core/device.h"
#include "core/tensor.h"

namespace ortho {

// The kernels one device provides. Front-end ops (core/ops/) validate arguments, compute
// output shapes and allocate outputs, then call these; a kernel may assume its arguments
// are valid, on its device, and of one floating dtype unless stated. The CPU backend lives
// in core/cpu/, the CUDA backend in cuda/ and registers itself with register_backend().

enum class UnaryOp {
  Neg,
  Exp,
  Log,
  Sqrt,
  Abs,
  Sign,
  Square,
  Reciprocal,
  Relu,
  Sigmoid,
  Tanh,
  Pow,     // x^a
  Clamp,   // min(max(x, a), b)
  Affine,  // a * x + b
};

enum class BinaryOp {
  Add,
  Sub,
  Mul,
  Div,
  Pow,
  Maximum,
  Minimum,
  Eq,
  Ne,
  Lt,
  Le,
  Gt,
  Ge,               // 1 or 0 in the inputs' dtype
  ReluBackward,     // a * (b > 0): grad, input
  SigmoidBackward,  // a * b * (1 - b): grad, output
  TanhBackward,     // a * (1 - b^2): grad, output
};

enum class ReduceOp { Sum, Mean, Max, Min };

// Row-major batched C = alpha * op(A) * op(B) + beta * C, with op(X) = X or X^T.
// A is (m x k) after op, B (k x n), C (m x n); matrix i starts at base + i * stride_*.
struct GemmDesc {
  bool trans_a = false;
  bool trans_b = false;
  std::int64_t batch = 1, m = 0, n = 0, k = 0;
  std::int64_t lda = 0, ldb = 0, ldc = 0;
  std::int64_t stride_a = 0, stride_b = 0, stride_c = 0;
  double alpha = 1.0, beta = 0.0;
};

struct Conv2dParams {
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;
  std::int64_t dilation_h = 1, dilation_w = 1;
  std::int64_t groups = 1;
};

struct Pool2dParams {
  std::int64_t kernel_h = 2, kernel_w = 2;
  std::int64_t stride_h = 2, stride_w = 2;
  std::int64_t pad_h = 0, pad_w = 0;
  bool count_include_pad = true;  // average pooling divides by the full window
};

// State of a counter-based generator: the same (seed, offset) gives the same numbers on any
// thread count. Kernels draw `count` values starting at `offset`.
struct RandomState {
  std::uint64_t seed = 0;
  std::uint64_t offset = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // Waits for the work queued on the device (CUDA kernels run asynchronously on a stream).
  virtual void synchronize() {}

  // Memory movement. `copy` converts dtypes and reads/writes arbitrary strides; src has been
  // expanded to dst's shape. Host copies move bytes between a contiguous host buffer and a
  // contiguous tensor of this device.
  virtual void fill(Tensor& out, double value) = 0;
  virtual void copy(const Tensor& src, Tensor& dst) = 0;
  virtual void copy_from_host(const void* host, Tensor& dst) = 0;
  virtual void copy_to_host(const Tensor& src, void* host) = 0;

  // Element-wise. Inputs are already expanded (stride-0 broadcast) to out's shape; out is
  // contiguous unless it is an in-place target.
  virtual void unary(UnaryOp op, const Tensor& in, Tensor& out, double a, double b) = 0;
  virtual void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) = 0;
  virtual void where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) = 0;
  // out += alpha * x (same shape; out may be strided): the optimizers' hot loop.
  virtual void axpy(double alpha, const Tensor& x, Tensor& out) = 0;

  // Reduces `in` over the sorted, unique `dims` into `out`, whose shape is in's with those
  // dims set to 1 (keepdim). Argmax writes Int64 indices along the single dim `dim`.
  virtual void reduce(ReduceOp op, const Tensor& in, const std::vector<std::int64_t>& dims,
                      Tensor& out) = 0;
  virtual void argmax(const Tensor& in, std::int64_t dim, Tensor& out) = 0;

  virtual void gemm(const GemmDesc& desc, const Tensor& a, const Tensor& b, Tensor& c) = 0;

  // NCHW convolution; weight is (out_channels, in_channels / groups, kh, kw); bias may be
  // undefined. Gradients overwrite their outputs.
  virtual void conv2d_forward(const Tensor& input, const Tensor& weight, const Tensor& bias,
                              const Conv2dParams& p, Tensor& out) = 0;
  virtual void conv2d_backward_input(const Tensor& grad_out, const Tensor& weight,
                                     const Conv2dParams& p, Tensor& grad_input) = 0;
  virtual void conv2d_backward_weight(const Tensor& grad_out, const Tensor& input,
                                      const Conv2dParams& p, Tensor& grad_weight) = 0;

  // Pooling over NCHW; max pooling records the flat h*w index of each window's maximum.
  virtual void max_pool2d_forward(const Tensor& input, const Pool2dParams& p, Tensor& out,
                                  Tensor& indices) = 0;
  virtual void max_pool2d_backward(const Tensor& grad_out, const Tensor& indices,
                                   Tensor& grad_input) = 0;
  virtual void avg_pool2d_forward(const Tensor& input, const Pool2dParams& p, Tensor& out) = 0;
  virtual void avg_pool2d_backward(const Tensor& grad_out, const Pool2dParams& p,
                                   Tensor& grad_input) = 0;

  // Batch normalization over N, H, W of an (N, C, H, W) or (N, C) input. Training mode
  // writes the batch mean and 1/sqrt(var + eps) (biased var) per channel.
  virtual void batch_norm_forward_train(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                        double eps, Tensor& y, Tensor& mean, Tensor& invstd) = 0;
  virtual void batch_norm_forward_eval(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                       const Tensor& running_mean, const Tensor& running_var,
                                       double eps, Tensor& y) = 0;
  virtual void batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight,
                                   const Tensor& mean, const Tensor& invstd, Tensor& grad_x,
                                   Tensor& grad_weight, Tensor& grad_bias) = 0;

  // Softmax family along the last dimension of a contiguous tensor.
  virtual void softmax_forward(const Tensor& x, Tensor& y, bool log) = 0;
  virtual void softmax_backward(const Tensor& grad_y, const Tensor& y, bool log,
                                Tensor& grad_x) = 0;
  // Cross-entropy of logits (N, C) with Int64 targets (N,) and label smoothing:
  // losses (N,), log_probs (N, C) saved for backward; grad_logits = g_i * (p - q).
  virtual void cross_entropy_forward(const Tensor& logits, const Tensor& targets,
                                     double label_smoothing, Tensor& losses, Tensor& log_probs) = 0;
  virtual void cross_entropy_backward(const Tensor& grad_losses, const Tensor& log_probs,
                                      const Tensor& targets, double label_smoothing,
                                      Tensor& grad_logits) = 0;

  // Dense linear algebra on contiguous batches (..., m, n); outputs are contiguous.
  virtual void qr(const Tensor& a, Tensor& q, Tensor& r) = 0;                         // reduced
  virtual void eigh(const Tensor& a, Tensor& eigenvalues, Tensor& eigenvectors) = 0;  // ascending
  virtual void svd(const Tensor& a, Tensor& u, Tensor& s, Tensor& vh) = 0;            // reduced
  virtual void solve(const Tensor& a, const Tensor& b, Tensor& x) = 0;
  virtual void solve_triangular(const Tensor& a, const Tensor& b, bool upper, bool left,
                                Tensor& x) = 0;
  virtual void inverse(const Tensor& a, Tensor& out) = 0;

  // Random fill of a contiguous tensor from the counter-based state.
  virtual void uniform(const RandomState& state, double low, double high, Tensor& out) = 0;
  virtual void normal(const RandomState& state, double mean, double stddev, Tensor& out) = 0;
  virtual void bernoulli(const RandomState& state, double p, Tensor& out) = 0;
};

// The backend of `device`; throws std::invalid_argument when this build has none for it.
Backend& backend_for(Device device);
// Installs the backend of a device kind (the CUDA backend calls this when it loads).
void register_backend(DeviceKind kind, Backend* backend);

}  // namespace ortho
