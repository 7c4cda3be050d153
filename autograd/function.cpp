#include "autograd/function.h"

#include <stdexcept>
#include <utility>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "autograd/record.h"
#include "core/error.h"

namespace ortho::autograd {

// The graph node of one apply(): owns the Function and its context until backward has run.
class FunctionNode final : public Node {
 public:
  FunctionNode(std::vector<Edge> next_edges, std::shared_ptr<Function> function,
               FunctionContext context)
      : Node(function->name(), std::move(next_edges)),
        function_(std::move(function)),
        context_(std::move(context)) {}

  std::vector<Tensor> backward(std::vector<Tensor> grad_outputs) override {
    if (function_ == nullptr) {
      throw std::runtime_error(name() +
                               ": backward through the graph a second time, but its saved state "
                               "was freed after the first (pass retain_graph = true to keep it)");
    }
    for (std::size_t i = 0; i < grad_outputs.size(); ++i) {
      if (!grad_outputs[i].defined()) grad_outputs[i] = output_meta()[i].zeros();
    }
    std::vector<Tensor> grads = function_->backward(context_, grad_outputs);
    check_argument(grads.size() == next_edges().size(), name(), ": backward returned ",
                   grads.size(), " gradients for ", next_edges().size(), " inputs");
    return grads;
  }

  void release() override {
    context_.saved_.clear();
    function_.reset();
  }

 private:
  std::shared_ptr<Function> function_;
  FunctionContext context_;
};

std::vector<Variable> apply_function(std::shared_ptr<Function> function,
                                     const std::vector<Variable>& inputs) {
  check_argument(function != nullptr, "apply: null Function");
  const std::string name = function->name();
  std::vector<Tensor> values;
  values.reserve(inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    check_argument(inputs[i].defined(), name, ": input ", i, " is undefined");
    values.push_back(inputs[i].value());
  }
  FunctionContext context;
  context.needs_input_grad_ = needs_input_grad(inputs);
  std::vector<Tensor> results;
  {
    NoGradGuard no_grad;
    results = function->forward(context, values);
  }
  for (std::size_t i = 0; i < results.size(); ++i) {
    check_argument(results[i].defined(), name, ": forward returned an undefined output ", i);
  }
  std::vector<Variable> outputs;
  outputs.reserve(results.size());
  if (!should_record(inputs)) {
    for (Tensor& r : results) outputs.emplace_back(std::move(r));
    return outputs;
  }
  std::vector<Edge> edges;
  edges.reserve(inputs.size());
  for (const Variable& v : inputs) edges.push_back(v.gradient_edge());
  auto node =
      std::make_shared<FunctionNode>(std::move(edges), std::move(function), std::move(context));
  for (Tensor& r : results) {
    const std::uint32_t index = node->add_output(TensorMeta::of(r));
    outputs.push_back(Variable::from_node(std::move(r), node, index));
  }
  return outputs;
}

}  // namespace ortho::autograd
