#!/usr/bin/python3
"""A long LSTM (400 steps, unrolled by compiler/recurrent.cpp) compiles within the ISA's tables and
runs on edge in fp16 with --no-fallback, against a float64 NumPy reference of the ONNX LSTM.

Unrolled, each step makes DMA boxes of the same shapes at new base offsets; before descriptors
were keyed without their base (Lowering::resolve_desc) the program needed one table entry per
box and failed at the DESC limit (4095) from about 186 steps. Checks: the run succeeds, cosine of
Y >= 0.999 and max relative error within the ONNX conformance bound, and `npusim info` reports a
DESC table within the limit and far smaller than the number of DMA instructions.

usage: check_long_sequence.py NPUSIM REPO_DIR WORK_DIR
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
rng = np.random.default_rng(7)
SEQ, BATCH, INP, HIDDEN = 400, 1, 8, 16
DESC_LIMIT = 4095


def sigmoid(v):
    return 1 / (1 + np.exp(-v))


def reference(x, w, r, b):
    """Y [seq, 1, batch, hidden] of a forward ONNX LSTM (gates i, o, f, c), in float64."""
    w, r, b = w[0].astype(np.float64), r[0].astype(np.float64), b[0].astype(np.float64)
    h = np.zeros((BATCH, HIDDEN))
    c = np.zeros((BATCH, HIDDEN))
    y = np.zeros((SEQ, 1, BATCH, HIDDEN))
    for t in range(SEQ):
        pre = x[t].astype(np.float64) @ w.T + h @ r.T + b[:4 * HIDDEN] + b[4 * HIDDEN:]
        i, o, f, cc = (pre[:, k * HIDDEN:(k + 1) * HIDDEN] for k in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(cc)
        h = sigmoid(o) * np.tanh(c)
        y[t, 0] = h
    return y


w = rng.uniform(-0.4, 0.4, (1, 4 * HIDDEN, INP)).astype(np.float32)
r = rng.uniform(-0.4, 0.4, (1, 4 * HIDDEN, HIDDEN)).astype(np.float32)
b = rng.uniform(-0.3, 0.3, (1, 8 * HIDDEN)).astype(np.float32)
x = rng.standard_normal((SEQ, BATCH, INP)).astype(np.float32)
want = reference(x, w, r, b)
node = helper.make_node("LSTM", ["X", "W", "R", "B"], ["Y"], name="long_lstm", hidden_size=HIDDEN)
graph = helper.make_graph([node], "long_lstm", [helper.make_tensor_value_info("X", TensorProto.FLOAT, x.shape)],
                          [helper.make_tensor_value_info("Y", TensorProto.FLOAT, want.shape)],
                          [numpy_helper.from_array(v, k) for k, v in (("W", w), ("R", r), ("B", b))])
m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
m.ir_version = 8
path = os.path.join(WORK, "long_lstm.onnx")
onnx.save(m, path)
np.save(os.path.join(WORK, "x.npy"), x)
config = os.path.join(REPO, "configs", "edge.yaml")
failures = 0

npub = os.path.join(WORK, "long_lstm.npub")
p = subprocess.run([NPUSIM, "compile", "--config", config, path, "-o", npub, "--no-fallback", "--precision", "fp16"],
                   capture_output=True, text=True)
if p.returncode != 0:
    sys.exit(f"FAIL compile: {p.stderr.strip()}")
info = subprocess.run([NPUSIM, "info", npub], capture_output=True, text=True)
print(info.stdout.strip())
descs = re.search(r"(\d+) descriptors", info.stdout)
dma = re.search(r"load (\d+), store (\d+)", info.stdout)
if not descs or not dma:
    sys.exit(f"FAIL npusim info prints no descriptor count or load/store mix:\n{info.stdout}{info.stderr}")
n_desc, n_dma = int(descs.group(1)), int(dma.group(1)) + int(dma.group(2))
ok = n_desc <= DESC_LIMIT and n_dma > DESC_LIMIT and n_desc * 20 < n_dma
print(f"{'ok' if ok else 'FAIL'} tables: {n_desc} descriptors for {n_dma} DMA instructions (limit {DESC_LIMIT})")
failures += not ok

out = os.path.join(WORK, "out")
p = subprocess.run([NPUSIM, "run", "--config", config, path, "--output-dir", out, "--quiet", "--no-fallback",
                    "--precision", "fp16", "--input", "X=" + os.path.join(WORK, "x.npy")], capture_output=True, text=True)
if p.returncode != 0:
    sys.exit(f"FAIL run on edge: {p.stderr.strip()}")
got = np.load(os.path.join(out, "Y.npy")).astype(np.float64)
if got.shape != want.shape:
    sys.exit(f"FAIL Y shape {got.shape} != {want.shape}")
cos = float((got * want).sum() / np.sqrt((got * got).sum() * (want * want).sum()))
rel = float((np.abs(got - want) / np.maximum(1.0, np.abs(want))).max())
ok = cos >= 0.999 and rel <= 8 * 2.0**-10
print(f"{'ok' if ok else 'FAIL'} long_lstm seq {SEQ} on edge: cosine {cos:.6f}, max rel err {rel:.2e}")
failures += not ok
sys.exit(1 if failures else 0)
