#!/usr/bin/python3
"""QDQ models (float graphs with QuantizeLinear/DequantizeLinear pairs, as quantize_static with
QuantFormat.QDQ writes them) through `npusim run --no-fallback`, against a NumPy implementation
of the ONNX definitions of the QDQ graph itself (every DequantizeLinear, float operator and
QuantizeLinear evaluated as written, in float64/float32, round half to even).

The compiler fuses DQ -> Conv/MatMul/Gemm -> Q into QLinearConv/QLinearMatMul and runs MaxPool,
Reshape, Flatten, Transpose, Concat on the integers (compiler/qdq.cpp). Integer accumulation then
one requantization equals the QDQ graph's float arithmetic exactly when the scales are powers of
two (every product and sum is exact, so there is nothing to round until the Q): models 1-3 use
such scales and every integer output must be bit-exact, the float output after the last
DequantizeLinear equal to (q - zp) * scale in fp16 (the device's float type; exact for these
scales). Model 4 is a small torch CNN exported to ONNX and quantized here as quantize_static
places Q/DQ (onnxruntime is not installed): per-channel symmetric int8 weights, uint8
activations with calibrated ranges, int32 biases with scale sx * sw. It is checked twice:
scales rounded to powers of two (bit-exact), and the calibrated scales as they are, where the
fused integer program and the float QDQ graph may differ by one step in a few elements (the
float graph rounds its sums; ONNX Runtime's fused kernels differ from it the same way). Float
inputs are given as fp16 values (the device's float type), so the first Q sees what NumPy sees.
The compiled programs (`npusim compile`, then `npusim disasm`) must have integer MXU matmuls
only and no VPU multiply (a float Conv/MatMul/Gemm would use an fp16 matmul, a float depthwise
Conv fp16 VPU multiplies); a Relu whose Q zero point is above qmin is not fused, and that Conv
must stay float (within one step of the reference).

usage: check_qdq.py NPUSIM REPO_DIR WORK_DIR
"""
import os
import re
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

NPUSIM, REPO, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(WORK, exist_ok=True)
rng = np.random.default_rng(23)
failures = 0
CONFIGS = ["edge.yaml", "datacenter.yaml"]


def check(label, ok, detail=""):
    global failures
    print(f"{label}: {'ok' if ok else 'FAIL'}{detail}")
    failures += not ok


# ---------------------------------------------------------------- the QDQ graph in NumPy (ONNX definitions)
def conv2d(x, w, b, strides, pads, group=1):
    n, c, h, wd = x.shape
    co, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (h + pads[0] + pads[2] - kh) // strides[0] + 1
    ow = (wd + pads[1] + pads[3] - kw) // strides[1] + 1
    y = np.zeros((n, co, oh, ow))
    cog = co // group
    for g in range(group):
        xs = xp[:, g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i:i + strides[0] * oh:strides[0], j:j + strides[1] * ow:strides[1]]
                y[:, g * cog:(g + 1) * cog] += np.einsum("nchw,oc->nohw", patch, w[g * cog:(g + 1) * cog, :, i, j])
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def pool(x, kernel, strides, pads, op):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])), constant_values=-np.inf if op == "max" else 0)
    oh, ow = (h + pads[0] + pads[2] - kernel[0]) // strides[0] + 1, (w + pads[1] + pads[3] - kernel[1]) // strides[1] + 1
    win = [xp[:, :, i:i + strides[0] * oh:strides[0], j:j + strides[1] * ow:strides[1]] for i in range(kernel[0]) for j in range(kernel[1])]
    return np.max(win, axis=0) if op == "max" else np.mean(win, axis=0)


def channel_shape(v, axis, rank):
    v = np.asarray(v, np.float64)
    if v.ndim == 0 or v.size == 1:
        return v.reshape(())
    s = [1] * rank
    s[axis] = -1
    return v.reshape(s)


