#pragma once

#include "core/backend.h"
#include "core/shape.h"

namespace ortho::testing {

// One convolution a test runs: input (n, c, h, w), weight (o, c / groups, kh, kw), the window
// parameters and whether a bias is added; `name` says which case failed.
struct ConvCase {
  const char* name;
  Shape input, weight;
  Conv2dParams params;
  bool bias;
};

}  // namespace ortho::testing
