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
    a = np.asarray(a, np.float32)
    shape = a.shape
    a = a.reshape(-1)
    b = a.view(np.uint32).astype(np.uint64)
    nan = np.isnan(a)
    r = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16
    out = r.astype(np.uint32).view(np.float32)
    return np.where(nan, np.float32("nan"), out).astype(np.float32).reshape(shape)


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

# ---------------------------------------------------------------- broadcasting (computed and constant operands)
def binary_case(label, op, sa, sb, sy, ref, const_b=None, exact=True, lo=-4.0, hi=4.0):
    ins = [("a", sa)] + ([] if const_b is not None else [("b", sb)])
    inits = {} if const_b is None else {"b": const_b}
    feeds = {"a": f32(sa, lo, hi)}
    if const_b is None:
        feeds["b"] = f32(sb, lo, hi)
    case(label, model(label, helper.make_node(op, ["a", "b"], ["y"]), ins, sy, inits), feeds,
         lambda d, p: ref(d["a"], d["b"] if const_b is None else to_dev(const_b, p)), exact=exact)


binary_case("add_mask", "Add", [2, 3, 4, 5], [1, 1, 4, 5], [2, 3, 4, 5], np.add)
binary_case("add_column", "Add", [6, 5], [6, 1], [6, 5], np.add)
binary_case("mul_column3", "Mul", [2, 6, 5], [2, 6, 1], [2, 6, 5], np.multiply)
binary_case("sub_first_row", "Sub", [1, 5], [4, 5], [4, 5], np.subtract)
binary_case("sub_first_column", "Sub", [4, 1], [4, 5], [4, 5], np.subtract)
binary_case("sub_both", "Sub", [4, 1, 5], [1, 3, 1], [4, 3, 5], np.subtract)
binary_case("mul_scalar1", "Mul", [3, 7], [1], [3, 7], np.multiply)
binary_case("max_mid", "Max", [2, 3, 4], [2, 1, 4], [2, 3, 4], np.maximum)
binary_case("min_first", "Min", [3, 1], [3, 4], [3, 4], np.minimum)
binary_case("sub_column_tiled", "Sub", [2, 300, 700], [2, 300, 1], [2, 300, 700], np.subtract)
binary_case("pow_column", "Pow", [6, 40], [6, 1], [6, 40], lambda a, b: np.power(a.astype(np.float64), b).astype(np.float32),
            exact=False, lo=0.5, hi=2.0)
binary_case("add_const_column", "Add", [2, 3, 4], [3, 1], [2, 3, 4], np.add, const_b=f32((3, 1)))
binary_case("sub_const_scalar", "Sub", [2, 3], [], [2, 3], np.subtract, const_b=np.array(1.25, np.float32))
binary_case("div_column", "Div", [5, 8], [5, 1], [5, 8], np.divide, exact=False, lo=0.5, hi=4.0)
binary_case("div_first_row", "Div", [1, 8], [5, 8], [5, 8], np.divide, exact=False, lo=0.5, hi=4.0)
binary_case("div_const_column", "Div", [5, 8], [5, 1], [5, 8], np.divide, const_b=f32((5, 1), 0.5, 4.0), exact=False)
binary_case("sub_wide_merged", "Sub", [1, 2, 3000], [3, 2, 3000], [3, 2, 3000], np.subtract)


def image_case(label, op, sb, ref, exact=True):
    """Conv 1x1 (identity weights) makes the output an image (NHWC); then op(image, b)."""
    w = np.eye(4, dtype=np.float32).reshape(4, 4, 1, 1)
    conv = helper.make_node("Conv", ["x", "w"], ["c"])
    case(label, model(label, helper.make_node(op, ["c", "b"], ["y"]), [("x", [2, 4, 3, 5]), ("b", sb)], [2, 4, 3, 5],
                      {"w": w}, extra_nodes=[conv]), {"x": f32((2, 4, 3, 5)), "b": f32(sb)},
         lambda d, p: ref(d["x"], d["b"]), exact=exact)


image_case("image_add_mask", "Add", [1, 1, 3, 5], np.add)
image_case("image_mul_channel", "Mul", [1, 4, 1, 1], np.multiply)
image_case("image_sub_row", "Sub", [5], np.subtract)
image_case("image_max_nchw", "Max", [2, 1, 3, 1], np.maximum)

# ---------------------------------------------------------------- activations
xa = f32((5, 40), -6.0, 6.0)
xa[0, :4] = [0.0, -0.0, 3.0, -3.0]


def unary_case(label, node, ref, exact, x=xa, opset=13):
    case(label, model(label, node, [("x", list(x.shape))], list(x.shape), opset=opset), {"x": x},
         lambda d, p: ref(d["x"]), exact=exact)


unary_case("neg", helper.make_node("Neg", ["x"], ["y"]), np.negative, True)
unary_case("abs", helper.make_node("Abs", ["x"], ["y"]), np.abs, True)
unary_case("leakyrelu", helper.make_node("LeakyRelu", ["x"], ["y"], alpha=0.1),
           lambda x: np.where(x < 0, np.float32(0.1) * x, x), True)
unary_case("leakyrelu_default", helper.make_node("LeakyRelu", ["x"], ["y"]),
           lambda x: np.where(x < 0, np.float32(0.01) * x, x), True)
unary_case("elu", helper.make_node("Elu", ["x"], ["y"], alpha=2.0),
           lambda x: np.where(x < 0, 2.0 * np.expm1(x.astype(np.float64)), x).astype(np.float32), False)
unary_case("hardsigmoid", helper.make_node("HardSigmoid", ["x"], ["y"], alpha=0.5, beta=0.6),
           lambda x: np.clip(np.float32(0.5) * x + np.float32(0.6), 0, 1), False)
