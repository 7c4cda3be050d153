#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/serialize.h"
#include "core/tensor.h"
#include "layers/parameter.h"
#include "optim/adam.h"
#include "optim/scheduler.h"
#include "optim/sgd.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using optim::Adam;
using optim::AdamW;
using optim::LRScheduler;
using optim::Optimizer;
using optim::SGD;

// A small float32 model: a weight and a bias (own group) and a parameter that only gets a
// gradient on even steps, so saved state has a hole and step counts differ.
struct Model {
  std::vector<nn::Parameter> params;

  static Model fresh() {
    return {{nn::Parameter(testing::random_tensor({3, 4}, 1, DType::Float32)),
             nn::Parameter(testing::random_tensor({4}, 2, DType::Float32)),
             nn::Parameter(testing::random_tensor({2, 2}, 3, DType::Float32))}};
  }
  // A copy of the values, as a model checkpoint would restore them.
  Model copy() const {
    Model m;
    for (const nn::Parameter& p : params) m.params.emplace_back(p.value().clone());
    return m;
  }
  // Gradients that depend on the values and the step, so any drift grows.
  void set_gradients(int t) {
    for (std::size_t k = 0; k < params.size(); ++k) {
      if (k == 2 && t % 2 == 1) continue;
      const Tensor& v = params[k].value();
      Tensor g = v.clone();
      std::vector<float> values = g.to_vector<float>();
      for (std::size_t i = 0; i < values.size(); ++i) {
        values[i] = values[i] * 0.7f - 0.1f * static_cast<float>(i % 3) + 0.05f * t;
      }
      params[k].set_grad(Tensor::from_vector(values, v.shape()));
    }
  }
};

using MakeOptimizer = std::function<std::unique_ptr<Optimizer>(const Model&)>;
using MakeScheduler = std::function<std::unique_ptr<LRScheduler>(Optimizer&)>;

void train(Model& model, Optimizer& optimizer, LRScheduler* scheduler, int from, int to) {
  for (int t = from; t < to; ++t) {
    optimizer.zero_grad();
    model.set_gradients(t);
    optimizer.step();
    if (scheduler != nullptr) scheduler->step();
  }
}

void expect_bit_equal(const Model& a, const Model& b) {
  for (std::size_t k = 0; k < a.params.size(); ++k) {
    const std::vector<float> x = a.params[k].value().to_vector<float>();
    const std::vector<float> y = b.params[k].value().to_vector<float>();
    ASSERT_EQ(x.size(), y.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      EXPECT_EQ(std::bit_cast<std::uint32_t>(x[i]), std::bit_cast<std::uint32_t>(y[i]))
          << "parameter " << k << " element " << i << ": " << x[i] << " vs " << y[i];
    }
  }
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          (name + "_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
           ".safetensors"))
      .string();
}

// 6 uninterrupted steps against 3 steps, a checkpoint through a safetensors file, a fresh
// optimizer (and scheduler) on a copy of the values, and 3 more steps.
void expect_bit_exact_resume(const MakeOptimizer& make_optimizer,
                             const MakeScheduler& make_scheduler = nullptr) {
  Model straight = Model::fresh();
  auto optimizer = make_optimizer(straight);
  auto scheduler = make_scheduler ? make_scheduler(*optimizer) : nullptr;
  train(straight, *optimizer, scheduler.get(), 0, 6);

  Model first = Model::fresh();
  auto first_optimizer = make_optimizer(first);
  auto first_scheduler = make_scheduler ? make_scheduler(*first_optimizer) : nullptr;
  train(first, *first_optimizer, first_scheduler.get(), 0, 3);
  const std::string optimizer_path = temp_path("optim_state");
  save_safetensors(optimizer_path, first_optimizer->state_dict());
  const std::string scheduler_path = temp_path("scheduler_state");
  if (first_scheduler) save_safetensors(scheduler_path, first_scheduler->state_dict());

  Model resumed = first.copy();
  auto resumed_optimizer = make_optimizer(resumed);
  auto resumed_scheduler = make_scheduler ? make_scheduler(*resumed_optimizer) : nullptr;
  resumed_optimizer->load_state_dict(load_safetensors(optimizer_path).tensors);
  if (resumed_scheduler)
    resumed_scheduler->load_state_dict(load_safetensors(scheduler_path).tensors);
  std::filesystem::remove(optimizer_path);
  std::filesystem::remove(scheduler_path);
  train(resumed, *resumed_optimizer, resumed_scheduler.get(), 3, 6);

  expect_bit_equal(straight, resumed);
  if (scheduler) {
    EXPECT_EQ(scheduler->lr(), resumed_scheduler->lr());
  }
}

