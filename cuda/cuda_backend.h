#pragma once

#include "core/backend.h"

namespace ortho::cuda {

// The GPU backend: templated CUDA kernels for element-wise work, reductions, softmax and
// random numbers; cuBLAS for gemm, cuDNN for convolution, pooling and batch norm, cuSOLVER
// for dense linear algebra. All work of a device is queued on its stream (cuda_context.h);
// copies to the host wait for it. Methods are defined across cuda/*, one file per family.
class CudaBackend final : public Backend {
 public:
  void synchronize() override;

  void fill(Tensor& out, double value) override;
  void copy(const Tensor& src, Tensor& dst) override;
  void copy_from_host(const void* host, Tensor& dst) override;
  void copy_to_host(const Tensor& src, void* host) override;

  void unary(UnaryOp op, const Tensor& in, Tensor& out, double a, double b) override;
  void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) override;
  void where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) override;
  void axpy(double alpha, const Tensor& x, Tensor& out) override;

  void reduce(ReduceOp op, const Tensor& in, const std::vector<std::int64_t>& dims,
              Tensor& out) override;
  void argmax(const Tensor& in, std::int64_t dim, Tensor& out) override;

  void gemm(const GemmDesc& desc, const Tensor& a, const Tensor& b, Tensor& c) override;

  void conv2d_forward(const Tensor& input, const Tensor& weight, const Tensor& bias,
                      const Conv2dParams& p, Tensor& out) override;
  void conv2d_backward_input(const Tensor& grad_out, const Tensor& weight, const Conv2dParams& p,
                             Tensor& grad_input) override;
  void conv2d_backward_weight(const Tensor& grad_out, const Tensor& input, const Conv2dParams& p,
                              Tensor& grad_weight) override;

  void max_pool2d_forward(const Tensor& input, const Pool2dParams& p, Tensor& out,
                          Tensor& indices) override;
  void max_pool2d_backward(const Tensor& grad_out, const Tensor& indices,
                           Tensor& grad_input) override;
  void avg_pool2d_forward(const Tensor& input, const Pool2dParams& p, Tensor& out) override;
  void avg_pool2d_backward(const Tensor& grad_out, const Pool2dParams& p,
                           Tensor& grad_input) override;

  void batch_norm_forward_train(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                double eps, Tensor& y, Tensor& mean, Tensor& invstd) override;
  void batch_norm_forward_eval(const Tensor& x, const Tensor& weight, const Tensor& bias,
                               const Tensor& running_mean, const Tensor& running_var, double eps,
                               Tensor& y) override;
  void batch_norm_backward(const Tensor& grad_y, const Tensor& x, const Tensor& weight,
                           const Tensor& mean, const Tensor& invstd, Tensor& grad_x,
                           Tensor& grad_weight, Tensor& grad_bias) override;

  void softmax_forward(const Tensor& x, Tensor& y, bool log) override;
  void softmax_backward(const Tensor& grad_y, const Tensor& y, bool log, Tensor& grad_x) override;
  void cross_entropy_forward(const Tensor& logits, const Tensor& targets, double label_smoothing,
                             Tensor& losses, Tensor& log_probs) override;
  void cross_entropy_backward(const Tensor& grad_losses, const Tensor& log_probs,
                              const Tensor& targets, double label_smoothing,
                              Tensor& grad_logits) override;

  void qr(const Tensor& a, Tensor& q, Tensor& r) override;
  void eigh(const Tensor& a, Tensor& eigenvalues, Tensor& eigenvectors) override;
  void svd(const Tensor& a, Tensor& u, Tensor& s, Tensor& vh) override;
  void solve(const Tensor& a, const Tensor& b, Tensor& x) override;
  void solve_triangular(const Tensor& a, const Tensor& b, bool upper, bool left,
                        Tensor& x) override;
  void inverse(const Tensor& a, Tensor& out) override;

  void uniform(const RandomState& state, double low, double high, Tensor& out) override;
  void normal(const RandomState& state, double mean, double stddev, Tensor& out) override;
  void bernoulli(const RandomState& state, double p, Tensor& out) override;
};

}  // namespace ortho::cuda