unary_case("hardsigmoid_default", helper.make_node("HardSigmoid", ["x"], ["y"]),
           lambda x: np.clip(np.float32(0.2) * x + np.float32(0.5), 0, 1), False)
unary_case("hardswish", helper.make_node("HardSwish", ["x"], ["y"]),
           lambda x: (x * np.clip(x + 3, 0, 6) / 6).astype(np.float32), False, opset=14)


def variadic_case(label, op, shapes, ref, exact):
    names = [f"x{i}" for i in range(len(shapes))]
    sy = list(np.broadcast_shapes(*[tuple(s) for s in shapes]))
    feeds = {k: f32(s) for k, s in zip(names, shapes)}
    case(label, model(label, helper.make_node(op, names, ["y"]), list(zip(names, shapes)), sy), feeds,
         lambda d, p: ref([d[k] for k in names]), exact=exact)


variadic_case("max3", "Max", [[4, 9], [4, 9], [9]], lambda v: np.maximum(np.maximum(v[0], v[1]), v[2]), True)
variadic_case("min3_bcast", "Min", [[4, 1], [1, 9], [4, 9]], lambda v: np.minimum(np.minimum(v[0], v[1]), v[2]), True)
variadic_case("max1", "Max", [[4, 9]], lambda v: v[0], True)
variadic_case("sum2", "Sum", [[4, 9], [4, 9]], lambda v: v[0] + v[1], True)
variadic_case("sum4", "Sum", [[3, 9], [9], [3, 1], [3, 9]],
              lambda v: (v[0].astype(np.float64) + v[1] + v[2] + v[3]).astype(np.float32), False)
variadic_case("mean3", "Mean", [[3, 9], [3, 9], [3, 9]],
              lambda v: ((v[0].astype(np.float64) + v[1] + v[2]) / 3).astype(np.float32), False)

# ---------------------------------------------------------------- Resize (the ONNX reference implementation)
from onnx.backend.test.case.node.resize import cubic_coeffs, interpolate_nd, linear_coeffs, nearest_coeffs  # noqa: E402


def resize_case(label, shape, scales=None, sizes=None, exact=False, np_ref=None, **attrs):
    """`np_ref`: a NumPy reference for large cases (the ONNX one is slow Python)."""
    inits = {"roi": np.array([], np.float32)}
    ins = ["x", "roi"]
    if sizes is not None:
        inits["sizes"] = np.array(sizes, np.int64)
        ins += ["", "sizes"]
        out_shape = list(sizes)
    else:
        inits["scales"] = np.array(scales, np.float32)
        ins += ["scales"]
        out_shape = [int(d * s) for d, s in zip(shape, np.array(scales, np.float32))]
    mode = attrs.get("mode", "nearest")
    ctm = attrs.get("coordinate_transformation_mode", "half_pixel")
    if mode == "nearest":
        nm = attrs.get("nearest_mode", "round_prefer_floor")
        coeffs = lambda r: nearest_coeffs(r, mode=nm)  # noqa: E731
    elif mode == "linear":
        coeffs = linear_coeffs
    else:
        a = attrs.get("cubic_coeff_a", -0.75)
        coeffs = lambda r: cubic_coeffs(r, A=a)  # noqa: E731

    def ref(d, p):
        kw = {"output_size": np.array(sizes, np.int64)} if sizes is not None else {"scale_factors": inits["scales"]}
        return interpolate_nd(d["x"], coeffs, coordinate_transformation_mode=ctm,
                              exclude_outside=bool(attrs.get("exclude_outside", 0)), **kw).astype(np.float32)

    case(label, model(label, helper.make_node("Resize", ins, ["y"], **attrs), [("x", shape)], out_shape, inits),
         {"x": f32(shape)}, (lambda d, p: np_ref(d["x"])) if np_ref else ref, exact=exact)


resize_case("resize_nearest_x2_torch", [1, 3, 8, 8], scales=[1, 1, 2, 2], exact=True, mode="nearest",
            coordinate_transformation_mode="asymmetric", nearest_mode="floor")
resize_case("resize_nearest_big", [1, 64, 24, 40], scales=[1, 1, 2, 2], exact=True, mode="nearest",
            np_ref=lambda x: x.repeat(2, axis=2).repeat(2, axis=3),
            coordinate_transformation_mode="asymmetric", nearest_mode="floor")
resize_case("resize_nearest_down", [2, 5, 9, 10], scales=[1, 1, 0.5, 0.5], exact=True)
resize_case("resize_nearest_sizes_ceil", [2, 5, 3, 4], sizes=[2, 5, 7, 10], exact=True,
            coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_ceil")
resize_case("resize_nearest_align", [1, 2, 4, 5], sizes=[1, 2, 9, 7], exact=True,
            coordinate_transformation_mode="align_corners", nearest_mode="ceil")
resize_case("resize_linear_x2", [1, 6, 5, 7], scales=[1, 1, 2, 2], mode="linear")
resize_case("resize_linear_align", [2, 3, 3, 5], sizes=[2, 3, 7, 9], mode="linear",
            coordinate_transformation_mode="align_corners")
resize_case("resize_cubic_sizes", [1, 3, 4, 5], sizes=[1, 3, 7, 9], mode="cubic")
resize_case("resize_cubic_exclude", [2, 2, 6, 5], scales=[1, 1, 0.8, 1.6], mode="cubic", cubic_coeff_a=-0.5,
            exclude_outside=1, coordinate_transformation_mode="asymmetric")
resize_case("resize_linear_w_only", [1, 4, 3, 6], scales=[1, 1, 1, 1.5], mode="linear",
            coordinate_transformation_mode="pytorch_half_pixel")

print(f"check_eltwise: {failures} failure(s)")
sys.exit(1 if failures else 0)
