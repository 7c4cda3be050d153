#include "autograd/ops/batchnorm.h"

#include <cstdint>
#include <vector>

#include "autograd/record.h"
#include "core/ops/batchnorm.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"

namespace ortho::autograd {
namespace {

// The dims a per-channel statistic reduces over: all but the channel dim 1.
std::vector<std::int64_t> non_channel_dims(std::int64_t rank) {
  std::vector<std::int64_t> dims{0};
  for (std::int64_t d = 2; d < rank; ++d) dims.push_back(d);
  return dims;
}

// A (C) tensor shaped (1, C) or (1, C, 1, 1) to broadcast against the input.
Tensor per_channel(const Tensor& t, std::int64_t rank) {
  std::vector<std::int64_t> dims(static_cast<std::size_t>(rank), 1);
  dims[1] = t.numel();
  return t.reshape(Shape(std::move(dims)));
}

}  // namespace

// The backward is the backend's fused kernel (Ioffe & Szegedy 2015, Section 3), from the
// saved input and batch statistics.
BatchNormOutput batch_norm_train(const Variable& x, const Variable& weight, const Variable& bias,
                                 double eps) {
  const Tensor xv = x.value(), wv = weight.value();
  BatchNormResult result = ortho::batch_norm_train(xv, wv, bias.value(), eps);
  const Tensor mean = result.mean, invstd = result.invstd;
  Variable output =
      make_output("batch_norm", {x, weight, bias}, std::move(result.output),
                  [xv, wv, mean, invstd](const Tensor& g) -> Grads {
                    BatchNormGrads grads = ortho::batch_norm_backward(g, xv, wv, mean, invstd);
                    return {std::move(grads.input), std::move(grads.weight), std::move(grads.bias)};
                  });
  Tensor var = ortho::add(ortho::reciprocal(ortho::square(invstd)), -eps);
  return {std::move(output), mean, std::move(var), invstd};
}

// y = (x - running_mean) * invstd * weight + bias is affine in x, weight and bias.
Variable batch_norm_eval(const Variable& x, const Variable& weight, const Variable& bias,
                         const Tensor& running_mean, const Tensor& running_var, double eps) {
  const Tensor xv = x.value(), wv = weight.value();
  Tensor out = ortho::batch_norm_eval(xv, wv, bias.value(), running_mean, running_var, eps);
  const Tensor invstd = ortho::reciprocal(ortho::sqrt(ortho::add(running_var, eps)));
  return make_output("batch_norm", {x, weight, bias}, std::move(out),
                     [xv, wv, invstd, running_mean,
                      need = needs_input_grad({x, weight, bias})](const Tensor& g) -> Grads {
                       const std::int64_t rank = xv.dim();
                       const std::vector<std::int64_t> dims = non_channel_dims(rank);
                       Tensor gx, gw, gb;
                       if (need[0]) gx = ortho::mul(g, per_channel(ortho::mul(wv, invstd), rank));
                       if (need[1]) {
                         const Tensor normalized =
                             ortho::mul(ortho::sub(xv, per_channel(running_mean, rank)),
                                        per_channel(invstd, rank));
                         gw = ortho::sum(ortho::mul(g, normalized), dims);
                       }
                       if (need[2]) gb = ortho::sum(g, dims);
                       return {gx, gw, gb};
                     });
}

}  // namespace ortho::autograd
