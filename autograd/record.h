#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "autograd/node.h"
#include "autograd/variable.h"
#include "core/tensor.h"

namespace ortho::autograd {

// Recording built-in ops: each differentiable op computes its value with core ops, then
// hands make_output() a lambda that captures exactly what its backward needs, so the forward
// and the backward of an op sit side by side:
//
//   Variable exp(const Variable& x) {
//     Tensor y = ortho::exp(x.value());
//     return make_output("exp", {x}, y, [y](const Tensor& g) -> Grads { return {g * y}; });
//   }
//
// The lambda is stored in the graph only when recording (grad mode on and some input requires
// grad); the engine destroys it right after running it, which frees the captured tensors.

using Grads = std::vector<Tensor>;
// Gradients of the forward inputs from the gradients of the forward outputs.
using BackwardFunction = std::function<Grads(const std::vector<Tensor>& grad_outputs)>;

// A node whose backward is a lambda; release() destroys the lambda and what it captured.
class LambdaNode final : public Node {
 public:
  LambdaNode(std::string name, std::vector<Edge> next_edges, BackwardFunction backward)
      : Node(std::move(name), std::move(next_edges)), backward_(std::move(backward)) {}

  std::vector<Tensor> backward(std::vector<Tensor> grad_outputs) override;
  void release() override { backward_ = nullptr; }

 private:
  BackwardFunction backward_;
};

// True when an op on `inputs` is recorded: grad mode is on and some input requires grad.
// Undefined inputs (an absent bias) are allowed and ignored.
bool should_record(const std::vector<Variable>& inputs);

// Which inputs will receive a gradient when recorded; backward lambdas capture it to skip
// work nobody needs (the input gradient of a first convolution, say).
std::vector<bool> needs_input_grad(const std::vector<Variable>& inputs);

// The outputs of a recorded multi-output op (or plain leaves when not recording). `backward`
// gets one gradient per output, undefined for outputs no gradient reached, and returns one
// gradient per input (undefined for none).
std::vector<Variable> make_outputs(const std::string& name, const std::vector<Variable>& inputs,
                                   std::vector<Tensor> values, BackwardFunction backward);

// The output of a one-output op; `backward` maps the output's gradient to the inputs' ones.
template <typename Fn>
Variable make_output(const std::string& name, const std::vector<Variable>& inputs, Tensor value,
                     Fn&& backward) {
  if (!should_record(inputs)) return Variable(std::move(value));
  BackwardFunction wrapped = [fn = std::forward<Fn>(backward)](const std::vector<Tensor>& g) {
    return fn(g[0]);
  };
  return make_outputs(name, inputs, {std::move(value)}, std::move(wrapped))[0];
}

}  // namespace ortho::autograd
