// The backward engine: a dependency count per reachable node, then a ready queue that runs
// each node once all the gradients it will receive have arrived (summed per input).
#include "autograd/engine.h"

#include <cstddef>
#include <queue>
#include <unordered_map>
#include <utility>

#include "autograd/grad_mode.h"
#include "core/error.h"
#include "core/ops/elementwise.h"

namespace ortho::autograd {
namespace {

// Bookkeeping for one node during one backward pass.
struct NodeTask {
  int dependencies = 0;       // edges from reachable nodes not yet run
  std::vector<Tensor> grads;  // summed incoming gradients, one slot per forward output
  bool run = true;            // false when the node leads to no wanted gradient
};

// Where grad() collects one requested gradient: slot `input_nr` of a node, into result `index`.
struct Capture {
  std::uint32_t input_nr;
  std::size_t index;
};

struct LaterFirst {
  bool operator()(const Node* a, const Node* b) const {
    return a->sequence_nr() < b->sequence_nr();
  }
};

class GraphTask {
 public:
  explicit GraphTask(bool retain_graph) : retain_graph_(retain_graph) {}

  // Seeds the pass with d(loss)/d(output) for every output.
  void add_roots(const std::vector<Variable>& outputs, const std::vector<Tensor>& grad_outputs,
                 const char* op);
  // grad() mode: collect the gradients flowing into `inputs` instead of running their
  // accumulators, and run only the nodes that lead to one of them.
  void capture(const std::vector<Variable>& inputs);
  void execute();
  std::vector<Tensor> take_captured() { return std::move(captured_); }

 private:
  void discover();
  void prune_to_captures();
  void run_node(Node* node, NodeTask& task);
  void send(const Node& from, std::size_t index, const Edge& edge, Tensor grad);
  void deposit(const Edge& edge, Tensor grad);

  bool retain_graph_;
  std::vector<Edge> roots_;
  std::vector<Tensor> root_grads_;
  std::unordered_map<Node*, NodeTask> tasks_;
  std::vector<Node*> post_order_;  // every node after all the nodes it sends gradients to
  std::unordered_map<Node*, std::vector<Capture>> captures_;
  std::vector<Tensor> captured_;
};

Tensor root_gradient(const Variable& output, const Tensor& grad, const char* op) {
  const Tensor& value = output.value();
  if (!grad.defined()) {
    check_argument(value.numel() == 1, op, ": a gradient must be given for an output of shape ",
                   value.shape(), " (only one-element outputs default to 1)");
    return Tensor::ones(value.shape(), value.dtype(), value.device());
  }
  const TensorMeta meta = TensorMeta::of(value);
  check_argument(meta.matches(grad), op, ": gradient ", TensorMeta::of(grad).to_string(),
                 " does not match output ", meta.to_string());
  return grad;
}

void GraphTask::add_roots(const std::vector<Variable>& outputs,
                          const std::vector<Tensor>& grad_outputs, const char* op) {
  check_argument(grad_outputs.empty() || grad_outputs.size() == outputs.size(), op, ": ",
                 grad_outputs.size(), " gradients given for ", outputs.size(), " outputs");
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const Variable& output = outputs[i];
    check_argument(output.defined(), op, ": output ", i, " is undefined");
    check_argument(output.requires_grad(), op, ": output ", i, " of shape ", output.shape(),
                   " does not require grad (no input requires grad, or it was computed with "
                   "grad mode off)");
    roots_.push_back(output.gradient_edge());
    root_grads_.push_back(
        root_gradient(output, i < grad_outputs.size() ? grad_outputs[i] : Tensor(), op));
  }
  discover();
}

// Depth-first walk from the roots: counts the edges into every reachable node and lists the
// nodes in post-order.
void GraphTask::discover() {
  std::vector<std::pair<Node*, std::size_t>> stack;
  auto visit = [&](Node* node) {
    if (tasks_.try_emplace(node).second) stack.emplace_back(node, 0);
  };
  for (const Edge& root : roots_) visit(root.node.get());
  while (!stack.empty()) {
    auto& [node, next] = stack.back();
    const std::vector<Edge>& edges = node->next_edges();
    if (next == edges.size()) {
      post_order_.push_back(node);
      stack.pop_back();
      continue;
    }
    Node* child = edges[next++].node.get();
    if (child == nullptr) continue;
    const auto [it, first_visit] = tasks_.try_emplace(child);
    ++it->second.dependencies;
    if (first_visit) stack.emplace_back(child, 0);
  }
}

void GraphTask::capture(const std::vector<Variable>& inputs) {
  captured_.assign(inputs.size(), Tensor());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    check_argument(inputs[i].defined() && inputs[i].requires_grad(), "grad: input ", i,
                   " does not require grad");
    const Edge edge = inputs[i].gradient_edge();
    captures_[edge.node.get()].push_back({edge.input_nr, i});
  }
  prune_to_captures();
}

