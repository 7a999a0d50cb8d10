#!/usr/bin/env bash
# Runs deltacert's whole test suite (installing the system packages it needs first).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# onnx and onnxruntime are the ground truth of ONNX semantics in the tests.
# They go into a private virtual environment (system Pythons refuse
# `pip install` outside one, PEP 668), unless the python3 on PATH has them.
if python3 -c 'import onnx, onnxruntime' 2>/dev/null; then
  export DELTACERT_PYTHON="$(command -v python3)"
else
  venv=target/python-venv
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/python" -c 'import onnx, onnxruntime' 2>/dev/null || "$venv/bin/python" -m pip install --quiet onnx onnxruntime
  export DELTACERT_PYTHON="$PWD/$venv/bin/python"
fi
# the ONNX reference tests must run here, not skip
export DELTACERT_REQUIRE_PYTHON=1
cargo test --release --workspace "$@"
