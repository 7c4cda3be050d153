#!/usr/bin/env bash
# Installs the dependencies, builds ortho and runs the main job (the README's first command).
# For now the main job is the CPU backend benchmark; training a ResNet on CIFAR-10 replaces it
# when ortho-train lands.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/build_dir.sh"
bash "$root/scripts/install-deps.sh"
bash "$root/scripts/build.sh"
"$build_dir/apps/ortho-bench" --threads "$(nproc)" "$@"
