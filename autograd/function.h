#pragma once

#include <concepts>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/variable.h"
#include "core/tensor.h"

namespace ortho::autograd {

class Function;
class FunctionNode;

// What a custom Function's forward leaves for its backward: saved tensors, and which inputs
// want a gradient. Saved tensors are freed as soon as the backward has run.
class FunctionContext {
 public:
  void save(std::vector<Tensor> tensors) { saved_ = std::move(tensors); }
  const std::vector<Tensor>& saved() const { return saved_; }
  // False for an input that needs no gradient: backward may return an undefined Tensor there.
  bool needs_input_grad(std::size_t input) const {
    return input < needs_input_grad_.size() && needs_input_grad_[input];
  }

 private:
  friend std::vector<Variable> apply_function(std::shared_ptr<Function>,
                                              const std::vector<Variable>&);
  friend class FunctionNode;

  std::vector<Tensor> saved_;
  std::vector<bool> needs_input_grad_;
};

// A differentiable operation written by hand: forward on Tensors (recording is off), and a
// backward that maps the outputs' gradients to the inputs' ones. Any state a subclass keeps
// lives until its backward has run, then is freed with the graph node. Example:
//
//   struct Cube : Function {
//     std::vector<Tensor> forward(FunctionContext& ctx, const std::vector<Tensor>& in) override {
//       ctx.save({in[0]});
//       return {ortho::pow(in[0], 3.0)};
//     }
//     std::vector<Tensor> backward(FunctionContext& ctx,
//                                  const std::vector<Tensor>& grad) override {
//       const Tensor& x = ctx.saved()[0];
//       return {grad[0] * ortho::square(x) * 3.0};
//     }
//     std::string name() const override { return "Cube"; }
//   };
//   Variable y = apply(std::make_shared<Cube>(), {x})[0];
//
// backward runs with grad mode off. To backpropagate through a local graph inside it (the
// recomputation of invertible backprop or checkpointing), record with EnableGradGuard and call
// backward() or grad() on that graph: the engine is re-entrant.
class Function {
 public:
  virtual ~Function() = default;
  virtual std::vector<Tensor> forward(FunctionContext& ctx, const std::vector<Tensor>& inputs) = 0;
  // One gradient per forward input (undefined for none). Outputs that received no gradient
  // arrive as zeros.
  virtual std::vector<Tensor> backward(FunctionContext& ctx,
                                       const std::vector<Tensor>& grad_outputs) = 0;
  // Names the function in errors.
  virtual std::string name() const { return "Function"; }
};

// Runs `function`'s forward on the inputs' values and, when recording, adds a node whose
// backward is `function`'s. Each output becomes a Variable.
std::vector<Variable> apply_function(std::shared_ptr<Function> function,
                                     const std::vector<Variable>& inputs);

// apply(std::make_shared<MyFunction>(...), {x, y}): a template so that it, not std::apply
// (found through the std::vector argument), is the better match.
template <typename F>
requires std::derived_from<F, Function> std::vector<Variable> apply(
    std::shared_ptr<F> function, const std::vector<Variable>& inputs) {
  return apply_function(std::move(function), inputs);
}

}  // namespace ortho::autograd
