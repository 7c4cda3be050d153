#include "layers/momentum_state.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include "core/dispatch.h"
#include "core/error.h"
#include "core/ops/elementwise.h"

namespace ortho::nn {
namespace {

__extension__ typedef unsigned __int128 Uint128;

constexpr std::int64_t kMaxDenominator = std::int64_t{1} << 16;
constexpr double kScale = 1099511627776.0;  // 2^40 units per 1: resolution 2^-40
constexpr double kInverseScale = 1.0 / kScale;
// |x|, |v| and |(1 - gamma) f| stay below 2^61 units (2^21 in value), so x + v cannot overflow.
constexpr std::int64_t kLimit = std::int64_t{1} << 61;
constexpr double kLimitUnits = 2305843009213693952.0;  // 2^61
// Below this many elements a loop runs on one thread.
constexpr std::int64_t kParallelGrain = 32768;

// Runs fn(i) for i in [0, n) across OpenMP threads; false when any call returned false.
template <typename Fn>
bool for_each_index(std::int64_t n, Fn&& fn) {
  bool ok = true;
#pragma omp parallel for schedule(static) reduction(&& : ok) if (n >= kParallelGrain)
  for (std::int64_t i = 0; i < n; ++i) ok = fn(i) && ok;
  return ok;
}

// Division of unsigned 64-bit values by a divisor fixed in advance, with one multiply-high and
// shifts (Granlund & Montgomery, PLDI 1994, Figure 4.1): a hardware division per element would
// cost as much as the convolutions around it.
class Divider {
 public:
  explicit Divider(std::uint64_t d) : d_(d) {
    int log2_ceil = 0;
    while ((std::uint64_t{1} << log2_ceil) < d) ++log2_ceil;
    const Uint128 excess = static_cast<Uint128>((std::uint64_t{1} << log2_ceil) - d) << 64;
    m_ = static_cast<std::uint64_t>(excess / d) + 1;
    shift1_ = std::min(log2_ceil, 1);
    shift2_ = std::max(log2_ceil - 1, 0);
  }
  std::int64_t divisor() const { return static_cast<std::int64_t>(d_); }
  std::uint64_t quotient(std::uint64_t n) const {
    const auto t = static_cast<std::uint64_t>((static_cast<Uint128>(m_) * n) >> 64);
    return (t + ((n - t) >> shift1_)) >> shift2_;
  }
  // floor(v / d) for |v| < 2^62, so that v = q d + r with 0 <= r < d.
  std::int64_t floor_quotient(std::int64_t v) const {
    if (v >= 0) return static_cast<std::int64_t>(quotient(static_cast<std::uint64_t>(v)));
    return -static_cast<std::int64_t>(quotient(static_cast<std::uint64_t>(-v) + d_ - 1));
  }

 private:
  std::uint64_t d_, m_;
  int shift1_, shift2_;
};

// x_n, v_n in the input's dtype.
class FloatState final : public MomentumState {
 public:
  FloatState(const Tensor& x, MomentumFraction gamma)
      : x_(x.clone()), v_(Tensor::zeros(x.shape(), x.dtype(), x.device())), gamma_(gamma.value()) {}

  Tensor position() const override { return x_.clone(); }
  Tensor velocity() const override { return v_.clone(); }
  void advance(const Tensor& f) override {
    mul_(v_, gamma_);
    add_(v_, f, 1.0 - gamma_);
    add_(x_, v_);
  }
  void rewind_position() override { add_(x_, v_, -1.0); }
  void rewind_velocity(const Tensor& f) override {
    add_(v_, f, -(1.0 - gamma_));
    mul_(v_, 1.0 / gamma_);
  }

 private:
  Tensor x_, v_;
  double gamma_;
};

// x_n, v_n as int64 multiples of 2^-40, and the remainders that multiplying v by num / den
// drops, kept in a per-element mixed-radix number (Maclaurin et al., ICML 2015, Section 3.1):
// push r < den is store = store * den + r, pop is the remainder mod num. The store grows by
// log2(den / num) bits per block (0.15 for 9/10); when a push could overflow 64 bits, the full
// store is set aside and a fresh one started, and restored when the inverse gets back there.
class ExactState final : public MomentumState {
 public:
  ExactState(const Tensor& x, MomentumFraction gamma)
      : dtype_(x.dtype()),
        shape_(x.shape()),
        x_(Tensor::empty(x.shape(), DType::Int64)),
        v_(Tensor::zeros(x.shape(), DType::Int64)),
        store_(Tensor::zeros(x.shape(), DType::Int64)),
        num_(static_cast<std::uint64_t>(gamma.num)),
        den_(static_cast<std::uint64_t>(gamma.den)),
        one_minus_gamma_(static_cast<double>(gamma.den - gamma.num) /
                         static_cast<double>(gamma.den)) {
    check_argument(x.device().is_cpu(), "MomentumSequential: exact arithmetic runs on CPU, got ",
                   "an input on ", x.device().to_string());
    const Tensor input = x.contiguous();
    std::int64_t* xi = x_.data<std::int64_t>();
    const bool ok = dispatch_floating(dtype_, "MomentumSequential", [&]<typename T>() {
      const T* in = input.data<T>();
      return for_each_index(numel(), [&](std::int64_t i) { return to_fixed(in[i], 1.0, xi[i]); });
    });
    check_range(ok, "the input");
  }

  Tensor position() const override { return to_floating(x_); }
  Tensor velocity() const override { return to_floating(v_); }

