#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace ortho::apps {

// The flags of ortho-train. Defaults are the fixed CIFAR-10 recipe (see main.cpp).
struct TrainOptions {
  std::string model = "resnet20";
  std::string data_dir;  // empty: $ORTHO_CIFAR10_DIR, else data/cifar-10-batches-bin
  std::int64_t epochs = 30;
  std::int64_t batch_size = 128;
  double lr = 0.1;
  double momentum = 0.9;
  std::string schedule = "cosine";
  double warmup_epochs = 0;
  std::string optimizer = "sgd";
  double weight_decay = 5e-4;
  double label_smoothing = 0;
  std::uint64_t seed = 0;
  int threads = 1;
  std::string device = "cpu";  // cpu, cuda or cuda:N
  bool tf32 = false;           // TF32 tensor cores for float32 matmuls and convolutions on CUDA
  std::int64_t subset = 0;
  std::string out_dir;  // empty: out/<model>-seed<seed>
  bool resume = false;
  int workers = 2;
  std::string orthogonal = "none";  // none, conv or all: layers made orthogonal
  double landing_lambda = 1.0;
  bool safe_step = true;
  std::string opt = "none";        // OPT method: none, gs, hr, ls, cp, ogd, or, landing
  std::int64_t sopt_dim = 0;       // S-OPT block size p (0: full OPT)
  double sopt_fraction = 0;        // S-OPT block size as a fraction of each layer's d (0: off)
  std::string opt_layers = "all";  // all, conv or classifier (CLS-OPT)
  double gamma = 0.9;              // momentum ResNets' momentum term
  std::string initial_velocity = "first-block";  // momentum ResNets' v_0: zero or first-block
};

// The model names --model accepts.
const std::vector<std::string>& model_names();

// Registers every flag of ortho-train on `app`, bound to `options`.
void add_train_flags(CLI::App& app, TrainOptions& options);

// Fills in the defaults that depend on the environment or other flags (data and out dirs)
// and throws std::invalid_argument for combinations the flags cannot check one by one.
void finish_options(TrainOptions& options);

// The flags that determine a run's trajectory, plus the number of training samples: a resumed
// run must match them to continue bit-exactly.
nlohmann::json trajectory_config(const TrainOptions& options, std::int64_t train_samples);

// Throws std::invalid_argument naming `checkpoint_path` and the first flag whose value differs
// between the checkpoint's configuration and this run's.
void check_same_trajectory(const nlohmann::json& saved, const nlohmann::json& current,
                           const std::string& checkpoint_path);

}  // namespace ortho::apps
