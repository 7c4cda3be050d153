#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "autograd/ops/elementwise.h"
#include "autograd/variable.h"
#include "core/random.h"
#include "core/serialize.h"
#include "core/tensor.h"
#include "layers/activation.h"
#include "layers/batchnorm2d.h"
#include "layers/conv2d.h"
#include "layers/flatten.h"
#include "layers/linear.h"
#include "layers/module.h"
#include "layers/parameter.h"
#include "layers/pooling.h"
#include "layers/sequential.h"
#include "support/test_support.h"

namespace ortho {
namespace {

namespace fs = std::filesystem;
using autograd::Variable;
using testing::max_abs_diff;
using testing::random_tensor;

// conv(2->3) -> bn -> relu -> global pool -> flatten -> linear(3->2): every kind of entry.
std::shared_ptr<nn::Sequential> small_net(std::uint64_t seed) {
  Generator gen(seed);
  auto net = std::make_shared<nn::Sequential>();
  net->emplace_back<nn::Conv2d>(2, 3, 3, 1, 1, 1, true, 1, &gen);
  net->emplace_back<nn::BatchNorm2d>(3);
  net->emplace_back<nn::ReLU>();
  net->emplace_back<nn::AdaptiveAvgPool2d>(1);
  net->emplace_back<nn::Flatten>();
  net->emplace_back<nn::Linear>(3, 2, true, &gen);
  return net;
}

std::vector<std::string> keys_of(const std::vector<std::pair<std::string, nn::Parameter>>& v) {
  std::vector<std::string> out;
  for (const auto& [name, p] : v) out.push_back(name);
  return out;
}

std::vector<std::string> keys_of(const std::vector<std::pair<std::string, Tensor>>& v) {
  std::vector<std::string> out;
  for (const auto& [name, t] : v) out.push_back(name);
  return out;
}

// Copies of every state entry, to check that a failed load changed nothing.
TensorMap snapshot(const nn::Module& module) {
  TensorMap out;
  for (const auto& [name, t] : module.state_dict()) out[name] = t.clone();
  return out;
}

void expect_state_equal(const nn::Module& module, const TensorMap& expected) {
  const TensorMap state = module.state_dict();
  ASSERT_EQ(state.size(), expected.size());
  for (const auto& [name, t] : expected) {
    ASSERT_EQ(state.count(name), 1u) << name;
    EXPECT_EQ(state.at(name).dtype(), t.dtype()) << name;
    EXPECT_EQ(max_abs_diff(state.at(name), t), 0.0) << name;
  }
}

// A module with its own entries, to exercise the protected registration API.
class Custom : public nn::Module {
 public:
  Custom() {
    w = register_parameter("w", nn::Parameter(Tensor::eye(3), nn::Manifold::Orthogonal));
    register_buffer("count", Tensor::zeros({1}));
    inner = register_module("inner", std::make_shared<nn::Linear>(3, 3));
  }
  Variable forward(const Variable& x) override { return inner->forward(x); }
  void register_twice() { register_buffer("w", Tensor::zeros({1})); }
  void register_dotted() { register_buffer("a.b", Tensor::zeros({1})); }

  nn::Parameter w;
  std::shared_ptr<nn::Linear> inner;
};

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "no std::invalid_argument thrown";
  return "";
}

TEST(Module, NamesParametersBuffersAndChildrenInRegistrationOrder) {
  const auto net = small_net(1);
  EXPECT_EQ(
      keys_of(net->named_parameters()),
      (std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "5.weight", "5.bias"}));
  EXPECT_EQ(keys_of(net->named_buffers()),
            (std::vector<std::string>{"1.running_mean", "1.running_var", "1.num_batches_tracked"}));
  EXPECT_EQ(net->children().size(), 6u);
  EXPECT_EQ(net->named_children()[4].first, "4");
  EXPECT_EQ(net->parameters().size(), 6u);
  EXPECT_EQ(net->num_parameters(), 3 * 2 * 9 + 3 + 3 + 3 + 3 * 2 + 2);
  EXPECT_EQ(net->buffers().size(), 3u);
}

TEST(Module, CustomEntriesCarryTheManifoldTagAndShareState) {
  Custom custom;
  const auto named = custom.named_parameters();
  EXPECT_EQ(keys_of(named), (std::vector<std::string>{"w", "inner.weight", "inner.bias"}));
  EXPECT_EQ(named[0].second.manifold(), nn::Manifold::Orthogonal);
  EXPECT_EQ(named[1].second.manifold(), nn::Manifold::Euclidean);
  EXPECT_EQ(nn::manifold_name(nn::Manifold::Stiefel), "stiefel");
  EXPECT_TRUE(named[0].second.same(custom.w)) << "a Parameter copy shares its variable";
  EXPECT_TRUE(custom.w.requires_grad());
  EXPECT_EQ(keys_of(custom.named_buffers()), std::vector<std::string>{"count"});
  EXPECT_THROW(custom.register_twice(), std::invalid_argument);
  EXPECT_THROW(custom.register_dotted(), std::invalid_argument);
}

