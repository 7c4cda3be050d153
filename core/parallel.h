#pragma once

namespace ortho {

// Threads used by OpenMP loops and by OpenBLAS (they share one OpenMP pool).
void set_num_threads(int threads);
int num_threads();

}  // namespace ortho
