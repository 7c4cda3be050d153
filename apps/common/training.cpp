// The reusable pieces of a supervised training loop: one epoch of training, evaluation.
#include "apps/common/training.h"

#include <chrono>
#include <stdexcept>
#include <vector>

#include "autograd/grad_mode.h"
#include "autograd/ops/elementwise.h"
#include "autograd/variable.h"
#include "core/device.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"

namespace ortho::apps {
namespace {

using Clock = std::chrono::steady_clock;

// A loader's batch on `device` (the loader makes CPU tensors; on the CPU nothing is copied).
// The caller keeps `batch` alive until the step has synchronized: a copy from pinned host
// memory may still be reading it when to() returns.
data::Batch on_device(const data::Batch& batch, Device device) {
  return {batch.images.to(device), batch.labels.to(device), {}, batch.index};
}

// Adds one batch's loss (a mean) and correct count to the totals; the wall time is read after
// the device has finished the batch's work.
void accumulate(EpochStats& stats, const autograd::Variable& loss, const autograd::Variable& logits,
                const data::Batch& batch, Clock::time_point start) {
  const std::int64_t n = batch.labels.numel();
  stats.loss_sum += loss.value().item<double>() * static_cast<double>(n);
  stats.correct += count_correct(logits.value(), batch.labels);
  stats.samples += n;
  synchronize(logits.value().device());
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

Device module_device(const nn::Module& model) {
  const std::vector<nn::Parameter> params = model.parameters();
  return params.empty() ? Device::cpu() : params.front().value().device();
}

std::int64_t count_correct(const Tensor& logits, const Tensor& labels) {
  if (logits.dim() != 2 || labels.dim() != 1 || labels.size(0) != logits.size(0)) {
    throw std::invalid_argument("count_correct: expected logits (N, C) and labels (N,), got " +
                                logits.shape().to_string() + " and " + labels.shape().to_string());
  }
  // Counted on the logits' device, as float64 0/1 matches (exact below 2^53 rows), so only
  // one number crosses to the host.
  const Tensor predicted = argmax(logits, 1).to(DType::Float64);
  const Tensor expected = labels.to(logits.device()).to(DType::Float64);
  return static_cast<std::int64_t>(sum(eq(predicted, expected)).item<double>());
}

EpochStats train_epoch(const TrainStep& step, data::DataLoader& loader, std::int64_t epoch,
                       const BatchCallback& on_batch) {
  ModeGuard mode(step.model, true);
  const Device device = module_device(step.model);
  EpochStats stats;
  synchronize(device);
  const Clock::time_point start = Clock::now();
  loader.start_epoch(epoch);
  for (std::int64_t index = 0; std::optional<data::Batch> loaded = loader.next(); ++index) {
    const data::Batch batch = on_device(*loaded, device);
    step.optimizer.zero_grad();
    const autograd::Variable logits = step.model(autograd::Variable(batch.images));
    const autograd::Variable loss = step.loss(logits, batch.labels);
    const autograd::Variable extra = step.extra_loss ? step.extra_loss() : autograd::Variable();
    (extra.defined() ? autograd::add(loss, extra) : loss).backward();
    step.optimizer.step();
    if (step.after_step) step.after_step(epoch, index);
    if (step.scheduler != nullptr) step.scheduler->step();
    accumulate(stats, loss, logits, batch, start);
    if (on_batch) on_batch(stats);
  }
  return stats;
}

EpochStats evaluate(nn::Module& model, const nn::CrossEntropyLoss& loss, data::DataLoader& loader,
                    const BatchCallback& on_batch) {
  ModeGuard mode(model, false);
  autograd::NoGradGuard no_grad;
  const Device device = module_device(model);
  EpochStats stats;
  synchronize(device);
  const Clock::time_point start = Clock::now();
  loader.start_epoch(0);
  while (std::optional<data::Batch> loaded = loader.next()) {
    const data::Batch batch = on_device(*loaded, device);
    const autograd::Variable logits = model(autograd::Variable(batch.images));
    accumulate(stats, loss(logits, batch.labels), logits, batch, start);
    if (on_batch) on_batch(stats);
  }
  return stats;
}

}  // namespace ortho::apps
