#!/usr/bin/python3
"""Pooling beyond the ONNX backend cases: GlobalMaxPool (whose backend cases are opset 1 models),
1-D MaxPool/AveragePool with ceil_mode, dilated MaxPool, and 3-D pooling inside a graph (rank-5 tensors cannot be
graph inputs or outputs: the ISA's IO tensors have at most 4 dimensions, so Reshapes wrap it), on
the bundled configs in fp16 with --no-fallback, against a NumPy reference. Tolerance as in
conformance.py: |got - want| <= 8 x 2^-10 x max(1, |want|).

usage: check_pool.py NPUSIM REPO_DIR WORK_DIR
"""
import itertools
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

NPUSIM, REPO, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(WORK, exist_ok=True)
rng = np.random.default_rng(3)
failures = 0


def pool_ref(x, kernel, strides, begin, end, avg, count_pad=False, dil=None):
    """NumPy pooling over the axes 2.. of x; `end` includes ceil_mode's overhang (never counted)."""
    r = len(kernel)
    dil = dil or [1] * r
    pad = [(0, 0), (0, 0)] + [(b, e) for b, e in zip(begin, end)]
    xp = np.pad(x.astype(np.float64), pad, constant_values=np.nan)
    valid = np.pad(np.ones(x.shape), pad, constant_values=0)
    if count_pad:  # the declared padding counts, the overhang past it does not (not used with ceil_mode)
        valid = np.pad(np.ones(x.shape), pad, constant_values=1)
    out_shape = [(x.shape[2 + a] + begin[a] + end[a] - (kernel[a] - 1) * dil[a] - 1) // strides[a] + 1 for a in range(r)]
    y = np.zeros(list(x.shape[:2]) + out_shape)
    for o in itertools.product(*[range(n) for n in out_shape]):
        sl = tuple(slice(o[a] * strides[a], o[a] * strides[a] + (kernel[a] - 1) * dil[a] + 1, dil[a]) for a in range(r))
        box, cnt = xp[(Ellipsis,) + sl].reshape(x.shape[0], x.shape[1], -1), valid[(Ellipsis,) + sl]
        cnt = cnt.reshape(x.shape[0], x.shape[1], -1).sum(axis=2)
        y[(Ellipsis,) + o] = np.nansum(box, axis=2) / cnt if avg else np.nanmax(box, axis=2)
    return y.astype(np.float32)


def case(name, x_shape, node, y5_shape, ref, wrap5=False):
    """A model of `node` (input 'x5' / output 'y5'), wrapped in Reshapes from and to rank 4 when wrap5."""
    V = lambda n, s: helper.make_tensor_value_info(n, TensorProto.FLOAT, s)  # noqa: E731
    x = rng.standard_normal(x_shape).astype(np.float32)
    want = ref(x)
    if wrap5:
        x4 = [x_shape[0], x_shape[1] * x_shape[2], x_shape[3], x_shape[4]]
        y4 = [y5_shape[0], y5_shape[1] * y5_shape[2], y5_shape[3], y5_shape[4]]
        nodes = [helper.make_node("Reshape", ["x", "s5"], ["x5"]), node, helper.make_node("Reshape", ["y5", "s4"], ["y"])]
        inits = [numpy_helper.from_array(np.array(x_shape, np.int64), "s5"),
                 numpy_helper.from_array(np.array(y4, np.int64), "s4")]
        g = helper.make_graph(nodes, name, [V("x", x4)], [V("y", y4)], inits)
        x, want = x.reshape(x4), want.reshape(y4)
    else:
        node.input[0], node.output[0] = "x", "y"
        g = helper.make_graph([node], name, [V("x", list(x_shape))], [V("y", list(y5_shape))])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    path = os.path.join(WORK, name + ".onnx")
    onnx.save(m, path)
    np.save(path + ".x.npy", x)
    for cfg in ("edge.yaml", "datacenter.yaml"):
        out = os.path.join(WORK, name + "." + cfg)
        r = subprocess.run([NPUSIM, "run", "--config", os.path.join(REPO, "configs", cfg), path, "--no-fallback",
                            "--input", "x=" + path + ".x.npy", "--output-dir", out, "--quiet"],
                           capture_output=True, text=True)
        global failures
        if r.returncode:
            print(f"FAIL {name} on {cfg}: {r.stderr.strip()}")
            failures += 1
            continue
        got = np.load(os.path.join(out, os.listdir(out)[0]))
        err = np.abs(got.astype(np.float64) - want) - 8 * 2.0**-10 * np.maximum(1, np.abs(want))
        ok = got.shape == want.shape and err.max() <= 0
        print(("ok   " if ok else "FAIL ") + f"{name} on {cfg}: max |err| {np.abs(got - want).max():.3g}")
        failures += 0 if ok else 1


mk = helper.make_node
case("globalmaxpool", (2, 5, 7, 9), mk("GlobalMaxPool", ["x5"], ["y5"]), (2, 5, 1, 1),
     lambda x: x.max(axis=(2, 3), keepdims=True))
case("globalmaxpool_wide", (1, 70, 3, 40), mk("GlobalMaxPool", ["x5"], ["y5"]), (1, 70, 1, 1),
     lambda x: x.max(axis=(2, 3), keepdims=True))
case("maxpool_1d_ceil", (2, 3, 16), mk("MaxPool", ["x5"], ["y5"], kernel_shape=[3], strides=[2], pads=[1, 0],
                                         ceil_mode=1), (2, 3, 8),
     lambda x: pool_ref(x, [3], [2], [1], [1], False))
case("averagepool_1d_ceil", (1, 4, 11), mk("AveragePool", ["x5"], ["y5"], kernel_shape=[4], strides=[3],
                                             ceil_mode=1), (1, 4, 4),
     lambda x: pool_ref(x, [4], [3], [0], [2], True))
case("averagepool_1d_count_pad", (1, 2, 9), mk("AveragePool", ["x5"], ["y5"], kernel_shape=[3], pads=[1, 1],
                                                 count_include_pad=1), (1, 2, 9),
     lambda x: pool_ref(x, [3], [1], [1], [1], True, count_pad=True))
case("globalaveragepool_1d", (1, 6, 20), mk("GlobalAveragePool", ["x5"], ["y5"]), (1, 6, 1),
     lambda x: x.mean(axis=2, keepdims=True))
case("averagepool_3d", (1, 2, 5, 6, 7), mk("AveragePool", ["x5"], ["y5"], kernel_shape=[2, 3, 2], strides=[1, 2, 2],
                                           pads=[0, 1, 0, 1, 1, 1]), (1, 2, 5, 3, 4),
     lambda x: pool_ref(x, [2, 3, 2], [1, 2, 2], [0, 1, 0], [1, 1, 1], True), wrap5=True)
case("maxpool_3d_ceil", (1, 2, 5, 6, 7), mk("MaxPool", ["x5"], ["y5"], kernel_shape=[3, 2, 3], strides=[2, 2, 1],
                                            pads=[1, 0, 1, 1, 0, 1], ceil_mode=1), (1, 2, 3, 3, 7),
     lambda x: pool_ref(x, [3, 2, 3], [2, 2, 1], [1, 0, 1], [2, 1, 1], False), wrap5=True)
# Dilated MaxPool (AveragePool has dilations only from opset 19): separable passes, one per residue class.
case("maxpool_2d_dilated", (1, 3, 11, 13), mk("MaxPool", ["x5"], ["y5"], kernel_shape=[3, 2], strides=[1, 2],
                                              dilations=[2, 3], pads=[2, 1, 1, 0]), (1, 3, 10, 6),
     lambda x: pool_ref(x, [3, 2], [1, 2], [2, 1], [1, 0], False, dil=[2, 3]))
case("maxpool_2d_dilated_ceil", (2, 4, 9, 10), mk("MaxPool", ["x5"], ["y5"], kernel_shape=[2, 3], strides=[3, 2],
                                                  dilations=[2, 2], ceil_mode=1), (2, 4, 3, 4),
     lambda x: pool_ref(x, [2, 3], [3, 2], [0, 0], [1, 1], False, dil=[2, 2]))
case("maxpool_1d_dilated", (1, 5, 20), mk("MaxPool", ["x5"], ["y5"], kernel_shape=[3], strides=[2], dilations=[4],
                                          pads=[3, 3]), (1, 5, 9),
     lambda x: pool_ref(x, [3], [2], [3], [3], False, dil=[4]))
print("all passed" if not failures else f"{failures} failed")
sys.exit(1 if failures else 0)
