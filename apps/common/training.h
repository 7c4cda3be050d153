#pragma once

#include <cstdint>
#include <functional>

#include "autograd/variable.h"
#include "core/device.h"
#include "data/dataloader.h"
#include "layers/loss.h"
#include "layers/module.h"
#include "optim/optimizer.h"
#include "optim/scheduler.h"

namespace ortho::apps {

// Running totals over the batches of one pass through a dataset.
struct EpochStats {
  double loss_sum = 0;  // sum over batches of (mean batch loss * batch size)
  std::int64_t correct = 0;
  std::int64_t samples = 0;
  double wall_s = 0;

  double mean_loss() const { return samples > 0 ? loss_sum / static_cast<double>(samples) : 0.0; }
  double accuracy() const {
    return samples > 0 ? static_cast<double>(correct) / static_cast<double>(samples) : 0.0;
  }
  double samples_per_s() const { return wall_s > 0 ? static_cast<double>(samples) / wall_s : 0.0; }
};

// Called after every batch with the totals so far (e.g. to draw a progress bar).
using BatchCallback = std::function<void(const EpochStats& so_far)>;

// What one training step needs; the scheduler, when given, is stepped after every batch.
struct TrainStep {
  nn::Module& model;
  const nn::CrossEntropyLoss& loss;
  optim::Optimizer& optimizer;
  optim::LRScheduler* scheduler = nullptr;
  // When set and defined, added to the loss before backward (e.g. OPT's orthogonality
  // penalty); the reported loss stays the cross-entropy.
  std::function<autograd::Variable()> extra_loss = {};
  // When set, called after each optimizer step with the epoch and the batch's index in it
  // (e.g. S-OPT's resampling).
  std::function<void(std::int64_t epoch, std::int64_t batch)> after_step = {};
};

// One epoch of minibatch training in train mode: for each batch of epoch `epoch` of the
// loader, zero_grad, forward, loss, backward, optimizer step, scheduler step. The batches (order
// and augmentation) are a function of the loader's seed and `epoch` alone; each is copied to
// the model's device (module_device), and wall_s is read after that device has finished.
EpochStats train_epoch(const TrainStep& step, data::DataLoader& loader, std::int64_t epoch,
                       const BatchCallback& on_batch = {});

// Loss and accuracy over one pass of the loader (epoch 0) in eval mode without recording a
// graph, on the model's device; the model's previous mode is restored afterwards.
EpochStats evaluate(nn::Module& model, const nn::CrossEntropyLoss& loss, data::DataLoader& loader,
                    const BatchCallback& on_batch = {});

// The number of rows of logits (N, C) whose argmax equals the Int64 label (N,), counted on the
// logits' device (the labels are moved there).
std::int64_t count_correct(const Tensor& logits, const Tensor& labels);

// The device of a module's first parameter (the CPU for a module without parameters): where
// train_epoch and evaluate run its batches.
Device module_device(const nn::Module& model);

}  // namespace ortho::apps
