#!/usr/bin/python3
"""Quantized ONNX models through `npusim run model.onnx`, bit-exact against a NumPy integer reference.

1. A quantized CNN in ONNX's QOperator form: QuantizeLinear -> QLinearConv (int8 weights with
   per-channel scales, int32 bias, padding) -> MaxPool on uint8 -> depthwise QLinearConv with
   uint8 weights and a weight zero point (W - zw spans [-128, 127] + 1 more than int8 holds, so the
   compiler splits it into two int8 passes) and stride 2 -> a 4x4 QLinearConv to 1x1 -> Reshape ->
   QLinearMatMul with uint8 weights -> DequantizeLinear. Every integer tensor that is a graph
   output must equal the reference exactly; the float output (DequantizeLinear in fp16) within
   fp16 rounding.
2. int8 activations: ConvInteger (x zero point, per-channel w zero points, padding that meets the
   zero-point correction at the image border) and MatMulInteger; int32 outputs, exact.

The reference is written from the ONNX operator definitions (sum of (x - zx)(w - zw) in int64,
then round-half-even of acc * (sx * sw / sy) in float32, + zy, saturate), independently of how the
compiler lowers them. Runs on edge and tpu_v1 (int8/uint8 only: no float MXU needed).

usage: check_quantized.py NPUSIM REPO_DIR WORK_DIR
"""
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


