// ortho-bench: throughput of the kernels that dominate training on CPU, as JSON lines.
//
//   sgemm_direct  cblas_sgemm on 1024 x 1024 x 1024 float32: the baseline
//   matmul        the same product through ortho::matmul (acceptance: >= 90% of direct)
//   conv2d        forward + backward (input and weight grads) of every ResNet-20 conv shape
//                 at batch 128, each timed in turn with sgemm_direct so that ratios hold on a
//                 machine whose speed drifts; then a conv_vs_gemm summary (acceptance: >= 60%)
//   --model M     instead of the above, a full training step and an eval forward of a CIFAR
//                 ResNet (model_bench.h), as scripts/bench_pytorch.py times them in PyTorch
//
// --device cuda[:N] times the model mode on that GPU (--model resnet20 unless given; the kernel
// benchmarks compare against CPU OpenBLAS and run on the CPU only); --tf32 lets its float32
// matmuls and convolutions use TF32 tensor cores.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "apps/common/blas_kernels.h"
#include "apps/common/device_choice.h"
#include "apps/common/flags.h"
#include "apps/common/json_lines.h"
#include "apps/common/progress.h"
#include "apps/ortho-bench/model_bench.h"
#include "core/ops/conv.h"
#include "core/ops/matmul.h"
#include "core/parallel.h"
#include "core/tensor.h"

