#!/usr/bin/python3
"""Graph preparation (compiler/prepare.cpp) through `npusim run model.onnx`, against NumPy.

Each model holds what exporters emit around the real work: shape arithmetic feeding a Reshape
(Shape -> Gather -> Unsqueeze -> Concat), a mask built from Range/Less/Where/ConstantOfShape on
constants, Identity and Dropout, a branch that reaches no output, a Conv followed by
BatchNormalization, a dynamic dimension fixed with --dim. Each must compile to the operators that
do the work alone (the per-operator stats name them) and give NumPy's result within the fp16
bound of check_models.py; a --dim naming no dimension and a dynamic dimension left open are
errors naming the dimension (exit 2). Models below opset 10 run when their operators' definitions
are opset 10's and are refused by node, operator and version when not.

usage: check_prepare.py NPUSIM REPO_DIR WORK_DIR
"""
import json
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

NPUSIM, REPO, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(WORK, exist_ok=True)
rng = np.random.default_rng(11)
failures = 0
CONFIG = os.path.join(REPO, "configs", "edge.yaml")


def save(name, nodes, inputs, outputs, inits, opset=13):
    g = helper.make_graph(nodes, name, inputs, outputs, [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    path = os.path.join(WORK, name + ".onnx")
    onnx.save(m, path)
    return path


def run(model, inputs, extra=()):
    out = os.path.join(WORK, os.path.basename(model) + ".out")
    cmd = [NPUSIM, "run", "--config", CONFIG, model, "--output-dir", out, "--stats", out + ".json", "--quiet",
           "--no-fallback"]
    for k, v in inputs.items():
        np.save(out + "." + k + ".npy", v)
        cmd += ["--input", f"{k}={out}.{k}.npy"]
    subprocess.run(cmd + list(extra), check=True)
    return out, json.load(open(out + ".json"))


def check(label, got, ref, stats, operators):
    global failures
    err = np.abs(got.astype(np.float64) - ref.astype(np.float64)) / np.maximum(1.0, np.abs(ref))
    bound = 8 * 2.0**-10
    ok = got.shape == ref.shape and float(err.max()) <= bound
    ops = sorted(stats["operators"])
    ok_ops = ops == sorted(operators)
    print(f"{label}: max rel err {err.max():.2e} (bound {bound:.2e}), operators {ops}",
          "ok" if ok and ok_ops else f"FAIL (want operators {sorted(operators)}, shape {got.shape} vs {ref.shape})")
    failures += not (ok and ok_ops)


def expect_error(label, cmd, text):
    global failures
    p = subprocess.run(cmd, capture_output=True, text=True)
    ok = p.returncode == 2 and text in p.stderr and "internal error" not in p.stderr
    print(f"{label}: exit {p.returncode}: {p.stderr.strip().splitlines()[-1] if p.stderr.strip() else ''}",
          "ok" if ok else f"FAIL (want exit 2 and '{text}')")
    failures += not ok


# 1. Reshape to [batch, -1] with the batch taken from the input's shape, as torch's flatten exports.
x = rng.uniform(-2, 2, (2, 3, 4)).astype(np.float32)
W = rng.uniform(-0.5, 0.5, (12, 5)).astype(np.float32)
m = save("shape_arith", [
    helper.make_node("Shape", ["x"], ["s"], name="shape"),
    helper.make_node("Gather", ["s", "zero"], ["n"], name="gather", axis=0),
    helper.make_node("Unsqueeze", ["n", "axes0"], ["n1"], name="unsqueeze"),
    helper.make_node("Concat", ["n1", "minus1"], ["shape2"], name="concat", axis=0),
    helper.make_node("Reshape", ["x", "shape2"], ["f"], name="flatten"),
    helper.make_node("MatMul", ["f", "W"], ["y"], name="fc"),
], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5])],
   {"W": W, "zero": np.array(0, np.int64), "axes0": np.array([0], np.int64), "minus1": np.array([-1], np.int64)})
out, stats = run(m, {"x": x})
check("shape arithmetic folded into Reshape", np.load(os.path.join(out, "y.npy")), x.reshape(2, -1) @ W, stats,
      ["flatten", "fc"])

# 2. An additive mask from constants (Range, Less, Where, ConstantOfShape, Cast), then Softmax.
s = rng.uniform(-1, 1, (3, 6)).astype(np.float32)
m = save("const_mask", [
    helper.make_node("Range", ["start", "limit", "delta"], ["pos"], name="range"),
    helper.make_node("Less", ["pos", "four"], ["keep"], name="less"),
    helper.make_node("ConstantOfShape", ["six"], ["zeros"], name="zeros",
                     value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.0])),
    helper.make_node("Cast", ["keep"], ["keepf"], name="cast", to=TensorProto.FLOAT),
    helper.make_node("Where", ["keep", "zeros", "neg"], ["mask"], name="where"),
    helper.make_node("Add", ["s", "mask"], ["masked"], name="add_mask"),
    helper.make_node("Mul", ["masked", "keepf"], ["z"], name="zero_out"),
    helper.make_node("Softmax", ["z"], ["y"], name="softmax", axis=1),
], [helper.make_tensor_value_info("s", TensorProto.FLOAT, [3, 6])],
   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 6])],
   {"start": np.array(0, np.int64), "limit": np.array(6, np.int64), "delta": np.array(1, np.int64),
    "four": np.array(4, np.int64), "six": np.array([6], np.int64), "neg": np.array(-30, np.float32)})