def reference(model, feeds, everything=False):
    """Evaluates the QDQ graph node by node as ONNX defines each operator."""
    env = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    env.update(feeds)
    for n in model.graph.node:
        a = {x.name: helper.get_attribute_value(x) for x in n.attribute}
        i = [env[x] if x else None for x in n.input]
        op = n.op_type
        if op == "QuantizeLinear":
            zp = i[2] if len(i) > 2 else np.uint8(0)
            ax = a.get("axis", 1)
            q = np.rint(i[0].astype(np.float32) / channel_shape(i[1], ax, i[0].ndim).astype(np.float32))
            info = np.iinfo(zp.dtype)
            y = np.clip(q + channel_shape(zp, ax, i[0].ndim), info.min, info.max).astype(zp.dtype)
        elif op == "DequantizeLinear":
            ax = a.get("axis", 1)
            zp = i[2] if len(i) > 2 else 0
            y = ((i[0].astype(np.float64) - channel_shape(zp, ax, i[0].ndim)).astype(np.float32) *
                 channel_shape(i[1], ax, i[0].ndim).astype(np.float32)).astype(np.float32)
        elif op == "Conv":
            y = conv2d(i[0].astype(np.float64), i[1].astype(np.float64), None if len(i) < 3 else i[2].astype(np.float64),
                       a.get("strides", [1, 1]), a.get("pads", [0, 0, 0, 0]), a.get("group", 1))
        elif op == "Relu":
            y = np.maximum(i[0], 0)
        elif op == "Clip":
            y = np.clip(i[0], i[1], i[2])
        elif op == "MaxPool":
            y = pool(i[0], a["kernel_shape"], a.get("strides", [1, 1]), a.get("pads", [0, 0, 0, 0]), "max")
        elif op == "AveragePool":
            y = pool(i[0], a["kernel_shape"], a.get("strides", [1, 1]), a.get("pads", [0, 0, 0, 0]), "avg")
        elif op == "GlobalAveragePool":
            y = i[0].mean(axis=(2, 3), keepdims=True)
        elif op == "Flatten":
            ax = a.get("axis", 1)
            y = i[0].reshape(int(np.prod(i[0].shape[:ax])), -1)
        elif op == "Reshape":
            y = i[0].reshape(i[1])
        elif op == "Transpose":
            y = np.transpose(i[0], a.get("perm"))
        elif op == "Concat":
            y = np.concatenate(i, axis=a["axis"])
        elif op == "MatMul":
            y = i[0].astype(np.float64) @ i[1].astype(np.float64)
        elif op == "Gemm":
            b = i[1].T if a.get("transB", 0) else i[1]
            y = i[0].astype(np.float64) @ b.astype(np.float64)
            if len(i) > 2:
                y = y + i[2]
        elif op == "Add":
            y = i[0].astype(np.float64) + i[1]
        else:
            raise ValueError(op)
        if y.dtype == np.float64:
            y = y.astype(np.float32)
        env[n.output[0]] = y
    return env if everything else {o.name: env[o.name] for o in model.graph.output}


# ---------------------------------------------------------------- building QDQ graphs
class Builder:
    """A QDQ graph written the way quantize_static places Q/DQ."""

    def __init__(self):
        self.nodes, self.inits, self.count = [], {}, 0

    def name(self, base):
        self.count += 1
        return f"{base}_{self.count}"

    def const(self, base, v):
        k = self.name(base)
        self.inits[k] = v
        return k

    def node(self, op, ins, **attrs):
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, ins, [out], name=out, **attrs))
        return out

    def q(self, x, s, zp, out=None):
        out = out or self.name("q")
        self.nodes.append(helper.make_node("QuantizeLinear", [x, self.const("s", np.float32(s)), self.const("z", zp)], [out], name=out))
        return out

    def dq(self, x, s, zp, axis=None, out=None):
        out = out or self.name("dq")
        kw = {} if axis is None else {"axis": axis}
        self.nodes.append(helper.make_node("DequantizeLinear", [x, self.const("s", np.asarray(s, np.float32)),
                                                                self.const("z", zp)], [out], name=out, **kw))
        return out

    def qdq(self, x, s, zp):
        return self.dq(self.q(x, s, zp), s, zp)

    def weights(self, w, axis):
        """Per-channel symmetric int8 weights along `axis`: (DQ output, scales)."""
        red = tuple(d for d in range(w.ndim) if d != axis)
        sw = np.maximum(np.abs(w).max(axis=red), 1e-8) / 127
        return sw.astype(np.float32)

    def wdq(self, wq, sw, axis):
        return self.dq(self.const("w", wq), sw, np.zeros(len(sw), np.int8), axis=axis)

    def bdq(self, bq, sb):
        return self.dq(self.const("b", bq), sb, np.zeros(len(sb), np.int32), axis=0)

    def save(self, name, inputs, outputs):
        g = helper.make_graph(self.nodes, name, inputs, outputs, [numpy_helper.from_array(np.asarray(v), k) for k, v in self.inits.items()])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        m.ir_version = 8
        onnx.checker.check_model(m)
        path = os.path.join(WORK, name + ".onnx")
        onnx.save(m, path)
        return m, path


