#!/usr/bin/env bash
# Configures and builds ortho. Environment knobs (all optional):
#   ORTHO_BUILD_DIR  build folder (default: build)
#   ORTHO_BUILD_TYPE CMake build type (default: Release)
#   ORTHO_SANITIZE   e.g. address,undefined (builds without CUDA: its runtime and ASan clash)
#   ORTHO_WITH_CUDA  AUTO (default), ON or OFF
# Warnings are errors when CI is set.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/build_dir.sh"

with_cuda=${ORTHO_WITH_CUDA:-AUTO}
[ -z "${ORTHO_SANITIZE:-}" ] || with_cuda=OFF
werror=OFF
[ -z "${CI:-}" ] || werror=ON

generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build_dir" "${generator[@]}" \
    -DCMAKE_BUILD_TYPE="${ORTHO_BUILD_TYPE:-Release}" \
    -DORTHO_WITH_CUDA="$with_cuda" -DORTHO_SANITIZE="${ORTHO_SANITIZE:-}" -DORTHO_WERROR="$werror"
fi
cmake --build "$build_dir" --parallel "$(nproc)"
