#!/usr/bin/env bash
# Installs the Debian packages the PyTorch peer scripts need (scripts/train_pytorch.py,
# scripts/bench_pytorch.py). Run them with /usr/bin/python3, the interpreter these serve.
set -euo pipefail

packages=(python3-torch python3-numpy)

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-peer-deps: installing ${missing[*]}" >&2
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "install-peer-deps: all dependencies present" >&2