def pow2(s):
    return np.float32(2.0 ** np.round(np.log2(s)))


def run(model, config, feeds):
    out = os.path.join(WORK, os.path.basename(model) + "." + config)
    cmd = [NPUSIM, "run", "--config", os.path.join(REPO, "configs", config), model, "--no-fallback", "--output-dir", out, "--quiet"]
    for k, v in feeds.items():
        p = out + "." + k + ".npy"
        np.save(p, v)
        cmd += ["--input", f"{k}={p}"]
    subprocess.run(cmd, check=True)
    return out


def compare(label, path, model, feeds, exact=True):
    # float inputs as the device holds them (fp16), so the Q of an input sees the same value
    feeds = {k: v.astype(np.float16).astype(np.float32) if v.dtype == np.float32 else v for k, v in feeds.items()}
    want = reference(model, feeds)
    for config in CONFIGS:
        out = run(path, config, feeds)
        for name, w in want.items():
            got = np.load(os.path.join(out, name + ".npy"))
            if got.shape != w.shape:
                check(f"{label} {config} {name}", False, f" shape {got.shape} vs {w.shape}")
                continue
            if w.dtype.kind in "iu":
                d = np.abs(got.astype(np.int64) - w.astype(np.int64))
                if exact:
                    check(f"{label} {config} {name} ({w.dtype}, {w.size} values)", got.dtype == w.dtype and not d.any(),
                          " bit-exact" if not d.any() else f" {np.count_nonzero(d)} differ, max {d.max()}")
                else:
                    check(f"{label} {config} {name} ({w.dtype}, {w.size} values)", got.dtype == w.dtype and d.max() <= 1,
                          f" {np.count_nonzero(d)} differ by one step, max {d.max()}")
            else:
                w16 = w.astype(np.float16).astype(np.float32)
                if exact:
                    check(f"{label} {config} {name} (float)", np.array_equal(got.astype(np.float32), w16),
                          " equal to the reference in fp16" if np.array_equal(got.astype(np.float32), w16) else
                          f" max err {np.abs(got - w).max():.3g}")
                else:
                    err = np.abs(got - w).max() / max(np.abs(w).max(), 1e-6)
                    check(f"{label} {config} {name} (float)", err <= 0.02, f" max rel err {err:.2e}")


def compute_types(path):
    """The dtypes of the compiled program's MXU matmuls and VPU multiplies (a float depthwise Conv
    runs as VPU mul/add; DequantizeLinear and QuantizeLinear use sub, copy and requant)."""
    npub = os.path.join(WORK, os.path.basename(path) + ".npub")
    subprocess.run([NPUSIM, "compile", path, "--config", os.path.join(REPO, "configs", "edge.yaml"), "-o", npub, "--no-fallback"],
                   check=True, capture_output=True)
    text = subprocess.run([NPUSIM, "disasm", npub], check=True, capture_output=True, text=True).stdout
    compute_types.markers = re.findall(r"^\.marker (\S+)", text, re.M)  # one per lowered node
    return (re.findall(r"^\s*matmul .*dtype=(\w+)", text, re.M), re.findall(r"^\s*mul .*dtype=(\w+)", text, re.M))


def no_float_compute(label, path):
    """Every MXU matmul is integer (u8/i8) and no VPU multiply is left: no float Conv/MatMul/Gemm."""
    mm, mul = compute_types(path)
    check(f"{label}: integer matmuls only, no float multiply", bool(mm) and set(mm) <= {"u8", "i8"} and not mul,
          f" ({len(mm)} matmuls, dtypes {sorted(set(mm))}; {len(mul)} VPU mul)")