  void advance(const Tensor& f) override {
    if (bound_ > (std::numeric_limits<std::uint64_t>::max() - (den_.divisor() - 1)) /
                     static_cast<std::uint64_t>(den_.divisor())) {
      spilled_.push_back({store_, bound_, steps_});
      store_ = Tensor::zeros(shape_, DType::Int64);
      bound_ = 0;
    }
    bound_ = num_.quotient(bound_ * static_cast<std::uint64_t>(den_.divisor()) +
                           static_cast<std::uint64_t>(den_.divisor() - 1));
    std::int64_t *x = x_.data<std::int64_t>(), *v = v_.data<std::int64_t>();
    std::uint64_t* store = store_bits();
    const bool ok = for_each_f(f, [&](std::int64_t i, double fi) {
      std::int64_t step = 0;
      const bool in_range = to_fixed(fi, one_minus_gamma_, step);
      v[i] = multiply_by_gamma(v[i], store[i]) + step;
      x[i] += v[i];
      return in_range && std::abs(v[i]) < kLimit && std::abs(x[i]) < kLimit;
    });
    ++steps_;
    check_range(ok, "block " + std::to_string(steps_ - 1));
  }

  void rewind_position() override {
    std::int64_t *x = x_.data<std::int64_t>(), *v = v_.data<std::int64_t>();
    for_each_index(numel(), [&](std::int64_t i) {
      x[i] -= v[i];
      return true;
    });
  }

  void rewind_velocity(const Tensor& f) override {
    check_argument(steps_ > 0, "MomentumSequential: rewinding past the first block");
    --steps_;
    std::int64_t* v = v_.data<std::int64_t>();
    std::uint64_t* store = store_bits();
    const bool ok = for_each_f(f, [&](std::int64_t i, double fi) {
      std::int64_t step = 0;
      const bool in_range = to_fixed(fi, one_minus_gamma_, step);
      v[i] = divide_by_gamma(v[i] - step, store[i]);
      return in_range;
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
    std::uint64_t bound;
    std::int64_t step;
  };

  std::int64_t numel() const { return shape_.numel(); }
  std::uint64_t* store_bits() const {
    return reinterpret_cast<std::uint64_t*>(store_.data<std::int64_t>());
  }

  // value * factor in units of 2^-40, rounded to nearest; false when out of range or not finite.
  static bool to_fixed(double value, double factor, std::int64_t& out) {
    const double units = value * factor * kScale;
    const bool in_range = std::abs(units) < kLimitUnits;
    out = in_range ? static_cast<std::int64_t>(std::nearbyint(units)) : 0;
    return in_range;
  }

  // v * num / den, exactly reversible: push v mod den, divide, multiply, pop mod num.
  std::int64_t multiply_by_gamma(std::int64_t v, std::uint64_t& store) const {
    const std::int64_t q = den_.floor_quotient(v);
    store = store * static_cast<std::uint64_t>(den_.divisor()) +
            static_cast<std::uint64_t>(v - q * den_.divisor());
    const std::uint64_t rest = num_.quotient(store);
    const std::uint64_t popped = store - rest * static_cast<std::uint64_t>(num_.divisor());
    store = rest;
    return q * num_.divisor() + static_cast<std::int64_t>(popped);
  }

  // The inverse of multiply_by_gamma.
  std::int64_t divide_by_gamma(std::int64_t v, std::uint64_t& store) const {
    const std::int64_t q = num_.floor_quotient(v);
    store = store * static_cast<std::uint64_t>(num_.divisor()) +
            static_cast<std::uint64_t>(v - q * num_.divisor());
    const std::uint64_t rest = den_.quotient(store);
    const std::uint64_t popped = store - rest * static_cast<std::uint64_t>(den_.divisor());
    store = rest;
    return q * den_.divisor() + static_cast<std::int64_t>(popped);
  }

  // Runs fn(i, f[i]) over the elements of f (converted to double), which must match the state.
  template <typename Fn>
  bool for_each_f(const Tensor& f, Fn&& fn) const {
    check_argument(f.shape() == shape_ && f.dtype() == dtype_ && f.device().is_cpu(),
                   "MomentumSequential: a block returned ", f.shape(), " ", dtype_name(f.dtype()),
                   " for a state of ", shape_, " ", dtype_name(dtype_));
    const Tensor values = f.contiguous();
    return dispatch_floating(dtype_, "MomentumSequential", [&]<typename T>() {
      const T* in = values.data<T>();
      return for_each_index(numel(),
                            [&](std::int64_t i) { return fn(i, static_cast<double>(in[i])); });
    });
  }

  Tensor to_floating(const Tensor& fixed) const {
    Tensor out = Tensor::empty(shape_, dtype_);
    const std::int64_t* in = fixed.data<std::int64_t>();
    dispatch_floating(dtype_, "MomentumSequential", [&]<typename T>() {
      T* o = out.data<T>();
      for_each_index(numel(), [&](std::int64_t i) {
        o[i] = static_cast<T>(static_cast<double>(in[i]) * kInverseScale);
        return true;
      });
    });
    return out;
  }

  static void check_range(bool ok, const std::string& where) {
    if (!ok) {
      throw std::runtime_error("MomentumSequential: " + where +
                               " gave a value that is not finite or reaches 2^21 in magnitude, "
                               "beyond exact arithmetic's range (has training diverged?)");
    }
  }

  DType dtype_;
  Shape shape_;
  Tensor x_, v_, store_;
  Divider num_, den_;
  double one_minus_gamma_;
  std::uint64_t bound_ = 0;  // every element of store_ is at most this
  std::int64_t steps_ = 0;   // blocks advanced and not rewound
  std::vector<Spilled> spilled_;
};

}  // namespace

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
                                                   MomentumArithmetic arithmetic) {
  check_floating("MomentumSequential", x);
  if (arithmetic == MomentumArithmetic::Float) return std::make_unique<FloatState>(x, gamma);
  return std::make_unique<ExactState>(x, gamma);
}

}  // namespace ortho::nn
