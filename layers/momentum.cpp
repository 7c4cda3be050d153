#include "layers/momentum.h"

#include <memory>
#include <unordered_map>
#include <utility>

#include "autograd/engine.h"
#include "autograd/function.h"
#include "autograd/grad_mode.h"
#include "autograd/ops/elementwise.h"
#include "core/error.h"
#include "core/ops/elementwise.h"
#include "layers/batchnorm2d.h"

namespace ortho::nn {
namespace {

// Block n's output, which must keep the shape.
autograd::Variable run_block(Module& block, const autograd::Variable& x) {
  autograd::Variable out = block.forward(x);
  check_argument(out.shape() == x.shape(), "MomentumSequential: a block maps ", x.shape(), " to ",
                 out.shape(), "; momentum blocks must keep the shape");
  return out;
}

// One stage's forward and invertible backward. Its inputs are the stage input, then every
// parameter of the blocks, so that their gradients flow through this node to backward() and
// grad() alike.
class MomentumFunction final : public autograd::Function {
 public:
  MomentumFunction(std::vector<std::shared_ptr<Module>> blocks,
                   const std::vector<Parameter>& params, const MomentumOptions& options,
                   MomentumFraction gamma)
      : blocks_(std::move(blocks)), options_(options), gamma_(gamma) {
    std::unordered_map<const void*, std::size_t> slot_of;
    for (std::size_t i = 0; i < params.size(); ++i) {
      slot_of.emplace(params[i].id(), i + 1);
      params_.push_back(params[i]);
    }
    for (const auto& block : blocks_) {
      std::vector<std::size_t>& slots = block_slots_.emplace_back();
      for (const Parameter& p : block->parameters()) slots.push_back(slot_of.at(p.id()));
    }
  }

  std::vector<Tensor> forward(autograd::FunctionContext&,
                              const std::vector<Tensor>& inputs) override {
    state_ = make_momentum_state(inputs[0], gamma_, options_.arithmetic, options_.residual_blocks,
                                 options_.initial_velocity);
    for (const auto& block : blocks_) {
      state_->advance(run_block(*block, autograd::Variable(state_->position())).value());
    }
    return {state_->position()};
  }

  std::vector<Tensor> backward(autograd::FunctionContext& ctx,
                               const std::vector<Tensor>& grad_outputs) override {
    std::vector<Tensor> grads(params_.size() + 1);
    Tensor grad_x = grad_outputs[0].clone(), grad_v;  // dL/dv_N = 0: the stage outputs x_N only
    for (std::size_t n = blocks_.size(); n-- > 0;) {
      state_->rewind_position();
      const Tensor g = grad_v.defined() ? add(grad_x, grad_v) : grad_x.clone();
      std::vector<std::size_t> slots;
      const Tensor w =
          mul(g, step_weight(gamma_, options_.initial_velocity, static_cast<std::int64_t>(n)));
      const std::vector<Tensor> vjp = recompute(n, ctx, w, slots);
      if (vjp[0].defined()) add_(grad_x, vjp[0]);
      if (options_.residual_blocks) add_(grad_x, w, -1.0);  // f_n = block_n - identity
      for (std::size_t i = 0; i < slots.size(); ++i) {
        Tensor& total = grads[slots[i]];
        if (vjp[i + 1].defined()) total = total.defined() ? add(total, vjp[i + 1]) : vjp[i + 1];
      }
      grad_v = mul(g, gamma_.value());
    }
    state_.reset();
    if (ctx.needs_input_grad(0)) grads[0] = grad_x;
    return grads;
  }

  std::string name() const override { return "MomentumSequential"; }

 private:
  // Recomputes block n at the rewound x_n under a local graph, finishes rewinding the state with
  // its output, and returns (J_x^T w, then J_theta^T w for each parameter of block n that wants
  // a gradient, whose input slots go to `slots`), J the block's Jacobian.
  std::vector<Tensor> recompute(std::size_t n, const autograd::FunctionContext& ctx,
                                const Tensor& w, std::vector<std::size_t>& slots) {
    const autograd::Variable x(state_->position(), /*requires_grad=*/true);
    std::vector<autograd::Variable> wrt{x};
    for (std::size_t slot : block_slots_[n]) {
      if (!ctx.needs_input_grad(slot)) continue;
      slots.push_back(slot);
      wrt.push_back(params_[slot - 1]);
    }
    Tensor out_value;
    std::vector<Tensor> vjp;
    {
      const autograd::EnableGradGuard record;
      const FreezeRunningStatsGuard once_per_forward;
      const autograd::Variable out = run_block(*blocks_[n], x);
      out_value = out.value();
      vjp = autograd::grad({out}, wrt, {w});
    }
    state_->rewind_velocity(out_value);
    return vjp;
  }

  std::vector<std::shared_ptr<Module>> blocks_;
  std::vector<autograd::Variable> params_;
  std::vector<std::vector<std::size_t>> block_slots_;  // input slots of each block's parameters
  MomentumOptions options_;
  MomentumFraction gamma_;
  std::unique_ptr<MomentumState> state_;  // (x_N, v_N) from forward until backward has run
};

}  // namespace

MomentumSequential::MomentumSequential(const std::vector<std::shared_ptr<Module>>& blocks,
                                       double gamma, bool invertible)
    : MomentumSequential(blocks, MomentumOptions{gamma, invertible}) {}

MomentumSequential::MomentumSequential(const std::vector<std::shared_ptr<Module>>& blocks,
                                       const MomentumOptions& options)
    : Sequential(blocks), options_(options), fraction_(momentum_fraction(options.gamma)) {}

autograd::Variable MomentumSequential::forward(const autograd::Variable& x) {
  if (empty()) return x;
  // Without recording there is nothing to invert, and the plain recurrence holds two tensors
  // where the exact state holds three doubles per element (an evaluation batch of 500 costs
  // 200 MB less on CIFAR).
  if (!options_.invertible || !autograd::is_grad_enabled()) return forward_stored(x);
  return forward_invertible(x);
}

autograd::Variable MomentumSequential::block_function(std::size_t n,
                                                      const autograd::Variable& x) const {
  check_argument(n < size(), "MomentumSequential: block ", n, " out of range for ", size(),
                 " blocks");
  const autograd::Variable out = run_block(*(*this)[n], x);
  return options_.residual_blocks ? autograd::sub(out, x) : out;
}

autograd::Variable MomentumSequential::forward_stored(const autograd::Variable& x) const {
  const double gamma = fraction_.value();
  autograd::Variable position = x, velocity;  // v_0 = 0, or f_0(x_0) through step_weight
  for (std::size_t n = 0; n < size(); ++n) {
    const double weight =
        step_weight(fraction_, options_.initial_velocity, static_cast<std::int64_t>(n));
    const autograd::Variable step = autograd::mul(block_function(n, position), weight);
    velocity = velocity.defined() ? autograd::add(autograd::mul(velocity, gamma), step) : step;
    position = autograd::add(position, velocity);
  }
  return position;
}

autograd::Variable MomentumSequential::forward_invertible(const autograd::Variable& x) const {
  const std::vector<Parameter> params = parameters();
  std::vector<autograd::Variable> inputs{x};
  inputs.insert(inputs.end(), params.begin(), params.end());
  auto function = std::make_shared<MomentumFunction>(children(), params, options_, fraction_);
  return autograd::apply(std::move(function), inputs)[0];
}

}  // namespace ortho::nn
