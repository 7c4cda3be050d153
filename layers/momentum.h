#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "autograd/variable.h"
#include "layers/momentum_state.h"
#include "layers/sequential.h"

namespace ortho::nn {

struct MomentumOptions {
  // The momentum term; the arithmetic uses momentum_fraction(gamma) (0.9 = 9/10 exactly).
  double gamma = 0.9;
  // Invertible backprop: the forward keeps only the stage's final state, and backward rebuilds
  // every block's input from it. False: ordinary autograd through every block, which stores
  // all activations (for checking, and for small depths where memory does not matter).
  bool invertible = true;
  // How invertible backprop stores x and v (ignored when not invertible). Exact runs on the CPU
  // only (std::invalid_argument for a stage input on another device): use Float on a GPU.
  MomentumArithmetic arithmetic = MomentumArithmetic::Exact;
  // f_n(x) = block_n(x) - x, for blocks that already add their input (ResNet blocks), as the
  // reference package's transform does: with gamma -> 0 the stage is the original ResNet stage.
  bool residual_blocks = false;
  // v_0: zero (the paper and the reference package), or f_0(x_0) so that v_1 = f_0(x_0).
  InitialVelocity initial_velocity = InitialVelocity::Zero;
};

// A stage of momentum residual blocks (Sander, Ablin, Blondel & Peyré, "Momentum Residual
// Neural Networks", ICML 2021, eq. 2), each block f_n mapping a tensor to one of its shape:
//   v_0 = 0,  v_{n+1} = gamma v_n + (1 - gamma) f_n(x_n),  x_{n+1} = x_n + v_{n+1};  out = x_N.
// With InitialVelocity::FirstBlock, v_0 = f_0(x_0): v_1 = f_0(x_0), and (1 - gamma) reads 1 for
// n = 0 below.
//
// With invertible backprop (the default) the forward runs the blocks without recording and
// keeps only (x_N, v_N); backward inverts one block at a time,
//   x_n = x_{n+1} - v_{n+1},  v_n = (v_{n+1} - (1 - gamma) f_n(x_n)) / gamma,
// recomputing f_n(x_n) under a local graph for the gradients
//   dL/dx_n = dL/dx_{n+1} + (1 - gamma) J_f^T g,  dL/dv_n = gamma g,  dL/dtheta_n =
//   (1 - gamma) (df_n/dtheta_n)^T g,  with g = dL/dx_{n+1} + dL/dv_{n+1},
// so activation memory does not grow with the number of blocks. The recomputation runs inside a
// FreezeRunningStatsGuard: BatchNorm2d updates its running statistics once per forward, and
// normalizes the recomputation with the statistics of the reconstructed input, which exact
// arithmetic makes bit-identical to the forward's.
//
// Finite precision: in float arithmetic every inverse step divides the rounding error by gamma
// (float32, gamma 0.9: relative error 1e-6 after 10 blocks, 6e-4 after 50, 0.35 after 100).
// Exact arithmetic (the default) stores x and v as integer multiples of 2^-36 (held exactly in
// doubles) with an exactly reversible multiply by gamma (MomentumArithmetic::Exact), so the
// reconstruction is bit-exact at any depth. What remains: the stage computes on that grid (the
// input and each (1 - gamma) f_n are rounded to multiples of 2^-36, ~1.5e-11, below float32
// rounding), values must stay below 2^15 in magnitude (std::runtime_error otherwise), the state
// costs three doubles per element, and bit-exactness needs f_n to recompute the same values,
// as ortho's CPU kernels do at a fixed thread count (the tests check it for conv, BN, ReLU and
// tanh blocks); a block that draws random numbers (dropout) would not.
//
// With grad mode off (evaluation) the stage runs the recurrence in the input's dtype, keeping
// only the current x and v. Gradients of the blocks' parameters flow through the stage's graph
// node, so backward() and grad() both see them. Children are the blocks, named "0", "1", ...
// as in Sequential.
class MomentumSequential : public Sequential {
 public:
  explicit MomentumSequential(const std::vector<std::shared_ptr<Module>>& blocks,
                              double gamma = 0.9, bool invertible = true);
  MomentumSequential(const std::vector<std::shared_ptr<Module>>& blocks,
                     const MomentumOptions& options);

  autograd::Variable forward(const autograd::Variable& x) override;

  // gamma as the arithmetic uses it: momentum_fraction(options().gamma).value().
  double gamma() const { return fraction_.value(); }
  MomentumFraction gamma_fraction() const { return fraction_; }
  const MomentumOptions& options() const { return options_; }
  bool invertible() const { return options_.invertible; }
  void set_invertible(bool invertible) { options_.invertible = invertible; }
  void set_arithmetic(MomentumArithmetic arithmetic) { options_.arithmetic = arithmetic; }

  // f_n(x) as the stage applies it: block n's output, minus x for residual blocks.
  autograd::Variable block_function(std::size_t n, const autograd::Variable& x) const;

 private:
  autograd::Variable forward_stored(const autograd::Variable& x) const;
  autograd::Variable forward_invertible(const autograd::Variable& x) const;

  MomentumOptions options_;
  MomentumFraction fraction_;
};

}  // namespace ortho::nn
