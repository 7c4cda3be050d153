// 2-D convolution of the CUDA backend on cuDNN's legacy convolution API: forward (plus bias),
// backward-data and backward-filter, each running the fastest algorithm that cuDNN's search
// measured for its configuration; the search runs once per configuration and is cached.
#include <algorithm>
#include <array>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "core/device.h"
#include "core/error.h"
#include "cuda/cuda_backend.h"
#include "cuda/cuda_check.h"
#include "cuda/cuda_context.h"

namespace ortho::cuda {
namespace {

// The most scratch memory one convolution may use: faster algorithms (FFT, Winograd) beyond
// this are skipped.
constexpr std::size_t kMaxWorkspace = std::size_t{1} << 30;

enum class ConvPass { Forward, BackwardData, BackwardFilter };

cudnnDataType_t cudnn_dtype(DType dtype, const char* op) {
  switch (dtype) {
    case DType::Float32:
      return CUDNN_DATA_FLOAT;
    case DType::Float64:
      return CUDNN_DATA_DOUBLE;
    default:
      throw std::invalid_argument(error_message(op, ": dtype ", dtype_name(dtype),
                                                " is not supported (float32 or float64 only)"));
  }
}

// The host scalars alpha and beta: float for float32 data, double for float64.
struct HostScalar {
  float f;
  double d;
  const void* get(DType dtype) const {
    return dtype == DType::Float64 ? static_cast<const void*>(&d) : static_cast<const void*>(&f);
  }
};

constexpr HostScalar kOne{1.0f, 1.0};
constexpr HostScalar kZero{0.0f, 0.0};

// RAII owner of a cuDNN descriptor (destruction cannot fail for a valid descriptor).
template <typename Handle, cudnnStatus_t (*Create)(Handle*), cudnnStatus_t (*Destroy)(Handle)>
class Descriptor {
 public:
  Descriptor() { ORTHO_CUDNN_CHECK(Create(&desc_)); }
  ~Descriptor() { Destroy(desc_); }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  Handle get() const { return desc_; }

 private:
  Handle desc_ = nullptr;
};

using TensorDescriptor =
    Descriptor<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor, cudnnDestroyTensorDescriptor>;
using FilterDescriptor =
    Descriptor<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor, cudnnDestroyFilterDescriptor>;
using ConvolutionDescriptor =
    Descriptor<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor,
               cudnnDestroyConvolutionDescriptor>;

// One convolution in cuDNN's int sizes: input (n, c, h, w), weight (o, c / groups, kh, kw),
// output (n, o, oh, ow), and the window (pad_h, pad_w, stride_h, stride_w, dilation_h,
// dilation_w, groups).
struct ConvProblem {
  std::array<int, 4> input{}, weight{}, output{};
  std::array<int, 7> window{};
  DType dtype = DType::Float32;
  cudnnDataType_t data_type = CUDNN_DATA_FLOAT;
};

// cuDNN's legacy API takes int sizes and tensors below 2^31 elements.
ConvProblem make_problem(const char* op, const Shape& input, const Shape& weight,
                         const Shape& output, const Conv2dParams& p, DType dtype) {
  const auto fits = [](std::int64_t v) { return v >= 0 && v <= INT_MAX; };
  bool ok = fits(input.numel()) && fits(weight.numel()) && fits(output.numel());
  const std::array<std::int64_t, 7> window{p.pad_h,      p.pad_w,      p.stride_h, p.stride_w,
                                           p.dilation_h, p.dilation_w, p.groups};
  for (std::int64_t v : window) ok = ok && fits(v);
  check_argument(ok, op, ": input ", input, ", weight ", weight, " and output ", output,
                 " exceed cuDNN's 32-bit sizes");
  ConvProblem pr;
  for (std::size_t d = 0; d < 4; ++d) {
    pr.input[d] = static_cast<int>(input[static_cast<std::int64_t>(d)]);
    pr.weight[d] = static_cast<int>(weight[static_cast<std::int64_t>(d)]);
    pr.output[d] = static_cast<int>(output[static_cast<std::int64_t>(d)]);
  }
  for (std::size_t i = 0; i < window.size(); ++i) pr.window[i] = static_cast<int>(window[i]);
  pr.dtype = dtype;
  pr.data_type = cudnn_dtype(dtype, op);
  return pr;
}

// Float32 stays IEEE (FMA kernels only) unless TF32 is allowed; float64 has no tensor-op math.
bool fma_only(DType dtype) {
  return dtype == DType::Float32 && !allow_tf32();
}

cudnnMathType_t search_math(DType dtype) {
  return fma_only(dtype) ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
}

bool uses_tensor_ops(cudnnMathType_t math) {
  return math == CUDNN_TENSOR_OP_MATH || math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
}

// x: the input (or its gradient), y: the output (or its gradient), w: the weight (or its
// gradient), conv: cross-correlation as on the CPU, with groups.
struct ConvDescriptors {
  TensorDescriptor x, y;
  FilterDescriptor w;
  ConvolutionDescriptor conv;

