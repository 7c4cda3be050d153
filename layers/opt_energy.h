#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "layers/module.h"

namespace ortho::nn {

// The hyperspherical energy of a layer's neurons (Liu et al., "Learning towards Minimum
// Hyperspherical Energy", NeurIPS 2018, Eq. 1), the OPT paper's diagnostic: for
// the n neurons w_i, the rows of `weight` seen as (n, numel / n) (a Linear's (out, in), a conv's
// (out, in*k*k)), and w^_i = w_i / ||w_i||,
//   E_s = 1 / (n (n - 1)) sum_{i != j} f_s(||w^_i - w^_j||),  f_s(r) = r^{-s} (s > 0),
//   f_0(r) = log(1 / r),
// normalized by the number of ordered pairs as in MHE's regularizer. OPT rotates all neurons by
// one orthogonal R, so it leaves E_s at its random-initialization value. Computed in float64 on
// the CPU through the Gram matrix of the w^_i; +inf when two neurons point the same way.
// std::invalid_argument for fewer than 2 neurons, a zero neuron or s < 0.
double hyperspherical_energy(const Tensor& weight, double s = 1.0);

// E_s of every Linear, Conv2d, parametrized orthogonal and OPT layer under `root`, by dotted
// name in registration order: the per-layer log of a training run.
std::vector<std::pair<std::string, double>> hyperspherical_energies(const Module& root,
                                                                    double s = 1.0);

}  // namespace ortho::nn
