#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "autograd/function.h"
#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "autograd/ops/elementwise.h"
#include "autograd/ops/linalg.h"
#include "autograd/ops/matmul.h"
#include "autograd/ops/reduce.h"
#include "autograd/variable.h"
#include "core/allocator.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "support/autograd_support.h"
#include "support/test_support.h"

namespace ortho::autograd {
namespace {

using ortho::testing::expect_close;
using ortho::testing::passes_gradcheck;
using ortho::testing::random_tensor;

template <typename Fn>
void expect_invalid_argument_naming(Fn&& fn, const std::string& name) {
  try {
    fn();
    ADD_FAILURE() << "expected std::invalid_argument naming " << name;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << e.what();
  }
}

// y = x^3 with a hand-written backward.
struct Cube : Function {
  std::vector<Tensor> forward(FunctionContext& ctx, const std::vector<Tensor>& in) override {
    ctx.save({in[0]});
    return {ortho::pow(in[0], 3.0)};
  }
  std::vector<Tensor> backward(FunctionContext& ctx, const std::vector<Tensor>& grad) override {
    return {ortho::mul(ortho::mul(grad[0], ortho::square(ctx.saved()[0])), 3.0)};
  }
  std::string name() const override { return "Cube"; }
};

// Two inputs, two outputs: (a * b, a + b), with a hand-written backward.
struct ProductAndSum : Function {
  std::vector<Tensor> forward(FunctionContext& ctx, const std::vector<Tensor>& in) override {
    ctx.save({in[0], in[1]});
    return {ortho::mul(in[0], in[1]), ortho::add(in[0], in[1])};
  }
  std::vector<Tensor> backward(FunctionContext& ctx, const std::vector<Tensor>& grad) override {
    const Tensor& a = ctx.saved()[0];
    const Tensor& b = ctx.saved()[1];
    return {ortho::add(ortho::mul(grad[0], b), grad[1]),
            ortho::add(ortho::mul(grad[0], a), grad[1])};
  }
  std::string name() const override { return "ProductAndSum"; }
};

// Identity whose backward runs a check (and counts its calls).
struct Probe : Function {
  std::function<void()> on_backward;
  int calls = 0;
  std::vector<Tensor> forward(FunctionContext&, const std::vector<Tensor>& in) override {
    return {in[0]};
  }
  std::vector<Tensor> backward(FunctionContext&, const std::vector<Tensor>& grad) override {
    ++calls;
    if (on_backward) on_backward();
    return {grad[0]};
  }
};

TEST(Variable, HandlesShareOneVariable) {
  const Tensor t = random_tensor({2, 3}, 1);
  Variable a(t, true);
  Variable b = a;  // NOLINT: the copy is the point
  EXPECT_TRUE(a.same(b));
  EXPECT_TRUE(a.is_leaf());
  EXPECT_TRUE(a.requires_grad());
  EXPECT_FALSE(a.grad().defined());
  b.set_grad(Tensor::ones({2, 3}, DType::Float64));
  EXPECT_TRUE(a.grad().defined());
  a.zero_grad();
  EXPECT_FALSE(b.grad().defined());
  EXPECT_EQ(a.shape(), Shape({2, 3}));
  EXPECT_EQ(a.dtype(), DType::Float64);
  EXPECT_TRUE(a.device().is_cpu());

  const Variable y = a * a;
  EXPECT_FALSE(y.is_leaf());
  EXPECT_TRUE(y.requires_grad());
  EXPECT_EQ(y.grad_fn()->name(), "mul");
  const Variable d = y.detach();
  EXPECT_TRUE(d.is_leaf());
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.value().shares_storage(y.value()));
}

TEST(Variable, RejectsInvalidRequests) {
  EXPECT_THROW(Variable(Tensor::zeros({2}, DType::Int64), true), std::invalid_argument);
  Variable x(random_tensor({2}, 2), true);
  Variable y = exp(x);
  EXPECT_THROW(y.set_requires_grad(false), std::invalid_argument);
  EXPECT_THROW(x.set_grad(Tensor::zeros({3}, DType::Float64)), std::invalid_argument);
  EXPECT_THROW(x.set_grad(Tensor::zeros({2}, DType::Float32)), std::invalid_argument);
  EXPECT_THROW(Variable().value(), std::invalid_argument);
}

TEST(Engine, ScalarBackwardMatchesClosedForm) {
  const Tensor t = random_tensor({3, 4}, 3);
  Variable x(t, true);
  sum(x * x * 0.5 + exp(x)).backward();
  expect_close(x.grad(), ortho::add(t, ortho::exp(t)), 1e-12, 1e-12);
}

TEST(Engine, NonScalarNeedsAGradientOfItsShape) {
  Variable x(random_tensor({2, 2}, 4), true);
  const Variable y = x * 2.0;
  expect_invalid_argument_naming([&] { y.backward(); }, "backward");
  expect_invalid_argument_naming([&] { y.backward(Tensor::ones({3}, DType::Float64)); },
                                 "backward");
  expect_invalid_argument_naming(
      [&] {
        y.backward(Tensor::ones({2, 2}, DType::Float32));
      },
      "backward");
  y.backward(Tensor::full({2, 2}, 3.0, DType::Float64));
  expect_close(x.grad(), Tensor::full({2, 2}, 6.0, DType::Float64));
}

TEST(Engine, OutputThatNeedsNoGradCannotBackward) {
  const Variable x(random_tensor({2}, 5));
  const Variable y = sum(exp(x));
  EXPECT_FALSE(y.requires_grad());
  expect_invalid_argument_naming([&] { y.backward(); }, "backward");
}

TEST(Engine, GradientsAccumulateAcrossBackwardCalls) {
  const Tensor t = random_tensor({5}, 6);
  Variable x(t, true);
  sum(x * x).backward();
  sum(x * x).backward();
  expect_close(x.grad(), ortho::mul(t, 4.0), 1e-12, 1e-12);

  // The same graph twice, kept alive by retain_graph.
  x.zero_grad();
  const Variable y = sum(exp(x));
  y.backward({}, true);
  y.backward();
  expect_close(x.grad(), ortho::mul(ortho::exp(t), 2.0), 1e-12, 1e-12);
  EXPECT_THROW(y.backward(), std::runtime_error);  // saved tensors are gone now
}

TEST(Engine, LeafGradientIsNeverShared) {
  Variable a(random_tensor({3}, 7), true), b(random_tensor({3}, 8), true);
  const Tensor g = Tensor::ones({3}, DType::Float64);
  (a + b).backward(g);
  EXPECT_FALSE(a.grad().shares_storage(g));
  EXPECT_FALSE(a.grad().shares_storage(b.grad()));
  Tensor ga = a.grad();
  add_(ga, ga);  // writing into one gradient leaves the other alone
  expect_close(b.grad(), g);
}

TEST(Engine, DiamondSumsBothPathsBeforeRunningTheSharedNode) {
  const Tensor t = random_tensor({4}, 9);
  auto probe = std::make_shared<Probe>();
  Variable x(t, true);
  const Variable a = apply(probe, {x})[0];
  const Variable b = exp(a);
  const Variable y = sum(b * 2.0 + b * b + a);
  y.backward();
  EXPECT_EQ(probe->calls, 1);
  const Tensor e = ortho::exp(t);
  // dy/dx = 2 e + 2 e^2 + 1
  expect_close(x.grad(),
               ortho::add(ortho::add(ortho::mul(e, 2.0), ortho::mul(ortho::square(e), 2.0)), 1.0),
               1e-12, 1e-12);
}

TEST(Engine, BackwardFromSeveralRoots) {
  const Tensor t = random_tensor({3}, 10);
  Variable x(t, true);
  const Variable h = x * 3.0;
  const Variable y1 = sum(h);
  const Variable y2 = sum(h * x);  // depends on h, which y1 also uses
  backward({y1, y2});
  // d/dx [3 sum x + 3 sum x^2] = 3 + 6 x
  expect_close(x.grad(), ortho::affine(t, 6.0, 3.0), 1e-12, 1e-12);
}

TEST(Engine, GradReturnsGradientsWithoutTouchingDotGrad) {
  const Tensor tx = random_tensor({3}, 11), tw = random_tensor({3}, 12);
  Variable x(tx, true), w(tw, true), unused(random_tensor({2}, 13), true);
  const Variable h = x * w;
  const Variable y = sum(exp(h));
  const std::vector<Tensor> g = grad({y}, {x, h, unused});
  const Tensor eh = ortho::exp(ortho::mul(tx, tw));
  expect_close(g[0], ortho::mul(eh, tw), 1e-12, 1e-12);
  expect_close(g[1], eh, 1e-12, 1e-12);
  EXPECT_FALSE(g[2].defined());
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(w.grad().defined());
  EXPECT_THROW(grad({y}, {Variable(tx)}), std::invalid_argument);
}

TEST(Engine, BranchesThatNeedNoGradAreSkipped) {
  auto probe = std::make_shared<Probe>();
  Variable x(random_tensor({3}, 14), true);
  const Variable constant(random_tensor({3}, 15));
  const Variable c = apply(probe, {constant})[0];
  EXPECT_FALSE(c.requires_grad());
  sum(x * c).backward();
  EXPECT_EQ(probe->calls, 0);
  expect_close(x.grad(), constant.value());

  // An output no gradient reaches: R of a QR is unused, only Q flows back.
  Variable a(random_tensor({4, 3}, 16), true);
  const QROutput qr_out = qr(a);
  sum(qr_out.q).backward();
  EXPECT_TRUE(a.grad().defined());
}

TEST(GradMode, NoGradGuardRecordsNothing) {
  Variable x(random_tensor({3}, 17), true);
  EXPECT_TRUE(is_grad_enabled());
  {
    NoGradGuard no_grad;
    EXPECT_FALSE(is_grad_enabled());
    const Variable y = exp(x) * x;
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
    {
      EnableGradGuard enable;
      EXPECT_TRUE(exp(x).requires_grad());
    }
    EXPECT_FALSE(is_grad_enabled());
  }
  EXPECT_TRUE(is_grad_enabled());
  EXPECT_TRUE(exp(x).requires_grad());
}

TEST(Engine, SavedTensorsAreFreedAsSoonAsTheirNodeHasRun) {
  constexpr std::int64_t n = 1 << 15;
  constexpr std::int64_t bytes = n * 8;
  Variable x(random_tensor({n}, 18), true);
  for (const bool retain : {false, true}) {
    std::int64_t at_probe = 0;
    auto probe = std::make_shared<Probe>();
    probe->on_backward = [&] { at_probe = memory_stats().current_bytes; };
    Variable loss;
    {
      // Four exp nodes each keep their output (n doubles) for backward; nothing else does.
      const Variable a = apply(probe, {x})[0];
      loss = sum(exp(exp(exp(exp(a)))));
    }
    const std::int64_t before = memory_stats().current_bytes;
    loss.backward({}, retain);
    if (retain) {
      EXPECT_GE(at_probe, before) << "retained saved tensors stay alive";
    } else {
      // Four saved outputs are gone; the gradient in flight (n doubles) is new.
      EXPECT_LE(at_probe, before - 2 * bytes);
    }
    x.zero_grad();
  }
}

// Flips a flag when destroyed: the saved state of a custom Function.
struct Sentinel {
  bool* destroyed;
  ~Sentinel() { *destroyed = true; }
};

struct ScaleWithState : Function {
  std::unique_ptr<Sentinel> state;
  std::vector<Tensor> forward(FunctionContext&, const std::vector<Tensor>& in) override {
    return {ortho::mul(in[0], 2.0)};
  }
  std::vector<Tensor> backward(FunctionContext&, const std::vector<Tensor>& grad) override {
    return {ortho::mul(grad[0], 2.0)};
  }
};

TEST(Engine, CustomFunctionStateIsFreedRightAfterItsBackward) {
  bool destroyed = false;
  bool destroyed_when_probed = false;
  auto scale = std::make_shared<ScaleWithState>();
  scale->state = std::unique_ptr<Sentinel>(new Sentinel{&destroyed});
  auto probe = std::make_shared<Probe>();
  probe->on_backward = [&] { destroyed_when_probed = destroyed; };
  Variable x(random_tensor({3}, 19), true);
  // x -> probe -> scale -> loss: the probe's backward runs after scale's.
  const Variable y = sum(apply(scale, {apply(probe, {x})[0]})[0]);
  scale.reset();
  EXPECT_FALSE(destroyed);
  y.backward();
  EXPECT_TRUE(destroyed_when_probed);
  expect_close(x.grad(), Tensor::full({3}, 2.0, DType::Float64));
}

TEST(Function, HandWrittenBackwardsPassGradcheck) {
  EXPECT_TRUE(passes_gradcheck(
      [](const std::vector<Variable>& in) { return apply(std::make_shared<Cube>(), {in[0]})[0]; },
      {random_tensor({2, 3}, 20)}));
  EXPECT_TRUE(passes_gradcheck(
      [](const std::vector<Variable>& in) {
        const std::vector<Variable> out = apply(std::make_shared<ProductAndSum>(), in);
        return out[0] * out[1];
      },
      {random_tensor({4}, 21), random_tensor({4}, 22)}));
  // Only one output used: the other's gradient arrives as zeros.
  EXPECT_TRUE(passes_gradcheck(
      [](const std::vector<Variable>& in) {
        return exp(apply(std::make_shared<ProductAndSum>(), in)[1]);
      },
      {random_tensor({4}, 23), random_tensor({4}, 24)}));
}

TEST(Function, WrongGradientsThrowNamingTheFunction) {
  struct BadShape : Function {
    std::vector<Tensor> forward(FunctionContext&, const std::vector<Tensor>& in) override {
      return {in[0]};
    }
    std::vector<Tensor> backward(FunctionContext&, const std::vector<Tensor>&) override {
      return {Tensor::zeros({7}, DType::Float64)};
    }
    std::string name() const override { return "BadShape"; }
  };
  struct BadCount : BadShape {
    std::vector<Tensor> backward(FunctionContext&, const std::vector<Tensor>& g) override {
      return {g[0], g[0]};
    }
    std::string name() const override { return "BadCount"; }
  };
  Variable x(random_tensor({3}, 25), true);
  const Variable y1 = sum(apply(std::make_shared<BadShape>(), {x})[0]);
  expect_invalid_argument_naming([&] { y1.backward(); }, "BadShape");
  const Variable y2 = sum(apply(std::make_shared<BadCount>(), {x})[0]);
  expect_invalid_argument_naming([&] { y2.backward(); }, "BadCount");
}

// y = tanh(x * w) that keeps only x: backward recomputes the op on a local graph and
// backpropagates through it, the way invertible and checkpointed blocks do.
struct Recomputed : Function {
  Variable w;
  explicit Recomputed(Variable weight) : w(std::move(weight)) {}
  std::vector<Tensor> forward(FunctionContext& ctx, const std::vector<Tensor>& in) override {
    ctx.save({in[0]});
    return {ortho::tanh(ortho::mul(in[0], w.value()))};
  }
  std::vector<Tensor> backward(FunctionContext& ctx, const std::vector<Tensor>& grad) override {
    EnableGradGuard recording;
    Variable x(ctx.saved()[0], true);
    const Variable y = tanh(x * w);
    y.backward(grad[0]);  // re-entrant: w's gradient accumulates into w.grad()
    return {x.grad()};
  }
};

TEST(Engine, ReentrantBackwardInsideAFunction) {
  const Tensor tx = random_tensor({2, 3}, 26), tw = random_tensor({3}, 27);
  Variable x(tx, true), w(tw, true);
  const Variable z = apply(std::make_shared<Recomputed>(w), {x})[0];
  sum(z * z * exp(x)).backward();

  Variable x2(tx, true), w2(tw, true);
  const Variable z2 = tanh(x2 * w2);
  sum(z2 * z2 * exp(x2)).backward();
  expect_close(x.grad(), x2.grad(), 1e-12, 1e-12);
  expect_close(w.grad(), w2.grad(), 1e-12, 1e-12);

  EXPECT_TRUE(passes_gradcheck(
      [](const std::vector<Variable>& in) {
        return apply(std::make_shared<Recomputed>(in[1]), {in[0]})[0];
      },
      {tx, tw}));
}

TEST(Engine, GraphHoldsNoReferenceCycles) {
  const std::int64_t before = memory_stats().current_bytes;
  std::weak_ptr<Node> node;
  {
    Variable x(random_tensor({256}, 28), true);
    const Variable y = sum(exp(x) * x);
    node = y.grad_fn();
    y.backward();
  }
  EXPECT_TRUE(node.expired());
  EXPECT_EQ(memory_stats().current_bytes, before);
}

TEST(Engine, DeepGraphsRunAndDieWithoutDeepRecursion) {
  Variable x(Tensor::scalar(1.0, DType::Float64), true);
  Variable h = x;
  for (int i = 0; i < 100000; ++i) h = h * 1.0;
  h.backward();
  EXPECT_EQ(x.grad().item<double>(), 1.0);
  h = Variable();  // drops the 100000-node chain
}

TEST(Engine, MismatchesThrowNamingTheOp) {
  Variable a(random_tensor({2, 3}, 29), true);
  Variable b(random_tensor({4, 5}, 30), true);
  Variable f(random_tensor({2, 3}, 31, DType::Float32), true);
  expect_invalid_argument_naming([&] { (void)(a + b); }, "add");
  expect_invalid_argument_naming([&] { (void)(a * f); }, "mul");
  expect_invalid_argument_naming([&] { (void)matmul(a, b); }, "matmul");
  expect_invalid_argument_naming([&] { (void)solve(a, b); }, "solve");
}

}  // namespace
}  // namespace ortho::autograd

