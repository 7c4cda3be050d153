// The exact-arithmetic loops round and floor doubles; GCC vectorizes those only when it may
// ignore floating-point exception flags, which nothing here reads.
#pragma GCC optimize("no-trapping-math")

#include "layers/momentum_state.h"

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/dispatch.h"
#include "core/error.h"
#include "core/ops/elementwise.h"

namespace ortho::nn {
namespace {

constexpr std::int64_t kMaxDenominator = std::int64_t{1} << 16;
constexpr double kScale = 68719476736.0;  // 2^36 units per 1: resolution 2^-36 (1.5e-11)
constexpr double kInverseScale = 1.0 / kScale;
// |x|, |v| and |(1 - gamma) f| stay below 2^51 units (2^15 in value), so every sum and product
// below stays an integer under 2^53, exact in a double.
constexpr double kLimit = 2251799813685248.0;  // 2^51
// Bound on a bit store before a push: store * den + den - 1 must stay below 2^53.
constexpr double kStoreCapacity = 9007199254740992.0;  // 2^53
// Below this many elements a loop runs on one thread.
constexpr std::int64_t kParallelGrain = 32768;

// The constants of the exact arithmetic, passed by value so the loops keep them in registers.
struct ExactConstants {
  double den, inverse_den, num, inverse_num;
  double step_scale;  // the step's weight (1 - gamma, or 1) times 2^36: f in units
  double residual;    // 1 when f_n = block_n - identity, else 0
};

// floor(a / d) for an integer |a| < 2^53 held in a double. The product with the rounded inverse
// can land on the wrong side of an integer; the remainder r then lies in [-d, 2d), and
// floor((r + 1/2) / d), safely away from integers, is the correction. No comparisons, so the
// loops below vectorize.
inline double floor_divide(double a, double d, double inverse) {
  const double q = std::floor(a * inverse);
  return q + std::floor((a - q * d + 0.5) * inverse);
}

// a * num / den, exactly reversible (Maclaurin, Duvenaud & Adams, ICML 2015, Section 3.1): the
// remainder a mod den is pushed onto the element's mixed-radix store (store = store * den + r),
// and a digit mod num popped back into the product. With den and num swapped it is its own
// inverse.
inline double rational_multiply(double a, double& store, double den, double inverse_den, double num,
                                double inverse_num) {
  const double q = floor_divide(a, den, inverse_den);
  const double pushed = store * den + (a - q * den);
  const double rest = floor_divide(pushed, num, inverse_num);
  store = rest;
  return q * num + (pushed - rest * num);
}

// x in the stage's dtype: the input the next block sees.
template <typename T>
inline T to_position(double x) {
  return static_cast<T>(x * kInverseScale);
}

// (1 - gamma) f_n(x_n) in units, rounded: f is the block's output, minus its input (the
// position, as position() rounds it) for residual blocks.
template <typename T>
inline double scaled_step(T out, double x, const ExactConstants& k) {
  const double position = static_cast<double>(to_position<T>(x));
  return std::nearbyint((static_cast<double>(out) - k.residual * position) * k.step_scale);
}

// One forward step over n elements, writing the new position too; false when a value leaves
// the range.
template <typename T>
bool advance_elements(std::int64_t n, const T* out, double* x, double* v, double* store,
                      T* position, const ExactConstants k) {
  int bad = 0;
#pragma omp parallel for simd schedule(static) reduction(| : bad) if (n >= kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    const double step = scaled_step(out[i], x[i], k);
    const double vi =
        rational_multiply(v[i], store[i], k.den, k.inverse_den, k.num, k.inverse_num) + step;
    const double xi = x[i] + vi;
    v[i] = vi;
    x[i] = xi;
    position[i] = to_position<T>(xi);
    // Bitwise, not short-circuit: no branch in the loop.
    bad |= static_cast<int>(!(std::abs(step) < kLimit)) |
           static_cast<int>(!(std::abs(vi) < kLimit)) | static_cast<int>(!(std::abs(xi) < kLimit));
  }
  return bad == 0;
}

// The velocity half of one inverse step; false when a recomputed value leaves the range.
template <typename T>
bool rewind_elements(std::int64_t n, const T* out, const double* x, double* v, double* store,
                     const ExactConstants k) {
  int bad = 0;
#pragma omp parallel for simd schedule(static) reduction(| : bad) if (n >= kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) {
    const double step = scaled_step(out[i], x[i], k);
    v[i] = rational_multiply(v[i] - step, store[i], k.num, k.inverse_num, k.den, k.inverse_den);
    bad |= static_cast<int>(!(std::abs(step) < kLimit));
  }
  return bad == 0;
}

