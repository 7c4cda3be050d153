#pragma once

#include <cstdint>

#include "autograd/variable.h"
#include "core/backend.h"
#include "core/random.h"
#include "layers/module.h"
#include "layers/parameter.h"

namespace ortho::nn {

// How a parametrized layer maps its free Euclidean parameters onto the Stiefel manifold. The
// weight matrix W (out, fan_in) has orthonormal rows when out <= fan_in, else orthonormal
// columns; below, p x n is its wide form (p = min(out, fan_in), n = max), transposed back when
// tall. All parameters are Euclidean: any optimizer trains them and W stays orthogonal exactly.
//  Cayley:         first p rows of cayley(A), A (n, n) "generator".
//  MatrixExp:      first p rows of matrix_exp_orthogonal(A), A (n, n) "generator" (the static
//                  trivialization at I).
//   Both draw A with std pi / sqrt(2n) so the eigen-angles of the initial orthogonal matrix
//   spread over (-pi, pi) and W mixes every input.
//  Householder:    householder_product(V, p), V (p, n) "reflectors" drawn from N(0, 1), whose
//                  product is a random orthogonal matrix (Stewart 1980).
//  Bjorck:         bjorck(M), M (out, fan_in) "matrix" initialized on the manifold, so W(0) = M.
//  Trivialization: X0 exp(skew(A)) (wide) or exp(skew(A)) X0 (tall), X0 (out, fan_in) a "base"
//                  buffer initialized on the manifold (init::orthogonal_, QR of a Gaussian) and
//                  A (n, n) "generator" starting at 0 (Lezcano-Casado & Martínez-Rubio 2019),
//                  so the model starts at X0, like a Stiefel-tagged layer with the same X0.
enum class OrthogonalMap { Cayley, MatrixExp, Householder, Bjorck, Trivialization };

struct OrthogonalMapOptions {
  OrthogonalMap map = OrthogonalMap::Cayley;
  // Used by OrthogonalMap::Bjorck only (see layers/orthogonal_maps.h).
  std::int64_t bjorck_iterations = 15;
  std::int64_t bjorck_order = 1;
};

// The shared part of the parametrized layers: free parameters, the map, and the weight matrix.
class ParametrizedOrthogonal : public Module {
 public:
  // The current weight matrix (out, fan_in), recomputed from the parameters (differentiable), so
  // callers can measure its distance to the manifold.
  autograd::Variable weight() const;
  const OrthogonalMapOptions& options() const { return options_; }

 protected:
  ParametrizedOrthogonal(std::int64_t out, std::int64_t fan_in, const OrthogonalMapOptions& options,
                         Generator* gen);

 private:
  void init_parameters(Generator* gen);

  std::int64_t out_, fan_in_;
  OrthogonalMapOptions options_;
  Parameter free_;
};

// y = x W^T + b with W (out, in) orthogonal as above; x is (..., in). Bias as in Linear.
class ParametrizedOrthogonalLinear : public ParametrizedOrthogonal {
 public:
  ParametrizedOrthogonalLinear(std::int64_t in_features, std::int64_t out_features,
                               const OrthogonalMapOptions& options = {}, bool bias = true,
                               Generator* gen = nullptr);

  autograd::Variable forward(const autograd::Variable& x) override;

  // Undefined when built without bias.
  const Parameter& bias() const { return bias_; }
  std::int64_t in_features() const { return in_features_; }
  std::int64_t out_features() const { return out_features_; }

 private:
  std::int64_t in_features_, out_features_;
  Parameter bias_;
};

// 2-D convolution over NCHW input whose kernel (out, in, k, k) is weight() (out, in*k*k)
// reshaped. Bias and padding as in Conv2d.
class ParametrizedOrthogonalConv2d : public ParametrizedOrthogonal {
 public:
  ParametrizedOrthogonalConv2d(std::int64_t in_channels, std::int64_t out_channels,
                               std::int64_t kernel_size, std::int64_t stride = 1,
                               std::int64_t padding = 0, const OrthogonalMapOptions& options = {},
                               bool bias = true, Generator* gen = nullptr);

  autograd::Variable forward(const autograd::Variable& x) override;

  // Undefined when built without bias.
  const Parameter& bias() const { return bias_; }
  const Conv2dParams& params() const { return params_; }
  std::int64_t in_channels() const { return in_channels_; }
  std::int64_t out_channels() const { return out_channels_; }
  std::int64_t kernel_size() const { return kernel_size_; }

 private:
  std::int64_t in_channels_, out_channels_, kernel_size_;
  Conv2dParams params_;
  Parameter bias_;
};

}  // namespace ortho::nn
