#!/usr/bin/python3
"""Writes a ResNet-50 v1.5 (batch 1, 224x224, batch norm folded into the convolutions' biases,
random weights) as an ONNX model with Debian's python3-onnx. usage: resnet50_onnx.py OUT.onnx"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(50)
nodes, inits = [], {}


def conv(x, cin, cout, k, stride, name):
    w = (rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32)
    b = (rng.standard_normal(cout) * 0.01).astype(np.float32)
    inits[name + "_w"], inits[name + "_b"] = w, b
    nodes.append(helper.make_node("Conv", [x, name + "_w", name + "_b"], [name], name=name, kernel_shape=[k, k],
                                  strides=[stride, stride], pads=[k // 2] * 4))
    return name


def relu(x, name):
    nodes.append(helper.make_node("Relu", [x], [name], name=name))
    return name


x = relu(conv("image", 3, 64, 7, 2, "conv1"), "conv1_relu")
nodes.append(helper.make_node("MaxPool", [x], ["pool1"], name="pool1", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
x, cin = "pool1", 64
for stage, (mid, out, blocks, stride) in enumerate([(64, 256, 3, 1), (128, 512, 4, 2), (256, 1024, 6, 2), (512, 2048, 3, 2)]):
    for blk in range(blocks):
        s = stride if blk == 0 else 1
        p = f"s{stage + 2}b{blk}"
        h = relu(conv(x, cin, mid, 1, 1, p + "_c1"), p + "_r1")
        h = relu(conv(h, mid, mid, 3, s, p + "_c2"), p + "_r2")
        h = conv(h, mid, out, 1, 1, p + "_c3")
        short = conv(x, cin, out, 1, s, p + "_proj") if blk == 0 else x
        nodes.append(helper.make_node("Add", [h, short], [p + "_add"], name=p + "_add"))
        x, cin = relu(p + "_add", p + "_out"), out
nodes.append(helper.make_node("GlobalAveragePool", [x], ["gap"], name="gap"))
nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"))
inits["fc_w"] = (rng.standard_normal((1000, 2048)) * 0.02).astype(np.float32)
inits["fc_b"] = np.zeros(1000, np.float32)
nodes.append(helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], name="fc", transB=1))
graph = helper.make_graph(nodes, "resnet50", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 224, 224])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 8
onnx.save(model, sys.argv[1])
macs = 0
print(f"{sys.argv[1]}: {len(nodes)} nodes, {sum(v.size for v in inits.values()) / 1e6:.1f} M parameters")
