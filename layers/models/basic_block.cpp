#include "layers/models/basic_block.h"

#include <string>

#include "autograd/ops/elementwise.h"
#include "core/error.h"
#include "layers/activation.h"
#include "layers/batchnorm2d.h"
#include "layers/conv2d.h"

namespace ortho::nn {
namespace {

// The residual branch's children, in order.
constexpr const char* kBranch[] = {"conv1", "bn1", "relu", "conv2", "bn2"};

}  // namespace

BasicBlock::BasicBlock(std::int64_t in_channels, std::int64_t out_channels, std::int64_t stride,
                       Generator* gen)
    : in_channels_(in_channels), out_channels_(out_channels), stride_(stride) {
  check_argument(stride > 0, "BasicBlock: stride must be positive, got ", stride);
  register_module("conv1", std::make_shared<Conv2d>(in_channels, out_channels, 3, stride, 1, 1,
                                                    /*bias=*/false, 1, gen));
  register_module("bn1", std::make_shared<BatchNorm2d>(out_channels));
  register_module("relu", std::make_shared<ReLU>());
  register_module("conv2", std::make_shared<Conv2d>(out_channels, out_channels, 3, 1, 1, 1,
                                                    /*bias=*/false, 1, gen));
  register_module("bn2", std::make_shared<BatchNorm2d>(out_channels));
  auto shortcut = register_module("shortcut", std::make_shared<Sequential>());
  if (stride != 1 || in_channels != out_channels) {
    shortcut->push_back(std::make_shared<Conv2d>(in_channels, out_channels, 1, stride, 0, 1,
                                                 /*bias=*/false, 1, gen));
    shortcut->push_back(std::make_shared<BatchNorm2d>(out_channels));
  }
}

autograd::Variable BasicBlock::forward(const autograd::Variable& x) {
  autograd::Variable residual = x;
  for (const char* name : kBranch) residual = child(name)->forward(residual);
  return autograd::relu(autograd::add(residual, shortcut()->forward(x)));
}

std::shared_ptr<Sequential> BasicBlock::f() const {
  auto branch = std::make_shared<Sequential>();
  for (const char* name : kBranch) branch->add(name, child(name));
  branch->train(is_training());
  return branch;
}

std::shared_ptr<Sequential> BasicBlock::shortcut() const {
  auto shortcut = std::dynamic_pointer_cast<Sequential>(child("shortcut"));
  check_argument(shortcut != nullptr, "BasicBlock: the shortcut child is not a Sequential");
  return shortcut;
}

}  // namespace ortho::nn
