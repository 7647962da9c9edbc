#!/usr/bin/python3
"""Writes traces/models/cnn.onnx: a small image classifier for examples and sweeps (a 1x3x32x32
input; Conv 3x3 16, Relu, MaxPool 2, Conv 3x3 32, Relu, GlobalAveragePool, Flatten, Gemm 10).
Weights are seeded, so the file is reproducible. Needs Debian's python3-onnx.

usage: traces/models/make_cnn.py [OUT.onnx]
"""
import numpy as np
from model_file import write_model
from onnx import helper

r = np.random.default_rng(2024)
w = {
    "W1": r.normal(0, 0.2, (16, 3, 3, 3)).astype(np.float32), "b1": np.zeros(16, np.float32),
    "W2": r.normal(0, 0.1, (32, 16, 3, 3)).astype(np.float32), "b2": np.zeros(32, np.float32),
    "Wfc": r.normal(0, 0.1, (32, 10)).astype(np.float32), "bfc": np.zeros(10, np.float32),
}
nodes = [
    helper.make_node("Conv", ["image", "W1", "b1"], ["c1"], name="conv1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
    helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("Conv", ["p1", "W2", "b2"], ["c2"], name="conv2", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
    helper.make_node("GlobalAveragePool", ["r2"], ["g"], name="gap"),
    helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
    helper.make_node("Gemm", ["f", "Wfc", "bfc"], ["logits"], name="fc"),
]
write_model("cnn", nodes, w, {"image": [1, 3, 32, 32]}, {"logits": [1, 10]})