// x_n, v_n in the input's dtype.
class FloatState final : public MomentumState {
 public:
  FloatState(const Tensor& x, MomentumFraction gamma, bool residual, InitialVelocity initial)
      : x_(x.clone()),
        v_(Tensor::zeros(x.shape(), x.dtype(), x.device())),
        fraction_(gamma),
        residual_(residual),
        initial_(initial) {}

  Tensor position() const override { return x_.clone(); }
  Tensor velocity() const override { return v_.clone(); }
  void advance(const Tensor& out) override {
    const double weight = step_weight(fraction_, initial_, steps_++);
    mul_(v_, fraction_.value());
    add_(v_, out, weight);
    if (residual_) add_(v_, x_, -weight);
    add_(x_, v_);
  }
  void rewind_position() override { add_(x_, v_, -1.0); }
  void rewind_velocity(const Tensor& out) override {
    check_argument(steps_ > 0, "MomentumSequential: rewinding past the first block");
    const double weight = step_weight(fraction_, initial_, --steps_);
    add_(v_, out, -weight);
    if (residual_) add_(v_, x_, weight);
    mul_(v_, 1.0 / fraction_.value());
  }

 private:
  Tensor x_, v_;
  MomentumFraction fraction_;
  bool residual_;
  InitialVelocity initial_;
  std::int64_t steps_ = 0;  // blocks advanced and not rewound
};

// x_n, v_n as integer multiples of 2^-36 held in doubles (exact below 2^53, and the loops
// vectorize), and per element the remainders that multiplying v by num / den drops, in a
// mixed-radix number that grows by log2(den / num) bits per block (0.15 for 9/10). When a push
// could pass 2^53, the full store is set aside and a fresh one started; the inverse restores
// it when it gets back there.
class ExactState final : public MomentumState {
 public:
  ExactState(const Tensor& x, MomentumFraction gamma, bool residual, InitialVelocity initial)
      : dtype_(x.dtype()),
        shape_(x.shape()),
        x_(Tensor::empty(x.shape(), DType::Float64)),
        v_(Tensor::zeros(x.shape(), DType::Float64)),
        store_(Tensor::zeros(x.shape(), DType::Float64)),
        constants_{static_cast<double>(gamma.den),
                   1.0 / static_cast<double>(gamma.den),
                   static_cast<double>(gamma.num),
                   1.0 / static_cast<double>(gamma.num),
                   0.0 /* step_scale: per step, constants_at */,
                   residual ? 1.0 : 0.0},
        fraction_(gamma),
        initial_(initial) {
    check_argument(x.device().is_cpu(), "MomentumSequential: exact arithmetic runs on CPU, got ",
                   "an input on ", x.device().to_string());
    const Tensor input = x.contiguous();
    double* xs = x_.data<double>();
    const std::int64_t n = numel();
    int bad = 0;
    dispatch_floating(dtype_, "MomentumSequential", [&]<typename T>() {
      const T* in = input.data<T>();
#pragma omp parallel for simd schedule(static) reduction(| : bad) if (n >= kParallelGrain)
      for (std::int64_t i = 0; i < n; ++i) {
        xs[i] = std::nearbyint(static_cast<double>(in[i]) * kScale);
        bad |= !(std::abs(xs[i]) < kLimit);
      }
    });
    check_range(bad == 0, "the input");
    position_ = to_floating(x_);
  }

  Tensor position() const override {
    return position_;
  }
  Tensor velocity() const override {
    return to_floating(v_);
  }

  void advance(const Tensor& out) override {
    const double den = constants_.den;
    if (bound_ * den + den > kStoreCapacity) {
      spilled_.push_back({store_, bound_, steps_});
      store_ = Tensor::zeros(shape_, DType::Float64);
      bound_ = 0;
    }
    bound_ = std::floor((bound_ * den + den - 1) / constants_.num);
    position_ = Tensor::empty(shape_, dtype_);  // a new tensor: the last one may be in use
    const ExactConstants k = constants_at(steps_);
    const bool ok = for_block_output(out, [&]<typename T>(const T* o) {
      return advance_elements(numel(), o, x_.data<double>(), v_.data<double>(),
                              store_.data<double>(), position_.data<T>(), k);
    });
    check_range(ok, "block " + std::to_string(steps_));
    ++steps_;
  }

  void rewind_position() override {
    double *x = x_.data<double>(), *v = v_.data<double>();
    const std::int64_t n = numel();
    position_ = Tensor::empty(shape_, dtype_);
    dispatch_floating(dtype_, "MomentumSequential", [&]<typename T>() {
      T* position = position_.data<T>();
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
      for (std::int64_t i = 0; i < n; ++i) {
        x[i] -= v[i];
        position[i] = to_position<T>(x[i]);
      }
    });
  }

