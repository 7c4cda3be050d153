#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/tensor.h"

// The distillation experiment of the landing talk (Ablin & Peyré, AISTATS 2022): a teacher MLP
// x_{n+1} = tanh(W_n x_n + b_n) with orthogonal W_n labels Gaussian inputs, and a student of the
// same architecture, started from its own random orthogonal point, is trained on
// f = mean_i ||phi_student(x_i) - phi_teacher(x_i)||^2 by one of six methods.
namespace ortho::apps {

// Landing (optim::Landing); RiemannianSGD with each retraction; the trivialization
// X0 exp(skew(A)) (nn::OrthogonalMap::Trivialization) trained by plain SGD.
enum class DistillMethod { Landing, RsgdExp, RsgdCayley, RsgdQr, RsgdPolar, Trivialization };

// "landing", "rsgd-exp", "rsgd-cayley", "rsgd-qr", "rsgd-polar", "trivialization", in that order.
const std::vector<std::string>& distill_method_names();
std::string distill_method_name(DistillMethod method);
// std::invalid_argument naming the choices for an unknown name.
DistillMethod parse_distill_method(const std::string& name);

struct DistillOptions {
  std::int64_t width = 64;
  std::int64_t depth = 4;
  std::int64_t samples = 256;        // training set
  std::int64_t test_samples = 1024;  // held-out set
  std::int64_t batch = 0;            // 0: the full training set each step
  std::int64_t iters = 2000;
  std::int64_t eval_every = 50;  // test loss every this many iterations (and at the end)
  double lr = 0;                 // 0: default_lr(method)
  double momentum = 0.9;         // as the authors' distillation example
  double lambda = 1;             // landing's attraction to the manifold
  DType dtype = DType::Float32;
  std::uint64_t seed = 0;
  Device device = Device::cpu();  // where the students train (the problem is drawn on the CPU)
};

// The step size every method uses unless --lr says otherwise. One value for all: at a point of
// the manifold the landing field, the Riemannian gradient and the trivialization's first step
// coincide, so equal steps make the curves comparable iteration by iteration.
double default_lr(DistillMethod method);

// The teacher's data and the student's starting point, shared by every method so that their
// curves differ only by the method. Tensors are in the options' dtype, the data on the options'
// device; the teacher, the inputs and the initial weights are computed on the CPU in float64
// first, so a float64 run starts on the manifold to rounding and every device sees the same
// problem.
struct DistillProblem {
  Tensor train_x, train_y, test_x, test_y;
  std::vector<Tensor> student_weights, student_biases;  // per layer: (width, width), (width)
};

// std::invalid_argument for sizes out of range (batch larger than the training set, ...).
void check_distill_options(const DistillOptions& options);
DistillProblem make_distill_problem(const DistillOptions& options);

// What one method's run records. Entry t of the per-iterate curves (t = 0..iters) describes
// the iterate after t steps: its loss on the step's batch (the whole training set at t = iters
// and with full-batch steps), and the largest ||W W^T - I||_F over the student's layers.
struct DistillCurves {
  std::vector<double> train_loss, distance;
  std::vector<double> step_seconds;  // entry t: wall time of step t (0 for t = 0)
  std::vector<std::int64_t> test_iters;
  std::vector<double> test_loss;  // at test_iters
};

// Trains a fresh student with `method` on options.device (step times are read after that device
// has finished the step); calls on_step(t, loss) after each step t.
DistillCurves run_distill(const DistillProblem& problem, DistillMethod method,
                          const DistillOptions& options,
                          const std::function<void(std::int64_t, double)>& on_step = {});

}  // namespace ortho::apps