def save(name, nodes, inputs, outputs, inits, opset=13):
    g = helper.make_graph(nodes, name, inputs, outputs, [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    path = os.path.join(WORK, name + ".onnx")
    onnx.save(m, path)
    return path


def run(model, config, inputs):
    out = os.path.join(WORK, os.path.basename(model) + "." + config)
    cmd = [NPUSIM, "run", "--config", os.path.join(REPO, "configs", config), model, "--output-dir", out, "--quiet"]
    for k, v in inputs.items():
        p = out + "." + k + ".npy"
        np.save(p, v)
        cmd += ["--input", f"{k}={p}"]
    subprocess.run(cmd, check=True)
    return out


def expect_equal(label, got, want):
    global failures
    ok = got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)
    detail = "" if ok else f" ({int(np.count_nonzero(got != want)) if got.shape == want.shape else 'shape'} differ; dtype {got.dtype})"
    print(f"{label}: {'bit-exact' if ok else 'FAIL'}{detail}")
    failures += not ok


# ---------------------------------------------------------------- reference (ONNX semantics)
def conv_int(x, zx, w, zw, stride=1, pad=0, groups=1):
    """sum (x - zx)(w - zw) in int64; zw per output channel; padding holds zx (contributes 0)."""
    n, c, h, wd = x.shape
    co, cg, kh, kw = w.shape
    xs = np.pad(x.astype(np.int64) - zx, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ws = w.astype(np.int64) - np.asarray(zw, np.int64).reshape(-1, 1, 1, 1)
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    y = np.zeros((n, co, oh, ow), np.int64)
    cog = co // groups
    for o in range(co):
        g = o // cog
        for i in range(oh):
            for j in range(ow):
                patch = xs[:, g * cg:(g + 1) * cg, i * stride:i * stride + kh, j * stride:j * stride + kw]
                y[:, o, i, j] = (patch * ws[o]).sum(axis=(1, 2, 3))
    return y


def requant(acc, sx, sw, sy, zy, dtype):
    """ONNX Runtime's QLinear epilogue: float32 multiplier, round half to even, + zero point, saturate."""
    m = (np.float32(sx) * np.asarray(sw, np.float32)) / np.float32(sy)
    if acc.ndim == 4:
        m = m.reshape(1, -1, 1, 1) if np.ndim(m) else m
    y = np.rint(acc.astype(np.float32) * m) + zy
    info = np.iinfo(dtype)
    return np.clip(y, info.min, info.max).astype(dtype)


def quantize(x, s, zp, dtype):
    info = np.iinfo(dtype)
    return np.clip(np.rint(x.astype(np.float32) / np.float32(s)) + zp, info.min, info.max).astype(dtype)


# ---------------------------------------------------------------- 1. quantized CNN (u8 activations)
s_in, z_in = 0.02, 128
W1 = rng.integers(-100, 100, (8, 3, 3, 3)).astype(np.int8)
sw1 = rng.uniform(0.002, 0.004, 8).astype(np.float32)
B1 = rng.integers(-3000, 3000, 8).astype(np.int32)
s1, z1 = 0.05, 20
Wdw = rng.integers(0, 256, (8, 1, 3, 3)).astype(np.uint8)
Wdw[0, 0, 0, 0], Wdw[1, 0, 0, 0] = 0, 255  # the full range: W - 127 spans [-127, 128]
sdw, zdw = np.float32(0.003), np.uint8(127)
s2, z2 = 0.04, 100
W3 = rng.integers(-128, 128, (16, 8, 4, 4)).astype(np.int8)
sw3 = np.float32(0.001)
s3, z3 = 0.3, 128
Wfc = rng.integers(0, 256, (16, 10)).astype(np.uint8)
sfc, zfc = np.float32(0.01), np.uint8(90)  # W - 90 spans [-90, 165]: two passes
s4, z4 = 0.5, 110
inits = {
    "s_in": np.float32(s_in), "z_in": np.uint8(z_in),
    "W1": W1, "sw1": sw1, "zw1": np.zeros(8, np.int8), "B1": B1, "s1": np.float32(s1), "z1": np.uint8(z1),
    "Wdw": Wdw, "sdw": sdw, "zdw": zdw, "s2": np.float32(s2), "z2": np.uint8(z2),
    "W3": W3, "sw3": sw3, "zw3": np.int8(0), "s3": np.float32(s3), "z3": np.uint8(z3),
    "shape": np.array([1, 16], np.int64),
    "Wfc": Wfc, "sfc": sfc, "zfc": zfc, "s4": np.float32(s4), "z4": np.uint8(z4),
}
cnn = save("qcnn", [
    helper.make_node("QuantizeLinear", ["x", "s_in", "z_in"], ["xq"], name="quant"),
    helper.make_node("QLinearConv", ["xq", "s_in", "z_in", "W1", "sw1", "zw1", "s1", "z1", "B1"], ["c1"], name="conv1",
                     kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    helper.make_node("MaxPool", ["c1"], ["p1"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("QLinearConv", ["p1", "s1", "z1", "Wdw", "sdw", "zdw", "s2", "z2"], ["c2"], name="depthwise",
                     kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2], group=8),
    helper.make_node("QLinearConv", ["c2", "s2", "z2", "W3", "sw3", "zw3", "s3", "z3"], ["c3"], name="conv4x4",
                     kernel_shape=[4, 4]),
    helper.make_node("Reshape", ["c3", "shape"], ["f"], name="flatten"),
    helper.make_node("QLinearMatMul", ["f", "s3", "z3", "Wfc", "sfc", "zfc", "s4", "z4"], ["yq"], name="fc"),
    helper.make_node("DequantizeLinear", ["yq", "s4", "z4"], ["y"], name="dequant"),
], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
   [helper.make_tensor_value_info("c2", TensorProto.UINT8, [1, 8, 4, 4]),
    helper.make_tensor_value_info("yq", TensorProto.UINT8, [1, 10]),
    helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)

# Inputs exactly representable in fp16 (the device holds float tensors in fp16): multiples of 1/256.
x = (rng.integers(-640, 640, (1, 3, 16, 16)) / 256.0).astype(np.float32)
xq = quantize(x, s_in, z_in, np.uint8)
c1 = requant(conv_int(xq, z_in, W1, np.zeros(8), pad=1) + B1.reshape(1, -1, 1, 1), s_in, sw1, s1, z1, np.uint8)
p1 = c1.reshape(1, 8, 8, 2, 8, 2).max(axis=(3, 5))
c2 = requant(conv_int(p1, z1, Wdw, np.full(8, zdw), stride=2, pad=1, groups=8), s1, sdw, s2, z2, np.uint8)
c3 = requant(conv_int(c2, z2, W3, np.zeros(16)), s2, sw3, s3, z3, np.uint8)
f = c3.reshape(1, 16)
acc = (f.astype(np.int64) - z3) @ (Wfc.astype(np.int64) - zfc)
yq = requant(acc, s3, sfc, s4, z4, np.uint8)
y = (yq.astype(np.float32) - z4) * np.float32(s4)
for config in ("edge.yaml", "tpu_v1.yaml"):
    out = run(cnn, config, {"x": x})
    expect_equal(f"qcnn {config} depthwise output c2", np.load(os.path.join(out, "c2.npy")), c2)
    expect_equal(f"qcnn {config} QLinearMatMul output yq", np.load(os.path.join(out, "yq.npy")), yq)
    got = np.load(os.path.join(out, "y.npy"))
    err = np.abs(got - y).max() / max(1.0, np.abs(y).max())
    ok = err <= 2.0**-10
    print(f"qcnn {config} dequantized y: max rel err {err:.2e}", "ok" if ok else "FAIL")
    failures += not ok

# ---------------------------------------------------------------- 2. int8 activations, int32 outputs
Wc = rng.integers(-128, 128, (6, 4, 3, 3)).astype(np.int8)
zwc = rng.integers(-5, 6, 6).astype(np.int8)
A_w = rng.integers(0, 256, (12, 20)).astype(np.uint8)
ints = save("qint", [
    helper.make_node("ConvInteger", ["xi", "Wc", "zx", "zwc"], ["yc"], name="convint", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                     strides=[2, 2]),
    helper.make_node("MatMulInteger", ["ai", "A_w", "za", "zb"], ["ym"], name="matmulint"),
], [helper.make_tensor_value_info("xi", TensorProto.INT8, [2, 4, 9, 9]),
    helper.make_tensor_value_info("ai", TensorProto.UINT8, [7, 12])],
   [helper.make_tensor_value_info("yc", TensorProto.INT32, [2, 6, 5, 5]),
    helper.make_tensor_value_info("ym", TensorProto.INT32, [7, 20])],
   {"Wc": Wc, "zx": np.int8(-3), "zwc": zwc, "A_w": A_w, "za": np.uint8(17), "zb": np.uint8(200)}, opset=13)
xi = rng.integers(-128, 128, (2, 4, 9, 9)).astype(np.int8)
ai = rng.integers(0, 256, (7, 12)).astype(np.uint8)
yc = conv_int(xi, -3, Wc, zwc, stride=2, pad=1).astype(np.int32)
ym = ((ai.astype(np.int64) - 17) @ (A_w.astype(np.int64) - 200)).astype(np.int32)
for config in ("edge.yaml", "tpu_v1.yaml"):
    out = run(ints, config, {"xi": xi, "ai": ai})
    expect_equal(f"qint {config} ConvInteger", np.load(os.path.join(out, "yc.npy")), yc)
    expect_equal(f"qint {config} MatMulInteger", np.load(os.path.join(out, "ym.npy")), ym)

# ---------------------------------------------------------------- 3. errors name the node
bad = save("qbad", [
    helper.make_node("QLinearMatMul", ["a", "sa", "za", "b", "sb", "zb", "sy", "zy"], ["y"], name="dyn_fc"),
], [helper.make_tensor_value_info("a", TensorProto.UINT8, [2, 4]), helper.make_tensor_value_info("b", TensorProto.UINT8, [4, 3])],
   [helper.make_tensor_value_info("y", TensorProto.UINT8, [2, 3])],
   {"sa": np.float32(0.1), "za": np.uint8(1), "sb": np.float32(0.1), "zb": np.uint8(1), "sy": np.float32(0.1), "zy": np.uint8(1)})
r = subprocess.run([NPUSIM, "compile", bad, "--config", os.path.join(REPO, "configs", "edge.yaml"), "-o", os.path.join(WORK, "b.npub")],
                   capture_output=True, text=True)
ok = r.returncode == 2 and "node 'dyn_fc' (QLinearMatMul): B must be a constant" in r.stderr
print("computed QLinearMatMul B is an error naming the node:", "ok" if ok else "FAIL " + r.stderr)
failures += not ok

# ---------------------------------------------------------------- 4. int8 post-training quantization
# A float CNN (Conv+Relu, MaxPool, Conv+Relu, GlobalAveragePool, Flatten, Gemm) quantized from 8
# calibration samples: convolutions and the Gemm become QLinear operators, the pooling stays float
# between Dequantize/Quantize. The output must follow a NumPy float reference closely, and the
# accuracy entry in stats.json must report what the test measures.
import json  # noqa: E402


def conv_f(x, w, b, pad):
    n, c, h, wd = x.shape
    co, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    y = np.zeros((n, co, h + 2 * pad - kh + 1, wd + 2 * pad - kw + 1))
    for i in range(y.shape[2]):
        for j in range(y.shape[3]):
            y[:, :, i, j] = np.tensordot(xp[:, :, i:i + kh, j:j + kw], w, axes=([1, 2, 3], [1, 2, 3]))
    return y + b.reshape(1, -1, 1, 1)


Wa = rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32)
ba = rng.normal(0, 0.1, 8).astype(np.float32)
Wb = rng.normal(0, 0.2, (16, 8, 3, 3)).astype(np.float32)
bb = rng.normal(0, 0.1, 16).astype(np.float32)
Wf = rng.normal(0, 0.3, (10, 16)).astype(np.float32)
bf = rng.normal(0, 0.1, 10).astype(np.float32)
fcnn = save("fcnn", [
    helper.make_node("Conv", ["img", "Wa", "ba"], ["a"], name="conv_a", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    helper.make_node("Relu", ["a"], ["ar"], name="relu_a"),
    helper.make_node("MaxPool", ["ar"], ["ap"], name="pool_a", kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("Conv", ["ap", "Wb", "bb"], ["b"], name="conv_b", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    helper.make_node("Relu", ["b"], ["br"], name="relu_b"),
    helper.make_node("GlobalAveragePool", ["br"], ["g"], name="gap"),
    helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
    helper.make_node("Gemm", ["f", "Wf", "bf"], ["logits"], name="fc", transB=1),
], [helper.make_tensor_value_info("img", TensorProto.FLOAT, [4, 3, 16, 16])],
   [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [4, 10])], {"Wa": Wa, "ba": ba, "Wb": Wb, "bb": bb, "Wf": Wf, "bf": bf})
cal = os.path.join(WORK, "calibration")
os.makedirs(cal, exist_ok=True)
for i in range(8):
    np.save(os.path.join(cal, f"sample{i}.npy"), rng.uniform(-1, 1, (4, 3, 16, 16)).astype(np.float32))
img = rng.uniform(-1, 1, (4, 3, 16, 16)).astype(np.float32)
ar = np.maximum(conv_f(img.astype(np.float64), Wa, ba, 1), 0)
ap = ar.reshape(4, 8, 8, 2, 8, 2).max(axis=(3, 5))
br = np.maximum(conv_f(ap, Wb, bb, 1), 0)
ref = br.mean(axis=(2, 3)) @ Wf.T.astype(np.float64) + bf
out = os.path.join(WORK, "fcnn.int8")
np.save(out + ".img.npy", img)
subprocess.run([NPUSIM, "run", "--config", os.path.join(REPO, "configs", "edge.yaml"), fcnn, "--precision", "int8",
                "--calibrate", cal, "--input", "img=" + out + ".img.npy", "--output-dir", out, "--stats", out + ".json",
                "--quiet"], check=True)
got = np.load(os.path.join(out, "logits.npy")).astype(np.float64)
acc = json.load(open(out + ".json"))["accuracy"]
rep = acc["outputs"]["logits"]
err = np.abs(got - ref).max()
cos = float((got * ref).sum() / np.sqrt((got * got).sum() * (ref * ref).sum()))
# conv_a, pool_a (uint8 max), conv_b, fc quantized (the Relus fused); gap and flatten in float.
ok = (acc["quantized_operators"] == 4 and acc["float_operators"] == 2 and acc["calibration_samples"] == 8 and cos > 0.995 and
      err <= 0.05 * np.abs(ref).max() and abs(rep["max_abs_err"] - err) <= 1e-3 * max(1.0, err) and
      abs(rep["cosine_similarity"] - cos) < 1e-6 and rep["top1_agreement"] == float((got.argmax(1) == ref.argmax(1)).mean()))
print(f"int8 PTQ fcnn: {acc['quantized_operators']} quantized / {acc['float_operators']} float operators, max abs err {err:.4f} "
      f"(|ref| max {np.abs(ref).max():.3f}), cosine {cos:.6f}, top-1 {rep['top1_agreement']}; stats report matches:",
      "ok" if ok else f"FAIL {acc}")
failures += not ok
# gemmini's MXU has no uint8 mode: activations become int8 (zero points in [-128, 127]).
subprocess.run([NPUSIM, "run", "--config", os.path.join(REPO, "configs", "gemmini.yaml"), fcnn, "--precision", "int8",
                "--calibrate", cal, "--input", "img=" + out + ".img.npy", "--output-dir", out + ".gemmini", "--quiet"],
               check=True)
got = np.load(os.path.join(out + ".gemmini", "logits.npy")).astype(np.float64)
cos = float((got * ref).sum() / np.sqrt((got * got).sum() * (ref * ref).sum()))
ok = cos > 0.995 and np.abs(got - ref).max() <= 0.05 * np.abs(ref).max()
print(f"int8 PTQ fcnn on gemmini (int8 activations): cosine {cos:.6f}", "ok" if ok else "FAIL")
failures += not ok
r = subprocess.run([NPUSIM, "run", "--config", os.path.join(REPO, "configs", "edge.yaml"), fcnn, "--precision", "int8",
                    "--random-inputs", "1"], capture_output=True, text=True)
ok = r.returncode == 2 and "--precision int8 needs --calibrate DIR" in r.stderr
print("int8 without --calibrate is a usage error:", "ok" if ok else "FAIL " + r.stderr)
failures += not ok

# A calibration sample holding NaN or Inf gave a garbage int8 model with exit 0 (issue 15): an input
# error naming the sample, the input and the element.
bad_cal = os.path.join(WORK, "calibration_nan")
os.makedirs(bad_cal, exist_ok=True)
sample = rng.uniform(-1, 1, (4, 3, 16, 16)).astype(np.float32)
sample[0, 1, 2, 3] = np.nan
np.save(os.path.join(bad_cal, "sample0.npy"), sample)
r = subprocess.run([NPUSIM, "compile", fcnn, "--config", os.path.join(REPO, "configs", "edge.yaml"), "--precision", "int8",
                    "--calibrate", bad_cal, "-o", os.path.join(WORK, "nan.npub")], capture_output=True, text=True)
ok = r.returncode == 2 and "calibration sample holds NaN at element" in r.stderr and "sample0.npy" in r.stderr
print("NaN calibration data is an input error:", "ok" if ok else "FAIL rc=%d %s" % (r.returncode, r.stderr))
failures += not ok

sys.exit(1 if failures else 0)