  void rewind_velocity(const Tensor& out) override {
    check_argument(steps_ > 0, "MomentumSequential: rewinding past the first block");
    --steps_;
    const ExactConstants k = constants_at(steps_);
    const bool ok = for_block_output(out, [&]<typename T>(const T* o) {
      return rewind_elements(numel(), o, x_.data<double>(), v_.data<double>(),
                             store_.data<double>(), k);
    });
    check_range(ok, "the recomputation of block " + std::to_string(steps_));
    if (!spilled_.empty() && spilled_.back().step == steps_) {
      store_ = spilled_.back().store;
      bound_ = spilled_.back().bound;
      spilled_.pop_back();
    }
  }

 private:
  struct Spilled {
    Tensor store;
    double bound;
    std::int64_t step;
  };

  std::int64_t numel() const {
    return shape_.numel();
  }

  // The constants of step n, whose f_n enters v with step_weight(n).
  ExactConstants constants_at(std::int64_t n) const {
    ExactConstants k = constants_;
    k.step_scale = step_weight(fraction_, initial_, n) * kScale;
    return k;
  }

  // fn(const T* data) on a block output, which must match the state.
  template <typename Fn>
  bool for_block_output(const Tensor& out, Fn&& fn) const {
    check_argument(out.shape() == shape_ && out.dtype() == dtype_ && out.device().is_cpu(),
                   "MomentumSequential: a block returned ", out.shape(), " ",
                   dtype_name(out.dtype()), " for a state of ", shape_, " ", dtype_name(dtype_));
    const Tensor values = out.contiguous();
    return dispatch_floating(dtype_, "MomentumSequential", [&]<typename T>() {
      return fn.template operator()<T>(values.data<T>());
    });
  }

  Tensor to_floating(const Tensor& fixed) const {
    Tensor out = Tensor::empty(shape_, dtype_);
    const double* in = fixed.data<double>();
    const std::int64_t n = numel();
    dispatch_floating(dtype_, "MomentumSequential", [&]<typename T>() {
      T* o = out.data<T>();
#pragma omp parallel for simd schedule(static) if (n >= kParallelGrain)
      for (std::int64_t i = 0; i < n; ++i) o[i] = to_position<T>(in[i]);
    });
    return out;
  }

  static void check_range(bool ok, const std::string& where) {
    if (!ok) {
      throw std::runtime_error("MomentumSequential: " + where +
                               " gave a value that is not finite or reaches 2^15 in magnitude, "
                               "beyond exact arithmetic's range (has training diverged?)");
    }
  }

  DType dtype_;
  Shape shape_;
  Tensor x_, v_, store_;
  Tensor position_;  // x in the stage's dtype; replaced, never written, when x changes
  ExactConstants constants_;
  MomentumFraction fraction_;
  InitialVelocity initial_;
  double bound_ = 0;        // every element of store_ is at most this
  std::int64_t steps_ = 0;  // blocks advanced and not rewound
  std::vector<Spilled> spilled_;
};

}  // namespace

double step_weight(MomentumFraction gamma, InitialVelocity initial, std::int64_t n) {
  if (n == 0 && initial == InitialVelocity::FirstBlock) return 1.0;
  return static_cast<double>(gamma.den - gamma.num) / static_cast<double>(gamma.den);
}

MomentumFraction momentum_fraction(double gamma) {
  check_argument(gamma > 0.0 && gamma < 1.0, "MomentumSequential: gamma must be in (0, 1), got ",
                 gamma);
  // Convergents p/q of gamma's continued fraction, up to the last with q <= 2^16.
  std::int64_t p0 = 0, q0 = 1, p1 = 1, q1 = 0;
  double rest = gamma;
  while (true) {
    const double whole = std::floor(rest);
    const auto a = static_cast<std::int64_t>(whole);
    const std::int64_t p2 = a * p1 + p0, q2 = a * q1 + q0;
    if (q2 > kMaxDenominator) break;
    p0 = p1;
    q0 = q1;
    p1 = p2;
    q1 = q2;
    if (rest == whole || 1.0 / (rest - whole) > static_cast<double>(kMaxDenominator)) break;
    rest = 1.0 / (rest - whole);
  }
  check_argument(p1 > 0 && p1 < q1, "MomentumSequential: gamma ", gamma, " rounds to ", p1, "/", q1,
                 " at denominators up to 2^16; use a gamma in [2^-16, 1 - 2^-16]");
  return {p1, q1};
}

std::unique_ptr<MomentumState> make_momentum_state(const Tensor& x, MomentumFraction gamma,
                                                   MomentumArithmetic arithmetic, bool residual,
                                                   InitialVelocity initial) {
  check_floating("MomentumSequential", x);
  if (arithmetic == MomentumArithmetic::Float) {
    return std::make_unique<FloatState>(x, gamma, residual, initial);
  }
  return std::make_unique<ExactState>(x, gamma, residual, initial);
}

}  // namespace ortho::nn
