#!/usr/bin/python3
"""Gathers, masks and integer inputs through `npusim run model.onnx --no-fallback`, against NumPy.

Small models built with the ONNX helper API: an embedding lookup (constant fp16-exact table,
int64 token ids from the host, negative ids included), Gather on axis 1 of computed data and of an
int64 input (int32 on the device), a BERT-style mask (Equal against a constant, Where with -inf),
comparisons and logic with broadcasting, Cast between float, int64 and bool, Expand, ArgMax and
ArgMin (axes, keepdims, select_last_index, ties, an image's channels, torch.argmax's export). Every value
is exact in fp16, so results must equal NumPy's exactly. Also checks the errors: an int64 input
outside the int32 range, an index outside the table (a REGION_BOUNDS fault at run time).

usage: check_select.py NPUSIM REPO_DIR WORK_DIR
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
NP = {TensorProto.FLOAT: np.float32, TensorProto.INT64: np.int64, TensorProto.BOOL: np.bool_,
      TensorProto.INT32: np.int32}


def model(name, nodes, inputs, outputs, inits):
    g = helper.make_graph(nodes, name, [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                          [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
                          [numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    path = os.path.join(WORK, name + ".onnx")
    onnx.save(m, path)
    return path


def run(name, path, feeds, config="edge.yaml"):
    out = os.path.join(WORK, name + ".out")
    cmd = [NPUSIM, "run", "--config", os.path.join(REPO, "configs", config), path, "--no-fallback", "--quiet",
           "--output-dir", out]
    for k, v in feeds.items():
        f = os.path.join(WORK, f"{name}.{k}.npy")
        np.save(f, v)
        cmd += ["--input", f"{k}={f}"]
    return subprocess.run(cmd, capture_output=True, text=True), out


def check(name, nodes, inputs, outputs, inits, feeds, want):
    global failures
    path = model(name, nodes, inputs, outputs, inits)
    for config in ("edge.yaml", "datacenter.yaml"):
        p, out = run(name, path, feeds, config)
        if p.returncode != 0:
            print(f"FAIL {name} on {config}: {p.stderr.strip().splitlines()[-1:]}")
            failures += 1
            continue
        for (oname, otype, _), w in zip(outputs, want):
            got = np.load(os.path.join(out, oname + ".npy"))
            ok = got.dtype == NP[otype] and got.shape == w.shape and np.array_equal(got, w.astype(NP[otype]))
            print(f"{'ok' if ok else 'FAIL'} {name} on {config}: {oname} {got.dtype}{list(got.shape)}")
            if not ok:
                print("  got ", got.ravel()[:16], "\n  want", w.ravel()[:16])
                failures += 1


def expect_error(name, path, feeds, text, code):
    global failures
    p, _ = run(name, path, feeds)
    ok = p.returncode == code and text in p.stdout + p.stderr
    print(f"{'ok' if ok else 'FAIL'} {name}: exit {p.returncode}, '{text}'")
    failures += not ok


F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
# Embedding lookup: a constant [V, D] table (small integers: exact in fp16), computed int64 ids.
V, D, S = 50, 70, 9
table = rng.integers(-100, 100, (V, D)).astype(np.float32)
ids = np.array([[3, 0, 49, -1, -50, 7, 7, 8, 21]], dtype=np.int64)
emb = [helper.make_node("Gather", ["table", "ids"], ["y"], axis=0)]
check("embedding", emb, [("ids", I64, [1, S])], [("y", F, [1, S, D])], {"table": table}, {"ids": ids},
      [table[ids]])
expect_error("embedding_range", os.path.join(WORK, "embedding.onnx"),
             {"ids": np.array([[1, 2, 2**33, 0, 0, 0, 0, 0, 0]], dtype=np.int64)},
             "element 2 of int64 input 'ids' is 8589934592, outside the int32 range", 2)
expect_error("embedding_fault", os.path.join(WORK, "embedding.onnx"),
             {"ids": np.array([[1, 2, 3, 50, 0, 0, 0, 0, 0]], dtype=np.int64)},
             "gather index 3 is 50, outside the 50 rows", 1)

# Gather on axis 1 of computed data (x + x), and of an int64 input (DLRM's sparse[:, i]).
x = rng.integers(-50, 50, (3, 6, 5)).astype(np.float32)
idx = np.array([[5, -6], [2, 2]], dtype=np.int64)
sparse = np.array([[7, 3, 29], [1, 2, 40]], dtype=np.int64)
nodes = [helper.make_node("Add", ["x", "x"], ["x2"]), helper.make_node("Gather", ["x2", "idx"], ["y"], axis=1),
         helper.make_node("Gather", ["sparse", "one"], ["s1"], axis=1)]
check("gather_axis1", nodes, [("x", F, [3, 6, 5]), ("idx", I64, [2, 2]), ("sparse", I64, [2, 3])],
      [("y", F, [3, 2, 2, 5]), ("s1", I64, [2])], {"one": np.array(1, dtype=np.int64)},
      {"x": x, "idx": idx, "sparse": sparse}, [np.take(2 * x, idx, axis=1), sparse[:, 1]])

# A BERT-style mask: scores masked with -inf where mask == 0 (the mask broadcast over heads and queries).
Hd, T = 2, 8
scores = rng.integers(-4, 4, (1, Hd, T, T)).astype(np.float32)
mask = np.array([[1, 1, 1, 1, 1, 0, 0, 0]], dtype=np.int64)
nodes = [helper.make_node("Equal", ["mask", "zero"], ["pad"]), helper.make_node("Reshape", ["pad", "shape"], ["pad4"]),
         helper.make_node("Where", ["pad4", "neg_inf", "scores"], ["masked"]),
         helper.make_node("Cast", ["pad"], ["pad_f"], to=F)]
want_masked = np.where((mask == 0).reshape(1, 1, 1, T), -np.inf, scores).astype(np.float32)
check("mask", nodes, [("mask", I64, [1, T]), ("scores", F, [1, Hd, T, T])],
      [("masked", F, [1, Hd, T, T]), ("pad_f", F, [1, T])],
      {"zero": np.array(0, dtype=np.int64), "shape": np.array([1, 1, 1, T], dtype=np.int64),
       "neg_inf": np.array(-np.inf, dtype=np.float32)}, {"mask": mask, "scores": scores},
      [want_masked, (mask == 0).astype(np.float32)])

# Comparisons with broadcasting and logic on their masks; Cast float -> int64 (truncation) -> bool.
a = rng.integers(-3, 3, (4, 3, 5)).astype(np.float32)
b = rng.integers(-3, 3, (3, 1)).astype(np.float32)
c = (rng.random((5,)) > 0.5)
h = np.array([[2.75, -2.75, 0.0, 1000.5], [-0.5, 3.0, -7.25, 65504]], dtype=np.float32)
nodes = [helper.make_node("Less", ["a", "b"], ["lt"]), helper.make_node("GreaterOrEqual", ["a", "b"], ["ge"]),
         helper.make_node("And", ["lt", "c"], ["and"]), helper.make_node("Or", ["ge", "c"], ["or"]),
         helper.make_node("Not", ["and"], ["nand"]), helper.make_node("Xor", ["lt", "c"], ["xor"]),
         helper.make_node("Cast", ["h"], ["hi"], to=I64), helper.make_node("Cast", ["hi"], ["hb"], to=B),
         helper.make_node("Cast", ["hb"], ["hf"], to=F)]
check("logic", nodes, [("a", F, [4, 3, 5]), ("b", F, [3, 1]), ("c", B, [5]), ("h", F, [2, 4])],
      [("nand", B, [4, 3, 5]), ("or", B, [4, 3, 5]), ("xor", B, [4, 3, 5]), ("hi", I64, [2, 4]), ("hf", F, [2, 4])],
      {}, {"a": a, "b": b, "c": c, "h": h},
      [~((a < b) & c), (a >= b) | c, (a < b) ^ c, np.trunc(h).astype(np.int64), (np.trunc(h) != 0).astype(np.float32)])

# Expand of a computed bool mask over heads and queries, and of int64 values.
m4 = (rng.random((1, 1, 1, 6)) > 0.5)
iv = np.array([[3], [-4]], dtype=np.int64)
nodes = [helper.make_node("Not", ["m4"], ["nm"]), helper.make_node("Expand", ["nm", "shape4"], ["em"]),
         helper.make_node("Expand", ["iv", "shape2"], ["ei"])]
check("expand", nodes, [("m4", B, [1, 1, 1, 6]), ("iv", I64, [2, 1])], [("em", B, [1, 2, 3, 6]), ("ei", I64, [3, 2, 5])],
      {"shape4": np.array([1, 2, 3, 6], dtype=np.int64), "shape2": np.array([3, 1, 5], dtype=np.int64)},
      {"m4": m4, "iv": iv}, [np.broadcast_to(~m4, (1, 2, 3, 6)), np.broadcast_to(iv, (3, 2, 5))])

# Where on int64 values (int32 on the device) with a broadcast condition.
cond = np.array([True, False, True])
xv = np.array([[10, -20, 30], [40, 50, -60]], dtype=np.int64)
yv = np.array([[-1], [-2]], dtype=np.int64)
check("where_int64", [helper.make_node("Where", ["cond", "xv", "yv"], ["w"])],
      [("cond", B, [3]), ("xv", I64, [2, 3]), ("yv", I64, [2, 1])], [("w", I64, [2, 3])], {},
      {"cond": cond, "xv": xv, "yv": yv}, [np.where(cond, xv, yv)])


# ArgMax/ArgMin (int64 indices): small integers, so ties occur and every value is exact in fp16.
def arg_np(x, axis, keepdims, last, fn):
    if last:  # the last extreme: the first in the flipped axis, mirrored back
        r = x.shape[axis] - 1 - fn(np.flip(x, axis), axis=axis)
    else:
        r = fn(x, axis=axis)
    return np.expand_dims(r, axis) if keepdims else r


for op, shape, axis, keep, last in [("ArgMax", [3, 7, 5], 1, 1, 0), ("ArgMin", [4, 9], -1, 0, 1),
                                    ("ArgMax", [6, 4, 3], 0, 0, 1), ("ArgMin", [2, 3, 300], 2, 1, 0),
                                    ("ArgMax", [5000, 40], 1, 0, 0), ("ArgMax", [2, 5], 1, 1, 1)]:
    xa = rng.integers(-4, 5, size=shape).astype(np.float32)
    fn = np.argmax if op == "ArgMax" else np.argmin
    want = arg_np(xa, axis, keep, last, fn)
    name = f"{op.lower()}_{'x'.join(map(str, shape))}_axis{axis}_keep{keep}_last{last}"
    check(name, [helper.make_node(op, ["x"], ["y"], axis=axis, keepdims=keep, select_last_index=last)],
          [("x", F, shape)], [("y", I64, list(want.shape))], {}, {"x": xa}, [want])
# Over the channels of an image (NHWC on the device after the MaxPool): a segmentation head's argmax.
xs_img = rng.integers(-8, 9, size=[2, 6, 5, 7]).astype(np.float32)
check("argmax_image", [helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[1, 1]),
                       helper.make_node("ArgMax", ["p"], ["y"], axis=1, keepdims=1)],
      [("x", F, [2, 6, 5, 7])], [("y", I64, [2, 1, 5, 7])], {}, {"x": xs_img},
      [np.argmax(xs_img, axis=1)[:, None]])

# torch.argmax as torch.onnx.export writes it (ArgMax, keepdims=0), against torch; distinct values.
import torch  # noqa: E402


class ArgHead(torch.nn.Module):
    def forward(self, x):
        return torch.argmax(x * 2.0, dim=1), torch.argmin(x, dim=-1, keepdim=True)


xt = (rng.permutation(4 * 10 * 6).reshape(4, 10, 6) / 8.0).astype(np.float32)  # multiples of 1/8: exact
tpath = os.path.join(WORK, "torch_argmax.onnx")
torch.onnx.export(ArgHead(), (torch.from_numpy(xt),), tpath, input_names=["x"], output_names=["amax", "amin"],
                  opset_version=13)
tw = [t.numpy() for t in ArgHead()(torch.from_numpy(xt))]
for config in ("edge.yaml", "datacenter.yaml"):
    p, out = run("torch_argmax", tpath, {"x": xt}, config)
    ok = p.returncode == 0 and all(
        np.array_equal(np.load(os.path.join(out, k + ".npy")), w) for k, w in zip(["amax", "amin"], tw))
    print(f"{'ok' if ok else 'FAIL'} torch_argmax on {config}" + ("" if ok else f": {p.stderr.strip()[-300:]}"))
    failures += not ok

print(f"select models: {failures} failure(s)")
sys.exit(1 if failures else 0)
