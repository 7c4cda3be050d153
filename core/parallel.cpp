#include "core/parallel.h"

#include <cblas.h>
#include <omp.h>

#include <cctype>
#include <string>

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

std::string blas_kernel_name() {
  const char* name = openblas_get_corename();
  return name != nullptr ? name : "";
}

std::string recommended_blas_coretype() {
  std::string current = blas_kernel_name();
  for (char& c : current) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (current != "prescott") return "";
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
    return "SkylakeX";
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
  return "";
}

}  // namespace ortho
