#!/usr/bin/env bash
# The main job on shipped data: quantise the seed paper's network, then
# certify how far the quantised copy can drift from the original over x in
# [-1, 1] (exact worst case: 3.861206614305957, at x = 1).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --quiet
bin=target/release/deltacert
out=$(mktemp -d)
echo "== quantise every weight and bias of the paper's network to a multiple of 1/4"
$bin compress tests/fixtures/paper/paper_quant_orig.onnx --quantize fixed:2 -o "$out/quantised.onnx"
echo
echo "== certify max |f(x) - g(x)| over x in [-1, 1] (semidefinite program, checked certificate)"
$bin bound tests/fixtures/paper/paper_quant_orig.onnx "$out/quantised.onnx" --box -1,1
echo
echo "== the same when the quantised network also sees its input rounded by up to 0.25"
$bin bound tests/fixtures/paper/paper_quant_orig.onnx "$out/quantised.onnx" --box -1,1 --input-quant 0.25 --quiet
