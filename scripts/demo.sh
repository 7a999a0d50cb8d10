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
echo "== certify max |f(x) - g(x)| over x in [-1, 1] (auto: propagation, the SDP with its checked certificate, splitting)"
$bin bound tests/fixtures/paper/paper_quant_orig.onnx "$out/quantised.onnx" --box -1,1
echo
echo "== the same when the quantised network also sees its input rounded by up to 0.25"
$bin bound tests/fixtures/paper/paper_quant_orig.onnx "$out/quantised.onnx" --box -1,1 --input-quant 0.25 --quiet
echo
echo "== ACAS Xu network 1_1 against its float16 copy, property 3 box: prove max_j |f_j - g_j| <= 0.05"
echo "   (differential propagation and input splitting; exit 0 = proven)"
$bin bound tests/fixtures/acasxu/ACASXU_run2a_1_1_batch_2000.nnet tests/fixtures/acasxu/ACASXU_run2a_1_1_batch_2000_16bit.nnet \
    --box-file tests/fixtures/acasxu/property_3.json --eps 0.05
echo
echo "== the same pair without --eps: the tightest bound reached in 5 s, next to the largest error seen"
$bin bound tests/fixtures/acasxu/ACASXU_run2a_1_1_batch_2000.nnet tests/fixtures/acasxu/ACASXU_run2a_1_1_batch_2000_16bit.nnet \
    --box-file tests/fixtures/acasxu/property_3.json --timeout 5
