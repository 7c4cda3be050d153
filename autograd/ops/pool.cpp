#include "autograd/ops/pool.h"

#include "autograd/record.h"
#include "core/ops/pool.h"

namespace ortho::autograd {

// Keeps only the Int64 argmax indices (not the input) for backward.
Variable max_pool2d(const Variable& input, const Pool2dParams& params) {
  MaxPoolResult result = ortho::max_pool2d(input.value(), params);
  return make_output(
      "max_pool2d", {input}, std::move(result.output),
      [indices = std::move(result.indices), shape = input.shape()](const Tensor& g) -> Grads {
        return {ortho::max_pool2d_backward(g, indices, shape)};
      });
}

// Keeps nothing but shapes: each input element gets the mean of the window gradients.
Variable avg_pool2d(const Variable& input, const Pool2dParams& params) {
  return make_output("avg_pool2d", {input}, ortho::avg_pool2d(input.value(), params),
                     [shape = input.shape(), params](const Tensor& g) -> Grads {
                       return {ortho::avg_pool2d_backward(g, shape, params)};
                     });
}

}  // namespace ortho::autograd
