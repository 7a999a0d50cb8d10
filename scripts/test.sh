#!/usr/bin/env bash
# Runs deltacert's whole test suite (installing the system packages it needs first).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# onnxruntime checks that exported models load for PyTorch/onnxruntime users
python3 -c 'import onnx, onnxruntime' 2>/dev/null || python3 -m pip install --quiet onnx onnxruntime
cargo test --release --workspace "$@"
