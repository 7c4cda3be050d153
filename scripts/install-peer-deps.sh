#!/usr/bin/env bash
# Installs the Debian packages the PyTorch peer scripts need (scripts/train_pytorch.py,
# scripts/bench_pytorch.py). Run them with /usr/bin/python3, the interpreter these serve.
set -euo pipefail

bash "$(dirname "${BASH_SOURCE[0]}")/apt_install.sh" install-peer-deps python3-torch python3-numpy
echo "install-peer-deps: all dependencies present" >&2
