#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/variable.h"
#include "layers/module.h"

namespace ortho::nn {

// Runs its children in order, each on the previous one's output. Children added with
// push_back are named by position ("0", "1", ...); add(name, module) names them explicitly.
class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(const std::vector<std::shared_ptr<Module>>& modules) {
    for (const auto& m : modules) push_back(m);
  }

  template <typename M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    return add(std::to_string(named_children().size()), std::move(module));
  }
  template <typename M>
  std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> module) {
    return register_module(name, std::move(module));
  }
  // Constructs an M in place and appends it.
  template <typename M, typename... Args>
  std::shared_ptr<M> emplace_back(Args&&... args) {
    return push_back(std::make_shared<M>(std::forward<Args>(args)...));
  }

  std::size_t size() const { return named_children().size(); }
  bool empty() const { return named_children().empty(); }
  const std::shared_ptr<Module>& operator[](std::size_t i) const {
    return named_children().at(i).second;
  }

  autograd::Variable forward(const autograd::Variable& x) override {
    autograd::Variable out = x;
    for (const auto& [name, module] : named_children()) out = module->forward(out);
    return out;
  }
};

}  // namespace ortho::nn
