#include "layers/module.h"

#include <algorithm>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"

namespace ortho::nn {
namespace {

std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

std::string join_keys(const std::vector<std::string>& keys) {
  std::string out;
  for (const std::string& key : keys) out += (out.empty() ? "" : ", ") + key;
  return "[" + out + "]";
}

// `source` as a fresh tensor with `like`'s dtype and device (never aliasing the source, so two
// modules loaded from one state dict do not share storage).
Tensor converted_copy(const Tensor& source, const Tensor& like) {
  Tensor out = Tensor::empty(like.shape(), like.dtype(), like.device());
  out.copy_(source.to(like.device()));
  return out;
}

}  // namespace

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

std::vector<Parameter> Module::parameters() const {
  std::vector<Parameter> out;
  for (auto& [name, p] : named_parameters()) out.push_back(p);
  return out;
}

std::vector<std::pair<std::string, Parameter>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Parameter>> all;
  collect_parameters("", all);
  std::set<const void*> seen;
  std::vector<std::pair<std::string, Parameter>> out;
  for (auto& entry : all) {
    if (seen.insert(entry.second.id()).second) out.push_back(std::move(entry));
  }
  return out;
}

std::vector<Tensor> Module::buffers() const {
  std::vector<Tensor> out;
  for (auto& [name, b] : named_buffers()) out.push_back(b);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  collect_buffers("", out);
  return out;
}

std::vector<std::shared_ptr<Module>> Module::children() const {
  std::vector<std::shared_ptr<Module>> out;
  for (const auto& [name, child] : children_) out.push_back(child);
  return out;
}

std::shared_ptr<Module> Module::child(const std::string& name) const {
  for (const auto& [n, c] : children_) {
    if (n == name) return c;
  }
  throw std::invalid_argument("Module::child: no child named '" + name + "'");
}

void Module::replace_module(const std::string& name, std::shared_ptr<Module> module) {
  check_argument(module != nullptr, "Module::replace_module: null module for '", name, "'");
  for (auto& [n, c] : children_) {
    if (n == name) {
      c = std::move(module);
      return;
    }
  }
  throw std::invalid_argument("Module::replace_module: no child named '" + name + "'");
}

void Module::zero_grad() {
  for (Parameter& p : parameters()) p.zero_grad();
}

void Module::to(Device device) {
  for (Parameter& p : parameters()) p.set_value(p.value().to(device));
  std::vector<BufferSlot> slots;
  collect_buffer_slots("", slots);
  for (const BufferSlot& slot : slots) *slot.tensor = slot.tensor->to(device);
}

void Module::to(DType dtype) {
  check_argument(is_floating(dtype), "Module::to: parameters must be floating, got ",
                 dtype_name(dtype));
  for (Parameter& p : parameters()) p.set_value(p.value().to(dtype));
  std::vector<BufferSlot> slots;
  collect_buffer_slots("", slots);
  for (const BufferSlot& slot : slots) {
    if (is_floating(slot.tensor->dtype())) *slot.tensor = slot.tensor->to(dtype);
  }
}

std::int64_t Module::num_parameters() const {
  std::int64_t total = 0;
  for (const Parameter& p : parameters()) total += p.numel();
  return total;
}

TensorMap Module::state_dict() const {
  TensorMap out;
  for (const auto& [name, p] : named_parameters()) out[name] = p.value();
  for (const auto& [name, b] : named_buffers()) out[name] = b;
  return out;
}