TEST(Module, ChildLookupAndReplacement) {
  const auto net = small_net(2);
  EXPECT_EQ(net->child("5").get(), (*net)[5].get());
  EXPECT_NE(message_of([&] { net->child("nope"); }).find("nope"), std::string::npos);
  const auto fc = std::make_shared<nn::Linear>(3, 4);
  net->replace_module("5", fc);
  EXPECT_EQ((*net)[5].get(), fc.get());
  EXPECT_EQ(net->forward(Variable(random_tensor({2, 2, 3, 3}, 3, DType::Float32))).shape(),
            (Shape{2, 4}));
  EXPECT_THROW(net->replace_module("nope", fc), std::invalid_argument);
  EXPECT_THROW(net->replace_module("5", nullptr), std::invalid_argument);
}

TEST(Module, AParameterReachableTwiceIsListedOnce) {
  nn::Sequential net;
  const auto shared = std::make_shared<nn::Linear>(2, 2);
  net.push_back(shared);
  net.push_back(shared);
  EXPECT_EQ(net.parameters().size(), 2u);
  EXPECT_EQ(keys_of(net.named_parameters()), (std::vector<std::string>{"0.weight", "0.bias"}));
}

TEST(Module, TrainAndEvalPropagateToEveryDescendant) {
  nn::Sequential outer;
  auto inner = outer.emplace_back<nn::Sequential>();
  auto bn = inner->emplace_back<nn::BatchNorm2d>(2);
  EXPECT_TRUE(bn->is_training());
  outer.eval();
  EXPECT_FALSE(outer.is_training());
  EXPECT_FALSE(inner->is_training());
  EXPECT_FALSE(bn->is_training());
  outer.train();
  EXPECT_TRUE(bn->is_training());
  outer.train(false);
  EXPECT_FALSE(bn->is_training());
}

TEST(Module, ZeroGradDropsEveryGradient) {
  const auto net = small_net(4);
  const Variable y = net->forward(Variable(random_tensor({2, 2, 3, 3}, 5, DType::Float32)));
  Variable(y).backward(Tensor::ones(y.shape()));
  for (const nn::Parameter& p : net->parameters()) EXPECT_TRUE(p.grad().defined());
  net->zero_grad();
  for (const nn::Parameter& p : net->parameters()) EXPECT_FALSE(p.grad().defined());
}

TEST(Module, ToFloat64ConvertsParametersAndFloatingBuffersOnly) {
  const auto net = small_net(6);
  const Tensor before = net->state_dict().at("0.weight").clone();
  net->to(DType::Float64);
  for (const nn::Parameter& p : net->parameters()) EXPECT_EQ(p.dtype(), DType::Float64);
  const TensorMap state = net->state_dict();
  EXPECT_EQ(state.at("1.running_mean").dtype(), DType::Float64);
  EXPECT_EQ(state.at("1.num_batches_tracked").dtype(), DType::Int64);
  EXPECT_LT(max_abs_diff(state.at("0.weight"), before), 1e-7);
  const Variable y = net->forward(Variable(random_tensor({2, 2, 3, 3}, 7)));
  EXPECT_EQ(y.dtype(), DType::Float64);
  EXPECT_THROW(net->to(DType::Int64), std::invalid_argument);
}

TEST(Module, ToTheSameDeviceKeepsValues) {
  const auto net = small_net(8);
  const TensorMap before = snapshot(*net);
  net->to(Device::cpu());
  expect_state_equal(*net, before);
}

TEST(Module, StateDictSharesTheLiveTensors) {
  const auto net = small_net(9);
  const TensorMap state = net->state_dict();
  EXPECT_EQ(state.size(), 9u);
  EXPECT_TRUE(state.at("5.weight").shares_storage(net->parameters()[4].value()));
  // BatchNorm updates its buffers in place, so a state dict taken earlier sees the update.
  net->forward(Variable(random_tensor({2, 2, 3, 3}, 10, DType::Float32)));
  EXPECT_EQ(state.at("1.num_batches_tracked").item<std::int64_t>(), 1);
  EXPECT_EQ(state.at("1.num_batches_tracked").shape(), Shape{}) << "a scalar, as in PyTorch";
}

