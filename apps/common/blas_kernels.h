#pragma once

namespace ortho::apps {

// When OpenBLAS fell back to its generic kernels on a CPU it did not recognize (see
// recommended_blas_coretype in core/parallel.h) and OPENBLAS_CORETYPE is unset, sets it and
// restarts the program with the same arguments, since OpenBLAS reads it only when it loads.
// Returns (doing nothing) otherwise, or when the restart fails. Call first thing in main.
void restart_with_fast_blas_kernels(char** argv);

}  // namespace ortho::apps