namespace ortho::autograd {
namespace {

using ortho::testing::random_tensor;

// x^3 with a backward that is off by a factor, to see gradcheck fail.
struct WrongCube : Function {
  std::vector<Tensor> forward(FunctionContext& ctx, const std::vector<Tensor>& in) override {
    ctx.save({in[0]});
    return {ortho::pow(in[0], 3.0)};
  }
  std::vector<Tensor> backward(FunctionContext& ctx, const std::vector<Tensor>& grad) override {
    return {ortho::mul(ortho::mul(grad[0], ortho::square(ctx.saved()[0])), 2.0)};
  }
};

TEST(Gradcheck, DetectsAWrongBackwardAndNamesTheElement) {
  const Tensor x = ortho::affine(random_tensor({2, 3}, 40), 0.1, 1.0);  // no zero crossings
  const GradcheckResult result = gradcheck(
      [](const std::vector<Variable>& in) { return apply(std::make_shared<WrongCube>(), in)[0]; },
      {x});
  EXPECT_FALSE(result.passed);
  EXPECT_GT(result.max_abs_error, 1e-3);
  EXPECT_EQ(result.worst_input, 0u);
  EXPECT_LT(result.worst_element, 6);
  EXPECT_NE(result.summary().find("FAILED"), std::string::npos);
}

TEST(Gradcheck, RejectsInputsItCannotPerturb) {
  const auto f = [](const std::vector<Variable>& in) { return exp(in[0]); };
  EXPECT_THROW(gradcheck(f, {random_tensor({3}, 41, DType::Float32)}), std::invalid_argument);
  EXPECT_THROW(gradcheck(f, {random_tensor({1, 3}, 42).expand({2, 3})}), std::invalid_argument);
  EXPECT_THROW(gradcheck(f, {Tensor()}), std::invalid_argument);
}

}  // namespace
}  // namespace ortho::autograd