class ModuleFiles : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return dir_.file(name); }

  testing::TempDir dir_{"ortho_layers"};
};

TEST_F(ModuleFiles, SaveAndLoadRoundTripGivesIdenticalOutputs) {
  const auto trained = small_net(11);
  for (int step = 0; step < 2; ++step) {  // moves BN's running statistics off their defaults
    trained->forward(Variable(random_tensor({4, 2, 3, 3}, 12 + step, DType::Float32)));
  }
  trained->save(path("net.safetensors"));
  EXPECT_EQ(fs::exists(path("net.safetensors")), true);

  const auto fresh = small_net(99);
  fresh->load(path("net.safetensors"));
  expect_state_equal(*fresh, snapshot(*trained));
  trained->eval();
  fresh->eval();
  const Variable x(random_tensor({3, 2, 3, 3}, 14, DType::Float32));
  EXPECT_EQ(max_abs_diff(fresh->forward(x).value(), trained->forward(x).value()), 0.0);
  EXPECT_FALSE(
      fresh->state_dict().at("0.weight").shares_storage(trained->state_dict().at("0.weight")));
}

TEST_F(ModuleFiles, LoadingAMissingFileNamesThePath) {
  const auto net = small_net(15);
  try {
    net->load(path("absent.safetensors"));
    ADD_FAILURE() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("absent.safetensors"), std::string::npos) << e.what();
  }
}

TEST(Module, LoadStateDictListsEveryProblemAndChangesNothing) {
  const auto net = small_net(16);
  const TensorMap before = snapshot(*net);
  TensorMap state = snapshot(*small_net(17));
  state.erase("0.bias");
  state.erase("1.running_var");
  state["extra.weight"] = Tensor::zeros({1});
  state["5.weight"] = Tensor::zeros({2, 4});
  const std::string message = message_of([&] { net->load_state_dict(state); });
  for (const std::string part :
       {"load_state_dict", "missing keys [0.bias, 1.running_var]", "unexpected keys [extra.weight]",
        "5.weight: expected [2, 3], got [2, 4]"}) {
    EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
  }
  expect_state_equal(*net, before);
}

TEST(Module, NonStrictLoadSkipsMissingAndUnexpectedButNotMisShapedEntries) {
  const auto net = small_net(18);
  const TensorMap donor = snapshot(*small_net(19));
  TensorMap partial = {{"5.weight", donor.at("5.weight")}, {"other", Tensor::zeros({3})}};
  net->load_state_dict(partial, /*strict=*/false);
  EXPECT_EQ(max_abs_diff(net->state_dict().at("5.weight"), donor.at("5.weight")), 0.0);

  const TensorMap before = snapshot(*net);
  partial["5.bias"] = Tensor::zeros({3});
  const std::string message = message_of([&] { net->load_state_dict(partial, false); });
  EXPECT_NE(message.find("5.bias: expected [2], got [3]"), std::string::npos) << message;
  expect_state_equal(*net, before);
}

TEST(Module, LoadConvertsDTypesAndTreatsNumBatchesTrackedAsOptional) {
  const auto net = small_net(20);
  TensorMap state = snapshot(*small_net(21));
  for (auto& [name, t] : state) {
    if (is_floating(t.dtype())) t = t.to(DType::Float64);
  }
  state.erase("1.num_batches_tracked");  // as in state dicts saved by old PyTorch versions
  net->load_state_dict(state);
  const TensorMap loaded = net->state_dict();
  EXPECT_EQ(loaded.at("0.weight").dtype(), DType::Float32);
  EXPECT_LT(max_abs_diff(loaded.at("0.weight"), state.at("0.weight")), 1e-7);
  EXPECT_EQ(loaded.at("1.num_batches_tracked").item<std::int64_t>(), 0);
}

TEST(Sequential, RunsChildrenInOrderAndNamesThem) {
  nn::Sequential net;
  auto fc = net.add("fc", std::make_shared<nn::Linear>(3, 2));
  net.emplace_back<nn::ReLU>();
  EXPECT_EQ(net.size(), 2u);
  EXPECT_FALSE(net.empty());
  EXPECT_EQ(net.named_children()[1].first, "1");
  const Variable x(random_tensor({4, 3}, 22, DType::Float32));
  const Tensor expected = autograd::relu(fc->forward(x)).value();
  EXPECT_EQ(max_abs_diff(net(x).value(), expected), 0.0);
  EXPECT_TRUE(nn::Sequential().forward(x).same(x)) << "an empty Sequential is the identity";
}

}  // namespace
}  // namespace ortho
