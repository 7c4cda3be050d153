#!/usr/bin/env bash
# Installs the dependencies, builds ortho and runs its unit tests (the README's test command).
# Takes the same environment knobs as scripts/build.sh.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/install-deps.sh"
bash "$root/scripts/build.sh"
build_dir=${ORTHO_BUILD_DIR:-build}
case "$build_dir" in /*) ;; *) build_dir="$root/$build_dir" ;; esac
ctest --test-dir "$build_dir" --output-on-failure --parallel "$(nproc)" --timeout 900
