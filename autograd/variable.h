#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "autograd/node.h"
#include "core/tensor.h"

namespace ortho::autograd {

struct VariableState;

// A handle to a value in the autograd graph: a Tensor, its gradient, and the node that made
// it. Copies are cheap and refer to the same variable, so a parameter held by a module and
// by an optimizer is one variable with one gradient.
//
// A leaf is made by the user (Variable(tensor, true) for a parameter); a non-leaf is the
// output of a recorded op and remembers its node (grad_fn). backward() accumulates (sums)
// into the grad() of every leaf that requires grad.
class Variable {
 public:
  Variable() = default;  // undefined handle
  // A leaf. Only float32/float64 values may require grad.
  explicit Variable(Tensor value, bool requires_grad = false);
  // The output `output_nr` of `node` (used by the code that records ops).
  static Variable from_node(Tensor value, std::shared_ptr<Node> node, std::uint32_t output_nr);

  bool defined() const { return state_ != nullptr; }
  const Tensor& value() const;
  // Replaces a leaf's value (moving a parameter to a device, loading a checkpoint); graphs
  // recorded before keep the old one. A gradient that no longer matches is dropped.
  void set_value(Tensor value);

  // Undefined until a backward reaches this variable (or after zero_grad()).
  const Tensor& grad() const;
  // Sets the gradient; it must be undefined or match the value's shape, dtype and device.
  void set_grad(Tensor grad);
  // Drops the gradient, as before any backward: cheaper than filling zeros, and the next
  // backward stores its gradient instead of adding to zeros.
  void zero_grad();

  bool requires_grad() const;
  // Leaves only: a non-leaf requires grad exactly when it was recorded.
  Variable& set_requires_grad(bool requires_grad);
  bool is_leaf() const;
  // The node that made this variable; null for a leaf.
  const std::shared_ptr<Node>& grad_fn() const;
  std::uint32_t output_nr() const;

  const std::string& name() const;
  Variable& set_name(std::string name);

  // Backpropagates from this variable: `grad` is d(loss)/d(this), or 1 when undefined (a
  // one-element output). Saved tensors are freed as nodes run unless `retain_graph`.
  void backward(const Tensor& grad = {}, bool retain_graph = false) const;
  // A new leaf sharing this value (no copy), cut from the graph and not requiring grad.
  Variable detach() const;

  const Shape& shape() const { return value().shape(); }
  DType dtype() const { return value().dtype(); }
  Device device() const { return value().device(); }
  std::int64_t dim() const { return value().dim(); }
  std::int64_t numel() const { return value().numel(); }
  std::int64_t size(std::int64_t d) const { return value().size(d); }

  // Identity: true when both handles refer to the same variable.
  bool same(const Variable& other) const { return state_ == other.state_; }
  // A stable key for maps (optimizer state per parameter).
  const void* id() const { return state_.get(); }

  // Where a consumer's gradient goes: the grad_fn of a non-leaf, the gradient accumulator of
  // a leaf that requires grad (one per leaf, shared by all its consumers), else nothing.
  Edge gradient_edge() const;

 private:
  const VariableState& state(const char* op) const;
  VariableState& state(const char* op);

  std::shared_ptr<VariableState> state_;
};

}  // namespace ortho::autograd
