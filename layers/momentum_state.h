#pragma once

#include <cstdint>
#include <memory>

#include "core/tensor.h"

namespace ortho::nn {

// The momentum term gamma as the fraction num / den that the arithmetic uses exactly.
struct MomentumFraction {
  std::int64_t num = 9;
  std::int64_t den = 10;
  double value() const { return static_cast<double>(num) / static_cast<double>(den); }
};

// The last convergent of gamma's continued fraction with denominator at most 2^16 (within
// 1 / (den 2^16) of gamma), so common values are exact: 0.9 -> 9/10, 0.99 -> 99/100.
// std::invalid_argument unless 0 < gamma < 1.
MomentumFraction momentum_fraction(double gamma);

// How the state of a momentum stage is stored between blocks.
enum class MomentumArithmetic {
  // x and v in fixed point (integer multiples of 2^-36, held exactly in doubles so the loops
  // vectorize), gamma * v an exactly reversible rational
  // multiply whose lost remainders go to a per-element bit store (Maclaurin, Duvenaud & Adams,
  // ICML 2015, Section 3.1, as the momentumnet package does for v): the inverse recovers every
  // x_n and v_n bit for bit, whatever the depth, as long as f_n recomputes the same values.
  Exact,
  // x and v in the input's dtype: each inverse step divides the rounding error by gamma, so
  // the reconstruction error grows like gamma^-n and with f_n's Lipschitz constant (float32,
  // gamma 0.9, conv-BN-tanh blocks: 1e-6 relative after 10 blocks, 6e-4 after 50, 0.35 after
  // 100; docs/architecture.md).
  Float,
};

// The initial velocity v_0 of a momentum stage.
enum class InitialVelocity {
  // v_0 = 0: the paper's eq. 2 and the reference package's default.
  Zero,
  // v_0 = f_0(x_0), so v_1 = f_0(x_0): the first block takes a full residual step and the rest
  // follow with momentum. It is the package's init_speed with the stage's own first block as
  // init_function (no extra parameters); in a shallow stage it keeps one block undamped.
  FirstBlock,
};

// The weight of f_n(x_n) in v_{n+1}: 1 - gamma, or 1 for the first block when v_0 = f_0(x_0).
double step_weight(MomentumFraction gamma, InitialVelocity initial, std::int64_t n);

// The state (x_n, v_n) of a momentum residual stage (Sander, Ablin, Blondel & Peyré, ICML 2021,
// eq. 2), advanced block by block in the forward pass and rewound in invertible backprop:
//   forward   v_{n+1} = gamma v_n + (1 - gamma) f_n(x_n),   x_{n+1} = x_n + v_{n+1}
//   inverse   x_n = x_{n+1} - v_{n+1},   v_n = (v_{n+1} - (1 - gamma) f_n(x_n)) / gamma,
// with (1 - gamma) replaced by step_weight(gamma, initial, n).
class MomentumState {
 public:
  virtual ~MomentumState() = default;
  // x_n (the input of block n) as a tensor of the stage input's dtype that the state does not
  // write again.
  virtual Tensor position() const = 0;
  // v_n as a new tensor of the stage input's dtype.
  virtual Tensor velocity() const = 0;
  // One forward step with block n's output `out` (a tensor like position()): f_n(x_n) = out,
  // or out - x_n for a residual state.
  virtual void advance(const Tensor& out) = 0;
  // The first half of an inverse step: x_n = x_{n+1} - v_{n+1}. position() is then the input
  // at which f_n is recomputed.
  virtual void rewind_position() = 0;
  // The second half: v_n = (v_{n+1} - (1 - gamma) f_n(x_n)) / gamma, with `out` block n's
  // output recomputed at position().
  virtual void rewind_velocity(const Tensor& out) = 0;
};

// The state x_0 = x, v_0 = 0, or v_0 = f_0(x_0) with InitialVelocity::FirstBlock (applied by
// the first advance). `residual`: the blocks already add their input, f_n(x) = block_n(x) - x.
// Exact arithmetic runs on CPU and throws std::runtime_error when a value reaches 2^15 in magnitude
// or is not finite (a diverging network), naming the block.
std::unique_ptr<MomentumState> make_momentum_state(const Tensor& x, MomentumFraction gamma,
                                                   MomentumArithmetic arithmetic,
                                                   bool residual = false,
                                                   InitialVelocity initial = InitialVelocity::Zero);

}  // namespace ortho::nn
