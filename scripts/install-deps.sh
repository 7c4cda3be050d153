#!/usr/bin/env bash
# Installs every Debian package ortho needs to build, test and run its apps.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libopenblas-openmp-dev liblapacke-dev  # BLAS/LAPACK; the OpenMP build shares our thread pool
  libgtest-dev libgmock-dev              # unit tests
  libstb-dev                             # image decoding for image-folder datasets
  nlohmann-json3-dev                     # safetensors headers and JSON-lines output
  libcli11-dev                           # command-line flags of the apps, with --help
  clang-format
  curl ca-certificates                   # scripts/download_cifar10.sh
)

bash "$(dirname "${BASH_SOURCE[0]}")/apt_install.sh" install-deps "${packages[@]}"

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

# Where the pthread OpenBLAS is also installed Debian prefers it; select the OpenMP build so
# OpenBLAS and ortho's own OpenMP loops use one thread pool instead of fighting for cores.
omp_dir=/usr/lib/x86_64-linux-gnu/openblas-openmp
if [ -d "$omp_dir" ]; then
  for alt in libblas.so.3 liblapack.so.3 libopenblas.so.0 libblas.so liblapack.so libopenblas.so; do
    name="${alt}-x86_64-linux-gnu"
    target="$omp_dir/$alt"
    if [ -e "$target" ] && update-alternatives --list "$name" >/dev/null 2>&1; then
      current=$(update-alternatives --query "$name" | awk '/^Value:/ {print $2}')
      [ "$current" = "$target" ] || "${sudo_cmd[@]}" update-alternatives --quiet --set "$name" "$target"
    fi
  done
fi
echo "install-deps: all dependencies present" >&2
