#include "autograd/variable.h"

#include <utility>

#include "autograd/engine.h"
#include "core/error.h"
#include "core/ops/elementwise.h"

namespace ortho::autograd {

struct VariableState {
  Tensor value;
  Tensor grad;
  bool requires_grad = false;
  std::shared_ptr<Node> grad_fn;
  std::uint32_t output_nr = 0;
  std::string name;
  // Weak: the accumulator owns the state, so the state must not own the accumulator.
  std::weak_ptr<Node> grad_accumulator;
};

namespace {

// A gradient the variable may keep as its own: contiguous and referenced nowhere else.
// Anything else is copied, so later in-place accumulation never writes into a shared buffer.
Tensor owned_gradient(Tensor grad) {
  const bool whole_storage =
      grad.offset() == 0 &&
      static_cast<std::size_t>(grad.numel()) * dtype_size(grad.dtype()) == grad.storage()->bytes();
  if (grad.is_contiguous() && whole_storage && grad.storage().use_count() == 1) return grad;
  return grad.clone();
}

// The sink of a leaf's gradient: sums every gradient that reaches it into the leaf's grad.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<VariableState> variable)
      : Node("AccumulateGrad", {}), variable_(std::move(variable)) {
    add_output(TensorMeta::of(variable_->value));
  }

  std::vector<Tensor> backward(std::vector<Tensor> grad_outputs) override {
    Tensor& grad = variable_->grad;
    if (!grad.defined()) {
      grad = owned_gradient(std::move(grad_outputs[0]));
    } else {
      add_(grad, grad_outputs[0]);
    }
    return {};
  }

 private:
  std::shared_ptr<VariableState> variable_;
};

void check_can_require_grad(const Tensor& value, const char* op) {
  check_argument(value.defined(), op, ": undefined value");
  check_argument(is_floating(value.dtype()), op,
                 ": only float32 or float64 values can require grad, got ",
                 dtype_name(value.dtype()), " of shape ", value.shape());
}

}  // namespace

Variable::Variable(Tensor value, bool requires_grad) : state_(std::make_shared<VariableState>()) {
  if (requires_grad) check_can_require_grad(value, "Variable");
  state_->value = std::move(value);
  state_->requires_grad = requires_grad;
}

Variable Variable::from_node(Tensor value, std::shared_ptr<Node> node, std::uint32_t output_nr) {
  Variable v;
  v.state_ = std::make_shared<VariableState>();
  v.state_->value = std::move(value);
  v.state_->requires_grad = true;
  v.state_->grad_fn = std::move(node);
  v.state_->output_nr = output_nr;
  return v;
}

const VariableState& Variable::state(const char* op) const {
  check_argument(state_ != nullptr, "Variable::", op, ": undefined variable");
  return *state_;
}

VariableState& Variable::state(const char* op) {
  check_argument(state_ != nullptr, "Variable::", op, ": undefined variable");
  return *state_;
}

const Tensor& Variable::value() const {
  return state("value").value;
}

void Variable::set_value(Tensor value) {
  VariableState& s = state("set_value");
  check_argument(s.grad_fn == nullptr, "Variable::set_value: only a leaf's value can be replaced");
  if (s.requires_grad) check_can_require_grad(value, "Variable::set_value");
  s.value = std::move(value);
  s.grad_accumulator.reset();  // its metadata describes the old value
  if (s.grad.defined() && !TensorMeta::of(s.value).matches(s.grad)) s.grad = Tensor();
}

const Tensor& Variable::grad() const {
  return state("grad").grad;
}

void Variable::set_grad(Tensor grad) {
  VariableState& s = state("set_grad");
  if (grad.defined()) {
    const TensorMeta meta = TensorMeta::of(s.value);
    check_argument(meta.matches(grad), "Variable::set_grad: gradient ",
                   TensorMeta::of(grad).to_string(), " does not match value ", meta.to_string());
  }
  s.grad = std::move(grad);
}

void Variable::zero_grad() {
  state("zero_grad").grad = Tensor();
}

bool Variable::requires_grad() const {
  return state_ != nullptr && state_->requires_grad;
}

Variable& Variable::set_requires_grad(bool requires_grad) {
  VariableState& s = state("set_requires_grad");
  check_argument(s.grad_fn == nullptr,
                 "Variable::set_requires_grad: only leaves can change requires_grad");
  if (requires_grad) check_can_require_grad(s.value, "Variable::set_requires_grad");
  s.requires_grad = requires_grad;
  return *this;
}

bool Variable::is_leaf() const {
  return state("is_leaf").grad_fn == nullptr;
}

const std::shared_ptr<Node>& Variable::grad_fn() const {
  return state("grad_fn").grad_fn;
}

std::uint32_t Variable::output_nr() const {
  return state("output_nr").output_nr;
}

const std::string& Variable::name() const {
  return state("name").name;
}

Variable& Variable::set_name(std::string name) {
  state("set_name").name = std::move(name);
  return *this;
}

void Variable::backward(const Tensor& grad, bool retain_graph) const {
  autograd::backward({*this}, {grad}, retain_graph);
}

Variable Variable::detach() const {
  return Variable(value(), false);
}

Edge Variable::gradient_edge() const {
  if (state_ == nullptr || !state_->requires_grad) return {};
  if (state_->grad_fn != nullptr) return {state_->grad_fn, state_->output_nr};
  std::shared_ptr<Node> accumulator = state_->grad_accumulator.lock();
  if (accumulator == nullptr) {
    accumulator = std::make_shared<AccumulateGrad>(state_);
    state_->grad_accumulator = accumulator;
  }
  return {std::move(accumulator), 0};
}

}  // namespace ortho::autograd
