#include "apps/common/blas_kernels.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

#include "core/parallel.h"

namespace ortho::apps {

void restart_with_fast_blas_kernels(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;
  const std::string coretype = recommended_blas_coretype();
  if (coretype.empty()) return;
  // Set even if the restart fails, so that a restarted program never tries again.
  setenv("OPENBLAS_CORETYPE", coretype.c_str(), 1);
  execv("/proc/self/exe", argv);
}

}  // namespace ortho::apps
