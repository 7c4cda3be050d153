#include "core/parallel.h"

#include <cblas.h>
#include <omp.h>

#include "core/error.h"

namespace ortho {

void set_num_threads(int threads) {
  check_argument(threads >= 1, "set_num_threads: threads must be >= 1, got ", threads);
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
}

int num_threads() {
  return omp_get_max_threads();
}

}  // namespace ortho