std::unique_ptr<Optimizer> make_sgd(const Model& m) {
  auto sgd = std::make_unique<SGD>(
      std::vector{m.params[0], m.params[2]},
      optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-2, .nesterov = true});
  sgd->add_param_group({m.params[1]}, {.lr = 0.05, .momentum = 0.5, .dampening = 0.1});
  return sgd;
}

std::unique_ptr<Optimizer> make_adam(const Model& m) {
  auto adam = std::make_unique<Adam>(std::vector{m.params[0], m.params[2]},
                                     optim::AdamOptions{.lr = 0.01, .weight_decay = 1e-2});
  adam->add_param_group({m.params[1]}, {.lr = 0.003, .beta1 = 0.8});
  return adam;
}

std::unique_ptr<Optimizer> make_adamw(const Model& m) {
  auto adamw = std::make_unique<AdamW>(std::vector{m.params[0], m.params[2]},
                                       optim::AdamWOptions{.lr = 0.01, .weight_decay = 0.1});
  adamw->add_param_group({m.params[1]}, {.lr = 0.02, .weight_decay = 0.0});
  return adamw;
}

TEST(OptimState, SGDResumesBitExactly) {
  expect_bit_exact_resume(make_sgd);
}

TEST(OptimState, AdamResumesBitExactly) {
  expect_bit_exact_resume(make_adam);
}

TEST(OptimState, AdamWResumesBitExactly) {
  expect_bit_exact_resume(make_adamw);
}

TEST(OptimState, SGDWithOneCycleResumesBitExactly) {
  expect_bit_exact_resume(make_sgd, [](Optimizer& o) {
    return std::make_unique<LRScheduler>(o, std::make_shared<optim::OneCycle>(6));
  });
}

TEST(OptimState, AdamWWithWarmupCosineResumesBitExactly) {
  expect_bit_exact_resume(make_adamw, [](Optimizer& o) {
    return std::make_unique<LRScheduler>(
        o, std::make_shared<optim::LinearWarmup>(2, std::make_shared<optim::CosineAnnealing>(4)));
  });
}

TEST(OptimState, StateDictLayout) {
  Model m = Model::fresh();
  auto sgd = make_sgd(m);
  m.set_gradients(1);  // params[2] has no gradient: no state
  sgd->step();
  const TensorMap dict = sgd->state_dict();
  std::vector<std::string> keys;
  for (const auto& [key, value] : dict) keys.push_back(key);
  EXPECT_EQ(keys,
            (std::vector<std::string>{
                "num_groups", "param_groups.0.dampening", "param_groups.0.lr",
                "param_groups.0.momentum", "param_groups.0.nesterov", "param_groups.0.num_params",
                "param_groups.0.weight_decay", "param_groups.1.dampening", "param_groups.1.lr",
                "param_groups.1.momentum", "param_groups.1.nesterov", "param_groups.1.num_params",
                "param_groups.1.weight_decay", "state.0.0.momentum_buffer", "state.0.0.step",
                "state.1.0.momentum_buffer", "state.1.0.step"}));
  EXPECT_EQ(dict.at("num_groups").item<std::int64_t>(), 2);
  EXPECT_EQ(dict.at("param_groups.1.lr").item<double>(), 0.05);
  EXPECT_EQ(dict.at("state.0.0.step").item<std::int64_t>(), 1);
  // A copy: later steps do not change a saved dict.
  const std::vector<float> saved = dict.at("state.0.0.momentum_buffer").to_vector<float>();
  m.set_gradients(2);
  sgd->step();
  EXPECT_EQ(dict.at("state.0.0.momentum_buffer").to_vector<float>(), saved);
}

