// Element-wise ops: each forward (a core op) next to its backward (the chain rule for that
// op, with broadcast gradients summed back to each input's shape).
#include "autograd/ops/elementwise.h"

#include "autograd/record.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"

namespace ortho::autograd {
namespace {

Tensor zero_like(const Tensor& t) {
  return Tensor::scalar(0.0, t.dtype(), t.device());
}

// The share of a tied gradient that goes to the first input of maximum/minimum: 1 where it
// wins, 1/2 on a tie, 0 where it loses.
Tensor first_share(const Tensor& wins, const Tensor& a, const Tensor& b) {
  return ortho::add(wins, ortho::mul(ortho::eq(a, b), 0.5));
}

// maximum and minimum, routed by the share of each element that goes to `a`.
Variable select_binary(const char* name, const Variable& a, const Variable& b, Tensor out,
                       Tensor share_a) {
  return make_output(name, {a, b}, std::move(out),
                     [share_a, sa = a.shape(), sb = b.shape()](const Tensor& g) -> Grads {
                       const Tensor ga = ortho::mul(g, share_a);
                       return {ortho::sum_to(ga, sa), ortho::sum_to(ortho::sub(g, ga), sb)};
                     });
}

}  // namespace

Variable add(const Variable& a, const Variable& b) {
  return make_output("add", {a, b}, ortho::add(a.value(), b.value()),
                     [sa = a.shape(), sb = b.shape()](const Tensor& g) -> Grads {
                       return {ortho::sum_to(g, sa), ortho::sum_to(g, sb)};
                     });
}

Variable sub(const Variable& a, const Variable& b) {
  return make_output("sub", {a, b}, ortho::sub(a.value(), b.value()),
                     [sa = a.shape(), sb = b.shape()](const Tensor& g) -> Grads {
                       return {ortho::sum_to(g, sa), ortho::sum_to(ortho::neg(g), sb)};
                     });
}

Variable mul(const Variable& a, const Variable& b) {
  const Tensor av = a.value(), bv = b.value();
  return make_output("mul", {a, b}, ortho::mul(av, bv),
                     [av, bv, need = needs_input_grad({a, b})](const Tensor& g) -> Grads {
                       return {need[0] ? ortho::sum_to(ortho::mul(g, bv), av.shape()) : Tensor(),
                               need[1] ? ortho::sum_to(ortho::mul(g, av), bv.shape()) : Tensor()};
                     });
}

// d(a/b)/da = 1/b, d(a/b)/db = -(a/b)/b.
Variable div(const Variable& a, const Variable& b) {
  const Tensor bv = b.value();
  const Tensor out = ortho::div(a.value(), bv);
  return make_output(
      "div", {a, b}, out,
      [bv, out, sa = a.shape(), need_b = b.requires_grad()](const Tensor& g) -> Grads {
        const Tensor g_over_b = ortho::div(g, bv);
        return {
            ortho::sum_to(g_over_b, sa),
            need_b ? ortho::sum_to(ortho::neg(ortho::mul(g_over_b, out)), bv.shape()) : Tensor()};
      });
}

// d(a^b)/da = b a^(b-1), d(a^b)/db = a^b log(a).
Variable pow(const Variable& a, const Variable& b) {
  const Tensor av = a.value(), bv = b.value();
  const Tensor out = ortho::pow(av, bv);
  return make_output(
      "pow", {a, b}, out, [av, bv, out, need = needs_input_grad({a, b})](const Tensor& g) -> Grads {
        Tensor ga, gb;
        if (need[0]) {
          const Tensor slope = ortho::mul(bv, ortho::pow(av, ortho::add(bv, -1.0)));
          ga = ortho::sum_to(ortho::mul(g, slope), av.shape());
        }
        if (need[1]) {
          const Tensor zero = zero_like(av);
          const Tensor log_a = ortho::where(ortho::eq(av, zero), zero, ortho::log(av));
          gb = ortho::sum_to(ortho::mul(g, ortho::mul(out, log_a)), bv.shape());
        }
        return {ga, gb};
      });
}

Variable maximum(const Variable& a, const Variable& b) {
  const Tensor av = a.value(), bv = b.value();
  return select_binary("maximum", a, b, ortho::maximum(av, bv),
                       first_share(ortho::gt(av, bv), av, bv));
}

Variable minimum(const Variable& a, const Variable& b) {
  const Tensor av = a.value(), bv = b.value();
  return select_binary("minimum", a, b, ortho::minimum(av, bv),
                       first_share(ortho::lt(av, bv), av, bv));
}

Variable add(const Variable& a, double b) {
  return make_output("add", {a}, ortho::add(a.value(), b),
                     [](const Tensor& g) -> Grads { return {g}; });
}

Variable mul(const Variable& a, double b) {
  return make_output("mul", {a}, ortho::mul(a.value(), b),
                     [b](const Tensor& g) -> Grads { return {ortho::mul(g, b)}; });
}

Variable pow(const Variable& a, double exponent) {
  const Tensor av = a.value();
  return make_output("pow", {a}, ortho::pow(av, exponent),
                     [av, exponent](const Tensor& g) -> Grads {
                       if (exponent == 0.0) return {ortho::mul(g, 0.0)};
                       return {ortho::mul(g, ortho::mul(ortho::pow(av, exponent - 1.0), exponent))};
                     });
}

Variable clamp(const Variable& a, double low, double high) {
  const Tensor av = a.value();
  const Tensor out = ortho::clamp(av, low, high);
  return make_output("clamp", {a}, out, [av, out](const Tensor& g) -> Grads {
    return {ortho::mul(g, ortho::eq(out, av))};  // 1 exactly where nothing was clamped
  });
}

Variable affine(const Variable& a, double alpha, double beta) {
  return make_output("affine", {a}, ortho::affine(a.value(), alpha, beta),
                     [alpha](const Tensor& g) -> Grads { return {ortho::mul(g, alpha)}; });
}

Variable neg(const Variable& a) {
  return make_output("neg", {a}, ortho::neg(a.value()),
                     [](const Tensor& g) -> Grads { return {ortho::neg(g)}; });
}

Variable exp(const Variable& a) {
  const Tensor out = ortho::exp(a.value());
  return make_output("exp", {a}, out,
                     [out](const Tensor& g) -> Grads { return {ortho::mul(g, out)}; });
}

Variable log(const Variable& a) {
  const Tensor av = a.value();
  return make_output("log", {a}, ortho::log(av),
                     [av](const Tensor& g) -> Grads { return {ortho::div(g, av)}; });
}

Variable sqrt(const Variable& a) {
  const Tensor out = ortho::sqrt(a.value());
  return make_output("sqrt", {a}, out, [out](const Tensor& g) -> Grads {
    return {ortho::mul(ortho::div(g, out), 0.5)};
  });
}

Variable abs(const Variable& a) {
  const Tensor av = a.value();
  return make_output("abs", {a}, ortho::abs(av),
                     [av](const Tensor& g) -> Grads { return {ortho::mul(g, ortho::sign(av))}; });
}

Variable square(const Variable& a) {
  const Tensor av = a.value();
  return make_output("square", {a}, ortho::square(av), [av](const Tensor& g) -> Grads {
    return {ortho::mul(ortho::mul(g, av), 2.0)};
  });
}

Variable reciprocal(const Variable& a) {
  const Tensor out = ortho::reciprocal(a.value());
  return make_output("reciprocal", {a}, out, [out](const Tensor& g) -> Grads {
    return {ortho::neg(ortho::mul(g, ortho::square(out)))};
  });
}

// relu, sigmoid and tanh keep only their output: the fused backward kernels need nothing else.
Variable relu(const Variable& a) {
  const Tensor out = ortho::relu(a.value());
  return make_output("relu", {a}, out,
                     [out](const Tensor& g) -> Grads { return {ortho::relu_backward(g, out)}; });
}

Variable sigmoid(const Variable& a) {
  const Tensor out = ortho::sigmoid(a.value());
  return make_output("sigmoid", {a}, out,
                     [out](const Tensor& g) -> Grads { return {ortho::sigmoid_backward(g, out)}; });
}

Variable tanh(const Variable& a) {
  const Tensor out = ortho::tanh(a.value());
  return make_output("tanh", {a}, out,
                     [out](const Tensor& g) -> Grads { return {ortho::tanh_backward(g, out)}; });
}

Variable where(const Tensor& cond, const Variable& a, const Variable& b) {
  return make_output("where", {a, b}, ortho::where(cond, a.value(), b.value()),
                     [cond, sa = a.shape(), sb = b.shape()](const Tensor& g) -> Grads {
                       const Tensor zero = zero_like(g);
                       return {ortho::sum_to(ortho::where(cond, g, zero), sa),
                               ortho::sum_to(ortho::where(cond, zero, g), sb)};
                     });
}

Variable operator+(const Variable& a, const Variable& b) {
  return add(a, b);
}
Variable operator-(const Variable& a, const Variable& b) {
  return sub(a, b);
}
Variable operator*(const Variable& a, const Variable& b) {
  return mul(a, b);
}
Variable operator/(const Variable& a, const Variable& b) {
  return div(a, b);
}
Variable operator-(const Variable& a) {
  return neg(a);
}
Variable operator+(const Variable& a, double b) {
  return add(a, b);
}
Variable operator+(double a, const Variable& b) {
  return add(b, a);
}
Variable operator-(const Variable& a, double b) {
  return add(a, -b);
}
Variable operator-(double a, const Variable& b) {
  return affine(b, -1.0, a);
}
Variable operator*(const Variable& a, double b) {
  return mul(a, b);
}
Variable operator*(double a, const Variable& b) {
  return mul(b, a);
}
Variable operator/(const Variable& a, double b) {
  return mul(a, 1.0 / b);
}
Variable operator/(double a, const Variable& b) {
  return mul(reciprocal(b), a);
}

}  // namespace ortho::autograd
