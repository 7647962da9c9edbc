#!/usr/bin/python3
"""Element-wise operators and Resize on the NPU (compiler/ops/eltwise.cpp, resize.cpp), against NumPy.

Every lowering path gets a small model (Div by a constant scalar, a constant tensor, a computed
divisor, a constant numerator; Pow with each constant-exponent special case, a generic constant and
a computed exponent; broadcasting shapes; the activations; Resize modes), compiled with
`npusim run --no-fallback` in fp16 on the edge and datacenter configs and in bf16 on edge. The
reference is NumPy on the inputs rounded to the device type. Operators that the ISA computes exactly
(one fp32 operation rounded once: Neg, Abs, Max, Min, Sum of two, x*x, nearest Resize, ...) must
match bit for bit (NaN where NumPy has NaN); the others within the conformance tolerance
(8 ulp of the device type relative to max(1, |expected|)).

usage: check_eltwise.py NPUSIM REPO_DIR WORK_DIR
"""
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
RUNS = [("edge.yaml", "fp16"), ("datacenter.yaml", "fp16"), ("edge.yaml", "bf16")]


def to_bf16(a):
    """float32 -> bfloat16 (round to nearest even), returned as float32."""
    b = np.asarray(a, np.float32).view(np.uint32).astype(np.uint64)
    nan = np.isnan(np.asarray(a, np.float32))
    r = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16
    out = r.astype(np.uint32).view(np.float32)
    return np.where(nan, np.float32("nan"), out)


def to_dev(a, precision):
    a = np.asarray(a, np.float32)
    return a.astype(np.float16).astype(np.float32) if precision == "fp16" else to_bf16(a)


def model(name, node, inputs, out_shape, inits=None, opset=13, extra_nodes=()):
    """A one-node graph (plus `extra_nodes`): inputs is [(name, shape)], inits {name: array}."""
    inits = inits or {}
    g = helper.make_graph(list(extra_nodes) + [node], name,
                          [helper.make_tensor_value_info(k, TensorProto.FLOAT, s) for k, s in inputs],
                          [helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, out_shape)],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    path = os.path.join(WORK, name + ".onnx")
    onnx.save(m, path)
    return path


def case(label, path, feeds, ref, exact=False):
    """Runs `path` on every RUNS entry; `ref(inputs in the device type, precision)` -> float32."""
    global failures
    for config, precision in RUNS:
        out = os.path.join(WORK, f"{label}.{config}.{precision}")
        cmd = [NPUSIM, "run", "--config", os.path.join(REPO, "configs", config), path, "--precision", precision,
               "--output-dir", out, "--quiet", "--no-fallback"]
        dev_feeds = {}
        for k, v in feeds.items():
            np.save(f"{out}.{k}.npy", v)
            cmd += ["--input", f"{k}={out}.{k}.npy"]
            dev_feeds[k] = to_dev(v, precision)
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAIL {label} ({config}, {precision}): {r.stderr.strip()}")
            failures += 1
            continue
        got = np.load(os.path.join(out, os.listdir(out)[0])).astype(np.float32)
        want = to_dev(ref(dev_feeds, precision), precision)
        if got.shape != want.shape:
            print(f"FAIL {label} ({config}, {precision}): shape {got.shape} != {want.shape}")
            failures += 1
            continue
        if exact:
            ok = np.array_equal(got, want, equal_nan=True)
            what = "bit-exact" if ok else f"{int(np.sum(~((got == want) | (np.isnan(got) & np.isnan(want)))))} differ"
        else:
            ulp = 2.0**-10 if precision == "fp16" else 2.0**-7
            both_nan = np.isnan(got) & np.isnan(want)
            same_inf = np.isinf(want) & (got == want)
            err = np.where(both_nan | same_inf, 0.0,
                           np.abs(got.astype(np.float64) - want) / np.maximum(1.0, np.abs(want.astype(np.float64))))
            err = np.nan_to_num(err, nan=np.inf)
            ok = float(err.max()) <= 8 * ulp
            what = f"max rel err {float(err.max()):.2e} (bound {8 * ulp:.2e})"
        print(("ok  " if ok else "FAIL") + f" {label} ({config}, {precision}): {what}")
        failures += not ok


def f32(shape, lo=-4.0, hi=4.0):
    return rng.uniform(lo, hi, shape).astype(np.float32)


# ---------------------------------------------------------------- Div
x = f32((4, 37))
case("div_const_scalar", model("div_const_scalar", helper.make_node("Div", ["x", "c"], ["y"]), [("x", [4, 37])], [4, 37],
                               {"c": np.array(3.0, np.float32)}), {"x": x}, lambda d, p: d["x"] / np.float32(3.0))
case("div_pow2_scalar", model("div_pow2_scalar", helper.make_node("Div", ["x", "c"], ["y"]), [("x", [4, 37])], [4, 37],
                              {"c": np.array(4.0, np.float32)}), {"x": x}, lambda d, p: d["x"] / np.float32(4.0),
     exact=True)
cv = f32((37,), 0.5, 3.0)
case("div_const_row", model("div_const_row", helper.make_node("Div", ["x", "c"], ["y"]), [("x", [4, 37])], [4, 37],
                            {"c": cv}), {"x": x}, lambda d, p: d["x"] / to_dev(cv, p))
case("div_computed", model("div_computed", helper.make_node("Div", ["x", "z"], ["y"]), [("x", [4, 37]), ("z", [4, 37])],
                           [4, 37]), {"x": x, "z": f32((4, 37), 0.25, 4.0)}, lambda d, p: d["x"] / d["z"])
case("div_numerator", model("div_numerator", helper.make_node("Div", ["c", "x"], ["y"]), [("x", [4, 37])], [4, 37],
                            {"c": np.array(2.5, np.float32)}), {"x": f32((4, 37), 0.3, 4.0)},
     lambda d, p: np.float32(2.5) / d["x"])

# ---------------------------------------------------------------- Pow
xp = f32((3, 50), 0.1, 3.0)
xs = f32((3, 50), -3.0, 3.0)
for e, xin in ((2.0, xs), (3.0, xs), (5.0, xs), (-2.0, xs), (0.5, xp), (-0.5, xp), (-1.0, xs), (0.0, xs), (1.0, xs),
               (0.3, xp), (2.7, xp), (-1.5, xp), (0.3, xs)):
    label = "pow_" + str(e).replace("-", "m").replace(".", "p") + ("_signed" if xin is xs and e == 0.3 else "")
    path = model(label, helper.make_node("Pow", ["x", "e"], ["y"]), [("x", [3, 50])], [3, 50],
                 {"e": np.array(e, np.float32)})
    case(label, path, {"x": xin}, lambda d, p, e=e: np.power(d["x"].astype(np.float64), e).astype(np.float32),
         exact=e in (2.0, 1.0, 0.0, 0.5))
case("pow_computed", model("pow_computed", helper.make_node("Pow", ["x", "z"], ["y"]), [("x", [3, 50]), ("z", [3, 50])],
                           [3, 50]), {"x": xp, "z": f32((3, 50), -2.0, 2.0)},
     lambda d, p: np.power(d["x"].astype(np.float64), d["z"]).astype(np.float32))

print(f"check_eltwise: {failures} failure(s)")
sys.exit(1 if failures else 0)
