#!/usr/bin/env bash
# Installs the dependencies, builds ortho and runs its unit tests (the README's test command).
# Takes the same environment knobs as scripts/build.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/build_dir.sh"
bash "$root/scripts/install-deps.sh"
bash "$root/scripts/build.sh"
ctest --test-dir "$build_dir" --output-on-failure --parallel "$(nproc)" --timeout 900
