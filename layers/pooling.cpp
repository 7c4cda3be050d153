#include "layers/pooling.h"

#include <vector>

#include "autograd/ops/pool.h"
#include "autograd/ops/reduce.h"
#include "autograd/ops/shape_ops.h"
#include "autograd/ops/views.h"
#include "core/error.h"

namespace ortho::nn {
namespace {

Pool2dParams square_window(const char* op, std::int64_t kernel_size, std::int64_t stride,
                           std::int64_t padding) {
  check_argument(kernel_size > 0 && stride >= 0 && padding >= 0 && 2 * padding <= kernel_size, op,
                 ": invalid kernel ", kernel_size, " stride ", stride, " padding ", padding);
  const std::int64_t s = stride == 0 ? kernel_size : stride;
  Pool2dParams params;
  params.kernel_h = params.kernel_w = kernel_size;
  params.stride_h = params.stride_w = s;
  params.pad_h = params.pad_w = padding;
  return params;
}

void check_nchw(const char* op, const autograd::Variable& x) {
  check_argument(x.dim() == 4, op, ": input must be NCHW, got ", x.shape());
}

}  // namespace

MaxPool2d::MaxPool2d(std::int64_t kernel_size, std::int64_t stride, std::int64_t padding)
    : params_(square_window("MaxPool2d", kernel_size, stride, padding)) {}

autograd::Variable MaxPool2d::forward(const autograd::Variable& x) {
  check_nchw("MaxPool2d", x);
  return autograd::max_pool2d(x, params_);
}

AvgPool2d::AvgPool2d(std::int64_t kernel_size, std::int64_t stride, std::int64_t padding,
                     bool count_include_pad)
    : params_(square_window("AvgPool2d", kernel_size, stride, padding)) {
  params_.count_include_pad = count_include_pad;
}

autograd::Variable AvgPool2d::forward(const autograd::Variable& x) {
  check_nchw("AvgPool2d", x);
  return autograd::avg_pool2d(x, params_);
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(std::int64_t output_h, std::int64_t output_w)
    : output_h_(output_h), output_w_(output_w) {
  check_argument(output_h > 0 && output_w > 0,
                 "AdaptiveAvgPool2d: output size must be positive, got ", output_h, "x", output_w);
}

autograd::Variable AdaptiveAvgPool2d::forward(const autograd::Variable& x) {
  check_nchw("AdaptiveAvgPool2d", x);
  const std::int64_t h = x.size(2), w = x.size(3);
  check_argument(h > 0 && w > 0, "AdaptiveAvgPool2d: empty input ", x.shape());
  if (output_h_ == 1 && output_w_ == 1) return autograd::mean(x, {2, 3}, /*keepdim=*/true);
  if (h % output_h_ == 0 && w % output_w_ == 0) {
    Pool2dParams params;
    params.kernel_h = params.stride_h = h / output_h_;
    params.kernel_w = params.stride_w = w / output_w_;
    params.pad_h = params.pad_w = 0;
    return autograd::avg_pool2d(x, params);
  }
  return general(x);
}

// One mean per output cell, stacked: only for sizes that do not divide, which are rare. Cells
// are never empty (ceil((i + 1) H / out_h) > floor(i H / out_h)), even when out_h > H.
autograd::Variable AdaptiveAvgPool2d::general(const autograd::Variable& x) const {
  const std::int64_t h = x.size(2), w = x.size(3);
  std::vector<autograd::Variable> cells;
  cells.reserve(static_cast<std::size_t>(output_h_ * output_w_));
  for (std::int64_t i = 0; i < output_h_; ++i) {
    const std::int64_t h0 = i * h / output_h_, h1 = ((i + 1) * h + output_h_ - 1) / output_h_;
    const autograd::Variable band = autograd::slice(x, 2, h0, h1);
    for (std::int64_t j = 0; j < output_w_; ++j) {
      const std::int64_t w0 = j * w / output_w_, w1 = ((j + 1) * w + output_w_ - 1) / output_w_;
      cells.push_back(autograd::mean(autograd::slice(band, 3, w0, w1), {2, 3}));
    }
  }
  return autograd::reshape(autograd::stack(cells, 2),
                           Shape{x.size(0), x.size(1), output_h_, output_w_});
}

}  // namespace ortho::nn
