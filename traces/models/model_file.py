"""Shared by the make_*.py scripts: builds a float32 opset-13 model from nodes and seeded weights,
checks it and writes it (argv[1], or NAME.onnx beside the scripts)."""
import os
import sys

import onnx
from onnx import TensorProto, helper, numpy_helper


def write_model(name, nodes, weights, inputs, outputs):
    """inputs/outputs: {tensor name: shape}; weights: {initializer name: numpy array}."""
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info(k, TensorProto.FLOAT, s) for k, s in inputs.items()],
                          [helper.make_tensor_value_info(k, TensorProto.FLOAT, s) for k, s in outputs.items()],
                          [numpy_helper.from_array(v, k) for k, v in weights.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name=f"npusim traces/models/make_{name}.py")
    m.ir_version = 8
    onnx.checker.check_model(m)
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.onnx")
    onnx.save(m, out)
    print(f"{out}: {os.path.getsize(out)} bytes")
