// ortho-distill: the distillation experiment of the landing talk (Ablin & Peyré, AISTATS 2022).
//
// A teacher MLP x_{n+1} = tanh(W_n x_n + b_n) with orthogonal W_n (width x width, --depth
// layers) labels --samples Gaussian inputs; a student of the same architecture, from its own
// random orthogonal point (the same for every method), is trained on
// f = mean_i ||phi_student(x_i) - phi_teacher(x_i)||^2 by each of --methods:
//   landing          optim::Landing (lambda = --lambda, safe step on)
//   rsgd-<r>         optim::RiemannianSGD with the exp, cayley, qr or polar retraction
//   trivialization   nn::ParametrizedOrthogonalLinear, W = X0 exp(skew(A)), by plain optim::SGD
// Output: one JSON line per method on stdout; in --out: curves.csv (loss, test loss, distance to
// the manifold and step time per iteration), summary.jsonl, loss.svg and distance.svg. In float32
// the exp and Cayley retractions multiply by nearly orthogonal matrices and never correct the
// rounding, so their distance to the manifold creeps up, while landing's attraction term keeps it
// bounded ("numerical drift"). --device cuda[:N] trains the students on that GPU (the teacher,
// data and starting point are drawn on the CPU in float64, then moved).
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "apps/common/atomic_file.h"
#include "apps/common/blas_kernels.h"
#include "apps/common/device_choice.h"
#include "apps/common/flags.h"
#include "apps/common/json_lines.h"
#include "apps/common/progress.h"
#include "apps/ortho-distill/distill.h"
#include "apps/ortho-distill/report.h"
#include "core/parallel.h"

namespace ortho::apps {
namespace {

constexpr const char* kProgram = "ortho-distill";

struct Flags {
  DistillOptions options;
  std::vector<std::string> methods = distill_method_names();
  std::string dtype = "float32";
  std::string out_dir = "results/distill";
  int threads = 2;
  std::string device = "cpu";
};

void add_model_flags(CLI::App& app, Flags& f) {
  DistillOptions& o = f.options;
  app.add_option("--width", o.width, "width of every layer (weights are width x width)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 14))
      ->capture_default_str();
  app.add_option("--depth", o.depth, "number of layers")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1000}))
      ->capture_default_str();
  app.add_option("--samples", o.samples, "training inputs")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 24))
      ->capture_default_str();
  app.add_option("--test-samples", o.test_samples, "held-out inputs")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 24))
      ->capture_default_str();
  app.add_option("--dtype", f.dtype, "float32 or float64")
      ->check(CLI::IsMember({"float32", "float64"}))
      ->capture_default_str();
  app.add_option("--seed", o.seed, "seed of the teacher, the data and the student's start")
      ->capture_default_str();
}

void add_training_flags(CLI::App& app, Flags& f) {
  DistillOptions& o = f.options;
  app.add_option("--methods", f.methods, "comma-separated methods (default: all six)")
      ->delimiter(',')
      ->check(CLI::IsMember(distill_method_names()));
  app.add_option("--iters", o.iters, "training steps per method")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 30))
      ->capture_default_str();
  app.add_option("--batch", o.batch, "minibatch size (0: the full training set every step)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--lr", o.lr,
                 "step size of every method (0: the default, 0.02 for all six: on the manifold "
                 "their first-order steps coincide)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--momentum", o.momentum, "momentum of every method")
      ->check(CLI::Range(0.0, 0.999))
      ->capture_default_str();
  app.add_option("--lambda", o.lambda, "landing: weight of the attraction to the manifold")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--eval-every", o.eval_every, "test loss every N iterations (and at the end)")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{1} << 30))
      ->capture_default_str();
  add_threads_flag(app, f.threads);
  add_device_flag(app, f.device);
  app.add_option("--out", f.out_dir,
                 "directory of curves.csv, summary.jsonl, loss.svg, distance.svg")
      ->capture_default_str();
}

DistillCurves run_with_progress(const DistillProblem& problem, DistillMethod method,
                                const DistillOptions& options) {
  ProgressBar bar(distill_method_name(method), options.iters, "it");
  const DistillCurves curves =
      run_distill(problem, method, options, [&](std::int64_t t, double loss) {
        if (!bar.enabled()) return;
        char text[32];
        std::snprintf(text, sizeof(text), "loss %.4g", loss);
        bar.set_postfix(text);
        bar.update(t);
      });
  bar.finish();
  return curves;
}

int run(int argc, char** argv) {
  Flags flags;
  CLI::App app(
      "Distills a teacher MLP with orthogonal weights into a student trained by landing, "
      "Riemannian SGD (exp, cayley, qr, polar retractions) and the trivialization, on the CPU "
      "or a CUDA GPU (--device); prints one "
      "JSON line per method on stdout and writes curves.csv, summary.jsonl, loss.svg and "
      "distance.svg to --out.",
      kProgram);
  add_model_flags(app, flags);
  add_training_flags(app, flags);
  if (const std::optional<int> status = parse_flags(app, argc, argv)) return *status;
  flags.options.dtype = flags.dtype == "float64" ? DType::Float64 : DType::Float32;
  flags.options.device = resolve_device(flags.device);
  check_distill_options(flags.options);
  set_num_threads(flags.threads);
  prepare_output_dir(flags.out_dir);

  const DistillProblem problem = make_distill_problem(flags.options);
  std::vector<MethodRun> runs;
  std::vector<nlohmann::json> summaries;
  for (const std::string& name : flags.methods) {
    const DistillMethod method = parse_distill_method(name);
    runs.push_back({method, run_with_progress(problem, method, flags.options)});
    summaries.push_back(distill_summary(runs.back(), flags.options, flags.threads));
    emit_json_line(summaries.back());
    write_distill_files(flags.out_dir, runs, summaries);
  }
  return 0;
}

}  // namespace
}  // namespace ortho::apps

int main(int argc, char** argv) {
  ortho::apps::restart_with_fast_blas_kernels(argv);
  return ortho::apps::run_app(ortho::apps::kProgram, [&] { return ortho::apps::run(argc, argv); });
}
