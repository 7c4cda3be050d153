#!/usr/bin/env bash
# Downloads the CIFAR-10 binary version from its official address, checks its MD5, and
# unpacks it to DEST (default: data/), giving DEST/cifar-10-batches-bin/.
# Usage: scripts/download_cifar10.sh [DEST]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest=${1:-$root/data}
url=https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz
md5=c32a1d4ab5d03f1284b67883e8d87530
archive="$dest/cifar-10-binary.tar.gz"

mkdir -p "$dest"
if [ -f "$dest/cifar-10-batches-bin/test_batch.bin" ]; then
  echo "download_cifar10: already present in $dest/cifar-10-batches-bin" >&2
  exit 0
fi
if [ ! -f "$archive" ] || ! echo "$md5  $archive" | md5sum --check --status; then
  echo "download_cifar10: fetching $url" >&2
  if command -v curl >/dev/null 2>&1; then
    curl --fail --location --retry 3 --output "$archive.part" "$url"
  else
    wget --tries=3 --output-document="$archive.part" "$url"
  fi
  mv "$archive.part" "$archive"
fi
if ! echo "$md5  $archive" | md5sum --check --status; then
  echo "download_cifar10: $archive has the wrong MD5 (expected $md5); delete it and retry" >&2
  exit 1
fi
tar -xzf "$archive" -C "$dest"
echo "download_cifar10: CIFAR-10 is in $dest/cifar-10-batches-bin (set ORTHO_CIFAR10_DIR to it)" >&2
