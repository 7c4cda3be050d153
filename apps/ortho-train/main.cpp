// ortho-train: trains a CIFAR ResNet on CIFAR-10 on the CPU or a CUDA GPU (--device).
//
// The recipe is fixed (scripts' PyTorch peer runs exactly the same):
//   - data: 4-pixel zero-padded random 32x32 crop and horizontal flip with p = 0.5, then
//     per-channel normalization with mean (0.4914, 0.4822, 0.4465) and std (0.2470, 0.2435,
//     0.2616); the test set is only normalized. Training shuffles every epoch with the seed and
//     keeps the last partial batch.
//   - optimization: SGD with momentum 0.9 (no Nesterov), weight decay on all parameters, cross-
//     entropy loss; the learning rate follows a cosine from --lr to 0, stepped every iteration
//     over epochs * iterations_per_epoch (after --warmup-epochs of linear warm-up).
//   - orthogonal weights: --orthogonal conv|all swaps the convolutions (and the classifier) for
//     OrthogonalConv2d / OrthogonalLinear, kept on their Stiefel manifold by --optimizer
//     landing, landing-adam or rsgd-<retraction> (plain SGD/Adam treat them as free matrices).
//   - evaluation: after every epoch, on the whole test set in eval mode, batches of 500.
//   - device: --device cuda[:N] keeps the model, optimizer state and each batch (loaded and
//     augmented on the CPU, then copied) on that GPU; the momentum ResNets' stages then use
//     float arithmetic (exact arithmetic is CPU-only). --tf32 lets float32 matmuls and
//     convolutions there use TF32 tensor cores.
//
// Output: a progress bar on stderr (terminal only); one JSON line per epoch on stdout
//   {"epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr", "wall_s",
//    "epoch_s", "images_per_s"}   (accuracies are fractions, wall_s counts the whole run)
// then {"final": true, "test_accuracy", "epochs", "wall_s", "peak_bytes", "device", ...}, with
// "manifold_distances" (||X^T X - I||_F of each orthogonal weight) and "max_manifold_distance"
// when --orthogonal made some (peak_bytes: the allocator peak of --device, plus
// "reserved_bytes" on a GPU); and in --out:
// metrics.jsonl, metrics.csv, curves.svg and checkpoint.safetensors (model, optimizer,
// scheduler, generator, epoch and metric history, as CPU tensors), all rewritten atomically after
// every epoch. --resume continues from that checkpoint (on any device) and gives the same
// per-epoch losses as an uninterrupted run: every random draw is a function of (seed, epoch) or
// checkpointed (resume with the same --threads, --device and --tf32 too: another thread count or
// device may round differently).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "apps/common/atomic_file.h"
#include "apps/common/blas_kernels.h"
#include "apps/common/checkpoint.h"
#include "apps/common/device_choice.h"
#include "apps/common/flags.h"
#include "apps/common/json_lines.h"
#include "apps/common/progress.h"
#include "apps/common/training.h"
#include "apps/ortho-train/metrics.h"
#include "apps/ortho-train/recipe.h"
#include "apps/ortho-train/train_options.h"
#include "core/allocator.h"
#include "core/device.h"
#include "core/ops/reduce.h"
#include "core/parallel.h"
#include "core/random.h"
#include "layers/loss.h"
#include "layers/opt_convert.h"
#include "layers/opt_energy.h"
#include "layers/orthogonal.h"
#include "optim/manifold.h"

namespace ortho::apps {
namespace {

constexpr const char* kProgram = "ortho-train";

// Everything a run trains with, and how far it has come.
struct Run {
  TrainOptions options;
  Device device;
  std::unique_ptr<data::DataLoader> train_loader, test_loader;
  std::shared_ptr<nn::Module> model;
  nn::CrossEntropyLoss loss;
  std::unique_ptr<optim::Optimizer> optimizer;
  std::unique_ptr<optim::LRScheduler> scheduler;
  nlohmann::json config;
  std::string checkpoint_path;
  std::vector<EpochRecord> history;

