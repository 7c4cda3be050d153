// Flags of ortho-train and the checks that keep a resumed run on its original trajectory.
#include "apps/ortho-train/train_options.h"

#include <cstdlib>
#include <stdexcept>

#include "apps/common/device_choice.h"
#include "apps/common/flags.h"
#include "apps/common/optimizer_choice.h"

namespace ortho::apps {

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names = {
      "resnet20",   "resnet32",   "resnet44",    "resnet56",  "resnet110",
      "resnet1202", "resnet18",   "mresnet20",   "mresnet32", "mresnet44",
      "mresnet56",  "mresnet110", "mresnet1202", "cnn6",      "cnn9"};
  return names;
}

namespace {

void add_orthogonal_flags(CLI::App& app, TrainOptions& o) {
  app.add_option("--orthogonal", o.orthogonal,
                 "layers with orthogonal (Stiefel) weights: none, conv (every convolution) or "
                 "all (and the classifier)")
      ->check(CLI::IsMember({"none", "conv", "all"}))
      ->capture_default_str();
  app.add_option("--landing-lambda", o.landing_lambda,
                 "landing optimizers: attraction lambda to the manifold")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--safe-step", o.safe_step,
                 "landing optimizers: cap each step so the distance to the manifold stays "
                 "under 0.5 (true or false)")
      ->capture_default_str();
}

void add_opt_flags(CLI::App& app, TrainOptions& o) {
  app.add_option("--opt", o.opt,
                 "orthogonal over-parameterized training (Liu et al. 2021) of the --opt-layers: "
                 "none, gs, hr, ls, cp (R through Gram-Schmidt, Householder, Lowdin, Cayley), "
                 "ogd (R moved by --optimizer rsgd-*), or (free R, orthogonality penalty), "
                 "landing (R moved by --optimizer landing*)")
      ->check(CLI::IsMember({"none", "gs", "hr", "ls", "cp", "ogd", "or", "landing"}))
      ->capture_default_str();
  app.add_option("--sopt-dim", o.sopt_dim,
                 "S-OPT: learn a random p x p block of R per iteration (0: full OPT)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--sopt-fraction", o.sopt_fraction,
                 "S-OPT with p = round(fraction * d) in each layer (the paper's d/4, d/8; 0: off; "
                 "not with --sopt-dim)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--opt-layers", o.opt_layers,
                 "layers OPT applies to: all, conv or classifier (CLS-OPT)")
      ->check(CLI::IsMember({"all", "conv", "classifier"}))
      ->capture_default_str();
}

void add_momentum_flags(CLI::App& app, TrainOptions& o) {
  app.add_option("--gamma", o.gamma, "momentum ResNets (mresnet*): the momentum term gamma")
      ->check(CLI::Range(1e-4, 1.0 - 1e-4))
      ->capture_default_str();
  app.add_option("--initial-velocity", o.initial_velocity,
                 "momentum ResNets (mresnet*): each momentum stage's initial velocity, "
                 "first-block (v_0 = f_0(x_0): the first block steps undamped, which keeps "
                 "mresnet20 within a point of resnet20) or zero (the paper's)")
      ->check(CLI::IsMember({"zero", "first-block"}))
      ->capture_default_str();
}

void add_recipe_flags(CLI::App& app, TrainOptions& o) {
  app.add_option("--epochs", o.epochs, "training epochs")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{100000}))
      ->capture_default_str();
  app.add_option("--batch-size", o.batch_size,
                 "training batch size (the last partial batch is kept)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 20))
      ->capture_default_str();
  app.add_option("--lr", o.lr, "base (peak) learning rate")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--momentum", o.momentum, "SGD momentum (no Nesterov)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--schedule", o.schedule,
                 "learning-rate schedule, stepped per iteration: cosine (to 0 over all "
                 "iterations), onecycle, step (x0.1 every ceil(epochs/3) epochs), constant")
      ->check(CLI::IsMember({"cosine", "onecycle", "step", "constant"}))
      ->capture_default_str();
  app.add_option("--warmup-epochs", o.warmup_epochs,
                 "linear warm-up before the schedule (not with onecycle, which has its own)")
      ->check(CLI::Range(0.0, 100000.0))
      ->capture_default_str();
  app.add_option("--optimizer", o.optimizer,
                 "sgd, adam, adamw; landing, landing-adam (landing on orthogonal weights, SGD / "
                 "Adam on the others); rsgd-exp, rsgd-cayley, rsgd-qr, rsgd-polar (Riemannian "
                 "SGD with that retraction, SGD on the others)")
      ->check(CLI::IsMember(optimizer_names()))
      ->capture_default_str();
  app.add_option("--weight-decay", o.weight_decay, "weight decay on all parameters")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--label-smoothing", o.label_smoothing, "label smoothing of the cross-entropy")
      ->check(CLI::Range(0.0, 0.999))
      ->capture_default_str();
}