// A node runs only when some node it sends gradients to is captured or runs itself;
// post-order visits those before it.
void GraphTask::prune_to_captures() {
  for (Node* node : post_order_) {
    bool leads = false;
    for (const Edge& edge : node->next_edges()) {
      if (!edge.valid()) continue;
      Node* child = edge.node.get();
      leads = leads || captures_.contains(child) || tasks_[child].run;
    }
    tasks_[node].run = leads;
  }
}

void GraphTask::execute() {
  for (std::size_t i = 0; i < roots_.size(); ++i) deposit(roots_[i], std::move(root_grads_[i]));
  std::priority_queue<Node*, std::vector<Node*>, LaterFirst> ready;
  for (auto& [node, task] : tasks_) {
    if (task.dependencies == 0) ready.push(node);
  }
  while (!ready.empty()) {
    Node* node = ready.top();
    ready.pop();
    NodeTask& task = tasks_[node];
    if (const auto it = captures_.find(node); it != captures_.end()) {
      for (const Capture& c : it->second) {
        if (c.input_nr < task.grads.size()) captured_[c.index] = task.grads[c.input_nr];
      }
    }
    if (task.run) run_node(node, task);
    task.grads.clear();
    for (const Edge& edge : node->next_edges()) {
      if (edge.valid() && --tasks_[edge.node.get()].dependencies == 0) ready.push(edge.node.get());
    }
  }
}

void GraphTask::run_node(Node* node, NodeTask& task) {
  bool any_grad = false;
  for (const Tensor& g : task.grads) any_grad = any_grad || g.defined();
  if (!any_grad) return;  // nothing flows through: skip the whole branch below
  task.grads.resize(node->output_meta().size());
  std::vector<Tensor> grads;
  {
    NoGradGuard no_grad;
    grads = node->backward(std::move(task.grads));
  }
  if (!retain_graph_) node->release();
  const std::vector<Edge>& edges = node->next_edges();
  check_argument(grads.size() == edges.size(), node->name(), ": backward returned ", grads.size(),
                 " gradients for ", edges.size(), " inputs");
  for (std::size_t i = 0; i < edges.size(); ++i) send(*node, i, edges[i], std::move(grads[i]));
}

void GraphTask::send(const Node& from, std::size_t index, const Edge& edge, Tensor grad) {
  if (!edge.valid() || !grad.defined()) return;
  const TensorMeta& meta = edge.node->output_meta()[edge.input_nr];
  check_argument(meta.matches(grad), from.name(), ": backward returned a gradient ",
                 TensorMeta::of(grad).to_string(), " for input ", index, " of ", meta.to_string());
  if (tasks_[edge.node.get()].run || captures_.contains(edge.node.get()))
    deposit(edge, std::move(grad));
}

// Sums `grad` into the slot of its edge (out of place: the incoming tensor may be shared).
void GraphTask::deposit(const Edge& edge, Tensor grad) {
  std::vector<Tensor>& slots = tasks_[edge.node.get()].grads;
  if (slots.size() <= edge.input_nr) slots.resize(edge.input_nr + 1);
  Tensor& slot = slots[edge.input_nr];
  slot = slot.defined() ? ortho::add(slot, grad) : std::move(grad);
}

}  // namespace

void backward(const std::vector<Variable>& outputs, const std::vector<Tensor>& grad_outputs,
              bool retain_graph) {
  GraphTask task(retain_graph);
  task.add_roots(outputs, grad_outputs, "backward");
  task.execute();
}

std::vector<Tensor> grad(const std::vector<Variable>& outputs, const std::vector<Variable>& inputs,
                         const std::vector<Tensor>& grad_outputs, bool retain_graph) {
  GraphTask task(retain_graph);
  task.add_roots(outputs, grad_outputs, "grad");
  task.capture(inputs);
  task.execute();
  return task.take_captured();
}

}  // namespace ortho::autograd
