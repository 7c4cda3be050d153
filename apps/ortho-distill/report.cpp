// ortho-distill's summaries, CSV curves and SVG plots.
#include "apps/ortho-distill/report.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>

#include "apps/common/atomic_file.h"
#include "apps/common/csv.h"
#include "apps/common/svg_plot.h"
#include "core/dtype.h"

namespace ortho::apps {
namespace {

// Plots keep at most this many points per series, so a long run's SVG stays small.
constexpr std::size_t kMaxPlotPoints = 400;

double median_step_seconds(const DistillCurves& curves) {
  std::vector<double> steps(curves.step_seconds.begin() + 1, curves.step_seconds.end());
  const auto middle = steps.begin() + static_cast<std::ptrdiff_t>(steps.size() / 2);
  std::nth_element(steps.begin(), middle, steps.end());
  return *middle;
}

std::vector<double> elapsed_seconds(const DistillCurves& curves) {
  std::vector<double> elapsed(curves.step_seconds.size());
  std::partial_sum(curves.step_seconds.begin(), curves.step_seconds.end(), elapsed.begin());
  return elapsed;
}

std::string curves_csv(const std::vector<MethodRun>& runs) {
  CsvTable table({"method", "iter", "train_loss", "test_loss", "distance", "step_us", "elapsed_s"});
  for (const MethodRun& run : runs) {
    const DistillCurves& c = run.curves;
    const std::vector<double> elapsed = elapsed_seconds(c);
    std::size_t next_test = 0;
    for (std::size_t t = 0; t < c.distance.size(); ++t) {
      std::string test;
      if (next_test < c.test_iters.size() &&
          c.test_iters[next_test] == static_cast<std::int64_t>(t)) {
        test = csv_number(c.test_loss[next_test++]);
      }
      table.add_row({distill_method_name(run.method), std::to_string(t),
                     csv_number(c.train_loss[t]), test, csv_number(c.distance[t]),
                     csv_number(c.step_seconds[t] * 1e6), csv_number(elapsed[t])});
    }
  }
  return table.str();
}

// (x[i], log10 y[i]) for at most kMaxPlotPoints evenly spaced i, always with the last point.
PlotSeries log_series(const std::string& label, const std::vector<double>& x,
                      const std::vector<double>& y) {
  PlotSeries s{label, {}, {}};
  const std::size_t stride =
      std::max<std::size_t>(1, (y.size() + kMaxPlotPoints - 1) / kMaxPlotPoints);
  for (std::size_t i = 0; i < y.size(); i += stride) {
    s.x.push_back(x[i]);
    s.y.push_back(std::log10(y[i]));
  }
  if ((y.size() - 1) % stride != 0) {
    s.x.push_back(x.back());
    s.y.push_back(std::log10(y.back()));
  }
  return s;
}

std::vector<double> iterations(std::size_t count) {
  std::vector<double> x(count);
  std::iota(x.begin(), x.end(), 0.0);
  return x;
}

std::string loss_svg(const std::vector<MethodRun>& runs) {
  PlotPanel train{"Training loss", "iteration", "log10 loss", {}, 1.0};
  PlotPanel test{"Test loss", "iteration", "log10 loss", {}, 1.0};
  PlotPanel timed{"Training loss vs time", "seconds (training steps only)", "log10 loss", {}};
  for (const MethodRun& run : runs) {
    const DistillCurves& c = run.curves;
    const std::string name = distill_method_name(run.method);
    train.series.push_back(log_series(name, iterations(c.train_loss.size()), c.train_loss));
    test.series.push_back(log_series(
        name, std::vector<double>(c.test_iters.begin(), c.test_iters.end()), c.test_loss));
    timed.series.push_back(log_series(name, elapsed_seconds(c), c.train_loss));
  }
  return render_svg_plot({train, test, timed});
}

std::string distance_svg(const std::vector<MethodRun>& runs) {
  PlotPanel panel{
      "Distance to the manifold", "iteration", "log10 max over layers ||W W^T - I||_F", {}, 1.0};
  for (const MethodRun& run : runs) {
    panel.series.push_back(log_series(distill_method_name(run.method),
                                      iterations(run.curves.distance.size()), run.curves.distance));
  }
  return render_svg_plot({panel}, {720, 420});
}

}  // namespace

nlohmann::json distill_summary(const MethodRun& run, const DistillOptions& o, int threads) {
  const DistillCurves& c = run.curves;
  nlohmann::json line = {{"method", distill_method_name(run.method)},
                         {"width", o.width},
                         {"depth", o.depth},
                         {"samples", o.samples},
                         {"batch", o.batch == 0 ? o.samples : o.batch},
                         {"iters", o.iters},
                         {"dtype", dtype_name(o.dtype)},
                         {"device", o.device.to_string()},
                         {"lr", o.lr > 0 ? o.lr : default_lr(run.method)},
                         {"momentum", o.momentum},
                         {"threads", threads},
                         {"seed", o.seed},
                         {"us_per_iter", median_step_seconds(c) * 1e6},
                         {"train_s", elapsed_seconds(c).back()},
                         {"initial_loss", c.train_loss.front()},
                         {"final_loss", c.train_loss.back()},
                         {"final_test_loss", c.test_loss.back()},
                         {"final_distance", c.distance.back()},
                         {"max_distance", *std::max_element(c.distance.begin(), c.distance.end())}};
  if (run.method == DistillMethod::Landing) line["lambda"] = o.lambda;
  return line;
}

void write_distill_files(const std::string& dir, const std::vector<MethodRun>& runs,
                         const std::vector<nlohmann::json>& summaries) {
  std::string jsonl;
  for (const nlohmann::json& line : summaries) jsonl += line.dump() + '\n';
  write_file_atomically(dir + "/summary.jsonl", jsonl);
  write_file_atomically(dir + "/curves.csv", curves_csv(runs));
  write_file_atomically(dir + "/loss.svg", loss_svg(runs));
  write_file_atomically(dir + "/distance.svg", distance_svg(runs));
}

}  // namespace ortho::apps
