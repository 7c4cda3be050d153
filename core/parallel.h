#pragma once

#include <string>

namespace ortho {

// Threads used by OpenMP loops and by OpenBLAS (they share one OpenMP pool).
void set_num_threads(int threads);
int num_threads();

// The kernel set OpenBLAS picked for this CPU at load time, e.g. "SkylakeX" or "Haswell";
// "Prescott" is its generic SSE3 fallback for CPUs it does not recognize (a third of the
// speed on AVX-512 machines), which the OPENBLAS_CORETYPE variable overrides at start-up.
std::string blas_kernel_name();
// The OPENBLAS_CORETYPE that suits this CPU when OpenBLAS fell back to its generic kernels
// ("SkylakeX" with AVX-512, "Haswell" with AVX2 and FMA); empty when it needs none.
std::string recommended_blas_coretype();

}  // namespace ortho
