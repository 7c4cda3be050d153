#pragma once

#include <gtest/gtest.h>

#include <vector>

#include "autograd/gradcheck.h"
#include "core/tensor.h"

namespace ortho::testing {

// EXPECT_TRUE(passes_gradcheck(f, {x, y})) reports the worst element at the caller's line.
inline ::testing::AssertionResult passes_gradcheck(const autograd::GradcheckFunction& f,
                                                   const std::vector<Tensor>& inputs,
                                                   const autograd::GradcheckOptions& options = {}) {
  const autograd::GradcheckResult result = autograd::gradcheck(f, inputs, options);
  if (result.passed) return ::testing::AssertionSuccess() << result.summary();
  return ::testing::AssertionFailure() << result.summary();
}

}  // namespace ortho::testing
