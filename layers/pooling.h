#pragma once

#include <cstdint>

#include "autograd/variable.h"
#include "core/backend.h"
#include "layers/module.h"

namespace ortho::nn {

// Max over square windows of NCHW input; stride defaults to the kernel size (0 = kernel).
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(std::int64_t kernel_size, std::int64_t stride = 0, std::int64_t padding = 0);
  autograd::Variable forward(const autograd::Variable& x) override;
  const Pool2dParams& params() const { return params_; }

 private:
  Pool2dParams params_;
};

// Mean over square windows; stride defaults to the kernel size (0 = kernel). With
// count_include_pad the padding zeros count in each window's divisor (PyTorch's default).
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(std::int64_t kernel_size, std::int64_t stride = 0, std::int64_t padding = 0,
                     bool count_include_pad = true);
  autograd::Variable forward(const autograd::Variable& x) override;
  const Pool2dParams& params() const { return params_; }

 private:
  Pool2dParams params_;
};

// Mean pooling to a fixed (out_h, out_w): output cell (i, j) averages rows
// [floor(i H / out_h), ceil((i + 1) H / out_h)) and likewise columns, as in PyTorch. The
// 1x1 case is a mean over H and W; sizes that divide evenly use one AvgPool2d.
class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(std::int64_t output_size)
      : AdaptiveAvgPool2d(output_size, output_size) {}
  AdaptiveAvgPool2d(std::int64_t output_h, std::int64_t output_w);
  autograd::Variable forward(const autograd::Variable& x) override;

 private:
  autograd::Variable general(const autograd::Variable& x) const;

  std::int64_t output_h_, output_w_;
};

}  // namespace ortho::nn
