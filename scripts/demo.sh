#!/usr/bin/env bash
# The main job on shipped data: quantise the seed paper's network, then show
# both networks' outputs side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --quiet
bin=target/release/deltacert
out=$(mktemp -d)
echo "== the reference network"
$bin info tests/fixtures/paper/paper_quant_orig.onnx
echo
echo "== quantise every weight and bias to a multiple of 1/4 (the paper's rule)"
$bin compress tests/fixtures/paper/paper_quant_orig.onnx --quantize fixed:2 -o "$out/quantised.onnx"
echo
echo '[[-1.0], [-0.5], [0.0], [0.5], [1.0]]' > "$out/inputs.json"
echo "== outputs at x = -1, -0.5, 0, 0.5, 1"
echo "reference:  $($bin eval tests/fixtures/paper/paper_quant_orig.onnx --input "$out/inputs.json")"
echo "quantised:  $($bin eval "$out/quantised.onnx" --input "$out/inputs.json")"
