#pragma once

#include <vector>

#include "autograd/variable.h"
#include "core/tensor.h"

namespace ortho::autograd {

// Backpropagates from `outputs` (each with its gradient in `grad_outputs`; an undefined or
// missing one means 1 for a one-element output) and sums the result into the grad() of
// every leaf that requires grad. Nodes run in reverse topological order; each node's saved
// tensors are freed right after its backward unless `retain_graph`. Re-entrant: a node's
// backward may itself call backward() or grad() on a local graph.
void backward(const std::vector<Variable>& outputs, const std::vector<Tensor>& grad_outputs = {},
              bool retain_graph = false);

// The gradients of the outputs (weighted by `grad_outputs` as in backward()) with respect to
// `inputs`, which must require grad; no variable's grad() is touched. An input the outputs do
// not depend on gets an undefined Tensor. Only the part of the graph between the outputs and
// the inputs runs.
std::vector<Tensor> grad(const std::vector<Variable>& outputs, const std::vector<Variable>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, bool retain_graph = false);

}  // namespace ortho::autograd