void Module::load_state_dict(const TensorMap& state, bool strict) {
  std::vector<std::pair<std::string, Parameter>> params = named_parameters();
  std::vector<BufferSlot> slots;
  collect_buffer_slots("", slots);

  std::set<std::string> expected;
  std::vector<std::string> missing, mis_shaped;
  const auto check_entry = [&](const std::string& name, const Tensor& current, bool optional) {
    expected.insert(name);
    const auto it = state.find(name);
    if (it == state.end()) {
      if (!optional) missing.push_back(name);
    } else if (it->second.shape() != current.shape()) {
      mis_shaped.push_back(
          error_message(name, ": expected ", current.shape(), ", got ", it->second.shape()));
    }
  };
  for (const auto& [name, p] : params) check_entry(name, p.value(), false);
  for (const BufferSlot& slot : slots) check_entry(slot.name, *slot.tensor, slot.optional);
  std::vector<std::string> unexpected;
  for (const auto& [name, t] : state) {
    if (expected.count(name) == 0) unexpected.push_back(name);
  }

  std::ostringstream problems;
  if (strict && !missing.empty()) problems << " missing keys " << join_keys(missing) << ";";
  if (strict && !unexpected.empty())
    problems << " unexpected keys " << join_keys(unexpected) << ";";
  for (const std::string& m : mis_shaped) problems << " shape mismatch for " << m << ";";
  if (!problems.str().empty()) {
    throw std::invalid_argument("load_state_dict:" + problems.str());
  }

  for (auto& [name, p] : params) {
    const auto it = state.find(name);
    if (it != state.end()) p.set_value(converted_copy(it->second, p.value()));
  }
  for (const BufferSlot& slot : slots) {
    const auto it = state.find(slot.name);
    if (it != state.end()) *slot.tensor = converted_copy(it->second, *slot.tensor);
  }
}

void Module::save(const std::string& path) const {
  save_safetensors(path, state_dict());
}

void Module::load(const std::string& path, bool strict) {
  load_state_dict(load_safetensors(path).tensors, strict);
}

Parameter Module::register_parameter(const std::string& name, Parameter parameter) {
  check_new_name(name);
  check_argument(parameter.defined(), "Module::register_parameter: '", name, "' is undefined");
  parameters_.emplace_back(name, parameter);
  return parameter;
}

Tensor Module::register_buffer(const std::string& name, Tensor buffer, bool optional) {
  check_new_name(name);
  check_argument(buffer.defined(), "Module::register_buffer: '", name, "' is undefined");
  buffers_.emplace_back(name, buffer);
  if (optional) optional_buffers_.insert(name);
  return buffer;
}

const Parameter& Module::parameter(const std::string& name) const {
  for (const auto& [n, p] : parameters_) {
    if (n == name) return p;
  }
  throw std::invalid_argument("Module::parameter: no parameter named '" + name + "'");
}

const Tensor& Module::buffer(const std::string& name) const {
  for (const auto& [n, b] : buffers_) {
    if (n == name) return b;
  }
  throw std::invalid_argument("Module::buffer: no buffer named '" + name + "'");
}

void Module::check_new_name(const std::string& name) const {
  check_argument(!name.empty() && name.find('.') == std::string::npos,
                 "Module: invalid entry name '", name, "' (empty or containing '.')");
  const auto taken = [&name](const auto& entries) {
    return std::any_of(entries.begin(), entries.end(),
                       [&name](const auto& e) { return e.first == name; });
  };
  check_argument(!taken(parameters_) && !taken(buffers_) && !taken(children_), "Module: the name '",
                 name, "' is already registered");
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name);
  check_argument(module != nullptr, "Module::register_module: null module for '", name, "'");
  children_.emplace_back(name, std::move(module));
}

void Module::collect_parameters(const std::string& prefix,
                                std::vector<std::pair<std::string, Parameter>>& out) const {
  for (const auto& [name, p] : parameters_) out.emplace_back(join_name(prefix, name), p);
  for (const auto& [name, child] : children_)
    child->collect_parameters(join_name(prefix, name), out);
}

void Module::collect_buffers(const std::string& prefix,
                             std::vector<std::pair<std::string, Tensor>>& out) const {
  for (const auto& [name, b] : buffers_) out.emplace_back(join_name(prefix, name), b);
  for (const auto& [name, child] : children_) child->collect_buffers(join_name(prefix, name), out);
}

void Module::collect_buffer_slots(const std::string& prefix, std::vector<BufferSlot>& out) {
  for (auto& [name, b] : buffers_) {
    out.push_back({join_name(prefix, name), &b, optional_buffers_.count(name) > 0});
  }
  for (auto& [name, child] : children_) child->collect_buffer_slots(join_name(prefix, name), out);
}

}  // namespace ortho::nn