TEST(OptimState, LoadReplacesStateOfParametersTheDictDoesNotHave) {
  Model m = Model::fresh();
  auto adam = make_adam(m);
  const TensorMap empty_state = adam->state_dict();
  m.set_gradients(0);
  adam->step();
  ASSERT_NE(adam->state(m.params[0]), nullptr);
  adam->load_state_dict(empty_state);
  EXPECT_EQ(adam->state(m.params[0]), nullptr);
}

void expect_load_fails(Optimizer& optimizer, const TensorMap& dict, const std::string& needle) {
  const TensorMap before = optimizer.state_dict();
  try {
    optimizer.load_state_dict(dict);
    ADD_FAILURE() << "expected std::invalid_argument containing '" << needle << "'";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
  // Nothing changed.
  const TensorMap after = optimizer.state_dict();
  ASSERT_EQ(before.size(), after.size());
  for (const auto& [key, value] : before) {
    EXPECT_EQ(testing::max_abs_diff(value, after.at(key)), 0.0) << key;
  }
}

class MismatchedLayout : public ::testing::Test {
 protected:
  void SetUp() override {
    model_.set_gradients(0);
    sgd_->step();
    dict_ = sgd_->state_dict();
  }
  Model model_ = Model::fresh();
  std::unique_ptr<Optimizer> sgd_ = make_sgd(model_);
  TensorMap dict_;
};

TEST_F(MismatchedLayout, MissingKey) {
  dict_.erase("param_groups.1.momentum");
  expect_load_fails(*sgd_, dict_, "SGD: load_state_dict: missing key 'param_groups.1.momentum'");
}

TEST_F(MismatchedLayout, UnexpectedKey) {
  dict_["state.0.0.exp_avg"] = Tensor::zeros({3, 4});
  expect_load_fails(*sgd_, dict_, "SGD: load_state_dict: unexpected key 'state.0.0.exp_avg'");
  dict_.erase("state.0.0.exp_avg");
  dict_["state.0.5.step"] = Tensor::from_vector<std::int64_t>({1}, Shape{});
  expect_load_fails(*sgd_, dict_, "unexpected key 'state.0.5.step'");
}

TEST_F(MismatchedLayout, WrongBufferShape) {
  dict_["state.1.0.momentum_buffer"] = Tensor::zeros({5});
  expect_load_fails(*sgd_, dict_, "SGD: load_state_dict: 'state.1.0.momentum_buffer' has shape");
}

TEST_F(MismatchedLayout, OtherGroupLayout) {
  Model other = Model::fresh();
  SGD one_group({other.params[0], other.params[1]}, {.lr = 0.1, .momentum = 0.9});
  expect_load_fails(one_group, dict_, "SGD: load_state_dict: 'num_groups' is 2");
  SGD three_params({other.params[0], other.params[1], other.params[2]}, {.lr = 0.1});
  three_params.add_param_group({nn::Parameter(Tensor::zeros({1}))}, {});
  expect_load_fails(three_params, dict_, "SGD: load_state_dict: 'param_groups.0.num_params' is 2");
}

TEST_F(MismatchedLayout, InvalidOptionOrStep) {
  dict_["param_groups.0.lr"] = Tensor::from_vector<double>({-1.0}, Shape{});
  expect_load_fails(*sgd_, dict_, "SGD: load_state_dict: options 'param_groups.0.*'");
  dict_["param_groups.0.lr"] = Tensor::from_vector<double>({0.1}, Shape{});
  dict_["state.0.0.step"] = Tensor::from_vector<double>({1.0}, Shape{});
  expect_load_fails(*sgd_, dict_, "'state.0.0.step' has dtype float64");
}

TEST_F(MismatchedLayout, OtherOptimizerKind) {
  expect_load_fails(*make_adam(model_), dict_, "Adam: load_state_dict: missing key");
  Model m = Model::fresh();
  auto adam = make_adam(m);
  auto adamw = make_adamw(m.copy());
  expect_load_fails(*adamw, adam->state_dict(), "decoupled_weight_decay' must be 1");
}

}  // namespace
}  // namespace ortho
