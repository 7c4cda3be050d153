// Training checkpoints: model, optimizer, scheduler and generator state in one safetensors file.
#include "apps/common/checkpoint.h"

#include <bit>
#include <stdexcept>

namespace ortho::apps {
namespace {

constexpr const char* kModelPrefix = "model.";
constexpr const char* kOptimizerPrefix = "optimizer.";
constexpr const char* kSchedulerPrefix = "scheduler.";

void add_prefixed(TensorMap& out, const std::string& prefix, const TensorMap& entries) {
  for (const auto& [name, tensor] : entries) out.emplace(prefix + name, tensor);
}

// The entries of `all` whose names start with `prefix`, with the prefix removed.
TensorMap strip_prefix(const TensorMap& all, const std::string& prefix) {
  TensorMap out;
  for (auto it = all.lower_bound(prefix); it != all.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    out.emplace(it->first.substr(prefix.size()), it->second);
  }
  return out;
}

// The entries copied to the host: a checkpoint holds CPU tensors, whichever device trained.
TensorMap on_host(const TensorMap& entries) {
  TensorMap out;
  for (const auto& [name, tensor] : entries) out.emplace(name, tensor.to(Device::cpu()));
  return out;
}

// A uint64 stored bit for bit in an int64 tensor (safetensors readers all know I64).
Tensor u64_tensor(std::uint64_t value) {
  return Tensor::from_vector(std::vector<std::int64_t>{std::bit_cast<std::int64_t>(value)}, {1});
}

const Tensor& required(const TensorMap& tensors, const std::string& path, const std::string& key) {
  const auto it = tensors.find(key);
  if (it == tensors.end()) {
    throw std::runtime_error(path + ": not a training checkpoint (no tensor '" + key + "')");
  }
  if (it->second.dtype() != DType::Int64 || it->second.numel() != 1) {
    throw std::runtime_error(path + ": tensor '" + key + "' must hold one int64");
  }
  return it->second;
}

std::uint64_t required_u64(const TensorMap& tensors, const std::string& path,
                           const std::string& key) {
  return std::bit_cast<std::uint64_t>(required(tensors, path, key).item<std::int64_t>());
}

}  // namespace

void save_checkpoint(const std::string& path, const TrainingCheckpoint& checkpoint) {
  TensorMap tensors;
  add_prefixed(tensors, kModelPrefix, checkpoint.model);
  add_prefixed(tensors, kOptimizerPrefix, checkpoint.optimizer);
  add_prefixed(tensors, kSchedulerPrefix, checkpoint.scheduler);
  tensors.emplace("epochs_done", u64_tensor(static_cast<std::uint64_t>(checkpoint.epochs_done)));
  tensors.emplace("generator.seed", u64_tensor(checkpoint.generator.seed));
  tensors.emplace("generator.offset", u64_tensor(checkpoint.generator.offset));
  Metadata metadata = checkpoint.metadata;
  metadata["format"] = kCheckpointFormat;
  save_safetensors(path, tensors, metadata);
}

TrainingCheckpoint load_checkpoint(const std::string& path) {
  SafetensorsFile file = load_safetensors(path);
  const auto format = file.metadata.find("format");
  if (format == file.metadata.end() || format->second != kCheckpointFormat) {
    throw std::runtime_error(path + ": not a training checkpoint (metadata 'format' is not '" +
                             kCheckpointFormat + "')");
  }
  TrainingCheckpoint checkpoint;
  checkpoint.epochs_done = required(file.tensors, path, "epochs_done").item<std::int64_t>();
  if (checkpoint.epochs_done < 0) throw std::runtime_error(path + ": negative 'epochs_done'");
  checkpoint.generator.seed = required_u64(file.tensors, path, "generator.seed");
  checkpoint.generator.offset = required_u64(file.tensors, path, "generator.offset");
  checkpoint.model = strip_prefix(file.tensors, kModelPrefix);
  checkpoint.optimizer = strip_prefix(file.tensors, kOptimizerPrefix);
  checkpoint.scheduler = strip_prefix(file.tensors, kSchedulerPrefix);
  file.metadata.erase("format");
  checkpoint.metadata = std::move(file.metadata);
  return checkpoint;
}

TrainingCheckpoint capture_checkpoint(const nn::Module& model, const optim::Optimizer& optimizer,
                                      const optim::LRScheduler& scheduler,
                                      const Generator& generator, std::int64_t epochs_done) {
  TrainingCheckpoint checkpoint;
  checkpoint.epochs_done = epochs_done;
  checkpoint.model = on_host(model.state_dict());
  checkpoint.optimizer = on_host(optimizer.state_dict());
  checkpoint.scheduler = on_host(scheduler.state_dict());
  checkpoint.generator = generator.state();
  return checkpoint;
}

void restore_checkpoint(const TrainingCheckpoint& checkpoint, const std::string& path,
                        nn::Module& model, optim::Optimizer& optimizer,
                        optim::LRScheduler& scheduler, Generator& generator) {
  try {
    model.load_state_dict(checkpoint.model);
    optimizer.load_state_dict(checkpoint.optimizer);
    scheduler.load_state_dict(checkpoint.scheduler);
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument(path + ": checkpoint does not fit this run: " + error.what());
  }
  generator.set_state(checkpoint.generator);
}

}  // namespace ortho::apps