  explicit ConvDescriptors(const ConvProblem& pr) {
    const auto& in = pr.input;
    const auto& wt = pr.weight;
    const auto& out = pr.output;
    const auto& win = pr.window;
    ORTHO_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x.get(), CUDNN_TENSOR_NCHW, pr.data_type, in[0],
                                                 in[1], in[2], in[3]));
    ORTHO_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y.get(), CUDNN_TENSOR_NCHW, pr.data_type, out[0],
                                                 out[1], out[2], out[3]));
    ORTHO_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w.get(), pr.data_type, CUDNN_TENSOR_NCHW, wt[0],
                                                 wt[1], wt[2], wt[3]));
    ORTHO_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv.get(), win[0], win[1], win[2], win[3],
                                                      win[4], win[5], CUDNN_CROSS_CORRELATION,
                                                      pr.data_type));
    ORTHO_CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv.get(), win[6]));
    ORTHO_CUDNN_CHECK(cudnnSetConvolutionMathType(conv.get(), search_math(pr.dtype)));
  }
};

// Device addresses of the three operands, named as in ConvDescriptors; the pass's result is
// the one it writes (y forward, x backward-data, w backward-filter).
struct ConvBuffers {
  void* x;
  void* w;
  void* y;
};

// The cuDNN entry points of one pass, so that the search and the run are written once.
template <ConvPass P>
struct PassApi;

template <>
struct PassApi<ConvPass::Forward> {
  using Algo = cudnnConvolutionFwdAlgo_t;
  using Perf = cudnnConvolutionFwdAlgoPerf_t;
  static constexpr int kAlgorithms = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
  static constexpr const char* kName = "conv2d";

  static cudnnStatus_t max_count(cudnnHandle_t h, int* count) {
    return cudnnGetConvolutionForwardAlgorithmMaxCount(h, count);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const ConvDescriptors& d, Algo algo,
                                 std::size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(h, d.x.get(), d.w.get(), d.conv.get(), d.y.get(),
                                                   algo, bytes);
  }
  static cudnnStatus_t find(cudnnHandle_t h, const ConvDescriptors& d, const ConvBuffers& b,
                            int requested, int* returned, Perf* perf, void* ws, std::size_t bytes) {
    return cudnnFindConvolutionForwardAlgorithmEx(h, d.x.get(), b.x, d.w.get(), b.w, d.conv.get(),
                                                  d.y.get(), b.y, requested, returned, perf, ws,
                                                  bytes);
  }
  static cudnnStatus_t run(cudnnHandle_t h, const ConvDescriptors& d, const ConvBuffers& b,
                           Algo algo, void* ws, std::size_t bytes, DType dtype) {
    return cudnnConvolutionForward(h, kOne.get(dtype), d.x.get(), b.x, d.w.get(), b.w, d.conv.get(),
                                   algo, ws, bytes, kZero.get(dtype), d.y.get(), b.y);
  }
};

