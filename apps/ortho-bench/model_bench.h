#pragma once

#include <string>

#include "apps/common/optimizer_choice.h"
#include "core/device.h"

namespace ortho::apps {

// What the timed training step runs: its optimizer, which layers are orthogonal ("none",
// "conv" or "all", as ortho-train's --orthogonal), and on which device.
struct ModelBenchOptions {
  OptimizerChoice optimizer;
  std::string orthogonal = "none";
  Device device = Device::cpu();
};

// ortho-bench's model mode: times a full training step (zero_grad, forward, cross-entropy,
// backward, optimizer update: SGD unless `options` say otherwise) and an eval-mode forward without
// a graph of a CIFAR ResNet (`model`: "resnet<6n+2>" or "resnet18") on a random batch of 128
// images, printing one JSON line for each: {"bench": "<model>_train_step" | "<model>_eval",
// "device", "tf32", "threads", "batch", "ms_per_step", "images_per_s", "min_ms", "cpu_ms",
// "optimizer", "orthogonal", ...}: the median wall time (the fastest, the median process CPU
// time) of `repeats` timed runs after warm-up. Model, batch and optimizer state live on
// options.device (initialized on the CPU, then moved); on a GPU each timed run starts and ends
// with synchronize(), so it measures the GPU's work, not the time to queue it. Throws
// std::invalid_argument for an unknown model name.
void bench_model(const std::string& model, int threads, int repeats,
                 const ModelBenchOptions& options = {});

}  // namespace ortho::apps
