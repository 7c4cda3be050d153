// ortho-procrustes: landing against retraction-based Riemannian gradient descent and the
// trivialization on the orthogonal Procrustes problem (Ablin & Peyré 2022, Sec. 5.1).
//
// Per method: one JSON line on stdout {"method", "p", "iterations", "us_per_iter",
// "final_loss", "final_loss_gap", "final_distance", ...}; under --out, procrustes.csv (loss
// and distance to the manifold per iteration) and procrustes.svg (loss gap against iterations
// and against time, distance against iterations, on log scales). --device cuda[:N] runs every
// method on that GPU (the problem is drawn and solved on the CPU in float64, then moved).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "apps/common/atomic_file.h"
#include "apps/common/blas_kernels.h"
#include "apps/common/csv.h"
#include "apps/common/device_choice.h"
#include "apps/common/flags.h"
#include "apps/common/json_lines.h"
#include "apps/common/progress.h"
#include "apps/common/svg_plot.h"
#include "apps/ortho-procrustes/methods.h"
#include "apps/ortho-procrustes/problem.h"
#include "core/parallel.h"

namespace ortho::apps {
namespace {

struct Options {
  std::int64_t p = 40;
  std::vector<std::string> methods = procrustes_methods();
  MethodOptions method;
  std::string dtype = "float32";
  std::uint64_t seed = 0;
  int threads = 2;
  std::string out = "results/procrustes";
  std::int64_t compare_after = 200;
  std::string device = "cpu";
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// The largest |f_a(t) - f_b(t)| / |f_b(t)| over the iterations t >= from both traces reached;
// NaN when they share none.
double loss_curve_difference(const MethodTrace& a, const MethodTrace& b, std::int64_t from) {
  const auto n = static_cast<std::int64_t>(std::min(a.loss.size(), b.loss.size()));
  double worst = std::nan("");
  for (std::int64_t t = from; t < n; ++t) {
    const auto i = static_cast<std::size_t>(t);
    const double d = std::abs(a.loss[i] - b.loss[i]) / std::abs(b.loss[i]);
    worst = std::isnan(worst) ? d : std::max(worst, d);
  }
  return worst;
}

nlohmann::json summary(const MethodTrace& trace, const ProcrustesProblem& problem,
                       const Options& opts, const MethodTrace* reference) {
  const double us = 1e6 * median(trace.step_seconds);
  nlohmann::json line = {
      {"method", trace.method},
      {"p", opts.p},
      {"dtype", opts.dtype},
      {"device", problem.start.device().to_string()},
      {"threads", opts.threads},
      {"lr", opts.method.lr},
      {"iterations", trace.iterations()},
      {"us_per_iter", us},
      {"total_s", trace.seconds.back()},
      {"final_loss", trace.loss.back()},
      {"final_loss_gap", trace.loss.back() - problem.optimal_loss},
      {"final_distance", trace.distance.back()},
      {"max_distance", *std::max_element(trace.distance.begin(), trace.distance.end())}};
  if (reference != nullptr) {
    line["speedup_vs_rgd_exp"] = 1e6 * median(reference->step_seconds) / us;
    const double diff = loss_curve_difference(trace, *reference, opts.compare_after);
    if (!std::isnan(diff))
      line["loss_diff_vs_rgd_exp_after_" + std::to_string(opts.compare_after)] = diff;
  }
  return line;
}

std::string traces_csv(const std::vector<MethodTrace>& traces, double optimal_loss) {
  CsvTable table({"method", "iteration", "seconds", "loss", "loss_gap", "distance"});
  for (const MethodTrace& trace : traces) {
    for (std::size_t t = 0; t < trace.loss.size(); ++t) {
      table.add_row({trace.method, std::to_string(t), csv_number(trace.seconds[t]),
                     csv_number(trace.loss[t]), csv_number(trace.loss[t] - optimal_loss),
                     csv_number(trace.distance[t])});
    }
  }
  return table.str();
}

// log10 of each value (non-positive values become NaN, which the plot leaves out).
std::vector<double> log10_of(const std::vector<double>& values, double offset = 0) {
  std::vector<double> out;
  for (double v : values) out.push_back(v - offset > 0 ? std::log10(v - offset) : std::nan(""));
  return out;
}

std::string traces_svg(const std::vector<MethodTrace>& traces, const ProcrustesProblem& problem,
                       std::int64_t p) {
  const std::string title = "Procrustes, p = " + std::to_string(p);
  PlotPanel by_iteration{title, "iteration", "log10(f - f*)", {}, 1};
  PlotPanel by_time{title, "seconds", "log10(f - f*)", {}, 0};
  PlotPanel distance{"distance to the manifold", "iteration", "log10 ||X^T X - I||", {}, 1};
  for (const MethodTrace& trace : traces) {
    std::vector<double> iterations(trace.loss.size());
    for (std::size_t t = 0; t < iterations.size(); ++t) iterations[t] = static_cast<double>(t);
    const std::vector<double> gap = log10_of(trace.loss, problem.optimal_loss);
    by_iteration.series.push_back({trace.method, iterations, gap});
    by_time.series.push_back({trace.method, trace.seconds, gap});
    distance.series.push_back({trace.method, iterations, log10_of(trace.distance)});
  }
  return render_svg_plot({by_iteration, by_time, distance});
}

void write_outputs(const Options& opts, const std::vector<MethodTrace>& traces,
                   const ProcrustesProblem& problem) {
  write_file_atomically(opts.out + "/procrustes.csv", traces_csv(traces, problem.optimal_loss));
  write_file_atomically(opts.out + "/procrustes.svg", traces_svg(traces, problem, opts.p));
}

void add_flags(CLI::App& app, Options& opts) {
  add_threads_flag(app, opts.threads);
  add_device_flag(app, opts.device);
  app.add_option("--p", opts.p, "matrix size p (the paper: 40; also 256, 1024)")
      ->check(CLI::Range(std::int64_t{2}, std::int64_t{8192}))
      ->capture_default_str();
  app.add_option("--iters", opts.method.iterations, "iterations per method")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{100000000}))
      ->capture_default_str();
  app.add_option("--methods", opts.methods, "comma-separated methods (default: all)")
      ->delimiter(',')
      ->check(CLI::IsMember(procrustes_methods()));
  app.add_option("--lr", opts.method.lr, "learning rate, the same for every method")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--lambda", opts.method.lambda, "landing: attraction to the manifold")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_flag("!--no-safe-step", opts.method.safe_step, "landing: do not cap the step size");
  app.add_option("--time-limit", opts.method.time_limit_s,
                 "stop each method after this many seconds of timed work (0: none)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--dtype", opts.dtype, "float32 or float64")
      ->check(CLI::IsMember({"float32", "float64"}))
      ->capture_default_str();
  app.add_option("--seed", opts.seed, "seed of A, B and X0")->capture_default_str();
  app.add_option("--out", opts.out, "folder for procrustes.csv and procrustes.svg")
      ->capture_default_str();
  app.add_option("--compare-after", opts.compare_after,
                 "iteration from which loss curves are compared with rgd-exp's")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
}

int run(int argc, char** argv) {
  Options opts;
  CLI::App app(
      "Solves the orthogonal Procrustes problem min ||A X - B||^2 over O(p) with landing, "
      "Riemannian gradient descent (four retractions) and the trivialization, on the CPU or a "
      "CUDA GPU (--device); prints one JSON object per method on stdout.",
      "ortho-procrustes");
  add_flags(app, opts);
  if (const std::optional<int> status = parse_flags(app, argc, argv)) return *status;
  const Device device = resolve_device(opts.device);
  prepare_output_dir(opts.out);
  set_num_threads(opts.threads);
  const ProcrustesProblem problem = make_procrustes_problem(
      opts.p, opts.seed, opts.dtype == "float64" ? DType::Float64 : DType::Float32, device);
  // rgd-exp runs first when selected: the others are compared with it.
  std::vector<std::string> order = opts.methods;
  std::stable_partition(order.begin(), order.end(),
                        [](const std::string& m) { return m == "rgd-exp"; });
  std::vector<MethodTrace> traces;
  ProgressBar progress("ortho-procrustes", static_cast<std::int64_t>(order.size()), "method");
  for (const std::string& method : order) {
    progress.set_postfix(method);
    traces.push_back(run_method(method, problem, opts.method));
    const MethodTrace* reference = traces.front().method == "rgd-exp" ? &traces.front() : nullptr;
    progress.clear();
    emit_json_line(summary(traces.back(), problem, opts, reference));
    progress.advance();
  }
  progress.finish();
  write_outputs(opts, traces, problem);
  return 0;
}

}  // namespace
}  // namespace ortho::apps

int main(int argc, char** argv) {
  ortho::apps::restart_with_fast_blas_kernels(argv);
  return ortho::apps::run_app("ortho-procrustes", [&] { return ortho::apps::run(argc, argv); });
}
