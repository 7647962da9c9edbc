#!/usr/bin/python3
"""Writes traces/models/mlp.onnx: a two-layer perceptron whose time goes to loading weights, the
serving examples' model (a 1x256 input; Gemm 256x512 with bias, Relu, MatMul 512x10). A batch of b
loads the weights once, so batching raises throughput (docs/serving.md). Weights are seeded, so
the file is reproducible. Needs Debian's python3-onnx.

usage: traces/models/make_mlp.py [OUT.onnx]
"""
import numpy as np
from model_file import write_model
from onnx import helper

r = np.random.default_rng(2025)
w = {
    "W1": r.normal(0, 0.06, (256, 512)).astype(np.float32),
    "b1": np.zeros(512, np.float32),
    "W2": r.normal(0, 0.06, (512, 10)).astype(np.float32),
}
nodes = [
    helper.make_node("Gemm", ["x", "W1", "b1"], ["h"], name="fc1"),
    helper.make_node("Relu", ["h"], ["r"], name="relu"),
    helper.make_node("MatMul", ["r", "W2"], ["y"], name="fc2"),
]
write_model("mlp", nodes, w, {"x": [1, 256]}, {"y": [1, 10]})