template <>
struct PassApi<ConvPass::BackwardData> {
  using Algo = cudnnConvolutionBwdDataAlgo_t;
  using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
  static constexpr int kAlgorithms = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
  static constexpr const char* kName = "conv2d_backward_input";

  static cudnnStatus_t max_count(cudnnHandle_t h, int* count) {
    return cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, count);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const ConvDescriptors& d, Algo algo,
                                 std::size_t* bytes) {
    return cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w.get(), d.y.get(), d.conv.get(),
                                                        d.x.get(), algo, bytes);
  }
  static cudnnStatus_t find(cudnnHandle_t h, const ConvDescriptors& d, const ConvBuffers& b,
                            int requested, int* returned, Perf* perf, void* ws, std::size_t bytes) {
    return cudnnFindConvolutionBackwardDataAlgorithmEx(h, d.w.get(), b.w, d.y.get(), b.y,
                                                       d.conv.get(), d.x.get(), b.x, requested,
                                                       returned, perf, ws, bytes);
  }
  static cudnnStatus_t run(cudnnHandle_t h, const ConvDescriptors& d, const ConvBuffers& b,
                           Algo algo, void* ws, std::size_t bytes, DType dtype) {
    return cudnnConvolutionBackwardData(h, kOne.get(dtype), d.w.get(), b.w, d.y.get(), b.y,
                                        d.conv.get(), algo, ws, bytes, kZero.get(dtype), d.x.get(),
                                        b.x);
  }
};

template <>
struct PassApi<ConvPass::BackwardFilter> {
  using Algo = cudnnConvolutionBwdFilterAlgo_t;
  using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
  static constexpr int kAlgorithms = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
  static constexpr const char* kName = "conv2d_backward_weight";

  static cudnnStatus_t max_count(cudnnHandle_t h, int* count) {
    return cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, count);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const ConvDescriptors& d, Algo algo,
                                 std::size_t* bytes) {
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x.get(), d.y.get(), d.conv.get(),
                                                          d.w.get(), algo, bytes);
  }
  static cudnnStatus_t find(cudnnHandle_t h, const ConvDescriptors& d, const ConvBuffers& b,
                            int requested, int* returned, Perf* perf, void* ws, std::size_t bytes) {
    return cudnnFindConvolutionBackwardFilterAlgorithmEx(h, d.x.get(), b.x, d.y.get(), b.y,
                                                         d.conv.get(), d.w.get(), b.w, requested,
                                                         returned, perf, ws, bytes);
  }
  static cudnnStatus_t run(cudnnHandle_t h, const ConvDescriptors& d, const ConvBuffers& b,
                           Algo algo, void* ws, std::size_t bytes, DType dtype) {
    return cudnnConvolutionBackwardFilter(h, kOne.get(dtype), d.x.get(), b.x, d.y.get(), b.y,
                                          d.conv.get(), algo, ws, bytes, kZero.get(dtype),
                                          d.w.get(), b.w);
  }
};

// The algorithm a configuration runs, the math type it was measured with, and its scratch.
struct AlgoChoice {
  int algo = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  std::size_t workspace = 0;
};

// Everything the choice depends on: pass, device, dtype, TF32 permission, sizes, window.
using AlgoKey = std::array<std::int64_t, 23>;

AlgoKey make_key(ConvPass pass, int device, const ConvProblem& pr) {
  AlgoKey key{};
  std::size_t i = 0;
  key[i++] = static_cast<std::int64_t>(pass);
  key[i++] = device;
  key[i++] = static_cast<std::int64_t>(pr.dtype);
  key[i++] = fma_only(pr.dtype) ? 1 : 0;
  for (int v : pr.input) key[i++] = v;
  for (int v : pr.weight) key[i++] = v;
  for (int v : pr.output) key[i++] = v;
  for (int v : pr.window) key[i++] = v;
  return key;
}

struct AlgoCache {
  std::mutex mutex;
  std::map<AlgoKey, AlgoChoice> choices;
};

AlgoCache& algo_cache() {
  static AlgoCache cache;
  return cache;
}