  std::int64_t epochs_done() const { return static_cast<std::int64_t>(history.size()); }
};

// A CIFAR-10 split; a corrupt file is bad input (exit 2), reported with its path.
std::shared_ptr<const data::Cifar10> load_split(const std::string& dir,
                                                data::Cifar10::Split split) {
  try {
    return std::make_shared<const data::Cifar10>(dir, split);
  } catch (const std::runtime_error& error) {
    throw std::invalid_argument(error.what());
  }
}

Run build_run(const TrainOptions& options, Device device) {
  Run run;
  run.options = options;
  run.device = device;
  run.loss = nn::CrossEntropyLoss(options.label_smoothing);
  check_cifar10_present(options.data_dir);
  run.train_loader = std::make_unique<data::DataLoader>(
      make_train_loader(load_split(options.data_dir, data::Cifar10::Split::Train), options));
  run.test_loader = std::make_unique<data::DataLoader>(
      make_test_loader(load_split(options.data_dir, data::Cifar10::Split::Test), options));
  Generator init(options.seed);
  run.model = make_model(options.model, init, momentum_options(options));
  nn::make_orthogonal(*run.model, nn::parse_orthogonal_layers(options.orthogonal), &init);
  nn::make_opt(*run.model,
               nn::OPTOptions{.method = nn::parse_opt_method(options.opt),
                              .sopt_dim = options.sopt_dim,
                              .sopt_fraction = options.sopt_fraction},
               nn::parse_opt_layers(options.opt_layers), &init);
  // Initialized on the CPU (the same weights on every device), then moved before the
  // optimizer exists, so its state is created on the device too.
  run.model->to(device);
  run.optimizer = make_optimizer(options, run.model->parameters());
  run.scheduler = std::make_unique<optim::LRScheduler>(
      *run.optimizer, make_schedule(options, run.train_loader->num_batches()));
  run.config = trajectory_config(options, run.train_loader->num_samples());
  run.checkpoint_path = options.out_dir + "/checkpoint.safetensors";
  return run;
}

// The checkpoint of an earlier run with the same flags; anything wrong with it is bad input.
TrainingCheckpoint load_resumable(const Run& run) {
  if (!std::filesystem::exists(run.checkpoint_path)) {
    throw std::invalid_argument("--resume: no checkpoint at " + run.checkpoint_path);
  }
  TrainingCheckpoint checkpoint;
  try {
    checkpoint = load_checkpoint(run.checkpoint_path);
  } catch (const std::runtime_error& error) {
    throw std::invalid_argument(error.what());
  }
  const auto config = checkpoint.metadata.find("config");
  if (config == checkpoint.metadata.end() || !checkpoint.metadata.contains("history")) {
    throw std::invalid_argument(run.checkpoint_path +
                                ": not an ortho-train checkpoint (no config or history)");
  }
  check_same_trajectory(nlohmann::json::parse(config->second, nullptr, false), run.config,
                        run.checkpoint_path);
  return checkpoint;
}

void resume(Run& run) {
  const TrainingCheckpoint checkpoint = load_resumable(run);
  restore_checkpoint(checkpoint, run.checkpoint_path, *run.model, *run.optimizer, *run.scheduler,
                     default_generator(run.device));
  try {
    run.history = history_from_string(checkpoint.metadata.at("history"));
  } catch (const std::invalid_argument& error) {
    throw std::invalid_argument(run.checkpoint_path + ": " + error.what());
  }
  if (run.epochs_done() != checkpoint.epochs_done) {
    throw std::invalid_argument(run.checkpoint_path + ": history holds " +
                                std::to_string(run.epochs_done()) + " epochs, the state " +
                                std::to_string(checkpoint.epochs_done));
  }
}

std::string running_text(const EpochStats& s) {
  char text[64];
  std::snprintf(text, sizeof(text), "loss %.4f  acc %.2f%%", s.mean_loss(), 100.0 * s.accuracy());
  return text;
}

std::string epoch_label(const Run& run, const char* what) {
  return std::string(what) + " " + std::to_string(run.epochs_done() + 1) + "/" +
         std::to_string(run.options.epochs);
}

// OPT's additions to a training step: the OR layers' penalty in the loss, and S-OPT's
// resampling after each update from a generator that is a function of (seed, epoch, batch), so
// a resumed run draws the same subsets.
void add_opt_hooks(TrainStep& step, std::uint64_t seed) {
  const std::vector<std::shared_ptr<nn::OPTLayer>> layers = nn::opt_layers(step.model);
  if (layers.empty()) return;
  nn::Module& model = step.model;
  step.extra_loss = [&model] { return nn::opt_penalty(model); };
  step.after_step = [&model, seed](std::int64_t epoch, std::int64_t batch) {
    Generator gen(seed ^ (0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(epoch + 1)) ^
                  (0xBF58476D1CE4E5B9ULL * static_cast<std::uint64_t>(batch + 1)));
    nn::opt_resample(model, gen);
  };
}

EpochStats train_with_progress(Run& run) {
  ProgressBar bar(epoch_label(run, "train"), run.train_loader->num_samples(), "img");
  TrainStep step{*run.model, run.loss, *run.optimizer, run.scheduler.get()};
  add_opt_hooks(step, run.options.seed);
  const EpochStats stats =
      train_epoch(step, *run.train_loader, run.epochs_done(), [&](const EpochStats& s) {
        char lr[32];
        std::snprintf(lr, sizeof(lr), "  lr %.4g", run.optimizer->lr());
        bar.set_postfix(running_text(s) + lr);
        bar.update(s.samples);
      });
  bar.finish();
  return stats;
}

EpochStats evaluate_with_progress(Run& run) {
  ProgressBar bar(epoch_label(run, "test "), run.test_loader->num_samples(), "img");
  const EpochStats stats =
      evaluate(*run.model, run.loss, *run.test_loader, [&](const EpochStats& s) {
        bar.set_postfix(running_text(s));
        bar.update(s.samples);
      });
  bar.finish();
  return stats;
}

EpochRecord run_epoch(Run& run) {
  EpochRecord record;
  record.epoch = run.epochs_done() + 1;
  record.lr = run.optimizer->lr();
  const EpochStats train = train_with_progress(run);
  const EpochStats test = evaluate_with_progress(run);
  record.train_loss = train.mean_loss();
  record.train_accuracy = train.accuracy();
  record.test_loss = test.mean_loss();
  record.test_accuracy = test.accuracy();
  record.epoch_s = train.wall_s + test.wall_s;
  record.wall_s = (run.history.empty() ? 0.0 : run.history.back().wall_s) + record.epoch_s;
  record.images_per_s = train.samples_per_s();
  for (const auto& [name, energy] : nn::hyperspherical_energies(*run.model)) {
    record.hyperspherical_energy[name] = energy;
  }
  return record;
}

void save_progress(const Run& run) {
  TrainingCheckpoint checkpoint = capture_checkpoint(
      *run.model, *run.optimizer, *run.scheduler, default_generator(run.device), run.epochs_done());
  checkpoint.metadata["config"] = run.config.dump();
  checkpoint.metadata["history"] = history_to_string(run.history);
  save_checkpoint(run.checkpoint_path, checkpoint);
  write_metrics_files(run.options.out_dir, run.history);
}

// ||X^T X - I||_F of every Stiefel/Orthogonal weight (tall view), by parameter name.
std::map<std::string, double> manifold_distances(const nn::Module& model) {
  std::map<std::string, double> distances;
  for (const auto& [name, p] : model.named_parameters()) {
    if (p.manifold() == nn::Manifold::Euclidean) continue;
    const Tensor d = optim::distance_to_manifold(optim::manifold_matrix(p.value(), p.manifold()));
    distances[name] = amax(d).to(DType::Float64).item<double>();
  }
  return distances;
}

void report_final(const Run& run) {
  const EpochRecord last = run.history.back();
  synchronize(run.device);
  const MemoryStats memory = memory_stats(run.device);
  const std::int64_t peak = memory.peak_bytes;
  nlohmann::json line = {{"final", true},
                         {"model", run.options.model},
                         {"test_accuracy", last.test_accuracy},
                         {"test_loss", last.test_loss},
                         {"train_loss", last.train_loss},
                         {"epochs", run.epochs_done()},
                         {"wall_s", last.wall_s},
                         {"peak_bytes", peak},
                         {"device", run.device.to_string()},
                         {"out", run.options.out_dir}};
  if (run.device.is_cuda()) {
    line["reserved_bytes"] = memory.reserved_bytes;
    line["tf32"] = run.options.tf32;
  }
  const std::map<std::string, double> distances = manifold_distances(*run.model);
  if (!distances.empty()) {
    line["manifold_distances"] = distances;
    line["max_manifold_distance"] =
        std::max_element(distances.begin(), distances.end(), [](const auto& a, const auto& b) {
          return a.second < b.second;
        })->second;
  }
  emit_json_line(line);
  char text[192];
  std::snprintf(text, sizeof(text),
                "final test accuracy %.2f%% after %lld epochs, peak memory %.1f MiB%s%s",
                100.0 * last.test_accuracy, static_cast<long long>(run.epochs_done()),
                static_cast<double>(peak) / (1024.0 * 1024.0), run.device.is_cuda() ? " on " : "",
                run.device.is_cuda() ? run.device.to_string().c_str() : "");
  std::cerr << kProgram << ": " << text << " (" << run.options.out_dir << ")\n";
  if (line.contains("max_manifold_distance")) {
    std::cerr << kProgram << ": " << distances.size()
              << " orthogonal weights, largest distance to their manifold "
              << line["max_manifold_distance"].get<double>() << "\n";
  }
}

int run(int argc, char** argv) {
  TrainOptions options;
  options.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  CLI::App app(
      "Trains a CIFAR ResNet on CIFAR-10 on the CPU or a CUDA GPU (--device) with a fixed recipe: "
      "4-pixel zero-padded "
      "random crop + horizontal flip (p=0.5), per-channel normalization (mean 0.4914 0.4822 "
      "0.4465, std 0.2470 0.2435 0.2616; test set normalized only), SGD momentum 0.9 without "
      "Nesterov, weight decay on all parameters, cosine lr to 0 stepped per iteration, seeded "
      "shuffle keeping the last partial batch, evaluation on the test set (eval mode, batch 500) "
      "after every epoch. Prints one JSON line per epoch and a final one on stdout (accuracies "
      "as fractions); writes metrics.csv, metrics.jsonl, curves.svg and checkpoint.safetensors "
      "to --out.",
      kProgram);
  add_train_flags(app, options);
  if (const std::optional<int> status = parse_flags(app, argc, argv)) return *status;
  finish_options(options);
  const Device device = resolve_device(options.device);
  set_allow_tf32(options.tf32);
  set_num_threads(options.threads);
  manual_seed(options.seed);

  Run run = build_run(options, device);
  prepare_output_dir(options.out_dir);
  if (options.resume) resume(run);
  while (run.epochs_done() < options.epochs) {
    run.history.push_back(run_epoch(run));
    emit_json_line(to_json(run.history.back()));
    save_progress(run);
  }
  report_final(run);
  return 0;
}

}  // namespace
}  // namespace ortho::apps

int main(int argc, char** argv) {
  ortho::apps::restart_with_fast_blas_kernels(argv);
  return ortho::apps::run_app(ortho::apps::kProgram, [&] { return ortho::apps::run(argc, argv); });
}