namespace ortho::apps {
namespace {

constexpr std::int64_t kGemmSize = 1024;
constexpr std::int64_t kConvBatch = 128;
constexpr const char* kGpuDefaultModel = "resnet20";

struct Options {
  int threads = 2;
  int repeats = 5;
  std::vector<std::string> benches;
  std::string model;
  ModelBenchOptions model_options;
  std::string device = "cpu";
  bool tf32 = false;
};

// Resolves --device into the model options; on a GPU only the model mode runs (resnet20 unless
// --model says otherwise).
void check_device(Options& opts) {
  opts.model_options.device = resolve_device(opts.device);
  if (opts.model_options.device.is_cpu()) return;
  if (!opts.benches.empty()) {
    throw std::invalid_argument(
        "--bench runs on the CPU only (its kernels are measured against OpenBLAS sgemm); with "
        "--device " +
        opts.device + " ortho-bench times --model (default " + kGpuDefaultModel + ")");
  }
  if (opts.model.empty()) opts.model = kGpuDefaultModel;
}

bool selected(const Options& opts, const std::string& name) {
  return opts.benches.empty() ||
         std::find(opts.benches.begin(), opts.benches.end(), name) != opts.benches.end();
}

// Median wall time of each of `fns` over `repeats` rounds that run them in turn, after
// untimed warm-up runs (at least one each, and at least 0.2 s in all, so that thread pools,
// page mappings and clock frequency have settled). Interleaving makes ratios between the
// functions robust to a machine whose speed drifts (shared cores, frequency scaling).
std::vector<double> interleaved_medians(int repeats,
                                        const std::vector<std::function<void()>>& fns) {
  const auto warm_start = std::chrono::steady_clock::now();
  do {
    for (const auto& fn : fns) fn();
  } while (std::chrono::steady_clock::now() - warm_start < std::chrono::milliseconds(200));
  std::vector<std::vector<double>> times(fns.size());
  for (int r = 0; r < repeats; ++r) {
    for (std::size_t f = 0; f < fns.size(); ++f) {
      const auto start = std::chrono::steady_clock::now();
      fns[f]();
      times[f].push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
  }
  std::vector<double> medians;
  for (std::vector<double>& t : times) {
    std::sort(t.begin(), t.end());
    medians.push_back(t[t.size() / 2]);
  }
  return medians;
}

// Uniform [-1, 1) float32 values from a fixed seed, drawn on the host.
Tensor host_uniform(const Shape& shape, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> values(static_cast<std::size_t>(shape.numel()));
  for (float& v : values) v = dist(rng);
  return Tensor::from_vector(values, shape);
}

nlohmann::json record(const std::string& bench, const Options& opts) {
  return {{"bench", bench},
          {"device", "cpu"},
          {"threads", opts.threads},
          {"blas_kernel", blas_kernel_name()}};
}

double gemm_flops() {
  return 2.0 * kGemmSize * kGemmSize * kGemmSize;
}

// The 1024^3 float32 operands and cblas_sgemm on them: the baseline every ratio divides by.
struct GemmOperands {
  Tensor a = host_uniform({kGemmSize, kGemmSize}, 1);
  Tensor b = host_uniform({kGemmSize, kGemmSize}, 2);
  Tensor c = Tensor::empty({kGemmSize, kGemmSize});

  void sgemm_direct() {
    const auto n = static_cast<blasint>(kGemmSize);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data<float>(), n,
                b.data<float>(), n, 0.0f, c.data<float>(), n);
  }
};

nlohmann::json gemm_line(const std::string& bench, const Options& opts, double gflops,
                         double baseline) {
  nlohmann::json line = record(bench, opts);
  line["m"] = line["n"] = line["k"] = kGemmSize;
  line["dtype"] = "float32";
  line["gflops"] = gflops;
  line["ms_per_step"] = gemm_flops() / gflops / 1e6;
  if (baseline > 0) line["ratio_to_sgemm_direct"] = gflops / baseline;
  return line;
}

// Writes a result line, lifting the progress bar off the terminal line first.
void emit(ProgressBar& progress, const nlohmann::json& line) {
  progress.clear();
  emit_json_line(line);
}

// One convolution of ResNet-20 on CIFAR (He et al. 2016, section 4.2): 3x3, padding 1, or the
// stride-2 convolutions that open stages 2 and 3.
struct ConvSpec {
  std::int64_t in_channels, out_channels, size, stride;
};

const std::vector<ConvSpec>& resnet20_convs() {
  static const std::vector<ConvSpec> specs = {
      {16, 16, 32, 1}, {32, 32, 16, 1}, {64, 64, 8, 1}, {16, 32, 32, 2}, {32, 64, 16, 2}};
  return specs;
}

struct ConvResult {
  double flops = 0, seconds = 0;  // forward + both backward passes
  double gemm_seconds = 0;        // sgemm_direct, timed in turn with them
};

ConvResult bench_conv(const Options& opts, const ConvSpec& spec, GemmOperands& gemm,
                      ProgressBar& progress) {
  Conv2dParams p;
  p.stride_h = p.stride_w = spec.stride;
  p.pad_h = p.pad_w = 1;
  const Shape in_shape{kConvBatch, spec.in_channels, spec.size, spec.size};
  const Tensor x = host_uniform(in_shape, 3);
  const Tensor w = host_uniform({spec.out_channels, spec.in_channels, 3, 3}, 4);
  const std::int64_t out_size = conv_output_size(spec.size, 3, spec.stride, 1, 1, "ortho-bench");
  const Tensor gy = host_uniform({kConvBatch, spec.out_channels, out_size, out_size}, 5);

  const double pass_flops =
      2.0 * kConvBatch * spec.out_channels * out_size * out_size * spec.in_channels * 9;
  const std::vector<double> t = interleaved_medians(
      opts.repeats, {[&] { gemm.sgemm_direct(); }, [&] { (void)conv2d(x, w, Tensor(), p); },
                     [&] { (void)conv2d_backward_input(gy, w, in_shape, p); },
                     [&] { (void)conv2d_backward_weight(gy, x, w.shape(), p); }});
  const double gemm_gflops = gemm_flops() / t[0] / 1e9;
  const double forward = t[1], backward_input = t[2], backward_weight = t[3];
  const double step = forward + backward_input + backward_weight;

  nlohmann::json line = record("conv2d", opts);
  line["batch"] = kConvBatch;
  line["in_channels"] = spec.in_channels;
  line["out_channels"] = spec.out_channels;
  line["size"] = spec.size;
  line["out_size"] = out_size;
  line["kernel"] = 3;
  line["stride"] = spec.stride;
  line["padding"] = 1;
  line["gflops"] = 3 * pass_flops / step / 1e9;
  line["ms_per_step"] = step * 1e3;
  line["forward_ms"] = forward * 1e3;
  line["backward_input_ms"] = backward_input * 1e3;
  line["backward_weight_ms"] = backward_weight * 1e3;
  line["forward_gflops"] = pass_flops / forward / 1e9;
  line["backward_input_gflops"] = pass_flops / backward_input / 1e9;
  line["backward_weight_gflops"] = pass_flops / backward_weight / 1e9;
  line["sgemm_gflops"] = gemm_gflops;
  line["ratio_to_sgemm"] = 3 * pass_flops / step / 1e9 / gemm_gflops;
  emit(progress, line);
  return {3 * pass_flops, step, t[0]};
}

// Every ResNet-20 shape, then a conv_vs_gemm summary: all shapes' flops over their time,
// against the sgemm rate measured in turn with them.
void bench_convs(const Options& opts, GemmOperands& gemm, ProgressBar& progress) {
  ConvResult total;
  double min_ratio = 1e30;
  int shapes = 0;
  for (const ConvSpec& spec : resnet20_convs()) {
    const ConvResult r = bench_conv(opts, spec, gemm, progress);
    progress.advance();
    total.flops += r.flops;
    total.seconds += r.seconds;
    total.gemm_seconds += r.gemm_seconds;
    ++shapes;
    min_ratio = std::min(min_ratio, (r.flops / r.seconds) / (gemm_flops() / r.gemm_seconds));
  }
  const double gemm_gflops = shapes * gemm_flops() / total.gemm_seconds / 1e9;
  nlohmann::json line = record("conv_vs_gemm", opts);
  line["conv_gflops"] = total.flops / total.seconds / 1e9;
  line["gemm_gflops"] = gemm_gflops;
  line["ratio"] = total.flops / total.seconds / 1e9 / gemm_gflops;
  line["min_ratio"] = min_ratio;
  line["ms_per_step"] = total.seconds * 1e3;
  emit(progress, line);
}

// sgemm_direct and matmul, timed in turn on the same operands.
void bench_gemms(const Options& opts, bool direct, bool through_ortho, GemmOperands& gemm,
                 ProgressBar& progress) {
  std::vector<std::function<void()>> fns;
  if (direct) fns.emplace_back([&] { gemm.sgemm_direct(); });
  if (through_ortho) fns.emplace_back([&] { (void)matmul(gemm.a, gemm.b); });
  const std::vector<double> t = interleaved_medians(opts.repeats, fns);
  const double sgemm = direct ? gemm_flops() / t[0] / 1e9 : 0;
  if (direct) {
    emit(progress, gemm_line("sgemm_direct", opts, sgemm, 0));
    progress.advance();
  }
  if (through_ortho) {
    emit(progress, gemm_line("matmul", opts, gemm_flops() / t.back() / 1e9, sgemm));
    progress.advance();
  }
}

int run(int argc, char** argv) {
  Options opts;
  CLI::App app(
      "Benchmarks ortho's CPU matmul and conv2d against direct OpenBLAS sgemm, or with --model "
      "a CIFAR ResNet's training step and eval forward on the CPU or a CUDA GPU (--device); "
      "prints one JSON object per result on stdout.",
      "ortho-bench");
  add_threads_flag(app, opts.threads);
  app.add_option("--repeats", opts.repeats, "timed runs per measurement (the median is reported)")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--bench", opts.benches, "comma-separated benchmarks (default: all)")
      ->delimiter(',')
      ->check(CLI::IsMember({"sgemm_direct", "matmul", "conv2d"}));
  app.add_option("--model", opts.model,
                 "time a training step and eval forward of this CIFAR ResNet (resnet20, "
                 "resnet32, ..., resnet18) instead of the kernels");
  app.add_option("--optimizer", opts.model_options.optimizer.name,
                 "with --model: the optimizer of the timed step (as ortho-train's)")
      ->check(CLI::IsMember(optimizer_names()))
      ->capture_default_str();
  app.add_option("--orthogonal", opts.model_options.orthogonal,
                 "with --model: orthogonal layers, none, conv or all (as ortho-train's)")
      ->check(CLI::IsMember({"none", "conv", "all"}))
      ->capture_default_str();
  add_device_flag(app, opts.device)
      ->description(
          "cpu, cuda or cuda:N; on a GPU only the model mode runs (--model, default resnet20)");
  add_tf32_flag(app, opts.tf32);
  if (const std::optional<int> status = parse_flags(app, argc, argv)) return *status;

  check_device(opts);
  set_allow_tf32(opts.tf32);
  set_num_threads(opts.threads);
  if (!opts.model.empty()) {
    bench_model(opts.model, opts.threads, opts.repeats, opts.model_options);
    return 0;
  }
  const bool gemm = selected(opts, "sgemm_direct"), mm = selected(opts, "matmul"),
             conv = selected(opts, "conv2d");
  const auto conv_steps = static_cast<std::int64_t>(resnet20_convs().size());
  ProgressBar progress("ortho-bench", (gemm ? 1 : 0) + (mm ? 1 : 0) + (conv ? conv_steps : 0),
                       "bench");
  GemmOperands operands;
  if (gemm || mm) bench_gemms(opts, gemm, mm, operands, progress);
  if (conv) bench_convs(opts, operands, progress);
  progress.finish();
  return 0;
}

}  // namespace
}  // namespace ortho::apps

int main(int argc, char** argv) {
  ortho::apps::restart_with_fast_blas_kernels(argv);
  return ortho::apps::run_app("ortho-bench", [&] { return ortho::apps::run(argc, argv); });
}
