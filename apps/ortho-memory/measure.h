#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace ortho::apps {

// One configuration of ortho-memory: a CIFAR ResNet ("resnet") or its momentum form
// ("momentum", MomentumSequential stages with invertible backprop; "momentum-stored" without)
// of `depth`, trained on one random batch of `batch` 32x32 images.
struct MemoryConfig {
  std::string model = "resnet";
  std::int64_t depth = 20;
  std::int64_t batch = 128;
  double gamma = 0.9;
  int threads = 2;
  int repeats = 3;
  std::string device = "cpu";  // "cpu" or "cuda:N" (Device::to_string)
  // Paired timing only: also time the momentum form storing its activations
  // ("momentum-stored", invertible = false), the baseline of recomputation's own cost.
  bool time_stored = false;
};

// Runs one training step (forward, cross-entropy, backward, SGD update) to allocate gradients
// and optimizer state, one to measure the peak resident set (with glibc mapping every large
// buffer on its own, so that RSS follows what is live rather than a fragmented heap), one
// more untimed, then `repeats` timed ones, each after reset_peak_memory(). Returns {"model",
// "depth", "batch", "peak_activation_bytes" (the most the allocator held during a timed step
// above what it held before it: activations, transient gradients and workspaces),
// "peak_rss_bytes" (the process's peak resident set during its step: a cross-check),
// "ms_per_step" (median wall time of the timed steps), "cpu_ms_per_step" (median process CPU
// time of all threads, which a machine shared with other work inflates less), "gamma",
// "threads", "parameters", "device", "arithmetic" (momentum: exact on the CPU, float on a GPU)}.
// On a GPU the allocator is the device's and the timers wait for its queued work; the line
// also has "peak_allocated_bytes" (the allocator's whole peak during a timed step: parameters,
// gradients and optimizer state too), "reserved_bytes" (live plus cached blocks after the
// steps) and the driver's view: "driver_total_bytes", "driver_free_before_bytes" (at start,
// before the model exists), "driver_free_after_bytes" (after the timed steps, the cache still
// held) and "driver_used_bytes" (their difference: reserved bytes plus library workspaces).
// std::invalid_argument for an unknown model or a depth that is not 6n + 2.
nlohmann::json measure_training_step(const MemoryConfig& config);

// Times the ResNet and its momentum form of config.depth in one process, steps alternating
// (two untimed rounds, then config.repeats timed ones), so that a machine whose speed drifts
// slows both alike; with config.time_stored the momentum form storing its activations too.
// Returns {"model": "pair", "depth", "batch", "resnet_ms_per_step", "momentum_ms_per_step"
// (medians), "time_ratio", "cpu_time_ratio" (medians over rounds of momentum / ResNet wall and
// process CPU time), "gamma", "threads", "device"}, and with time_stored "stored_ms_per_step"
// and "recompute_ratio" (median of momentum / momentum-stored: what recomputation costs).
nlohmann::json measure_step_time_ratio(const MemoryConfig& config);

}  // namespace ortho::apps
