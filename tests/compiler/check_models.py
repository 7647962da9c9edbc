#!/usr/bin/python3
"""Float ONNX models through `npusim compile` / `npusim run model.onnx`, against NumPy.

Builds small real models with the ONNX helper API (an MLP with Flatten, Gemm+bias, Relu, MatMul,
row-broadcast Add and Clip; a large Gemm that needs tiling in M, N and K; an element-wise block;
a CNN with convolutions, max pooling, a residual add, global average pooling and Gemm),
runs them on the bundled configs in fp16 and bf16, and compares with a float32 NumPy reference.
Tolerances: fp16 keeps 11 significant bits and bf16 8; with fp32 accumulation the error of a
K-term dot product stays within a few units of the last place of the output, so we allow
max |err| <= 8 * eps * max(1, |ref|) per element (fp16 eps 2^-10, bf16 2^-7), plus the input
rounding propagated through the layers. Also checks per-operator stats and the error for an
unsupported operator.

usage: check_models.py NPUSIM REPO_DIR WORK_DIR
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
rng = np.random.default_rng(7)
failures = 0


def save(name, nodes, inputs, outputs, inits):
    g = helper.make_graph(nodes, name, inputs, outputs, [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    path = os.path.join(WORK, name + ".onnx")
    onnx.save(m, path)
    return path


def run(model, config, inputs, precision, extra=()):
    out = os.path.join(WORK, os.path.basename(model) + "." + os.path.basename(config) + "." + precision)
    cmd = [NPUSIM, "run", "--config", os.path.join(REPO, "configs", config), model, "--precision", precision, "--output-dir", out,
           "--stats", out + ".stats.json", "--quiet"]
    for k, v in inputs.items():
        p = out + "." + k + ".npy"
        np.save(p, v)
        cmd += ["--input", f"{k}={p}"]
    subprocess.run(cmd + list(extra), check=True)
    return out, json.load(open(out + ".stats.json"))


def check(label, got, ref, precision):
    global failures
    eps = 2.0**-10 if precision == "fp16" else 2.0**-7
    err = np.abs(got.astype(np.float64) - ref.astype(np.float64)) / np.maximum(1.0, np.abs(ref))
    bound = 8 * eps
    ok = got.shape == ref.shape and float(err.max()) <= bound
    print(f"{label}: max rel err {err.max():.2e} (bound {bound:.2e})", "ok" if ok else "FAIL")
    failures += not ok


# 1. MLP: x[8,4,16] -> Flatten -> Gemm(W1^T, b1) -> Relu -> MatMul(W2) -> Add(b2) -> Clip(0, 6)
W1 = rng.uniform(-0.3, 0.3, (96, 64)).astype(np.float32)
b1 = rng.uniform(-0.5, 0.5, (96,)).astype(np.float32)
W2 = rng.uniform(-0.3, 0.3, (96, 40)).astype(np.float32)
b2 = rng.uniform(-0.5, 0.5, (40,)).astype(np.float32)
mlp = save("mlp", [
    helper.make_node("Flatten", ["x"], ["f"], name="flatten"),
    helper.make_node("Gemm", ["f", "W1", "b1"], ["h"], name="fc1", transB=1),
    helper.make_node("Relu", ["h"], ["r"], name="relu1"),
    helper.make_node("MatMul", ["r", "W2"], ["z"], name="fc2"),
    helper.make_node("Add", ["z", "b2"], ["s"], name="bias2"),
    helper.make_node("Clip", ["s", "lo", "hi"], ["y"], name="relu6"),
], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 4, 16])],
   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8, 40])],
   {"W1": W1, "b1": b1, "W2": W2, "b2": b2, "lo": np.array(0, np.float32), "hi": np.array(6, np.float32)})
x = rng.uniform(-2, 2, (8, 4, 16)).astype(np.float32)
ref = np.clip(np.maximum(x.reshape(8, 64) @ W1.T + b1, 0) @ W2 + b2, 0, 6)
for config in ("edge.yaml", "datacenter.yaml"):
    for precision in ("fp16", "bf16"):
        out, stats = run(mlp, config, {"x": x}, precision)
        check(f"mlp {config} {precision}", np.load(os.path.join(out, "y.npy")), ref, precision)
ops = set(stats["operators"])
if not {"flatten", "fc1", "relu1", "fc2", "bias2", "relu6"} <= ops:
    print("FAIL: per-operator stats missing:", ops)
    failures += 1
else:
    print("mlp: per-operator cycles", {k: v["cycles"] for k, v in stats["operators"].items()})

# 2. A large Gemm: M=300, K=2100, N=300 forces tiles in every dimension; alpha/beta folded.
A = rng.uniform(-1, 1, (300, 2100)).astype(np.float32)
B = rng.uniform(-0.05, 0.05, (2100, 300)).astype(np.float32)
C = rng.uniform(-1, 1, (300,)).astype(np.float32)
big = save("big_gemm", [helper.make_node("Gemm", ["a", "B", "C"], ["y"], name="gemm", alpha=0.5, beta=2.0)],
           [helper.make_tensor_value_info("a", TensorProto.FLOAT, [300, 2100])],
           [helper.make_tensor_value_info("y", TensorProto.FLOAT, [300, 300])], {"B": B, "C": C})
out, _ = run(big, "edge.yaml", {"a": A}, "fp16")
check("big gemm edge fp16", np.load(os.path.join(out, "y.npy")), 0.5 * A @ B + 2.0 * C, "fp16")

# 3. Element-wise: two inputs, same-shape Add, Mul, Sub with a row.
u = rng.uniform(-3, 3, (50, 33)).astype(np.float32)
v = rng.uniform(-3, 3, (50, 33)).astype(np.float32)
row = rng.uniform(-1, 1, (33,)).astype(np.float32)
ew = save("eltwise", [
    helper.make_node("Add", ["u", "v"], ["s"], name="add"),
    helper.make_node("Mul", ["s", "v"], ["p"], name="mul"),
    helper.make_node("Sub", ["p", "row"], ["y"], name="sub"),
], [helper.make_tensor_value_info("u", TensorProto.FLOAT, [50, 33]), helper.make_tensor_value_info("v", TensorProto.FLOAT, [50, 33])],
   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [50, 33])], {"row": row})
out, _ = run(ew, "edge.yaml", {"u": u, "v": v}, "fp16")
check("eltwise edge fp16", np.load(os.path.join(out, "y.npy")), (u + v) * v - row, "fp16")

# 4. A small CNN: conv+bias → relu → maxpool → conv (same padding) → residual add → relu →
#    global average pool → flatten → gemm.
def conv2d(x, w, b, stride=1, pad=0):
    n, c, h, wd = x.shape
    co, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    y = np.zeros((n, co, oh, ow), np.float64)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
            y += np.einsum("nchw,oc->nohw", patch, w[:, :, i, j])
    return y + b.reshape(1, -1, 1, 1)


Wc1 = rng.uniform(-0.3, 0.3, (16, 3, 3, 3)).astype(np.float32)
bc1 = rng.uniform(-0.2, 0.2, (16,)).astype(np.float32)
Wc2 = rng.uniform(-0.15, 0.15, (16, 16, 3, 3)).astype(np.float32)
bc2 = rng.uniform(-0.2, 0.2, (16,)).astype(np.float32)
Wfc = rng.uniform(-0.3, 0.3, (10, 16)).astype(np.float32)
bfc = rng.uniform(-0.2, 0.2, (10,)).astype(np.float32)
cnn = save("cnn", [
    helper.make_node("Conv", ["img", "Wc1", "bc1"], ["c1"], name="conv1", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
    helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
    helper.make_node("Conv", ["p1", "Wc2", "bc2"], ["c2"], name="conv2", kernel_shape=[3, 3], auto_pad="SAME_UPPER"),
    helper.make_node("Add", ["c2", "p1"], ["res"], name="residual"),
    helper.make_node("Relu", ["res"], ["r2"], name="relu2"),
    helper.make_node("GlobalAveragePool", ["r2"], ["gap"], name="gap"),
    helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
    helper.make_node("Gemm", ["flat", "Wfc", "bfc"], ["logits"], name="fc", transB=1),
], [helper.make_tensor_value_info("img", TensorProto.FLOAT, [2, 3, 32, 32])],
   [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [2, 10])],
   {"Wc1": Wc1, "bc1": bc1, "Wc2": Wc2, "bc2": bc2, "Wfc": Wfc, "bfc": bfc})
img = rng.uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32)
r1 = np.maximum(conv2d(img, Wc1, bc1, stride=2, pad=1), 0)
p1 = r1.reshape(2, 16, 8, 2, 8, 2).max(axis=(3, 5))
r2 = np.maximum(conv2d(p1, Wc2, bc2, pad=1) + p1, 0)
ref = r2.mean(axis=(2, 3)) @ Wfc.T + bfc
for config in ("edge.yaml", "datacenter.yaml"):
    out, stats = run(cnn, config, {"img": img}, "fp16")
    check(f"cnn {config} fp16", np.load(os.path.join(out, "logits.npy")), ref, "fp16")
print("cnn: per-operator cycles", {k: v["cycles"] for k, v in stats["operators"].items()})

# 5. Pooling an image larger than the edge scratchpad (96x96x8 fp16 = 144 KiB of data, but one
#    64-byte line per pixel): output-row bands with their input halo, ResNet's 3x3/2 max pool and
#    a 3x3/1 average pool without counting the padding.
big_img = rng.uniform(-1, 1, (1, 8, 96, 96)).astype(np.float32)
pools = save("pools", [
    helper.make_node("MaxPool", ["im"], ["mp"], name="maxpool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    helper.make_node("AveragePool", ["mp"], ["ap"], name="avgpool", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
], [helper.make_tensor_value_info("im", TensorProto.FLOAT, [1, 8, 96, 96])],
   [helper.make_tensor_value_info("ap", TensorProto.FLOAT, [1, 8, 48, 48])], {})
pad = np.pad(big_img.astype(np.float16).astype(np.float64), ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
mp = np.max([pad[:, :, i:i + 96:2, j:j + 96:2] for i in range(3) for j in range(3)], axis=0).astype(np.float16).astype(np.float64)
mpp = np.pad(mp, ((0, 0), (0, 0), (1, 1), (1, 1)))
ones = np.pad(np.ones_like(mp), ((0, 0), (0, 0), (1, 1), (1, 1)))
ref = sum(mpp[:, :, i:i + 48, j:j + 48] for i in range(3) for j in range(3)) / sum(ones[:, :, i:i + 48, j:j + 48] for i in range(3) for j in range(3))
out, stats = run(pools, "edge.yaml", {"im": big_img}, "fp16")
check("banded pools edge fp16", np.load(os.path.join(out, "ap.npy")), ref, "fp16")

# 5b. A MobileNet-style block: depthwise 3x3/2 → BatchNormalization → Relu → pointwise 1x1 →
#     group-2 3x3 convolution.
def conv_grouped(x, w, b, groups, stride=1, pad=0):
    cg, cog = x.shape[1] // groups, w.shape[0] // groups
    return np.concatenate([conv2d(x[:, g * cg:(g + 1) * cg], w[g * cog:(g + 1) * cog], b[g * cog:(g + 1) * cog], stride, pad)
                           for g in range(groups)], axis=1)


Wdw = rng.uniform(-0.5, 0.5, (8, 1, 3, 3)).astype(np.float32)
bdw = rng.uniform(-0.2, 0.2, (8,)).astype(np.float32)
gam, bet = rng.uniform(0.5, 1.5, (8,)).astype(np.float32), rng.uniform(-0.3, 0.3, (8,)).astype(np.float32)
mu, var = rng.uniform(-0.2, 0.2, (8,)).astype(np.float32), rng.uniform(0.5, 1.5, (8,)).astype(np.float32)
Wpw = rng.uniform(-0.4, 0.4, (12, 8, 1, 1)).astype(np.float32)
bpw = np.zeros(12, np.float32)
Wg = rng.uniform(-0.2, 0.2, (12, 6, 3, 3)).astype(np.float32)
bg = rng.uniform(-0.2, 0.2, (12,)).astype(np.float32)
mobile = save("mobile", [
    helper.make_node("Conv", ["im8", "Wdw", "bdw"], ["dw"], name="depthwise", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], group=8),
    helper.make_node("BatchNormalization", ["dw", "gam", "bet", "mu", "var"], ["bn"], name="bn", epsilon=1e-3),
    helper.make_node("Relu", ["bn"], ["r"], name="relu"),
    helper.make_node("Conv", ["r", "Wpw", "bpw"], ["pw"], name="pointwise", kernel_shape=[1, 1]),
    helper.make_node("Conv", ["pw", "Wg", "bg"], ["out"], name="grouped", kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=2),
], [helper.make_tensor_value_info("im8", TensorProto.FLOAT, [1, 8, 20, 20])],
   [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 12, 10, 10])],
   {"Wdw": Wdw, "bdw": bdw, "gam": gam, "bet": bet, "mu": mu, "var": var, "Wpw": Wpw, "bpw": bpw, "Wg": Wg, "bg": bg})
im8 = rng.uniform(-1, 1, (1, 8, 20, 20)).astype(np.float32)
dw = conv_grouped(im8, Wdw, bdw, 8, stride=2, pad=1)
bn = (dw - mu.reshape(1, -1, 1, 1)) / np.sqrt(var.reshape(1, -1, 1, 1) + 1e-3) * gam.reshape(1, -1, 1, 1) + bet.reshape(1, -1, 1, 1)
ref = conv_grouped(conv2d(np.maximum(bn, 0), Wpw, bpw), Wg, bg, 2, pad=1)
for config in ("edge.yaml", "datacenter.yaml"):
    out, _ = run(mobile, config, {"im8": im8}, "fp16")
    check(f"mobile block {config} fp16", np.load(os.path.join(out, "out.npy")), ref, "fp16")

# 6. Softmax on the NPU: an MLP classifier ending in Softmax (VPU reduce/sfu, MXU broadcasts); then
#    host fallback: a Softplus in the middle (no NPU lowering) runs on the host between barriers and
#    stats report the ratio. --no-fallback and `compile` refuse it, and an operator with neither an
#    NPU lowering nor a host kernel is an error naming the node.
clf = save("classifier", [
    helper.make_node("Gemm", ["x", "W1", "b1"], ["h"], name="fc1", transB=1),
    helper.make_node("Relu", ["h"], ["r"], name="relu"),
    helper.make_node("MatMul", ["r", "W2"], ["logits"], name="fc2"),
    helper.make_node("Softmax", ["logits"], ["probs"], name="probs", axis=-1),
], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 64])],
   [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [8, 40])], {"W1": W1, "b1": b1, "W2": W2})
xs = rng.uniform(-2, 2, (8, 64)).astype(np.float32)
z = np.maximum(xs @ W1.T + b1, 0) @ W2
ref = np.exp(z - z.max(axis=1, keepdims=True))
ref /= ref.sum(axis=1, keepdims=True)
for config in ("edge.yaml", "datacenter.yaml"):
    out, stats = run(clf, config, {"x": xs}, "fp16")
    check(f"classifier with Softmax on the NPU {config} fp16", np.load(os.path.join(out, "probs.npy")), ref, "fp16")
    ok = stats.get("fallback", {}).get("host_operators") == 0
    print("  no host fallback:", "ok" if ok else "FAIL")
    failures += not ok
leaky = save("leaky", [
    helper.make_node("Gemm", ["x", "W1", "b1"], ["h"], name="fc1", transB=1),
    helper.make_node("Softplus", ["h"], ["r"], name="leaky"),
    helper.make_node("MatMul", ["r", "W2"], ["y"], name="fc2"),
], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 64])],
   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8, 40])], {"W1": W1, "b1": b1, "W2": W2})
h = xs @ W1.T + b1
ref = np.log1p(np.exp(h)) @ W2
out, stats = run(leaky, "edge.yaml", {"x": xs}, "fp16")
check("MLP with a host Softplus edge fp16", np.load(os.path.join(out, "y.npy")), ref, "fp16")
fb = stats.get("fallback", {})
ok = fb.get("host_operators") == 1 and fb.get("npu_operators") == 2 and fb.get("host") == ["leaky"]
print("fallback ratio in stats:", "ok" if ok else "FAIL %s" % fb)
failures += not ok
cfg = os.path.join(REPO, "configs", "edge.yaml")
for args, want in ((["run", "--config", cfg, leaky, "--random-inputs", "1", "--no-fallback"],
                    "node 'leaky' (Softplus): operator not supported on the NPU by this compiler"),
                   (["compile", leaky, "--config", cfg, "-o", os.path.join(WORK, "c.npub")],
                    "1 operator(s) would run on the host: leaky (Softplus)")):
    r = subprocess.run([NPUSIM] + args, capture_output=True, text=True)
    ok = r.returncode == 2 and want in r.stderr
    print("fallback refused (%s):" % args[0], "ok" if ok else "FAIL " + r.stderr)
    failures += not ok
hs = save("softsign", [helper.make_node("Softsign", ["x"], ["y"], name="gate")],
          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])], {})
r = subprocess.run([NPUSIM, "run", "--config", cfg, hs, "--random-inputs", "1"], capture_output=True, text=True)
ok = r.returncode == 2 and "node 'gate' (Softsign): operator not supported on the NPU" in r.stderr and "no host kernel either" in r.stderr
print("unsupported operator:", "ok" if ok else "FAIL " + r.stderr)
failures += not ok

# 7. Found by fuzz_onnx: a stride that leaves a 1-pixel-wide image, then a 2x2 pool whose window
#    is larger than that image; a clear error, not an invalid program.
narrow = save("narrow_pool", [
    helper.make_node("Conv", ["img", "Wc1", "bc1"], ["c"], name="conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 47]),
    helper.make_node("MaxPool", ["c"], ["y"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
], [helper.make_tensor_value_info("img", TensorProto.FLOAT, [2, 3, 32, 32])],
   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 16, 8, 1])], {"Wc1": Wc1, "bc1": bc1})
r = subprocess.run([NPUSIM, "compile", narrow, "--config", os.path.join(REPO, "configs", "edge.yaml"), "-o", os.path.join(WORK, "n.npub")],
                   capture_output=True, text=True)
ok = r.returncode == 2 and "node 'pool' (MaxPool): the window is larger than the padded input" in r.stderr
print("pool window larger than the image:", "ok" if ok else "FAIL " + r.stderr)
failures += not ok

def compile_error(graph, name, want, label):
    """Saves `graph` unchecked (the ONNX checker would refuse or crash on it), compiles it and checks
    for exit 2 with `want` in the message; returns 1 on failure."""
    path = os.path.join(WORK, name + ".onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    r = subprocess.run([NPUSIM, "compile", path, "--config", os.path.join(REPO, "configs", "edge.yaml"), "-o",
                        os.path.join(WORK, name + ".npub")], capture_output=True, text=True)
    ok = r.returncode == 2 and want in r.stderr
    print(label + ":", "ok" if ok else "FAIL rc=%d %s" % (r.returncode, r.stderr))
    return int(not ok)


# 8. Found by fuzz_onnx: a zero stride used to crash libonnx's shape inference (division by zero).
g = helper.make_graph([helper.make_node("MaxPool", ["im"], ["mp"], name="pool0", kernel_shape=[3, 3], strides=[0, 2])], "zero_stride",
                      [helper.make_tensor_value_info("im", TensorProto.FLOAT, [1, 8, 96, 96])],
                      [helper.make_tensor_value_info("mp", TensorProto.FLOAT, None)])
failures += compile_error(g, "zero_stride", "node 'pool0' (MaxPool): strides must be positive, got 0", "zero stride")

# 8b. Found by fuzz_onnx: a Transpose whose perm has fewer entries than its input has axes read past
#     the attribute (a heap overflow in the NPU lowering); an error naming the node.
g = helper.make_graph([helper.make_node("Transpose", ["t"], ["tt"], name="transpose0", perm=[2, 1])], "short_perm",
                      [helper.make_tensor_value_info("t", TensorProto.FLOAT, [3, 70, 130])],
                      [helper.make_tensor_value_info("tt", TensorProto.FLOAT, [130, 70])])  # what shape inference makes of it
failures += compile_error(g, "short_perm", "node 'transpose0' (Transpose): perm is not a permutation of the 3 axes of its input",
                          "short Transpose perm")

# 8c. Found by fuzz_onnx: a Clip bound of NaN reached a float-to-int conversion (undefined
#     behaviour); an error naming the node.
g = helper.make_graph([helper.make_node("Clip", ["t", "lo"], ["tt"], name="clip0")], "nan_clip",
                      [helper.make_tensor_value_info("t", TensorProto.FLOAT, [4, 8])],
                      [helper.make_tensor_value_info("tt", TensorProto.FLOAT, [4, 8])],
                      [numpy_helper.from_array(np.array(np.nan, np.float32), "lo")])
failures += compile_error(g, "nan_clip", "node 'clip0' (Clip): a NaN bound (min or max) is not supported", "NaN Clip bound")

# 8d. Found by fuzz_onnx: an initializer whose dims multiply past 2^63 overflowed (undefined
#     behaviour) before its data was checked; an input error.
w = onnx.TensorProto()
w.name, w.data_type = "w", TensorProto.FLOAT
w.dims.extend([1 << 40, 1 << 40])
g = helper.make_graph([helper.make_node("Relu", ["t"], ["tt"], name="relu0")], "huge_dims",  # w: an unused initializer
                      [helper.make_tensor_value_info("t", TensorProto.FLOAT, [4, 8])],
                      [helper.make_tensor_value_info("tt", TensorProto.FLOAT, [4, 8])], [w])
failures += compile_error(g, "huge_dims", "initializer 'w': dims of 2 axes give a negative or impossible element count",
                          "initializer dims past 2^63")

# 8e. Wrong answers or internal errors before (issue 15): each is now a compile error naming the
#     node or output. An output that is an initializer was written as zeros; a Reshape whose
#     declared output has another element count faulted at run time (REGION_BOUNDS); negative
#     MaxPool pads were "internal error: the generated program is invalid".
g = helper.make_graph([helper.make_node("Relu", ["t"], ["tt"], name="relu0")], "const_output",
                      [helper.make_tensor_value_info("t", TensorProto.FLOAT, [1, 16])],
                      [helper.make_tensor_value_info("tt", TensorProto.FLOAT, [1, 16]),
                       helper.make_tensor_value_info("c", TensorProto.FLOAT, [1, 16])],
                      [numpy_helper.from_array(np.ones((1, 16), np.float32), "c")])
failures += compile_error(g, "const_output", "graph output 'c' is a constant (an initializer)", "constant graph output")
g = helper.make_graph([helper.make_node("Reshape", ["t", "s"], ["tt"], name="reshape0")], "reshape_count",
                      [helper.make_tensor_value_info("t", TensorProto.FLOAT, [1, 16])],
                      [helper.make_tensor_value_info("tt", TensorProto.FLOAT, [1, 20])],
                      [numpy_helper.from_array(np.array([1, 20], np.int64), "s")])
failures += compile_error(g, "reshape_count", "node 'reshape0' (Reshape): [1, 16] has 16 elements; the output [1, 20] has 20",
                          "Reshape element count")
g = helper.make_graph([helper.make_node("MaxPool", ["im"], ["mp"], name="pool0", kernel_shape=[2, 2], pads=[-1, -1, 0, 0])],
                      "negative_pads", [helper.make_tensor_value_info("im", TensorProto.FLOAT, [1, 4, 8, 8])],
                      [helper.make_tensor_value_info("mp", TensorProto.FLOAT, [1, 4, 6, 6])])
failures += compile_error(g, "negative_pads", "node 'pool0' (MaxPool): pads must not be negative", "negative pool pads")

# 10. Transpose on the NPU: DMA permutations and VPU tile transposes (rank 3, tiled), no host work.
for perm in ((2, 0, 1), (1, 2, 0), (0, 2, 1), (1, 0, 2)):
    tp = save("transpose_" + "".join(map(str, perm)), [helper.make_node("Transpose", ["t"], ["tt"], name="transpose", perm=list(perm))],
              [helper.make_tensor_value_info("t", TensorProto.FLOAT, [3, 70, 130])],
              [helper.make_tensor_value_info("tt", TensorProto.FLOAT, [[3, 70, 130][p] for p in perm])], {})
    tv = rng.uniform(-4, 4, (3, 70, 130)).astype(np.float32)
    out, stats = run(tp, "edge.yaml", {"t": tv}, "fp16")
    got = np.load(os.path.join(out, "tt.npy"))
    want = np.transpose(tv.astype(np.float16).astype(np.float32), perm)
    ok = got.shape == want.shape and np.array_equal(got, want) and stats["fallback"]["host_operators"] == 0
    print(f"transpose {perm} on the NPU:", "exact" if ok else "FAIL")
    failures += not ok

# 9. compile writes a program that disassembles and reassembles identically.
npub = os.path.join(WORK, "mlp.npub")
subprocess.run([NPUSIM, "compile", mlp, "--config", os.path.join(REPO, "configs", "edge.yaml"), "-o", npub], check=True, capture_output=True)
subprocess.run([NPUSIM, "disasm", npub, "-o", npub + ".npus"], check=True)
subprocess.run([NPUSIM, "asm", npub + ".npus", "-o", npub + ".re.npub"], check=True, capture_output=True)
ok = open(npub, "rb").read() == open(npub + ".re.npub", "rb").read()
print("compiled program round trip:", "ok" if ok else "FAIL")
failures += not ok

sys.exit(1 if failures else 0)
