#include "optim/optimizer.h"

#include <stdexcept>
#include <unordered_set>

#include "core/error.h"
#include "optim/state_dict_reader.h"

namespace ortho::optim {
namespace {

Tensor int_scalar(std::int64_t value) {
  return Tensor::from_vector<std::int64_t>({value}, Shape{});
}

Tensor double_scalar(double value) {
  return Tensor::from_vector<double>({value}, Shape{});
}

std::string group_prefix(std::size_t group) {
  return "param_groups." + std::to_string(group) + ".";
}

std::string state_prefix(std::size_t group, std::size_t index) {
  return "state." + std::to_string(group) + "." + std::to_string(index) + ".";
}

}  // namespace

bool fusable(const std::vector<const Tensor*>& tensors) {
  for (const Tensor* t : tensors) {
    if (!t->device().is_cpu() || !t->is_contiguous() || t->dtype() != tensors[0]->dtype()) {
      return false;
    }
  }
  return true;
}

void Optimizer::zero_grad() {
  for (ParamGroup& group : groups_) {
    for (nn::Parameter& p : group.params) p.zero_grad();
  }
}

const ParamGroup& Optimizer::param_group(std::size_t group) const {
  check_argument(group < groups_.size(), name_, ": parameter group ", group, " out of range (",
                 groups_.size(), " groups)");
  return groups_[group];
}

void Optimizer::set_lr(double lr) {
  for (std::size_t g = 0; g < groups_.size(); ++g) set_lr(g, lr);
}

bool Optimizer::has_option(std::size_t group, const std::string& key) const {
  return param_group(group).options.contains(key);
}

double Optimizer::option(std::size_t group, const std::string& key) const {
  const Hyperparameters& options = param_group(group).options;
  const auto it = options.find(key);
  check_argument(it != options.end(), name_, ": unknown option '", key, "'");
  return it->second;
}

void Optimizer::set_option(std::size_t group, const std::string& key, double value) {
  Hyperparameters options = param_group(group).options;
  check_argument(options.contains(key), name_, ": unknown option '", key, "'");
  options[key] = value;
  validate_options(options);
  groups_[group].options = std::move(options);
}

const ParamState* Optimizer::state(const nn::Parameter& param) const {
  const auto it = state_.find(param.id());
  return it == state_.end() ? nullptr : &it->second;
}

ParamState& Optimizer::state_for(const nn::Parameter& param) {
  return state_[param.id()];
}

void Optimizer::add_group(std::vector<nn::Parameter> params, Hyperparameters options) {
  validate_options(options);
  check_argument(!params.empty(), name_, ": a parameter group needs at least one parameter");
  std::unordered_set<const void*> seen;
  for (const ParamGroup& group : groups_) {
    for (const nn::Parameter& p : group.params) seen.insert(p.id());
  }
  for (const nn::Parameter& p : params) {
    check_argument(p.defined(), name_, ": parameter is undefined");
    check_argument(is_floating(p.dtype()), name_, ": parameter of dtype ", dtype_name(p.dtype()),
                   " is not floating");
    check_argument(seen.insert(p.id()).second, name_,
                   ": a parameter appears in more than one group (shape ", p.shape(), ")");
  }
  groups_.push_back({std::move(params), std::move(options)});
}

TensorMap Optimizer::state_dict() const {
  TensorMap dict;
  dict["num_groups"] = int_scalar(static_cast<std::int64_t>(groups_.size()));
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const ParamGroup& group = groups_[g];
    dict[group_prefix(g) + "num_params"] =
        int_scalar(static_cast<std::int64_t>(group.params.size()));
    for (const auto& [key, value] : group.options)
      dict[group_prefix(g) + key] = double_scalar(value);
    for (std::size_t i = 0; i < group.params.size(); ++i) {
      const ParamState* s = state(group.params[i]);
      if (s == nullptr) continue;
      dict[state_prefix(g, i) + "step"] = int_scalar(s->step);
      for (const auto& [key, buffer] : s->buffers) dict[state_prefix(g, i) + key] = buffer.clone();
    }
  }
  return dict;
}

void Optimizer::load_state_dict(const TensorMap& dict) {
  StateDictReader reader(name_, dict);
  const std::int64_t count = reader.int64("num_groups");
  check_argument(count == static_cast<std::int64_t>(groups_.size()), name_,
                 ": load_state_dict: 'num_groups' is ", count, ", the optimizer has ",
                 groups_.size());
  // Read and check everything first so a bad dict leaves the optimizer untouched.
  std::vector<Hyperparameters> options(groups_.size());
  std::unordered_map<const void*, ParamState> states;
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    options[g] = read_group_options(reader, g);
    for (std::size_t i = 0; i < groups_[g].params.size(); ++i) {
      const std::string step_key = state_prefix(g, i) + "step";
      if (reader.contains(step_key)) states[groups_[g].params[i].id()] = read_state(reader, g, i);
    }
  }
  reader.expect_all_read();
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    groups_[g].options = std::move(options[g]);
    for (const nn::Parameter& p : groups_[g].params) state_.erase(p.id());
  }
  for (auto& [id, s] : states) state_[id] = std::move(s);
}

Hyperparameters Optimizer::read_group_options(StateDictReader& reader, std::size_t g) const {
  const ParamGroup& group = groups_[g];
  const std::string prefix = group_prefix(g);
  const std::int64_t n = reader.int64(prefix + "num_params");
  check_argument(n == static_cast<std::int64_t>(group.params.size()), name_, ": load_state_dict: '",
                 prefix, "num_params' is ", n, ", the group has ", group.params.size());
  Hyperparameters options = group.options;
  for (auto& [key, value] : options) value = reader.float64(prefix + key);
  try {
    validate_options(options);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(
        error_message(name_, ": load_state_dict: options '", prefix, "*': ", e.what()));
  }
  return options;
}

void Optimizer::for_each_update(
    const std::function<void(nn::Parameter&, ParamState&, const Hyperparameters&)>& fn) {
  for (ParamGroup& group : groups_) {
    for (nn::Parameter& param : group.params) {
      if (param.grad().defined()) fn(param, state_for(param), group.options);
    }
  }
}

Shape Optimizer::buffer_shape(const std::string&, const nn::Parameter& param) const {
  return param.shape();
}

ParamState Optimizer::read_state(StateDictReader& reader, std::size_t g, std::size_t i) const {
  const nn::Parameter& p = groups_[g].params[i];
  const std::string prefix = state_prefix(g, i);
  ParamState s;
  s.step = reader.int64(prefix + "step");
  check_argument(s.step >= 0, name_, ": load_state_dict: '", prefix, "step' is negative");
  for (const std::string& name : buffer_names()) {
    const std::string key = prefix + name;
    if (!reader.contains(key)) continue;
    const Tensor& buffer = reader.tensor(key);
    const Shape expected = buffer_shape(name, p);
    check_argument(buffer.shape() == expected, name_, ": load_state_dict: '", key, "' has shape ",
                   buffer.shape(), ", expected ", expected);
    check_argument(is_floating(buffer.dtype()), name_, ": load_state_dict: '", key, "' has dtype ",
                   dtype_name(buffer.dtype()));
    s.buffers[name] = buffer.to(p.dtype()).to(p.device()).clone();
  }
  return s;
}

}  // namespace ortho::optim
