#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "autograd/variable.h"
#include "core/tensor.h"
#include "layers/loss.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using autograd::Variable;
using testing::random_tensor;

// PyTorch's definition, written out: mean over samples of
//   -(1 - eps) log p[target] - (eps / C) sum_c log p[c].
double reference_loss(const Tensor& logits, const std::vector<std::int64_t>& targets, double eps) {
  const std::int64_t n = logits.size(0), c = logits.size(1);
  const std::vector<double> z = logits.to_vector<double>();
  double total = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    double norm = 0.0;
    for (std::int64_t k = 0; k < c; ++k) norm += std::exp(z[static_cast<std::size_t>(i * c + k)]);
    const auto log_p = [&](std::int64_t k) {
      return z[static_cast<std::size_t>(i * c + k)] - std::log(norm);
    };
    double sum_log_p = 0.0;
    for (std::int64_t k = 0; k < c; ++k) sum_log_p += log_p(k);
    total += -(1.0 - eps) * log_p(targets[static_cast<std::size_t>(i)]) -
             eps / static_cast<double>(c) * sum_log_p;
  }
  return total / static_cast<double>(n);
}

TEST(CrossEntropyLoss, MatchesPyTorchOnAKnownCase) {
  // torch.nn.functional.cross_entropy(torch.tensor([[1., 2., 3.]]), torch.tensor([0]), ...)
  const Variable logits(Tensor::from_vector<double>({1.0, 2.0, 3.0}, {1, 3}));
  const Tensor target = Tensor::from_vector<std::int64_t>({0}, {1});
  EXPECT_NEAR(nn::CrossEntropyLoss()(logits, target).value().item<double>(), 2.40760596444438,
              1e-12);
  EXPECT_NEAR(nn::CrossEntropyLoss(0.1)(logits, target).value().item<double>(), 2.30760596444438,
              1e-12);
}

TEST(CrossEntropyLoss, MatchesTheDefinitionWithAndWithoutSmoothing) {
  const Tensor logits = random_tensor({5, 4}, 1);
  const std::vector<std::int64_t> targets = {0, 3, 1, 1, 2};
  const Tensor target_tensor = Tensor::from_vector(targets, {5});
  for (const double eps : {0.0, 0.1, 0.5}) {
    const Variable loss = nn::CrossEntropyLoss(eps)(Variable(logits), target_tensor);
    EXPECT_EQ(loss.shape(), Shape{});
    EXPECT_NEAR(loss.value().item<double>(), reference_loss(logits, targets, eps), 1e-12)
        << "label_smoothing " << eps;
  }
  const Variable single =
      nn::CrossEntropyLoss(0.1)(Variable(logits.to(DType::Float32)), target_tensor);
  EXPECT_EQ(single.dtype(), DType::Float32);
  EXPECT_NEAR(single.value().item<double>(), reference_loss(logits, targets, 0.1), 1e-5);
}

TEST(CrossEntropyLoss, RejectsBadSmoothingTargetsAndShapes) {
  EXPECT_THROW(nn::CrossEntropyLoss(-0.1), std::invalid_argument);
  EXPECT_THROW(nn::CrossEntropyLoss(1.0), std::invalid_argument);
  const nn::CrossEntropyLoss loss;
  const Variable logits(random_tensor({2, 3}, 2));
  EXPECT_THROW(loss(logits, Tensor::from_vector<std::int64_t>({0, 3}, {2})), std::invalid_argument);
  EXPECT_THROW(loss(logits, Tensor::from_vector<std::int64_t>({0, 1, 2}, {3})),
               std::invalid_argument);
  EXPECT_THROW(
      loss(Variable(random_tensor({2, 3, 1}, 3)), Tensor::from_vector<std::int64_t>({0, 1}, {2})),
      std::invalid_argument);
}

}  // namespace
}  // namespace ortho