def quant_w(w, axis, p2):
    red = tuple(d for d in range(w.ndim) if d != axis)
    sw = (np.maximum(np.abs(w).max(axis=red), 1e-8) / 127).astype(np.float32)
    if p2:
        sw = pow2(sw)
    return np.clip(np.rint(w / channel_shape(sw, axis, w.ndim)), -127, 127).astype(np.int8), sw


# ---------------------------------------------------------------- 1. a CNN with power-of-two scales
b = Builder()
w1q, sw1 = quant_w(rng.normal(0, 0.3, (8, 3, 3, 3)), 0, True)
w2q, sw2 = quant_w(rng.normal(0, 0.2, (6, 8, 3, 3)), 0, True)
w3q, sw3 = quant_w(rng.normal(0, 0.2, (10, 6)), 0, True)
sx, s1, s2, s3 = np.float32(2.0**-5), np.float32(2.0**-3), np.float32(2.0**-2), np.float32(2.0**-1)
x = b.qdq("x", sx, np.uint8(128))
c = b.node("Conv", [x, b.wdq(w1q, sw1, 0), b.bdq(rng.integers(-3000, 3000, 8).astype(np.int32), sx * sw1)], pads=[1, 1, 1, 1])
c = b.node("Relu", [c])
c1 = b.q(c, s1, np.uint8(0), out="c1")
p = b.q(b.node("MaxPool", [b.dq(c1, s1, np.uint8(0))], kernel_shape=[2, 2], strides=[2, 2]), s1, np.uint8(0))
p = b.q(b.node("Relu", [b.dq(p, s1, np.uint8(0))]), s1, np.uint8(0))  # its own Q/DQ: the identity on the integers
c2 = b.q(b.node("Conv", [b.dq(p, s1, np.uint8(0)), b.wdq(w2q, sw2, 0)], strides=[2, 2]), s2, np.int8(3), out="c2")
p2 = b.q(b.node("MaxPool", [b.dq(c2, s2, np.int8(3))], kernel_shape=[2, 2]), s2, np.int8(3))
f = b.q(b.node("Flatten", [b.dq(p2, s2, np.int8(3))]), s2, np.int8(3))
yq = b.q(b.node("Gemm", [b.dq(f, s2, np.int8(3)), b.wdq(w3q, sw3, 0), b.bdq(rng.integers(-500, 500, 10).astype(np.int32), s2 * sw3)],
                transB=1), s3, np.int8(-2), out="yq")
b.dq(yq, s3, np.int8(-2), out="y")
m1, p1 = b.save("qdq_pow2_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 12, 12])],
                [helper.make_tensor_value_info("c1", TensorProto.UINT8, [1, 8, 12, 12]),
                 helper.make_tensor_value_info("c2", TensorProto.INT8, [1, 6, 2, 2]),
                 helper.make_tensor_value_info("yq", TensorProto.INT8, [1, 10]),
                 helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])])
compare("qdq_pow2_cnn", p1, m1, {"x": rng.uniform(-4, 4, (1, 3, 12, 12)).astype(np.float32)})
no_float_compute("qdq_pow2_cnn", p1)
kinds = [re.sub(r"_\d+$", "", k) for k in compute_types.markers]
check("qdq_pow2_cnn: the program's nodes are Q, 2 Conv, 2 MaxPool, Flatten, Gemm, DQ (the Relus and inner Q/DQ gone)",
      kinds == ["q", "conv", "maxpool", "conv", "maxpool", "flatten", "gemm", "y"], f" ({kinds})")

# ---------------------------------------------------------------- 2. MatMul (int8, per-column weights), data movement, Add
b = Builder()
wq, sw = quant_w(rng.normal(0, 0.5, (16, 12)), 1, True)
sa, sm = np.float32(2.0**-4), np.float32(2.0**-2)
za, zm = np.int8(0), np.int8(-5)
mm = b.q(b.node("MatMul", [b.qdq("a", sa, za), b.wdq(wq, sw, 1)]), sm, zm, out="mm")
t = b.q(b.node("Transpose", [b.dq(mm, sm, zm)], perm=[1, 0]), sm, zm)
r = b.q(b.node("Reshape", [b.dq(t, sm, zm), b.const("shape", np.array([3, 16], np.int64))]), sm, zm, out="r")
u = b.q("u", sm, zm)
cat = b.q(b.node("Concat", [b.dq(r, sm, zm), b.dq(u, sm, zm)], axis=0), sm, zm, out="cat")
add = b.q(b.node("Add", [b.dq(r, sm, zm), b.dq(u, sm, zm)]), np.float32(2.0**-1), np.int8(0), out="sum")
m2, p2 = b.save("qdq_matmul_moves", [helper.make_tensor_value_info("a", TensorProto.FLOAT, [4, 16]),
                                      helper.make_tensor_value_info("u", TensorProto.FLOAT, [3, 16])],
                [helper.make_tensor_value_info(n, TensorProto.INT8, s) for n, s in
                 [("mm", [4, 12]), ("r", [3, 16]), ("cat", [6, 16]), ("sum", [3, 16])]])