void add_run_flags(CLI::App& app, TrainOptions& o) {
  app.add_option("--model", o.model, "network")
      ->check(CLI::IsMember(model_names()))
      ->capture_default_str();
  app.add_option("--data", o.data_dir,
                 "CIFAR-10 binary directory (default: $ORTHO_CIFAR10_DIR, else "
                 "data/cifar-10-batches-bin)");
  app.add_option("--seed", o.seed, "seed of the initialization, shuffles and augmentation")
      ->capture_default_str();
  add_threads_flag(app, o.threads);
  add_device_flag(app, o.device);
  add_tf32_flag(app, o.tf32);
  app.add_option("--subset", o.subset, "train on the first N training images only (0: all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--out", o.out_dir, "output directory (default: out/<model>-seed<seed>)");
  app.add_flag("--resume", o.resume, "continue from <out>/checkpoint.safetensors");
  app.add_option("--workers", o.workers, "data-loader threads (0: load in the training thread)")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
}

}  // namespace

void add_train_flags(CLI::App& app, TrainOptions& options) {
  add_run_flags(app, options);
  add_recipe_flags(app, options);
  add_orthogonal_flags(app, options);
  add_opt_flags(app, options);
  add_momentum_flags(app, options);
}

void finish_options(TrainOptions& options) {
  if (options.data_dir.empty()) {
    const char* env = std::getenv("ORTHO_CIFAR10_DIR");
    options.data_dir = env != nullptr && *env != '\0' ? env : "data/cifar-10-batches-bin";
  }
  if (options.out_dir.empty()) {
    options.out_dir = "out/" + options.model + "-seed" + std::to_string(options.seed);
  }
  if (options.schedule == "onecycle" && options.warmup_epochs > 0) {
    throw std::invalid_argument(
        "--warmup-epochs does not apply to --schedule onecycle (it warms up by itself)");
  }
  if (options.opt == "ogd" && !options.optimizer.starts_with("rsgd-")) {
    throw std::invalid_argument(
        "--opt ogd moves R with a Riemannian optimizer: use --optimizer "
        "rsgd-exp, rsgd-cayley, rsgd-qr or rsgd-polar");
  }
  if (options.opt == "landing" && !options.optimizer.starts_with("landing")) {
    throw std::invalid_argument("--opt landing needs --optimizer landing or landing-adam");
  }
  if ((options.sopt_dim > 0 || options.sopt_fraction > 0) && options.opt == "none") {
    throw std::invalid_argument("--sopt-dim and --sopt-fraction need an --opt method");
  }
  if (options.sopt_dim > 0 && options.sopt_fraction > 0) {
    throw std::invalid_argument("--sopt-dim and --sopt-fraction: give one S-OPT block size");
  }
  if (!options.model.starts_with("mresnet") &&
      (options.gamma != TrainOptions{}.gamma ||
       options.initial_velocity != TrainOptions{}.initial_velocity)) {
    throw std::invalid_argument(
        "--gamma and --initial-velocity apply to the momentum ResNets "
        "(--model mresnet*), not to " +
        options.model);
  }
  if (options.warmup_epochs >= static_cast<double>(options.epochs)) {
    throw std::invalid_argument("--warmup-epochs must be below --epochs");
  }
}

nlohmann::json trajectory_config(const TrainOptions& o, std::int64_t train_samples) {
  nlohmann::json config = {{"model", o.model},
                           {"epochs", o.epochs},
                           {"batch_size", o.batch_size},
                           {"lr", o.lr},
                           {"momentum", o.momentum},
                           {"schedule", o.schedule},
                           {"warmup_epochs", o.warmup_epochs},
                           {"optimizer", o.optimizer},
                           {"weight_decay", o.weight_decay},
                           {"label_smoothing", o.label_smoothing},
                           {"seed", o.seed},
                           {"subset", o.subset},
                           {"orthogonal", o.orthogonal},
                           {"landing_lambda", o.landing_lambda},
                           {"safe_step", o.safe_step},
                           {"opt", o.opt},
                           {"sopt_dim", o.sopt_dim},
                           {"opt_layers", o.opt_layers},
                           {"train_samples", train_samples}};
  if (o.sopt_fraction > 0) config["sopt_fraction"] = o.sopt_fraction;
  if (o.model.starts_with("mresnet")) {
    config["gamma"] = o.gamma;
    config["initial_velocity"] = o.initial_velocity;
  }
  return config;
}

void check_same_trajectory(const nlohmann::json& saved, const nlohmann::json& current,
                           const std::string& checkpoint_path) {
  for (const auto& [key, value] : current.items()) {
    if (saved.contains(key) && saved.at(key) == value) continue;
    const std::string was = saved.contains(key) ? saved.at(key).dump() : "nothing";
    throw std::invalid_argument("--resume: " + checkpoint_path + " was made with " + key + " = " +
                                was + ", this run has " + value.dump() +
                                " (resume with the same flags)");
  }
}

}  // namespace ortho::apps
