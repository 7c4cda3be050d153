#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "autograd/variable.h"
#include "core/device.h"
#include "core/dtype.h"
#include "core/serialize.h"
#include "core/tensor.h"
#include "layers/parameter.h"

namespace ortho::nn {

// The base of every layer and model: named parameters, buffers (state that is saved but not
// trained, e.g. running statistics) and child modules, in registration order. Names of nested
// entries are dotted paths ("layer1.0.conv1.weight"), as in PyTorch, so state dicts line up.
class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  // Modules own parameters by identity; copying one would silently share them.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // Single-input forward pass.
  virtual autograd::Variable forward(const autograd::Variable& x) = 0;
  autograd::Variable operator()(const autograd::Variable& x) { return forward(x); }

  // Training / evaluation mode of this module and all its descendants.
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Recursive, in registration order; a parameter reachable twice is listed once.
  std::vector<Parameter> parameters() const;
  std::vector<std::pair<std::string, Parameter>> named_parameters() const;
  std::vector<Tensor> buffers() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  // Direct children only.
  std::vector<std::shared_ptr<Module>> children() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const {
    return children_;
  }
  // The direct child `name`; std::invalid_argument when there is none.
  std::shared_ptr<Module> child(const std::string& name) const;
  // Swaps the direct child `name` for `module` in place (same position), so a network can be
  // rewritten (e.g. blocks replaced by momentum blocks) through the public API.
  void replace_module(const std::string& name, std::shared_ptr<Module> module);

  // Drops every parameter's gradient.
  void zero_grad();
  // Moves parameters (set_value) and buffers.
  void to(Device device);
  // Converts parameters and floating buffers (float64 for gradient checks).
  void to(DType dtype);
  std::int64_t num_parameters() const;

  // Parameters and buffers by dotted name; the tensors are shared, not copied.
  TensorMap state_dict() const;
  // Copies `state` into the parameters and buffers (converted to their dtype and device). Throws
  // std::invalid_argument listing the missing keys and unexpected keys (when strict) and every
  // mis-shaped entry with both shapes, before anything is changed. Optional buffers may be
  // missing even when strict; they then keep their value.
  void load_state_dict(const TensorMap& state, bool strict = true);
  // state_dict() to / from a safetensors file.
  void save(const std::string& path) const;
  void load(const std::string& path, bool strict = true);

 protected:
  // Names are non-empty, without '.', unique within this module.
  Parameter register_parameter(const std::string& name, Parameter parameter);
  // An `optional` buffer may be absent from a loaded state dict (as PyTorch's
  // num_batches_tracked is from older checkpoints).
  Tensor register_buffer(const std::string& name, Tensor buffer, bool optional = false);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }
  // This module's own entries (not its children's); std::invalid_argument when absent.
  const Parameter& parameter(const std::string& name) const;
  const Tensor& buffer(const std::string& name) const;

 private:
  void check_new_name(const std::string& name) const;
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void collect_parameters(const std::string& prefix,
                          std::vector<std::pair<std::string, Parameter>>& out) const;
  void collect_buffers(const std::string& prefix,
                       std::vector<std::pair<std::string, Tensor>>& out) const;
  // A buffer of the tree by dotted name, as a slot that can be overwritten.
  struct BufferSlot {
    std::string name;
    Tensor* tensor;
    bool optional;
  };
  void collect_buffer_slots(const std::string& prefix, std::vector<BufferSlot>& out);

  bool training_ = true;
  std::vector<std::pair<std::string, Parameter>> parameters_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::set<std::string> optional_buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

}  // namespace ortho::nn
