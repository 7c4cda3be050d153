#include "apps/ortho-procrustes/problem.h"

#include <cmath>
#include <numbers>

#include "core/ops/elementwise.h"
#include "core/ops/linalg.h"
#include "core/ops/matmul.h"
#include "core/ops/reduce.h"
#include "core/random.h"

namespace ortho::apps {

double ProcrustesProblem::loss_from_product(const Tensor& x, const Tensor& ata_x) const {
  // ||A X - B||^2 = <X, A^T A X> - 2 <X, A^T B> + ||B||^2
  const double quadratic = sum(mul(x, ata_x)).to(DType::Float64).item<double>();
  const double cross = sum(mul(x, atb)).to(DType::Float64).item<double>();
  return quadratic - 2.0 * cross + b_squared_norm;
}

std::pair<double, Tensor> ProcrustesProblem::loss_and_gradient(const Tensor& x) const {
  const Tensor ata_x = matmul(ata, x);
  return {loss_from_product(x, ata_x), mul(sub(ata_x, atb), 2.0)};
}

ProcrustesProblem make_procrustes_problem(std::int64_t p, std::uint64_t seed, DType dtype,
                                          Device device) {
  Generator gen(seed);
  const double scale = 1.0 / std::sqrt(static_cast<double>(p));
  // Drawn and solved in float64, then cast: every dtype solves the same problem.
  const Tensor a = mul(randn({p, p}, DType::Float64, Device::cpu(), &gen), scale);
  const Tensor b = mul(randn({p, p}, DType::Float64, Device::cpu(), &gen), scale);
  const Tensor k =
      mul(randn({p, p}, DType::Float64, Device::cpu(), &gen), std::numbers::pi * scale / 2.0);
  const SVDResult f = svd(matmul(a.t(), b));
  ProcrustesProblem problem;
  problem.ata = matmul(a.t(), a).to(dtype).to(device);
  problem.atb = matmul(a.t(), b).to(dtype).to(device);
  problem.b_squared_norm = sum(square(b)).item<double>();
  const Tensor solution = matmul(f.u, f.vh);
  problem.solution = solution.to(dtype).to(device);
  problem.start = matmul(solution, expm(sub(k, k.t()))).to(dtype).to(device);
  problem.optimal_loss = problem.loss_and_gradient(problem.solution).first;
  return problem;
}

}  // namespace ortho::apps
