#!/usr/bin/env bash
# The README's main command: installs the dependencies, builds ortho, fetches CIFAR-10 when
# it is not there yet, and trains a ResNet-20 on it with ortho-train (extra arguments go to
# ortho-train, e.g. --epochs 200 or --model resnet56).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/build_dir.sh"
bash "$root/scripts/install-deps.sh"
bash "$root/scripts/build.sh"
data=${ORTHO_CIFAR10_DIR:-$root/data/cifar-10-batches-bin}
if [ ! -f "$data/test_batch.bin" ]; then
  bash "$root/scripts/download_cifar10.sh" "$root/data"
  data=$root/data/cifar-10-batches-bin
fi
"$build_dir/apps/ortho-train" --model resnet20 --data "$data" "$@"
