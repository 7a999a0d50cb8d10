"""Loads ONNX files written by deltacert in onnxruntime and compares their
outputs with deltacert's own evaluation.

usage: onnxruntime_check.py DELTACERT_BINARY MODEL.onnx INPUTS.json
Exit 0 when onnx.checker accepts the model and every output agrees to 1e-5
relative (float32 models) / 1e-12 (float64 models).
"""
import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort

binary, model_path, inputs_path = sys.argv[1:4]
model = onnx.load(model_path)
onnx.checker.check_model(model)
elem = model.graph.input[0].type.tensor_type.elem_type
dtype = np.float64 if elem == onnx.TensorProto.DOUBLE else np.float32
inputs = json.load(open(inputs_path))
session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
theirs = session.run(None, {model.graph.input[0].name: np.array(inputs, dtype=dtype)})[0]
ours = np.array(json.loads(subprocess.run([binary, "eval", model_path, "--input", inputs_path], check=True, capture_output=True, text=True).stdout))
tolerance = 1e-12 if dtype == np.float64 else 1e-5
scale = max(1.0, float(np.abs(ours).max()))
error = float(np.abs(theirs - ours).max())
print(f"{model_path}: max difference {error:.3e} (scale {scale:.3e})")
sys.exit(0 if error <= tolerance * scale else 1)