// Scratch the search may use: the cap, or half the device's free memory when that is less.
std::size_t search_workspace_limit() {
  std::size_t free_bytes = 0, total_bytes = 0;
  ORTHO_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return std::min(kMaxWorkspace, free_bytes / 2);
}

std::invalid_argument no_algorithm(const char* op, const ConvProblem& pr) {
  const auto& in = pr.input;
  const auto& w = pr.weight;
  const auto& win = pr.window;
  return std::invalid_argument(
      error_message(op, ": cuDNN has no ", dtype_name(pr.dtype), " algorithm for input [", in[0],
                    ", ", in[1], ", ", in[2], ", ", in[3], "], weight [", w[0], ", ", w[1], ", ",
                    w[2], ", ", w[3], "], padding ", win[0], " x ", win[1], ", stride ", win[2],
                    " x ", win[3], ", dilation ", win[4], " x ", win[5], ", groups ", win[6]));
}

// Times every algorithm on the real operands (cudnnFind*Ex writes the pass's result, which
// the caller recomputes) and takes the fastest that succeeded within the workspace, skipping
// tensor-op (TF32) algorithms when float32 must stay IEEE.
template <ConvPass P>
AlgoChoice search_algorithm(const DeviceContext& ctx, const ConvProblem& pr,
                            const ConvDescriptors& d, const ConvBuffers& b) {
  using Api = PassApi<P>;
  const std::size_t limit = search_workspace_limit();
  std::size_t search_bytes = 0;
  for (int a = 0; a < Api::kAlgorithms; ++a) {
    std::size_t bytes = 0;
    if (Api::workspace(ctx.cudnn, d, static_cast<typename Api::Algo>(a), &bytes) ==
            CUDNN_STATUS_SUCCESS &&
        bytes <= limit) {
      search_bytes = std::max(search_bytes, bytes);
    }
  }
  int requested = 0;
  ORTHO_CUDNN_CHECK(Api::max_count(ctx.cudnn, &requested));
  requested = std::max(requested, Api::kAlgorithms);
  std::vector<typename Api::Perf> perf(static_cast<std::size_t>(requested));
  int returned = 0;
  {
    Workspace ws(ctx, search_bytes);
    ORTHO_CUDNN_CHECK(
        Api::find(ctx.cudnn, d, b, requested, &returned, perf.data(), ws.data(), search_bytes));
  }
  const bool ieee = fma_only(pr.dtype);
  for (int i = 0; i < returned; ++i) {  // sorted fastest first
    const typename Api::Perf& r = perf[static_cast<std::size_t>(i)];
    if (r.status != CUDNN_STATUS_SUCCESS || r.memory > search_bytes) continue;
    if (ieee && uses_tensor_ops(r.mathType)) continue;
    AlgoChoice choice{static_cast<int>(r.algo), ieee ? CUDNN_FMA_MATH : r.mathType, r.memory};
    // The run's math type may change the scratch an algorithm asks for: take the larger.
    ORTHO_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.get(), choice.math));
    std::size_t bytes = 0;
    ORTHO_CUDNN_CHECK(Api::workspace(ctx.cudnn, d, r.algo, &bytes));
    choice.workspace = std::max(choice.workspace, bytes);
    return choice;
  }
  throw no_algorithm(Api::kName, pr);
}

// The cached choice of this configuration, searched for on first use. The lock is held
// through the search so that concurrent first calls measure once.
template <ConvPass P>
AlgoChoice algorithm_for(const DeviceContext& ctx, const ConvProblem& pr, const ConvDescriptors& d,
                         const ConvBuffers& b) {
  AlgoCache& cache = algo_cache();
  const AlgoKey key = make_key(P, ctx.device, pr);
  std::lock_guard lock(cache.mutex);
  const auto it = cache.choices.find(key);
  if (it != cache.choices.end()) return it->second;
  const AlgoChoice choice = search_algorithm<P>(ctx, pr, d, b);
  cache.choices.emplace(key, choice);
  return choice;
}

