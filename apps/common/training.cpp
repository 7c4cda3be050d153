// The reusable pieces of a supervised training loop: one epoch of training, evaluation.
#include "apps/common/training.h"

#include <chrono>
#include <stdexcept>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops/elementwise.h"
#include "autograd/variable.h"
#include "core/ops/reduce.h"

namespace ortho::apps {
namespace {

using Clock = std::chrono::steady_clock;

// Adds one batch's loss (a mean) and correct count to the totals.
void accumulate(EpochStats& stats, const autograd::Variable& loss, const autograd::Variable& logits,
                const data::Batch& batch, Clock::time_point start) {
  const std::int64_t n = batch.labels.numel();
  stats.loss_sum += loss.value().item<double>() * static_cast<double>(n);
  stats.correct += count_correct(logits.value(), batch.labels);
  stats.samples += n;
  stats.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
}

// Restores a module's train/eval mode when the scope ends, also on exceptions.
class ModeGuard {
 public:
  ModeGuard(nn::Module& model, bool training) : model_(model), previous_(model.is_training()) {
    model_.train(training);
  }
  ~ModeGuard() { model_.train(previous_); }
  ModeGuard(const ModeGuard&) = delete;
  ModeGuard& operator=(const ModeGuard&) = delete;

 private:
  nn::Module& model_;
  bool previous_;
};

}  // namespace

std::int64_t count_correct(const Tensor& logits, const Tensor& labels) {
  if (logits.dim() != 2 || labels.dim() != 1 || labels.size(0) != logits.size(0)) {
    throw std::invalid_argument("count_correct: expected logits (N, C) and labels (N,), got " +
                                logits.shape().to_string() + " and " + labels.shape().to_string());
  }
  const std::vector<std::int64_t> predicted = argmax(logits, 1).to_vector<std::int64_t>();
  const std::vector<std::int64_t> expected = labels.to_vector<std::int64_t>();
  std::int64_t correct = 0;
  for (std::size_t i = 0; i < predicted.size(); ++i) correct += predicted[i] == expected[i];
  return correct;
}

EpochStats train_epoch(const TrainStep& step, data::DataLoader& loader, std::int64_t epoch,
                       const BatchCallback& on_batch) {
  ModeGuard mode(step.model, true);
  EpochStats stats;
  const Clock::time_point start = Clock::now();
  loader.start_epoch(epoch);
  for (std::int64_t index = 0; std::optional<data::Batch> batch = loader.next(); ++index) {
    step.optimizer.zero_grad();
    const autograd::Variable logits = step.model(autograd::Variable(batch->images));
    const autograd::Variable loss = step.loss(logits, batch->labels);
    const autograd::Variable extra = step.extra_loss ? step.extra_loss() : autograd::Variable();
    (extra.defined() ? autograd::add(loss, extra) : loss).backward();
    step.optimizer.step();
    if (step.after_step) step.after_step(epoch, index);
    if (step.scheduler != nullptr) step.scheduler->step();
    accumulate(stats, loss, logits, *batch, start);
    if (on_batch) on_batch(stats);
  }
  return stats;
}

EpochStats evaluate(nn::Module& model, const nn::CrossEntropyLoss& loss, data::DataLoader& loader,
                    const BatchCallback& on_batch) {
  ModeGuard mode(model, false);
  autograd::NoGradGuard no_grad;
  EpochStats stats;
  const Clock::time_point start = Clock::now();
  loader.start_epoch(0);
  while (std::optional<data::Batch> batch = loader.next()) {
    const autograd::Variable logits = model(autograd::Variable(batch->images));
    accumulate(stats, loss(logits, batch->labels), logits, *batch, start);
    if (on_batch) on_batch(stats);
  }
  return stats;
}

}  // namespace ortho::apps
