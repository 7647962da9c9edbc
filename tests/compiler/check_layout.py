#!/usr/bin/python3
"""Layout operators on the NPU (compiler/ops/layout.cpp, slice.cpp, pad.cpp), against NumPy.

Images (the tensors of Conv and the pools) live NHWC on the device, other tensors row-major; each
model here puts a layout operator where a consumer needs the other layout or works on an image
directly: an image flattened and reshaped (vit's patch embedding), transposed to a row-major
NHWC tensor and back (convnext: the same bytes, so those Transposes take no cycles), transposed
otherwise, concatenated with a row-major tensor, shufflenet's channel shuffle (Reshape to rank 5,
Transpose, Reshape), Pad in constant/reflect/edge mode (pads as input and as opset-10
attributes, negative pads), Slice with steps (negative too), Split, Squeeze/Unsqueeze, Expand and
Tile, on images and row-major tensors, a computed row-major [1, C, 1, 1] operand broadcast per
channel over an image, rows longer than 4095 elements, and int8 post-training quantization of
three of them (the float reference evaluates the layout operators). Each runs with --no-fallback on edge and datacenter and
must match NumPy within the fp16 bound of check_models.py; what cannot run is an error naming the
node, the operator and what is missing (exit 2).

usage: check_layout.py NPUSIM REPO_DIR WORK_DIR
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
rng = np.random.default_rng(5)
failures = 0
BOUND = 8 * 2.0**-10


def save(name, nodes, inputs, outputs, inits, opset=13):
    g = helper.make_graph(nodes, name, inputs, outputs, [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    path = os.path.join(WORK, name + ".onnx")
    onnx.save(m, path)
    return path


def vi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def conv1x1(x_name, y_name, cin, cout, inits):
    """A 1x1 Conv (its output is an image); returns the NumPy function it computes."""
    w = rng.uniform(-1, 1, (cout, cin, 1, 1)).astype(np.float32)
    b = rng.uniform(-1, 1, cout).astype(np.float32)
    inits[y_name + "_w"], inits[y_name + "_b"] = w, b
    node = helper.make_node("Conv", [x_name, y_name + "_w", y_name + "_b"], [y_name], name=y_name)
    return node, lambda x: np.einsum("oc,nchw->nohw", w[:, :, 0, 0], x) + b[None, :, None, None]


def run(label, path, x, want, zero_cycle_ops=()):
    global failures
    for config in ("edge.yaml", "datacenter.yaml"):
        out = os.path.join(WORK, f"{label}.{config}")
        np.save(out + ".x.npy", x)
        r = subprocess.run([NPUSIM, "run", "--config", os.path.join(REPO, "configs", config), path, "--no-fallback",
                            "--quiet", "--input", f"x={out}.x.npy", "--output-dir", out, "--stats", out + ".json"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print(f"{label} on {config}: FAIL exit {r.returncode}: {r.stderr.strip()}")
            failures += 1
            continue
        got = np.load(os.path.join(out, "y.npy"))
        err = np.abs(got.astype(np.float64) - want) / np.maximum(1.0, np.abs(want))
        ops = json.load(open(out + ".json"))["operators"]
        free = all(ops[k]["cycles"] == 0 for k in zero_cycle_ops)
        ok = got.shape == want.shape and float(err.max()) <= BOUND and free
        print(f"{label} on {config}: max rel err {err.max():.2e} (bound {BOUND:.2e})" +
              (f", {', '.join(zero_cycle_ops)} take 0 cycles" if zero_cycle_ops else ""),
              "ok" if ok else f"FAIL (shape {got.shape} vs {want.shape}, operators {ops})")
        failures += not ok


def const(inits, name, values, dtype=np.int64):
    inits[name] = np.array(values, dtype=dtype)
    return name


x = rng.uniform(-1, 1, (1, 6, 5, 7)).astype(np.float32)

# vit: Conv -> Reshape [N, C, HW] -> Transpose [0, 2, 1]; and Flatten of an image.
inits = {}
c, f = conv1x1("x", "t", 6, 8, inits)
nodes = [c, helper.make_node("Reshape", ["t", const(inits, "s", [1, 8, 35])], ["r"]),
         helper.make_node("Transpose", ["r"], ["y"], perm=[0, 2, 1])]
run("patch_embedding", save("patch", nodes, [vi("x", [1, 6, 5, 7])], [vi("y", [1, 35, 8])], inits), x,
    f(x).reshape(1, 8, 35).transpose(0, 2, 1))
inits = {}
c, f = conv1x1("x", "t", 6, 8, inits)
nodes = [c, helper.make_node("Flatten", ["t"], ["y"], axis=1)]
run("flatten_image", save("flatten", nodes, [vi("x", [1, 6, 5, 7])], [vi("y", [1, 280])], inits), x, f(x).reshape(1, -1))

# convnext: image -> Transpose [0, 2, 3, 1] -> row-major work -> Transpose [0, 3, 1, 2] -> Conv.
inits = {}
c, f = conv1x1("x", "t", 6, 8, inits)
c2, f2 = conv1x1("u", "y", 8, 4, inits)
bias = rng.uniform(-1, 1, 8).astype(np.float32)
inits["bias"] = bias
nodes = [c, helper.make_node("Transpose", ["t"], ["p"], perm=[0, 2, 3, 1], name="to_nhwc"),
         helper.make_node("Add", ["p", "bias"], ["q"]),
         helper.make_node("Transpose", ["q"], ["u"], perm=[0, 3, 1, 2], name="to_nchw"), c2]
run("transpose_relabel", save("relabel", nodes, [vi("x", [1, 6, 5, 7])], [vi("y", [1, 4, 5, 7])], inits), x,
    f2((f(x).transpose(0, 2, 3, 1) + bias).transpose(0, 3, 1, 2)), zero_cycle_ops=("to_nhwc", "to_nchw"))

# An image transposed to an image (H and W swapped) and to a row-major tensor.
inits = {}
c, f = conv1x1("x", "t", 6, 8, inits)
c2, f2 = conv1x1("u", "v", 8, 4, inits)
nodes = [c, helper.make_node("Transpose", ["t"], ["u"], perm=[0, 1, 3, 2]), c2,
         helper.make_node("Transpose", ["v"], ["y"], perm=[3, 1, 0, 2])]
run("transpose_image", save("timage", nodes, [vi("x", [1, 6, 5, 7])], [vi("y", [5, 4, 1, 7])], inits), x,
    f2(f(x).transpose(0, 1, 3, 2)).transpose(3, 1, 0, 2))

# Concat of an image with a row-major tensor (a Reshape of a Gemm-like row), then a Conv.
inits = {}
c, f = conv1x1("x", "t", 6, 8, inits)
c2, f2 = conv1x1("cat", "y", 11, 4, inits)
extra = rng.uniform(-1, 1, (1, 105)).astype(np.float32)
inits["extra"] = extra
nodes = [c, helper.make_node("Relu", ["extra"], ["er"]),
         helper.make_node("Reshape", ["er", const(inits, "s", [1, 3, 5, 7])], ["e4"]),
         helper.make_node("Concat", ["t", "e4"], ["cat"], axis=1), c2]
run("concat_mixed", save("concat", nodes, [vi("x", [1, 6, 5, 7])], [vi("y", [1, 4, 5, 7])], inits), x,
    f2(np.concatenate([f(x), np.maximum(extra, 0).reshape(1, 3, 5, 7)], 1)))

# shufflenet: channel shuffle of an image, and its chunk (Split / Slice on channels).
inits = {}
c, f = conv1x1("x", "t", 6, 8, inits)
c2, f2 = conv1x1("a", "y", 4, 4, inits)
nodes = [c, helper.make_node("Reshape", ["t", const(inits, "s5", [1, 2, 4, 5, 7])], ["r5"]),
         helper.make_node("Transpose", ["r5"], ["t5"], perm=[0, 2, 1, 3, 4]),
         helper.make_node("Reshape", ["t5", const(inits, "s4", [1, 8, 5, 7])], ["sh"]),
         helper.make_node("Split", ["sh", const(inits, "sp", [3, 5])], ["a0", "a1"], axis=1),
         helper.make_node("Slice", ["a1", const(inits, "st", [1]), const(inits, "en", [5]), const(inits, "ax", [1])],
                          ["a"]), c2]
sh = f(x).reshape(1, 2, 4, 5, 7).transpose(0, 2, 1, 3, 4).reshape(1, 8, 5, 7)
run("channel_shuffle", save("shuffle", nodes, [vi("x", [1, 6, 5, 7])], [vi("y", [1, 4, 5, 7])], inits), x,
    f2(sh[:, 3:][:, 1:5]))

# Pad on an image: constant (a value, negative pads crop), reflect and edge, each feeding a Conv.
for mode, pads, value in (("constant", [0, 1, 2, -1, 0, 2, 1, 3], 0.5), ("reflect", [0, 0, 2, 3, 0, 0, 1, 2], 0),
                          ("edge", [0, 0, 3, 1, 0, 0, 0, 4], 0)):
    inits = {}
    c, f = conv1x1("x", "t", 6, 8, inits)
    cin = 8 + pads[1] + pads[5]
    c2, f2 = conv1x1("p", "y", cin, 4, inits)
    ins = ["t", const(inits, "pads", pads)] + ([const(inits, "v", value, np.float32)] if mode == "constant" else [])
    nodes = [c, helper.make_node("Pad", ins, ["p"], mode=mode), c2]
    oh, ow = 5 + pads[2] + pads[6], 7 + pads[3] + pads[7]
    np_pads = [(max(0, pads[k]), max(0, pads[k + 4])) for k in range(4)]
    t = f(x)[:, :, :, 1:] if pads[3] < 0 else f(x)
    padded = np.pad(t, np_pads, mode=mode, **({"constant_values": value} if mode == "constant" else {}))
    run(f"pad_{mode}_image", save(f"pad_{mode}", nodes, [vi("x", [1, 6, 5, 7])], [vi("y", [1, 4, oh, ow])], inits),
        x, f2(padded))

# Pad of a row-major tensor with opset-10 attributes (densenet's exporters), edge mode.
nodes = [helper.make_node("Pad", ["x"], ["y"], mode="edge", pads=[0, 1, 0, 2, 0, 0, 3, 1])]
run("pad_edge_rowmajor_opset10", save("pad10", nodes, [vi("x", [1, 6, 5, 7])], [vi("y", [1, 7, 8, 10])], {}, opset=10),
    x, np.pad(x, [(0, 0), (1, 0), (0, 3), (2, 1)], mode="edge"))

# Slice of an image with steps (W backwards), Squeeze/Unsqueeze, Expand and Tile.
inits = {}
c, f = conv1x1("x", "t", 6, 8, inits)
nodes = [c, helper.make_node("Slice", ["t", const(inits, "st", [1, 4, -1]), const(inits, "en", [7, 0, -100]),
                                       const(inits, "ax", [1, 2, 3]), const(inits, "sp", [2, -2, -3])], ["y"])]
run("slice_steps_image", save("slice", nodes, [vi("x", [1, 6, 5, 7])], [vi("y", [1, 3, 2, 3])], inits), x,
    f(x)[:, 1:7:2, 4:0:-2, -1::-3])
inits = {}
c, f = conv1x1("x", "t", 6, 8, inits)
nodes = [c, helper.make_node("GlobalAveragePool", ["t"], ["g"]),
         helper.make_node("Squeeze", ["g", const(inits, "a", [2, 3])], ["s"]),
         helper.make_node("Unsqueeze", ["s", const(inits, "b", [1])], ["u"]),
         helper.make_node("Expand", ["u", const(inits, "sh", [1, 3, 8])], ["e"]),
         helper.make_node("Tile", ["e", const(inits, "rep", [2, 1, 2])], ["y"])]
g = f(x).mean(axis=(2, 3))
run("squeeze_expand_tile", save("squeeze", nodes, [vi("x", [1, 6, 5, 7])], [vi("y", [2, 3, 16])], inits), x,
    np.tile(np.broadcast_to(g[:, None, :], (1, 3, 8)), (2, 1, 2)))
inits = {}
c, f = conv1x1("x", "t", 6, 8, inits)
c2, f2 = conv1x1("e", "y", 8, 4, inits)
row = rng.uniform(-1, 1, (8, 1, 1)).astype(np.float32)
inits["row"] = row
nodes = [c, helper.make_node("Expand", ["row", const(inits, "sh", [1, 8, 5, 7])], ["ex"]),
         helper.make_node("Tile", ["t", const(inits, "rep", [1, 1, 1, 1])], ["tt"]),
         helper.make_node("Mul", ["tt", "ex"], ["e"]), c2]
run("expand_image", save("expand", nodes, [vi("x", [1, 6, 5, 7])], [vi("y", [1, 4, 5, 7])], inits), x,
    f2(f(x) * np.broadcast_to(row[None], (1, 8, 5, 7))))

# A computed row-major [1, C, 1, 1] operand broadcast per channel over an image (squeeze-excitation:
# GlobalAveragePool -> Flatten -> Gemm -> Reshape -> Mul): [1, C, 1, 1] has the same bytes in both layouts.
inits = {}
c, f = conv1x1("x", "t", 6, 8, inits)
gw = rng.uniform(-1, 1, (8, 8)).astype(np.float32)
inits["gw"] = gw
nodes = [c, helper.make_node("GlobalAveragePool", ["t"], ["g"]), helper.make_node("Flatten", ["g"], ["gf"]),
         helper.make_node("Gemm", ["gf", "gw"], ["gg"]),
         helper.make_node("Reshape", ["gg", const(inits, "s", [1, 8, 1, 1])], ["scale"]),
         helper.make_node("Mul", ["scale", "t"], ["y"])]
run("per_channel_rowmajor", save("se", nodes, [vi("x", [1, 6, 5, 7])], [vi("y", [1, 8, 5, 7])], inits), x,
    f(x) * (f(x).mean(axis=(2, 3)) @ gw)[:, :, None, None])

# Long rows: a Slice of 4099-element rows (a prime: rows of 4095 and the rest) and a Pad of
# 6000-element rows (split by a divisor), of a graph input.
long = rng.uniform(-1, 1, (3, 4099)).astype(np.float32)
inits = {}
nodes = [helper.make_node("Slice", ["x", const(inits, "st", [1]), const(inits, "en", [4100]), const(inits, "ax", [0])],
                          ["s"]),
         helper.make_node("Pad", ["s", const(inits, "pads", [1, 0, 0, 1901])], ["y"])]
run("long_rows", save("long", nodes, [vi("x", [3, 4099])], [vi("y", [3, 6000])], inits), long,
    np.pad(long[1:], [(1, 0), (0, 1901)]))

# int8 post-training quantization of models with layout operators: the float reference
# (compiler/reference.cpp) evaluates them for calibration and the accuracy report. Calibrated on
# the input itself (no saturation), the quantized result must agree with the fp16 run above
# (which matched NumPy) and with the reference to int8 resolution (cosine >= 0.999).
for model, fp16_label in (("shuffle", "channel_shuffle"), ("pad_reflect", "pad_reflect_image"),
                          ("slice", "slice_steps_image")):
    label = model + "_int8"
    cal = os.path.join(WORK, label + ".cal")
    os.makedirs(cal, exist_ok=True)
    np.save(os.path.join(cal, "s0.npy"), x)
    out, fp16 = os.path.join(WORK, label), os.path.join(WORK, fp16_label + ".edge.yaml")
    r = subprocess.run([NPUSIM, "run", "--config", os.path.join(REPO, "configs", "edge.yaml"),
                        os.path.join(WORK, model + ".onnx"), "--precision", "int8", "--calibrate", cal, "--no-fallback",
                        "--quiet", "--input", f"x={fp16}.x.npy", "--output-dir", out, "--stats", out + ".json"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print(f"{label}: FAIL exit {r.returncode}: {r.stderr.strip()}")
        failures += 1
        continue
    acc = json.load(open(out + ".json"))["accuracy"]
    got = np.load(os.path.join(out, "y.npy")).astype(np.float64).ravel()
    ref = np.load(os.path.join(fp16, "y.npy")).astype(np.float64).ravel()
    cos = float(got @ ref / (np.linalg.norm(got) * np.linalg.norm(ref)))
    ref_cos = acc["outputs"]["y"]["cosine_similarity"]
    ok = cos >= 0.999 and ref_cos >= 0.999
    print(f"{label}: {acc['quantized_operators']} quantized / {acc['float_operators']} float operators, cosine "
          f"{cos:.6f} against the fp16 run, {ref_cos:.6f} against the reference", "ok" if ok else "FAIL")
    failures += not ok

# What cannot run is an error naming the node, the operator and what is missing.
nodes = [helper.make_node("Pad", ["x", "pads"], ["y"], mode="wrap", name="wrapped")]
path = save("pad_wrap", nodes, [vi("x", [1, 6, 5, 7])], [vi("y", [1, 6, 5, 9])],
            {"pads": np.array([0, 0, 0, 1, 0, 0, 0, 1], np.int64)}, opset=13)
np.save(os.path.join(WORK, "wrap.x.npy"), x)
r = subprocess.run([NPUSIM, "run", "--config", os.path.join(REPO, "configs", "edge.yaml"), path, "--no-fallback",
                    "--input", "x=" + os.path.join(WORK, "wrap.x.npy"), "--output-dir", os.path.join(WORK, "wrap")],
                   capture_output=True, text=True)
want = "node 'wrapped' (Pad): mode 'wrap' is not supported"
ok = r.returncode == 2 and want in r.stderr and "no host kernel" in r.stderr
print("an unsupported Pad mode is an error naming the node and the mode:", "ok" if ok else
      f"FAIL rc={r.returncode} {r.stderr.strip()}")
failures += not ok

print(f"layout: {failures} failure(s)")
sys.exit(1 if failures else 0)
