"""Static int8 quantisation of a float ONNX model with onnxruntime (QDQ format),
for the label_table benchmark.

usage: ort_quantize.py FLOAT.onnx CALIBRATION.json OUT_PER_TENSOR.onnx OUT_PER_CHANNEL.onnx

CALIBRATION.json is a JSON array of inputs (each a flat list of floats). The
activations are uint8, the weights int8, as onnxruntime's defaults for QDQ.
"""
import json
import logging
import sys

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static


def main():
    float_path, calibration_path, per_tensor_path, per_channel_path = sys.argv[1:5]
    logging.getLogger().setLevel(logging.ERROR)
    samples = [np.asarray(x, dtype=np.float32).reshape(1, -1) for x in json.load(open(calibration_path))]
    name = onnx.load(float_path).graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.data = iter(samples)

        def get_next(self):
            sample = next(self.data, None)
            return None if sample is None else {name: sample}

    for path, per_channel in [(per_tensor_path, False), (per_channel_path, True)]:
        quantize_static(float_path, path, Reader(), quant_format=QuantFormat.QDQ, per_channel=per_channel, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


if __name__ == "__main__":
    main()
