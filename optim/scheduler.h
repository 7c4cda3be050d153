#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "core/serialize.h"
#include "optim/optimizer.h"

namespace ortho::optim {

// A learning-rate schedule in closed form: the lr at step t from the group's base lr, so a
// resumed run lands on exactly the value of an uninterrupted one. A step is one call of
// LRScheduler::step(); every count below (step_size, T_max, warmup_steps, total_steps) is in
// those steps. The training app steps once per iteration (after optimizer.step()), so its
// counts are iterations; stepping once per epoch works the same with counts in epochs.
class Schedule {
 public:
  virtual ~Schedule() = default;
  virtual double lr(double base_lr, std::int64_t t) const = 0;
  // The momentum (SGD "momentum", Adam "beta1") at step t, for schedules that cycle it.
  virtual std::optional<double> momentum(std::int64_t /*t*/) const { return std::nullopt; }
};

// base_lr * gamma^floor(t / step_size), as torch.optim.lr_scheduler.StepLR.
class StepLR : public Schedule {
 public:
  StepLR(std::int64_t step_size, double gamma = 0.1);
  double lr(double base_lr, std::int64_t t) const override;

 private:
  std::int64_t step_size_;
  double gamma_;
};

// eta_min + (base_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2 (Loshchilov & Hutter, SGDR,
// ICLR 2017, eq. 5 without restarts): base_lr at t = 0, eta_min at t = T_max. PyTorch's closed
// form, which keeps following the cosine past T_max.
class CosineAnnealing : public Schedule {
 public:
  explicit CosineAnnealing(std::int64_t t_max, double eta_min = 0.0);
  double lr(double base_lr, std::int64_t t) const override;

 private:
  std::int64_t t_max_;
  double eta_min_;
};

// A linear ramp as torch.optim.lr_scheduler.LinearLR(start_factor, end_factor=1,
// total_iters=warmup_steps): lr = base_lr * (start_factor + (1 - start_factor) * t /
// warmup_steps) for t < warmup_steps, then the wrapped schedule run on t - warmup_steps (a
// constant base_lr when none is given), as SequentialLR([LinearLR, after], [warmup_steps]).
// Warm-up then cosine over T steps: LinearWarmup(W, make_shared<CosineAnnealing>(T - W)).
class LinearWarmup : public Schedule {
 public:
  // start_factor in (0, 1]; 1/3 is torch's default.
  explicit LinearWarmup(std::int64_t warmup_steps, std::shared_ptr<const Schedule> after = nullptr,
                        double start_factor = 1.0 / 3.0);
  double lr(double base_lr, std::int64_t t) const override;
  std::optional<double> momentum(std::int64_t t) const override;

 private:
  std::int64_t warmup_steps_;
  std::shared_ptr<const Schedule> after_;
  double start_factor_;
};

struct OneCycleOptions {
  double pct_start = 0.3;
  double div_factor = 25.0;       // initial lr = max_lr / div_factor
  double final_div_factor = 1e4;  // final lr = initial lr / final_div_factor
  bool cycle_momentum = true;
  double base_momentum = 0.85;
  double max_momentum = 0.95;
};

// The 1cycle policy (Smith & Topin, 2019) as torch.optim.lr_scheduler.OneCycleLR with cosine
// annealing and two phases. The group's base lr is max_lr: the lr rises from max_lr /
// div_factor to max_lr at step pct_start * total_steps - 1, then falls to the final lr at
// step total_steps - 1 and stays there (torch raises past total_steps instead). Momentum
// moves inversely between max_momentum and base_momentum when cycle_momentum is set. Both
// phases must span more than zero steps (torch would divide by zero).
class OneCycle : public Schedule {
 public:
  explicit OneCycle(std::int64_t total_steps, OneCycleOptions options = {});
  double lr(double base_lr, std::int64_t t) const override;
  std::optional<double> momentum(std::int64_t t) const override;

 private:
  // Where step t falls: the phase (0 rising, 1 falling) and the fraction of it done.
  std::pair<int, double> phase(std::int64_t t) const;

  std::int64_t total_steps_;
  OneCycleOptions options_;
  double peak_step_;
};

// Drives an optimizer's learning rates by a Schedule:
//   LRScheduler scheduler(sgd, std::make_shared<OneCycle>(total_steps));
//   per iteration: forward, backward, sgd.step(), scheduler.step(); scheduler.lr() to log.
// On construction it records each group's lr as that group's base lr and sets step 0's lr;
// each step() advances one step and sets the optimizer's lrs (and momenta, for OneCycle).
// state_dict()/load_state_dict() keep the step count and base lrs under the unprefixed keys
// "last_step" and "base_lrs.<g>"; loading sets the lrs of that step again, so a run resumed
// from the optimizer's and the scheduler's state continues bit-exactly.
class LRScheduler {
 public:
  LRScheduler(Optimizer& optimizer, std::shared_ptr<const Schedule> schedule);

  void step();
  std::int64_t last_step() const { return step_; }
  // The learning rate of `group` at the current step.
  double lr(std::size_t group = 0) const { return optimizer_.lr(group); }
  const std::vector<double>& base_lrs() const { return base_lrs_; }

  TensorMap state_dict() const;
  // Throws std::invalid_argument naming the key when the dict has a missing, unexpected or
  // invalid entry (another number of groups); changes nothing then.
  void load_state_dict(const TensorMap& dict);

 private:
  void apply();

  Optimizer& optimizer_;
  std::shared_ptr<const Schedule> schedule_;
  std::vector<double> base_lrs_;
  std::int64_t step_ = 0;
};

}  // namespace ortho::optim