compare("qdq_matmul_moves", p2, m2, {"a": rng.uniform(-8, 8, (4, 16)).astype(np.float32),
                                     "u": rng.uniform(-30, 30, (3, 16)).astype(np.float32)})
no_float_compute("qdq_matmul_moves", p2)

# ---------------------------------------------------------------- 3. depthwise Conv with Clip(0, 8) folded, int8 in
b = Builder()
wdq, swd = quant_w(rng.normal(0, 0.5, (4, 1, 3, 3)), 0, True)
sx, sy = np.float32(2.0**-4), np.float32(2.0**-5)
c = b.node("Conv", [b.qdq("x", sx, np.int8(-10)), b.wdq(wdq, swd, 0), b.bdq(rng.integers(-200, 200, 4).astype(np.int32), sx * swd)],
           group=4, pads=[1, 1, 1, 1], strides=[2, 2])
c = b.node("Clip", [c, b.const("lo", np.float32(0)), b.const("hi", np.float32(8))])
b.q(c, sy, np.uint8(0), out="yq")
m3, p3 = b.save("qdq_depthwise_clip", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4, 9, 9])],
                [helper.make_tensor_value_info("yq", TensorProto.UINT8, [2, 4, 5, 5])])
compare("qdq_depthwise_clip", p3, m3, {"x": rng.uniform(-8, 8, (2, 4, 9, 9)).astype(np.float32)})
no_float_compute("qdq_depthwise_clip", p3)

# ---------------------------------------------------------------- 3b. not fused: Relu with a zero point above qmin
# Q(relu(v)) with zp = 10 clamps at 10, which the Q alone does not: the group stays float (the
# DequantizeLinear of the weights and of the int32 bias folded into constants), within one step.
b = Builder()
c = b.node("Conv", [b.qdq("x", sx, np.int8(-10)), b.wdq(wdq, swd, 0), b.bdq(rng.integers(-200, 200, 4).astype(np.int32), sx * swd)],
           group=4, pads=[1, 1, 1, 1])
b.q(b.node("Relu", [c]), sy, np.uint8(10), out="yq")
m3b, p3b = b.save("qdq_relu_unfused", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])],
                  [helper.make_tensor_value_info("yq", TensorProto.UINT8, [1, 4, 6, 6])])
compare("qdq_relu_unfused", p3b, m3b, {"x": rng.uniform(-8, 8, (1, 4, 6, 6)).astype(np.float32)}, exact=False)
mm, mul = compute_types(p3b)
check("qdq_relu_unfused: the Conv stays float", not mm and mul and set(mul) == {"fp16"}, f" ({len(mul)} fp16 VPU mul, {len(mm)} matmuls)")

# ---------------------------------------------------------------- 4. a torch CNN, quantized as quantize_static would
import torch  # noqa: E402


class SmallCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.c2 = torch.nn.Conv2d(8, 16, 3, padding=1)
        self.fc = torch.nn.Linear(16, 10)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.c1(x)), 2)
        x = torch.nn.functional.max_pool2d(torch.relu(self.c2(x)), 2)
        x = torch.nn.functional.max_pool2d(x, 4)  # to 1 x 1 (a global max)
        return self.fc(torch.flatten(x, 1))


torch.manual_seed(5)
float_path = os.path.join(WORK, "small_cnn.onnx")
torch.onnx.export(SmallCNN().eval(), torch.zeros(1, 3, 16, 16), float_path, opset_version=13, input_names=["x"],
                  output_names=["logits"], do_constant_folding=True)