keep = np.arange(6) < 4
z = (s + np.where(keep, 0, -30).astype(np.float32)) * keep.astype(np.float32)
ref = np.exp(z - z.max(1, keepdims=True))
ref /= ref.sum(1, keepdims=True)
out, stats = run(m, {"s": s})
check("a constant mask folded", np.load(os.path.join(out, "y.npy")), ref, stats, ["add_mask", "zero_out", "softmax"])

# 3. Identity and Dropout disappear; a branch that reaches no output is dropped.
u = rng.uniform(-2, 2, (4, 8)).astype(np.float32)
m = save("identities", [
    helper.make_node("Dropout", ["u"], ["d"], name="dropout"),
    helper.make_node("Identity", ["d"], ["i"], name="identity"),
    helper.make_node("Sigmoid", ["u"], ["unused"], name="dead_sigmoid"),
    helper.make_node("Relu", ["i"], ["r"], name="relu"),
    helper.make_node("Identity", ["r"], ["y"], name="identity_out"),
], [helper.make_tensor_value_info("u", TensorProto.FLOAT, [4, 8])],
   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])], {})
out, stats = run(m, {"u": u})
check("Identity, Dropout and a dead branch removed", np.load(os.path.join(out, "y.npy")), np.maximum(u, 0), stats,
      ["relu"])

# 4. Conv -> BatchNormalization: one convolution with the normalization in its weights.
img = rng.uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32)
w = rng.uniform(-0.5, 0.5, (4, 3, 3, 3)).astype(np.float32)
b = rng.uniform(-0.2, 0.2, (4,)).astype(np.float32)
gamma, beta = rng.uniform(0.5, 1.5, 4).astype(np.float32), rng.uniform(-0.5, 0.5, 4).astype(np.float32)
mean, var = rng.uniform(-0.3, 0.3, 4).astype(np.float32), rng.uniform(0.2, 2, 4).astype(np.float32)
m = save("conv_bn", [
    helper.make_node("Conv", ["img", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
    helper.make_node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["y"], name="bn", epsilon=1e-5),
], [helper.make_tensor_value_info("img", TensorProto.FLOAT, [1, 3, 8, 8])],
   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
   {"w": w, "b": b, "gamma": gamma, "beta": beta, "mean": mean, "var": var})
xp = np.pad(img, ((0, 0), (0, 0), (1, 1), (1, 1)))
conv = np.zeros((1, 4, 8, 8), np.float64)
for i in range(8):
    for j in range(8):
        conv[0, :, i, j] = np.tensordot(w, xp[0, :, i:i + 3, j:j + 3], axes=([1, 2, 3], [0, 1, 2]))
conv += b[None, :, None, None]
ref = (conv - mean[None, :, None, None]) / np.sqrt(var[None, :, None, None] + 1e-5) * gamma[None, :, None, None] \
    + beta[None, :, None, None]
out, stats = run(m, {"img": img})
check("BatchNormalization folded into the Conv", np.load(os.path.join(out, "y.npy")), ref.astype(np.float32), stats,
      ["conv"])

# 5. A dynamic batch: --dim fixes it; left open or misnamed, the error names the dimension.
a = rng.uniform(-1, 1, (3, 8)).astype(np.float32)
W2 = rng.uniform(-0.5, 0.5, (8, 4)).astype(np.float32)
m = save("dynamic_batch", [helper.make_node("MatMul", ["a", "W2"], ["y"], name="fc")],
         [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", 8])],
         [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])], {"W2": W2})
out, stats = run(m, {"a": a}, ["--dim", "batch=3"])
check("--dim batch=3", np.load(os.path.join(out, "y.npy")), a @ W2, stats, ["fc"])
expect_error("a dynamic dimension left open", [NPUSIM, "compile", m, "--config", CONFIG, "-o", m + ".npub"],
             "dynamic dimension 'batch'")
expect_error("--dim naming no dimension", [NPUSIM, "compile", m, "--config", CONFIG, "-o", m + ".npub", "--dim",
                                           "seq=4"], "the model has no dimension 'seq' (it has: batch)")
expect_error("--dim without a value", [NPUSIM, "compile", m, "--config", CONFIG, "--dim", "batch"],
             "--dim expects NAME=VALUE")

# 6. Models below opset 10, read as ONNX Runtime reads them: Elu-6 and Add-7 are the definitions
# opset 10 has, so an opset 7 model runs; Slice-1 (starts/ends attributes) is not Slice-10 (inputs),
# so an opset 9 Slice is refused, naming the node, the operator and both versions.
v = rng.uniform(-2, 2, (4, 6)).astype(np.float32)
m = save("opset7_elu_add", [helper.make_node("Elu", ["v"], ["e"], name="elu", alpha=0.5),
                            helper.make_node("Add", ["e", "v"], ["y"], name="add")],
         [helper.make_tensor_value_info("v", TensorProto.FLOAT, [4, 6])],
         [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 6])], {}, opset=7)
out, stats = run(m, {"v": v})
check("opset 7 Elu + Add", np.load(os.path.join(out, "y.npy")), np.where(v > 0, v, 0.5 * np.expm1(v)) + v, stats,
      ["add", "elu"])
m = save("opset9_slice", [helper.make_node("Slice", ["v"], ["y"], name="cut", starts=[0], ends=[2], axes=[0])],
         [helper.make_tensor_value_info("v", TensorProto.FLOAT, [4, 6])],
         [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 6])], {}, opset=9)
expect_error("an opset 9 Slice (attributes)", [NPUSIM, "compile", m, "--config", CONFIG, "-o", m + ".npub"],
             "node 'cut' (Slice): the model's opset 9 defines Slice-1, which differs from Slice-10")

print("graph preparation:", "all ok" if not failures else f"{failures} failure(s)")
sys.exit(1 if failures else 0)
