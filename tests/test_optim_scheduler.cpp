#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "layers/parameter.h"
#include "optim/adam.h"
#include "optim/scheduler.h"
#include "optim/sgd.h"
#include "support/test_support.h"

namespace ortho {
namespace {

using optim::CosineAnnealing;
using optim::LinearWarmup;
using optim::LRScheduler;
using optim::OneCycle;
using optim::SGD;
using optim::StepLR;

nn::Parameter parameter() {
  return nn::Parameter(Tensor::zeros({2}));
}

// The lr of group 0 at steps 0 .. steps-1, stepping the scheduler between reads.
std::vector<double> lr_sequence(LRScheduler& scheduler, int steps) {
  std::vector<double> lrs;
  for (int t = 0; t < steps; ++t) {
    if (t > 0) scheduler.step();
    lrs.push_back(scheduler.lr());
  }
  return lrs;
}

std::vector<double> lr_sequence(std::shared_ptr<const optim::Schedule> schedule, double base_lr,
                                int steps) {
  SGD sgd({parameter()}, {.lr = base_lr});
  LRScheduler scheduler(sgd, std::move(schedule));
  return lr_sequence(scheduler, steps);
}

void expect_sequence(const std::vector<double>& actual, const std::vector<double>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t t = 0; t < actual.size(); ++t) {
    EXPECT_NEAR(actual[t], expected[t], 1e-12) << "step " << t;
  }
}

// (1 + cos(pi * k / n)) / 2, the cosine factor of SGDR eq. 5.
double cosine_factor(double k, double n) {
  return (1.0 + std::cos(std::numbers::pi * k / n)) / 2.0;
}

TEST(OptimScheduler, StepLR) {
  // 0.1 * 0.5^floor(t / 3).
  expect_sequence(lr_sequence(std::make_shared<StepLR>(3, 0.5), 0.1, 8),
                  {0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025});
}

TEST(OptimScheduler, CosineAnnealingReachesEtaMinAfterTMax) {
  const double c1 = 0.01 + 0.09 * (1.0 + std::sqrt(0.5)) / 2.0;
  const double c3 = 0.01 + 0.09 * (1.0 - std::sqrt(0.5)) / 2.0;
  expect_sequence(lr_sequence(std::make_shared<CosineAnnealing>(4, 0.01), 0.1, 7),
                  {0.1, c1, 0.055, c3, 0.01, c3, 0.055});  // torch's closed form past T_max
}

TEST(OptimScheduler, LinearWarmupAlone) {
  // torch LinearLR(start_factor=0.25, total_iters=4): 0.2 * (0.25 + 0.75 * t / 4), then 0.2.
  expect_sequence(lr_sequence(std::make_shared<LinearWarmup>(4, nullptr, 0.25), 0.2, 6),
                  {0.05, 0.0875, 0.125, 0.1625, 0.2, 0.2});
  expect_sequence(lr_sequence(std::make_shared<LinearWarmup>(3), 0.3, 4),
                  {0.1, 0.1 + 0.2 / 3.0, 0.1 + 0.4 / 3.0, 0.3});
}

TEST(OptimScheduler, LinearWarmupThenCosine) {
  const auto schedule =
      std::make_shared<LinearWarmup>(2, std::make_shared<CosineAnnealing>(4), 0.5);
  expect_sequence(lr_sequence(schedule, 0.2, 7),
                  {0.1, 0.15, 0.2, 0.2 * cosine_factor(1, 4), 0.1, 0.2 * cosine_factor(3, 4), 0.0});
}

TEST(OptimScheduler, OneCycleLrAndMomentum) {
  // total 10, pct_start 0.3: the lr rises over steps 0..2 (peak at 0.3 * 10 - 1 = 2) from
  // 1 / 25 to 1, then falls over steps 2..9 to 1 / 25 / 1e4; momentum moves inversely.
  SGD sgd({parameter()}, {.lr = 1.0, .momentum = 0.9});
  LRScheduler scheduler(sgd, std::make_shared<OneCycle>(10));
  const double initial = 0.04, final_lr = 0.04 / 1e4;
  std::vector<double> lrs, momenta;
  std::vector<double> expected_lrs, expected_momenta;
  for (int t = 0; t < 12; ++t) {
    if (t > 0) scheduler.step();
    lrs.push_back(scheduler.lr());
    momenta.push_back(sgd.option(0, "momentum"));
    const int s = std::min(t, 9);
    const double f = s <= 2 ? cosine_factor(s, 2) : cosine_factor(s - 2, 7);
    expected_lrs.push_back(s <= 2 ? 1.0 + (initial - 1.0) * f : final_lr + (1.0 - final_lr) * f);
    expected_momenta.push_back(s <= 2 ? 0.85 + 0.1 * f : 0.95 - 0.1 * f);
  }
  expect_sequence(lrs, expected_lrs);
  expect_sequence(momenta, expected_momenta);
  EXPECT_NEAR(lrs[0], initial, 1e-15);
  EXPECT_NEAR(lrs[1], 0.52, 1e-15);
  EXPECT_NEAR(lrs[2], 1.0, 1e-15);
  EXPECT_NEAR(lrs[9], final_lr, 1e-15);
  EXPECT_NEAR(momenta[0], 0.95, 1e-15);
  EXPECT_NEAR(momenta[2], 0.85, 1e-15);
  EXPECT_NEAR(momenta[9], 0.95, 1e-15);
}

TEST(OptimScheduler, OneCycleOptionsAndAdamBeta1) {
  optim::Adam adam({parameter()}, {.lr = 0.5});
  LRScheduler scheduler(
      adam, std::make_shared<OneCycle>(5, optim::OneCycleOptions{.pct_start = 0.5,
                                                                 .div_factor = 10.0,
                                                                 .final_div_factor = 100.0,
                                                                 .base_momentum = 0.8,
                                                                 .max_momentum = 0.9}));
  // Peak at step 0.5 * 5 - 1 = 1.5: step 1 is 3/4 up from 0.05 to 0.5 on the cosine.
  EXPECT_NEAR(scheduler.lr(), 0.05, 1e-15);
  EXPECT_NEAR(adam.option(0, "beta1"), 0.9, 1e-15);
  scheduler.step();
  EXPECT_NEAR(scheduler.lr(), 0.5 + (0.05 - 0.5) * cosine_factor(1.0, 1.5), 1e-15);
  EXPECT_NEAR(adam.option(0, "beta1"), 0.8 + 0.1 * cosine_factor(1.0, 1.5), 1e-15);
  for (int t = 2; t < 5; ++t) scheduler.step();
  EXPECT_NEAR(scheduler.lr(), 0.05 / 100.0, 1e-15);
  EXPECT_NEAR(adam.option(0, "beta1"), 0.9, 1e-15);

  SGD sgd({parameter()}, {.lr = 1.0, .momentum = 0.5});
  LRScheduler fixed(
      sgd, std::make_shared<OneCycle>(10, optim::OneCycleOptions{.cycle_momentum = false}));
  fixed.step();
  EXPECT_EQ(sgd.option(0, "momentum"), 0.5);
}

TEST(OptimScheduler, EachGroupScalesItsOwnBaseLr) {
  SGD sgd({parameter()}, {.lr = 0.1});
  sgd.add_param_group({parameter()}, {.lr = 0.02});
  LRScheduler scheduler(sgd, std::make_shared<StepLR>(1, 0.5));
  scheduler.step();
  EXPECT_DOUBLE_EQ(scheduler.lr(0), 0.05);
  EXPECT_DOUBLE_EQ(scheduler.lr(1), 0.01);
  EXPECT_EQ(scheduler.base_lrs(), (std::vector<double>{0.1, 0.02}));
  EXPECT_EQ(scheduler.last_step(), 1);
}

TEST(OptimScheduler, StateRoundTripResumesExactly) {
  const auto schedule = [] {
    return std::make_shared<LinearWarmup>(3, std::make_shared<OneCycle>(20));
  };
  SGD straight_sgd({parameter()}, {.lr = 0.4, .momentum = 0.9});
  LRScheduler straight(straight_sgd, schedule());
  const std::vector<double> expected = lr_sequence(straight, 12);

  SGD first_sgd({parameter()}, {.lr = 0.4, .momentum = 0.9});
  LRScheduler first(first_sgd, schedule());
  const std::vector<double> head = lr_sequence(first, 6);
  const TensorMap dict = first.state_dict();
  EXPECT_EQ(dict.size(), 2u);
  EXPECT_EQ(dict.at("last_step").item<std::int64_t>(), 5);
  EXPECT_EQ(dict.at("base_lrs.0").item<double>(), 0.4);

  // A fresh optimizer built with another lr: the scheduler's state restores base lr and step.
  SGD resumed_sgd({parameter()}, {.lr = 1.0, .momentum = 0.9});
  LRScheduler resumed(resumed_sgd, schedule());
  resumed.load_state_dict(dict);
  EXPECT_EQ(resumed.last_step(), 5);
  EXPECT_EQ(resumed.lr(), head.back());
  EXPECT_EQ(resumed_sgd.option(0, "momentum"), first_sgd.option(0, "momentum"));
  std::vector<double> tail;
  for (int t = 6; t < 12; ++t) {
    resumed.step();
    tail.push_back(resumed.lr());
  }
  for (int t = 6; t < 12; ++t) EXPECT_EQ(tail[t - 6], expected[t]) << "step " << t;
}

TEST(OptimScheduler, LoadRejectsMismatchedState) {
  SGD sgd({parameter()}, {.lr = 0.1});
  LRScheduler scheduler(sgd, std::make_shared<StepLR>(2));
  scheduler.step();
  TensorMap dict = scheduler.state_dict();
  dict["base_lrs.1"] = Tensor::from_vector<double>({0.1}, Shape{});
  testing::expect_invalid_argument([&] { scheduler.load_state_dict(dict); },
                                   "LRScheduler: load_state_dict: unexpected key 'base_lrs.1'");
  dict.erase("base_lrs.1");
  dict.erase("base_lrs.0");
  testing::expect_invalid_argument([&] { scheduler.load_state_dict(dict); },
                                   "LRScheduler: load_state_dict: missing key 'base_lrs.0'");
  dict = scheduler.state_dict();
  dict["last_step"] = Tensor::from_vector<std::int64_t>({-1}, Shape{});
  testing::expect_invalid_argument([&] { scheduler.load_state_dict(dict); },
                                   "'last_step' is negative");
  EXPECT_EQ(scheduler.last_step(), 1);
  EXPECT_EQ(scheduler.lr(), 0.1);
}

TEST(OptimScheduler, RejectsInvalidSchedules) {
  testing::expect_invalid_argument([] { StepLR(0); }, "StepLR: step_size must be positive");
  testing::expect_invalid_argument([] { StepLR(2, 0.0); }, "StepLR: gamma must be positive");
  testing::expect_invalid_argument([] { CosineAnnealing(0); },
                                   "CosineAnnealing: T_max must be positive");
  testing::expect_invalid_argument([] { CosineAnnealing(5, -1.0); }, "CosineAnnealing: eta_min");
  testing::expect_invalid_argument([] { LinearWarmup(0); },
                                   "LinearWarmup: warmup_steps must be positive");
  testing::expect_invalid_argument([] { LinearWarmup(3, nullptr, 0.0); },
                                   "LinearWarmup: start_factor");
  testing::expect_invalid_argument([] { OneCycle(0); }, "OneCycle: total_steps must be positive");
  testing::expect_invalid_argument([] { OneCycle(10, {.pct_start = 1.0}); }, "OneCycle: pct_start");
  testing::expect_invalid_argument([] { OneCycle(3, {.pct_start = 0.3}); },
                                   "empty warm-up or annealing phase");
  testing::expect_invalid_argument([] { OneCycle(10, {.div_factor = 0.0}); },
                                   "OneCycle: div_factor");
  testing::expect_invalid_argument([] { OneCycle(10, {.base_momentum = 0.99}); },
                                   "exceeds max_momentum");
  SGD sgd({parameter()}, {.lr = 0.1});
  testing::expect_invalid_argument([&] { LRScheduler(sgd, nullptr); },
                                   "LRScheduler: schedule is null");
}

}  // namespace
}  // namespace ortho