float_model = onnx.load(float_path)
calib = [rng.normal(0, 1, (1, 3, 16, 16)).astype(np.float32) for _ in range(8)]


def quantize_static(fm, calib, p2):
    """QDQ insertion as ONNX Runtime's quantize_static (QuantFormat.QDQ, per_channel=True) does it:
    uint8 asymmetric activations from the calibrated min/max (0 always in range), a shared Q/DQ
    pair per activation tensor, MaxPool/Flatten/Reshape outputs keeping their input's parameters,
    per-channel symmetric int8 weights (axis 0 of Conv and Gemm's transposed B), int32 biases with
    scale sx * sw. The Relu stays before its Q (whose zero point is 0). p2: scales rounded to
    powers of two."""
    inits = {t.name: numpy_helper.to_array(t) for t in fm.graph.initializer}
    lo, hi = {}, {}
    for c in calib:
        env = reference(fm, {"x": c}, everything=True)
        for k, v in env.items():
            if k not in inits:
                lo[k], hi[k] = min(lo.get(k, 0.0), float(v.min())), max(hi.get(k, 0.0), float(v.max()))
    b = Builder()
    qp = {}

    def params_for(t):
        s = np.float32((hi[t] - lo[t]) / 255)
        if p2:
            s = np.float32(2.0 ** np.ceil(np.log2(s)))
        return s, np.uint8(np.clip(np.rint(-lo[t] / s), 0, 255))

    def quantized(t, params=None):  # the DQ output of activation t, created once after t
        if t not in qp:
            s, z = params or params_for(t)
            qp[t] = (b.dq(b.q(t, s, z), s, z), s, z)
        return qp[t]

    readers = {}
    for n in fm.graph.node:
        for i in n.input:
            readers.setdefault(i, []).append(n.op_type)
    out_name = fm.graph.output[0].name
    quantized("x")
    for n in fm.graph.node:
        op, ins, out = n.op_type, list(n.input), n.output[0]
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        if op in ("Conv", "Gemm"):
            xd, sx, _ = quantized(ins[0])
            wq, sw = quant_w(inits[ins[1]].astype(np.float64), 0, p2)
            bq = np.rint(inits[ins[2]].astype(np.float64) / (sx * sw).astype(np.float64)).astype(np.int32)
            y = out + "__float" if readers.get(out) != ["Relu"] else out
            b.nodes.append(helper.make_node(op, [xd, b.wdq(wq, sw, 0), b.bdq(bq, (sx * sw).astype(np.float32))], [y], name=n.name, **attrs))
            if out == out_name:  # the logits: the Q output and its DequantizeLinear are graph outputs
                s, z = params_for(out)
                b.dq(b.q(y, s, z, out="logits_q"), s, z, out=out_name)
            elif y != out:
                qp[out] = quantized(y, params_for(out))
        elif op in ("Relu",):
            b.nodes.append(helper.make_node(op, ins, [out], name=n.name))
            quantized(out)
        elif op in ("MaxPool", "Flatten", "Reshape"):
            xd, s, z = quantized(ins[0])
            y = out + "__float"
            b.nodes.append(helper.make_node(op, [xd] + ins[1:], [y], name=n.name, **attrs))
            for k in ins[1:]:
                b.inits[k] = inits[k]
            qp[y] = (b.dq(b.q(y, s, z), s, z), s, z)
            qp[out] = qp[y]
        else:
            raise ValueError(op)
    return b.save("small_cnn_qdq_" + ("pow2" if p2 else "calibrated"),
                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                  [helper.make_tensor_value_info("logits_q", TensorProto.UINT8, [1, 10]),
                   helper.make_tensor_value_info(out_name, TensorProto.FLOAT, [1, 10])])


for p2 in (True, False):
    m4, p4 = quantize_static(float_model, calib, p2)
    label = "small_cnn_qdq_" + ("pow2" if p2 else "calibrated")
    for k in range(3):
        compare(f"{label} sample {k}", p4, m4, {"x": rng.normal(0, 1, (1, 3, 16, 16)).astype(np.float32)}, exact=p2)
    no_float_compute(label, p4)

print("FAILED" if failures else "all QDQ checks passed", f"({failures} failures)")
sys.exit(1 if failures else 0)
