#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "autograd/variable.h"
#include "core/backend.h"
#include "core/random.h"
#include "core/tensor.h"
#include "layers/conv2d.h"
#include "layers/linear.h"
#include "layers/module.h"
#include "layers/parameter.h"

// Orthogonal over-parameterized training (Liu, Lin, Liu, Rehg, Paull, Xiong, Song, Weller,
// "Orthogonal Over-Parameterized Training", CVPR 2021). A layer of n neurons with fan-in d keeps
// the neuron matrix V (d x n, one neuron per column, drawn once from N(0, 2/d) as the authors'
// code does and frozen as the buffer "V") and learns an orthogonal R (d x d): the neurons are the
// columns of R V, so the layer's weight (n, d) is (R V)^T = V^T R^T and rotating every neuron by
// the same R keeps their pairwise angles, hence their hyperspherical energy (layers/opt_energy.h).
// For a conv the d = in*k*k dimensions are the (in, kh, kw) order of the kernel's flattening.
//
// How R is learned (R starts at I in every method, so training starts from the random V):
//  GramSchmidt  R = gram_schmidt(M), M (d, d) "matrix" starting at I (the paper's GS).
//  Householder  R = householder_product of 2*ceil(d/2) "reflectors" (d or d + 1 reflections:
//               enough to reach all of SO(d)), drawn in equal consecutive pairs: H_a H_a = I, and
//               the pairs part under the first gradient step (a pair's two gradients are opposite).
//  Lowdin       R = lowdin(M) = (M M^T)^{-1/2} M, M "matrix" starting at I (the paper's LS).
//  Cayley       R = cayley(A) = (I - S/2)^{-1} (I + S/2), S = skew(A), A "generator" at 0 (CP).
//  OGD          R is the Orthogonal-tagged Parameter "rotation" at I: train it with
//               optim::RiemannianSGD (orthogonality-preserving gradient descent).
//  Regularized  R is the Euclidean Parameter "rotation" at I, kept near the manifold by the loss
//               term orthogonality_penalty() = beta ||R^T R - I||_F^2 (the paper's OR); add
//               opt_penalty(model) (layers/opt_convert.h) to the loss.
//  Landing      R is the Orthogonal-tagged "rotation" at I: train it with optim::Landing.
// SGD and the other plain optimizers suit GS, HR, LS, CP and OR. Bias stays a plain parameter.
//
// S-OPT (the paper's stochastic OPT): with a block size p < d the layer learns only a
// p x p orthogonal block B (same methods, same parameter names, p in place of d) acting on p of
// the d dimensions, identity on the rest: R = I + P^T (B - I) P with P (p, d) the one-hot
// "selection" buffer of the sampled dimensions. The training loop calls, after
// optimizer.step(), resample(gen) (or opt_resample(model, gen)), which commits the block,
// V <- R V, restarts B at I and draws a new subset: every step for a new subset each iteration
// as the paper describes it, or every k steps (the authors' code: once per 750). The learned part,
// its gradients, its optimizer state and its map's saved activations are O(p^2); P (p x d) is a
// constant. Restarting B does not reset optimizer state: a momentum buffer carries over to the
// new subset, as in the authors' code.
namespace ortho::nn {

// None is for the converter (make_opt does nothing); a layer rejects it.
enum class OPTMethod { None, GramSchmidt, Householder, Lowdin, Cayley, OGD, Regularized, Landing };

// "none", "gs", "hr", "ls", "cp", "ogd", "or", "landing": the names of ortho-train's --opt.
std::string opt_method_name(OPTMethod method);
// std::invalid_argument naming the choices for an unknown name.
OPTMethod parse_opt_method(const std::string& name);

struct OPTOptions {
  OPTMethod method = OPTMethod::GramSchmidt;
  // S-OPT block size p: 0 learns the full d x d R; p >= d is full OPT too (for a layer whose
  // fan-in is at most p), so one p serves every layer of a network.
  std::int64_t sopt_dim = 0;
  // With sopt_dim 0, a per-layer block size p = round(sopt_fraction * d) clamped to [1, d]
  // (the paper's p = d/4, d/8, ... settings); 0 turns it off. Not both with sopt_dim.
  double sopt_fraction = 0.0;
  // OR's penalty weight beta.
  double beta = 1e-2;
};

// The shared part of OPTLinear and OPTConv2d: V, the learned orthogonal factor and S-OPT.
class OPTLayer : public Module {
 public:
  // The weight (n, d) = (R V)^T, differentiable in the learned parameters.
  autograd::Variable weight() const;
  // The learned orthogonal factor: R (d, d), or the block B (p, p) under S-OPT.
  autograd::Variable rotation() const;
  // ||rotation()^T rotation() - I||_F, for any method.
  double orthogonality_error() const;
  // beta ||R^T R - I||_F^2 of the Regularized method (B for S-OPT), undefined for the others.
  autograd::Variable orthogonality_penalty() const;

