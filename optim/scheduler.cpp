#include "optim/scheduler.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

#include "core/error.h"
#include "optim/state_dict_reader.h"

namespace ortho::optim {
namespace {

// Cosine interpolation from `start` (pct 0) to `end` (pct 1), as OneCycleLR's _annealing_cos.
double anneal_cos(double start, double end, double pct) {
  return end + (start - end) / 2.0 * (std::cos(std::numbers::pi * pct) + 1.0);
}

std::string base_lr_key(std::size_t group) {
  return "base_lrs." + std::to_string(group);
}

}  // namespace

StepLR::StepLR(std::int64_t step_size, double gamma) : step_size_(step_size), gamma_(gamma) {
  check_argument(step_size > 0, "StepLR: step_size must be positive, got ", step_size);
  check_argument(gamma > 0.0, "StepLR: gamma must be positive, got ", gamma);
}

double StepLR::lr(double base_lr, std::int64_t t) const {
  return base_lr * std::pow(gamma_, static_cast<double>(t / step_size_));
}

CosineAnnealing::CosineAnnealing(std::int64_t t_max, double eta_min)
    : t_max_(t_max), eta_min_(eta_min) {
  check_argument(t_max > 0, "CosineAnnealing: T_max must be positive, got ", t_max);
  check_argument(eta_min >= 0.0, "CosineAnnealing: eta_min must be non-negative, got ", eta_min);
}

double CosineAnnealing::lr(double base_lr, std::int64_t t) const {
  const double pct = static_cast<double>(t) / static_cast<double>(t_max_);
  return eta_min_ + (base_lr - eta_min_) * (1.0 + std::cos(std::numbers::pi * pct)) / 2.0;
}

LinearWarmup::LinearWarmup(std::int64_t warmup_steps, std::shared_ptr<const Schedule> after,
                           double start_factor)
    : warmup_steps_(warmup_steps), after_(std::move(after)), start_factor_(start_factor) {
  check_argument(warmup_steps > 0, "LinearWarmup: warmup_steps must be positive, got ",
                 warmup_steps);
  check_argument(start_factor > 0.0 && start_factor <= 1.0,
                 "LinearWarmup: start_factor must be in (0, 1], got ", start_factor);
}

double LinearWarmup::lr(double base_lr, std::int64_t t) const {
  if (t < warmup_steps_) {
    const double ramp = static_cast<double>(t) / static_cast<double>(warmup_steps_);
    return base_lr * (start_factor_ + (1.0 - start_factor_) * ramp);
  }
  return after_ ? after_->lr(base_lr, t - warmup_steps_) : base_lr;
}

std::optional<double> LinearWarmup::momentum(std::int64_t t) const {
  if (!after_) return std::nullopt;
  return after_->momentum(std::max<std::int64_t>(t - warmup_steps_, 0));
}

OneCycle::OneCycle(std::int64_t total_steps, OneCycleOptions options)
    : total_steps_(total_steps),
      options_(options),
      peak_step_(options.pct_start * static_cast<double>(total_steps) - 1.0) {
  check_argument(total_steps > 0, "OneCycle: total_steps must be positive, got ", total_steps);
  check_argument(options.pct_start > 0.0 && options.pct_start < 1.0,
                 "OneCycle: pct_start must be in (0, 1), got ", options.pct_start);
  check_argument(peak_step_ > 0.0 && peak_step_ < static_cast<double>(total_steps - 1),
                 "OneCycle: pct_start ", options.pct_start, " of ", total_steps,
                 " steps leaves an empty warm-up or annealing phase");
  check_argument(options.div_factor > 0.0, "OneCycle: div_factor must be positive, got ",
                 options.div_factor);
  check_argument(options.final_div_factor > 0.0,
                 "OneCycle: final_div_factor must be positive, got ", options.final_div_factor);
  check_argument(options.base_momentum <= options.max_momentum, "OneCycle: base_momentum ",
                 options.base_momentum, " exceeds max_momentum ", options.max_momentum);
}

std::pair<int, double> OneCycle::phase(std::int64_t t) const {
  const double step = static_cast<double>(std::clamp<std::int64_t>(t, 0, total_steps_ - 1));
  if (step <= peak_step_) return {0, step / peak_step_};
  return {1, (step - peak_step_) / (static_cast<double>(total_steps_ - 1) - peak_step_)};
}

double OneCycle::lr(double base_lr, std::int64_t t) const {
  const double initial = base_lr / options_.div_factor;
  const double final_lr = initial / options_.final_div_factor;
  const auto [index, pct] = phase(t);
  return index == 0 ? anneal_cos(initial, base_lr, pct) : anneal_cos(base_lr, final_lr, pct);
}

std::optional<double> OneCycle::momentum(std::int64_t t) const {
  if (!options_.cycle_momentum) return std::nullopt;
  const auto [index, pct] = phase(t);
  return index == 0 ? anneal_cos(options_.max_momentum, options_.base_momentum, pct)
                    : anneal_cos(options_.base_momentum, options_.max_momentum, pct);
}

LRScheduler::LRScheduler(Optimizer& optimizer, std::shared_ptr<const Schedule> schedule)
    : optimizer_(optimizer), schedule_(std::move(schedule)) {
  check_argument(schedule_ != nullptr, "LRScheduler: schedule is null");
  for (std::size_t g = 0; g < optimizer_.num_groups(); ++g) base_lrs_.push_back(optimizer_.lr(g));
  apply();
}

void LRScheduler::step() {
  ++step_;
  apply();
}

void LRScheduler::apply() {
  const std::optional<double> momentum = schedule_->momentum(step_);
  for (std::size_t g = 0; g < optimizer_.num_groups(); ++g) {
    optimizer_.set_lr(g, schedule_->lr(base_lrs_[g], step_));
    if (!momentum) continue;
    const char* key = optimizer_.has_option(g, "momentum") ? "momentum" : "beta1";
    check_argument(optimizer_.has_option(g, key), "LRScheduler: ", optimizer_.name(),
                   " has no momentum to cycle");
    optimizer_.set_option(g, key, *momentum);
  }
}

TensorMap LRScheduler::state_dict() const {
  TensorMap dict;
  dict["last_step"] = Tensor::from_vector<std::int64_t>({step_}, Shape{});
  for (std::size_t g = 0; g < base_lrs_.size(); ++g) {
    dict[base_lr_key(g)] = Tensor::from_vector<double>({base_lrs_[g]}, Shape{});
  }
  return dict;
}

void LRScheduler::load_state_dict(const TensorMap& dict) {
  StateDictReader reader("LRScheduler", dict);
  const std::int64_t step = reader.int64("last_step");
  check_argument(step >= 0, "LRScheduler: load_state_dict: 'last_step' is negative (", step, ")");
  std::vector<double> base_lrs;
  for (std::size_t g = 0; g < base_lrs_.size(); ++g) {
    base_lrs.push_back(reader.float64(base_lr_key(g)));
    check_argument(base_lrs.back() >= 0.0, "LRScheduler: load_state_dict: '", base_lr_key(g),
                   "' is negative");
  }
  reader.expect_all_read();
  base_lrs_ = std::move(base_lrs);
  step_ = step;
  apply();
}

}  // namespace ortho::optim
