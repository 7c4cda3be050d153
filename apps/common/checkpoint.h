#pragma once

#include <cstdint>
#include <string>

#include "core/backend.h"
#include "core/random.h"
#include "core/serialize.h"
#include "layers/module.h"
#include "optim/optimizer.h"
#include "optim/scheduler.h"

namespace ortho::apps {

// Everything a training run needs to continue bit-exactly after `epochs_done` epochs: model,
// optimizer and scheduler state, and the state of the generator that drives any randomness
// not derived from (seed, epoch) (e.g. dropout masks). `metadata` carries app-defined strings
// such as the run's configuration and its metric history.
struct TrainingCheckpoint {
  std::int64_t epochs_done = 0;
  TensorMap model, optimizer, scheduler;
  RandomState generator;
  Metadata metadata;
};

// One safetensors file: tensors "model.<name>", "optimizer.<key>", "scheduler.<key>",
// "epochs_done", "generator.seed", "generator.offset" and the metadata, plus
// "format" = kCheckpointFormat. Written to a temporary file and renamed into place.
void save_checkpoint(const std::string& path, const TrainingCheckpoint& checkpoint);
// Throws std::runtime_error naming `path` when the file is missing, corrupt, or not a
// training checkpoint.
TrainingCheckpoint load_checkpoint(const std::string& path);

// The current state of a run, its tensors copied to the CPU (a checkpoint of a GPU run loads
// on any device).
TrainingCheckpoint capture_checkpoint(const nn::Module& model, const optim::Optimizer& optimizer,
                                      const optim::LRScheduler& scheduler,
                                      const Generator& generator, std::int64_t epochs_done);
// Loads a checkpoint into a run built the same way (same model, optimizer and scheduler
// kinds), its tensors copied to the devices of the model's parameters. Throws
// std::invalid_argument naming `path` and what does not fit.
void restore_checkpoint(const TrainingCheckpoint& checkpoint, const std::string& path,
                        nn::Module& model, optim::Optimizer& optimizer,
                        optim::LRScheduler& scheduler, Generator& generator);

inline constexpr const char* kCheckpointFormat = "ortho-training-checkpoint-v1";

}  // namespace ortho::apps
