#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/serialize.h"
#include "core/tensor.h"
#include "layers/parameter.h"

namespace ortho::optim {

class StateDictReader;

// A group's hyperparameters by name ("lr", "weight_decay", "momentum", "beta1", ...); each
// optimizer documents the names it reads. A map keeps schedulers and checkpoints generic.
using Hyperparameters = std::map<std::string, double>;

// Parameters sharing one set of hyperparameters (e.g. no weight decay on biases).
struct ParamGroup {
  std::vector<nn::Parameter> params;
  Hyperparameters options;
};

// What an optimizer remembers about one parameter: its own step count (a parameter skipped
// for lack of a gradient does not advance) and named buffers (momentum, moments).
struct ParamState {
  std::int64_t step = 0;
  TensorMap buffers;
};

// Base of every optimizer: parameter groups, per-parameter state keyed by Variable::id(),
// zero_grad(), learning rates for schedulers, and a checkpoint as one TensorMap.
//
// step() skips parameters whose gradient is undefined (zero_grad() leaves it undefined).
// Parameters tagged with a non-Euclidean manifold are updated as plain Euclidean tensors by
// SGD/Adam/AdamW; keeping them on their manifold is the job of Landing/Riemannian optimizers.
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // "SGD", "Adam", ...: every error message starts with it.
  const std::string& name() const { return name_; }

  // One update of every parameter that has a gradient.
  virtual void step() = 0;
  // Drops every parameter's gradient (Variable::zero_grad()).
  void zero_grad();

  std::size_t num_groups() const { return groups_.size(); }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  const ParamGroup& param_group(std::size_t group) const;

  double lr(std::size_t group = 0) const { return option(group, "lr"); }
  void set_lr(std::size_t group, double lr) { set_option(group, "lr", lr); }
  // Sets every group's learning rate.
  void set_lr(double lr);

  bool has_option(std::size_t group, const std::string& key) const;
  double option(std::size_t group, const std::string& key) const;
  // Throws std::invalid_argument for an unknown key or a value the optimizer rejects.
  void set_option(std::size_t group, const std::string& key, double value);

  // The state of `param`, or null before its first update.
  const ParamState* state(const nn::Parameter& param) const;

  // Everything needed to resume bit-exactly, as float64/int64 scalars and buffer copies:
  //   "num_groups", "param_groups.<g>.num_params", "param_groups.<g>.<option>",
  //   "state.<g>.<i>.step", "state.<g>.<i>.<buffer>" (i: index of the parameter in its group).
  // Saved with save_safetensors, it opens in numpy and PyTorch too.
  TensorMap state_dict() const;
  // Restores a state_dict() of an optimizer of the same kind over parameters of the same
  // shapes in the same group layout; buffers move to each parameter's device and dtype.
  // Throws std::invalid_argument naming the optimizer and the offending key (missing,
  // unexpected, mis-shaped or holding a rejected option) and changes nothing otherwise.
  // The keys are unprefixed: a checkpoint holding model and scheduler too prefixes them.
  void load_state_dict(const TensorMap& dict);

 protected:
  explicit Optimizer(std::string name) : name_(std::move(name)) {}

  // Validates the options (via validate_options) and the parameters (defined, floating,
  // not already in a group), then appends the group.
  void add_group(std::vector<nn::Parameter> params, Hyperparameters options);
  // Throws std::invalid_argument naming the optimizer for an invalid set of options.
  virtual void validate_options(const Hyperparameters& options) const = 0;
  // Names of the per-parameter buffers this optimizer keeps ("momentum_buffer", ...); any
  // other buffer in a state dict is rejected.
  virtual std::vector<std::string> buffer_names() const = 0;
  // The shape a state dict's `buffer` of `param` must have: the parameter's own, unless the
  // optimizer keeps more per parameter (LandingSAGA's gradient table).
  virtual Shape buffer_shape(const std::string& buffer, const nn::Parameter& param) const;

  // Calls fn(param, its state, its group's options) for every parameter with a gradient,
  // group by group: the loop of every step().
  void for_each_update(
      const std::function<void(nn::Parameter&, ParamState&, const Hyperparameters&)>& fn);
  // The state of `param`, created empty on first use.
  ParamState& state_for(const nn::Parameter& param);

 private:
  // Pieces of load_state_dict: group g's options, validated; the state of its i-th parameter.
  Hyperparameters read_group_options(StateDictReader& reader, std::size_t g) const;
  ParamState read_state(StateDictReader& reader, std::size_t g, std::size_t i) const;

  std::string name_;
  std::vector<ParamGroup> groups_;
  std::unordered_map<const void*, ParamState> state_;
};

// True when the fused raw-pointer update applies: CPU tensors, all contiguous, same dtype.
bool fusable(const std::vector<const Tensor*>& tensors);

}  // namespace ortho::optim