// Runs one pass with beta = 0: its result overwrites the output buffer.
template <ConvPass P>
void run_pass(const DeviceContext& ctx, const ConvProblem& pr, const ConvDescriptors& d,
              const ConvBuffers& b) {
  using Api = PassApi<P>;
  const AlgoChoice choice = algorithm_for<P>(ctx, pr, d, b);
  ORTHO_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.get(), choice.math));
  Workspace ws(ctx, choice.workspace);
  ORTHO_CUDNN_CHECK(Api::run(ctx.cudnn, d, b, static_cast<typename Api::Algo>(choice.algo),
                             ws.data(), choice.workspace, pr.dtype));
}

// out[n, o, :, :] += bias[o], the bias broadcast as a (1, O, 1, 1) tensor.
void add_bias(const DeviceContext& ctx, const ConvProblem& pr, const ConvDescriptors& d,
              const Tensor& bias, void* out) {
  TensorDescriptor bias_desc;
  ORTHO_CUDNN_CHECK(cudnnSetTensor4dDescriptor(bias_desc.get(), CUDNN_TENSOR_NCHW, pr.data_type, 1,
                                               pr.output[1], 1, 1));
  ORTHO_CUDNN_CHECK(cudnnAddTensor(ctx.cudnn, kOne.get(pr.dtype), bias_desc.get(), bias.raw_data(),
                                   kOne.get(pr.dtype), d.y.get(), out));
}

// cuDNN reads and writes packed NCHW: inputs are made contiguous (the front end already
// passes them so), outputs are the front end's fresh contiguous tensors.
void check_output(const char* op, const Tensor& out) {
  check_argument(out.is_contiguous(), op, ": the output of shape ", out.shape(),
                 " must be contiguous");
}

}  // namespace

void CudaBackend::conv2d_forward(const Tensor& input, const Tensor& weight, const Tensor& bias,
                                 const Conv2dParams& p, Tensor& out) {
  const char* op = "conv2d";
  check_output(op, out);
  const Tensor x = input.contiguous();
  const Tensor w = weight.contiguous();
  const DeviceContext& ctx = context(out);
  const ConvProblem pr = make_problem(op, x.shape(), w.shape(), out.shape(), p, x.dtype());
  const ConvDescriptors d(pr);
  run_pass<ConvPass::Forward>(ctx, pr, d, {x.raw_data(), w.raw_data(), out.raw_data()});
  if (bias.defined()) add_bias(ctx, pr, d, bias.contiguous(), out.raw_data());
}

void CudaBackend::conv2d_backward_input(const Tensor& grad_out, const Tensor& weight,
                                        const Conv2dParams& p, Tensor& grad_input) {
  const char* op = "conv2d_backward_input";
  check_output(op, grad_input);
  const Tensor dy = grad_out.contiguous();
  const Tensor w = weight.contiguous();
  const DeviceContext& ctx = context(grad_input);
  const ConvProblem pr = make_problem(op, grad_input.shape(), w.shape(), dy.shape(), p, dy.dtype());
  const ConvDescriptors d(pr);
  run_pass<ConvPass::BackwardData>(ctx, pr, d,
                                   {grad_input.raw_data(), w.raw_data(), dy.raw_data()});
}

void CudaBackend::conv2d_backward_weight(const Tensor& grad_out, const Tensor& input,
                                         const Conv2dParams& p, Tensor& grad_weight) {
  const char* op = "conv2d_backward_weight";
  check_output(op, grad_weight);
  const Tensor dy = grad_out.contiguous();
  const Tensor x = input.contiguous();
  const DeviceContext& ctx = context(grad_weight);
  const ConvProblem pr =
      make_problem(op, x.shape(), grad_weight.shape(), dy.shape(), p, dy.dtype());
  const ConvDescriptors d(pr);
  run_pass<ConvPass::BackwardFilter>(ctx, pr, d,
                                     {x.raw_data(), grad_weight.raw_data(), dy.raw_data()});
}

}  // namespace ortho::cuda
