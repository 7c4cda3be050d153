#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "apps/ortho-procrustes/problem.h"

namespace ortho::apps {

// The methods compared on the same problem from the same X0, all with the same learning rate
// (their first steps coincide: each moves X by -lr * skew(G X^T) X to first order):
//   landing         optim::Landing (no retraction; safe step on unless disabled)
//   rgd-<r>         optim::RiemannianSGD with the exp, cayley, qr or polar retraction
//   trivialization  X = exp((A - A^T)/2) X0, SGD on A through autograd (Lezcano-Casado 2019)
const std::vector<std::string>& procrustes_methods();

struct MethodOptions {
  std::int64_t iterations = 500;
  double lr = 0.1;
  double lambda = 1.0;      // landing's attraction
  bool safe_step = true;    // landing's step cap
  double time_limit_s = 0;  // stop a method after this much timed work (0: never)
};

// What one method did: for each iterate X_t (t = 0 .. done), the cumulative seconds of timed
// work (gradient + update, until the problem's device has finished it) to reach it, f(X_t) and
// ||X_t^T X_t - I||_F (computed untimed). Every method runs on the problem's device.
struct MethodTrace {
  std::string method;
  std::vector<double> seconds, loss, distance;
  std::vector<double> step_seconds;  // each timed iteration
  std::int64_t iterations() const { return static_cast<std::int64_t>(step_seconds.size()); }
};

// std::invalid_argument for an unknown method.
MethodTrace run_method(const std::string& method, const ProcrustesProblem& problem,
                       const MethodOptions& options);

}  // namespace ortho::apps
