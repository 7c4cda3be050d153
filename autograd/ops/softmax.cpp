// Softmax family: the backward kernels need only the forward output (softmax) or the
// log-probabilities (log-softmax, cross-entropy), never the input.
#include "autograd/ops/softmax.h"

#include <algorithm>

#include "autograd/record.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "core/ops/softmax.h"

namespace ortho::autograd {

Variable softmax(const Variable& x, std::int64_t dim) {
  const Tensor out = ortho::softmax(x.value(), dim);
  return make_output("softmax", {x}, out, [out, dim](const Tensor& g) -> Grads {
    return {ortho::softmax_backward(g, out, dim)};
  });
}

Variable log_softmax(const Variable& x, std::int64_t dim) {
  const Tensor out = ortho::log_softmax(x.value(), dim);
  return make_output("log_softmax", {x}, out, [out, dim](const Tensor& g) -> Grads {
    return {ortho::log_softmax_backward(g, out, dim)};
  });
}

Variable cross_entropy(const Variable& logits, const Tensor& targets, double label_smoothing) {
  CrossEntropyResult result = ortho::cross_entropy(logits.value(), targets, label_smoothing);
  const std::int64_t n = result.losses.numel();
  Tensor loss = ortho::mean(result.losses);
  return make_output(
      "cross_entropy", {logits}, std::move(loss),
      [log_probs = std::move(result.log_probs), targets, label_smoothing,
       n](const Tensor& g) -> Grads {
        // d(mean)/d(loss_i) = 1 / N for every sample.
        const Tensor per_sample = ortho::mul(
            g.reshape({1}).expand({n}), 1.0 / static_cast<double>(std::max<std::int64_t>(n, 1)));
        return {ortho::cross_entropy_backward(per_sample, log_probs, targets, label_smoothing)};
      });
}

}  // namespace ortho::autograd
