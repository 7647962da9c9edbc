#!/usr/bin/python3
"""Writes traces/models/mlp.onnx: a two-layer perceptron whose time goes to loading weights, the
serving examples' model (a 1x256 input; Gemm 256x512 with bias, Relu, MatMul 512x10). A batch of b
loads the weights once, so batching raises throughput (docs/serving.md). Weights are seeded, so
the file is reproducible. Needs Debian's python3-onnx.

usage: traces/models/make_mlp.py [OUT.onnx]
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

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
g = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 256])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
                      [numpy_helper.from_array(v, k) for k, v in w.items()])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="npusim traces/models/make_mlp.py")
m.ir_version = 8
onnx.checker.check_model(m)
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "mlp.onnx")
onnx.save(m, out)
print(f"{out}: {os.path.getsize(out)} bytes")
