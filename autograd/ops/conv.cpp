#include "autograd/ops/conv.h"

#include "autograd/record.h"
#include "core/ops/conv.h"
#include "core/ops/reduce.h"

namespace ortho::autograd {

// The input and weight gradients are the backend's transposed and correlation
// convolutions; the bias gradient sums the output gradient over N, H and W. Only the
// gradients some input needs are computed (a network's first layer skips its input's).
Variable conv2d(const Variable& input, const Variable& weight, const Variable& bias,
                const Conv2dParams& params) {
  const Tensor x = input.value(), w = weight.value();
  Tensor out = ortho::conv2d(x, w, bias.defined() ? bias.value() : Tensor(), params);
  return make_output(
      "conv2d", {input, weight, bias}, std::move(out),
      [x, w, params, need = needs_input_grad({input, weight, bias})](const Tensor& g) -> Grads {
        return {need[0] ? ortho::conv2d_backward_input(g, w, x.shape(), params) : Tensor(),
                need[1] ? ortho::conv2d_backward_weight(g, x, w.shape(), params) : Tensor(),
                need[2] ? ortho::sum(g, {0, 2, 3}) : Tensor()};
      });
}

}  // namespace ortho::autograd
