#include "autograd/record.h"

#include <stdexcept>

#include "autograd/grad_mode.h"

namespace ortho::autograd {

std::vector<Tensor> LambdaNode::backward(std::vector<Tensor> grad_outputs) {
  if (!backward_) {
    throw std::runtime_error(name() +
                             ": backward through the graph a second time, but its saved tensors "
                             "were freed after the first (pass retain_graph = true to keep them)");
  }
  return backward_(grad_outputs);
}

bool should_record(const std::vector<Variable>& inputs) {
  if (!is_grad_enabled()) return false;
  for (const Variable& v : inputs) {
    if (v.requires_grad()) return true;
  }
  return false;
}

std::vector<bool> needs_input_grad(const std::vector<Variable>& inputs) {
  const bool recording = is_grad_enabled();
  std::vector<bool> needs(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) needs[i] = recording && inputs[i].requires_grad();
  return needs;
}

std::vector<Variable> make_outputs(const std::string& name, const std::vector<Variable>& inputs,
                                   std::vector<Tensor> values, BackwardFunction backward) {
  std::vector<Variable> outputs;
  outputs.reserve(values.size());
  if (!should_record(inputs)) {
    for (Tensor& v : values) outputs.emplace_back(std::move(v));
    return outputs;
  }
  // Edges first: a leaf's accumulator created here must be older than the node.
  std::vector<Edge> edges;
  edges.reserve(inputs.size());
  for (const Variable& v : inputs) edges.push_back(v.gradient_edge());
  auto node = std::make_shared<LambdaNode>(name, std::move(edges), std::move(backward));
  for (Tensor& v : values) {
    const std::uint32_t index = node->add_output(TensorMeta::of(v));
    outputs.push_back(Variable::from_node(std::move(v), node, index));
  }
  return outputs;
}

}  // namespace ortho::autograd