  // The frozen V (d, n), updated only by commit() under S-OPT.
  const Tensor& fixed_neurons() const { return buffer("V"); }
  const OPTOptions& options() const { return options_; }
  std::int64_t fan_in() const { return d_; }
  std::int64_t num_neurons() const { return n_; }
  // p: d for full OPT, less for S-OPT.
  std::int64_t block_size() const { return p_; }
  bool stochastic() const { return p_ < d_; }
  // The p sampled dimensions in increasing order (all d for full OPT).
  std::vector<std::int64_t> sampled_dims() const;

  // S-OPT: folds the block into V (V <- R V, so the layer's function is unchanged) and restarts
  // it at I. A no-op for full OPT, whose V never changes.
  void commit();
  // S-OPT: commit(), then a new subset of p dimensions drawn uniformly from `gen`.
  void resample(Generator& gen);

 protected:
  // `layer` names the subclass in error messages.
  OPTLayer(const std::string& layer, std::int64_t num_neurons, std::int64_t fan_in,
           const OPTOptions& options, Generator* gen);
  const std::string& layer_name() const { return layer_; }

 private:
  void init_rotation(Generator* gen);
  // Puts the learned parameter back at its start (R = I), in place, keeping its identity so an
  // optimizer still holds it.
  void restart_rotation();
  void select(const std::vector<std::int64_t>& dims);
  // R V (d, n).
  autograd::Variable rotated_neurons() const;

  std::string layer_;
  std::int64_t n_, d_, p_;
  OPTOptions options_;
  Parameter free_;
};

// y = x (R V) + b = x W^T + b with W = (R V)^T (n, d); x is (..., in). Bias as Linear's.
class OPTLinear : public OPTLayer {
 public:
  OPTLinear(std::int64_t in_features, std::int64_t out_features, const OPTOptions& options = {},
            bool bias = true, Generator* gen = nullptr);

  autograd::Variable forward(const autograd::Variable& x) override;
  // A plain Linear with the current weight and bias (same dtype and device): the same outputs,
  // for inference.
  std::shared_ptr<Linear> fold() const;

  // Undefined when built without bias.
  const Parameter& bias() const { return bias_; }
  std::int64_t in_features() const { return fan_in(); }
  std::int64_t out_features() const { return num_neurons(); }

 private:
  Parameter bias_;
};

// Convolution over NCHW input with the kernel (out, in, k, k) = (R V)^T reshaped; d = in*k*k.
// Stride, padding, dilation and bias as Conv2d's (no groups).
class OPTConv2d : public OPTLayer {
 public:
  OPTConv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel_size,
            std::int64_t stride = 1, std::int64_t padding = 0, const OPTOptions& options = {},
            bool bias = true, std::int64_t dilation = 1, Generator* gen = nullptr);

  autograd::Variable forward(const autograd::Variable& x) override;
  // A plain Conv2d with the current kernel and bias (same dtype and device).
  std::shared_ptr<Conv2d> fold() const;

  // Undefined when built without bias.
  const Parameter& bias() const { return bias_; }
  const Conv2dParams& params() const { return params_; }
  std::int64_t in_channels() const { return in_channels_; }
  std::int64_t out_channels() const { return num_neurons(); }
  std::int64_t kernel_size() const { return kernel_size_; }

 private:
  std::int64_t in_channels_, kernel_size_;
  Conv2dParams params_;
  Parameter bias_;
};

}  // namespace ortho::nn
