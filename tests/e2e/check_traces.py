#!/usr/bin/python3
"""End-to-end check of the bundled traces against an independent NumPy reference.

Runs each traces/*.npus program with `npusim run` on random inputs and recomputes its outputs in
NumPy from the same inputs and the same constant data (regenerated here from the `.data ... random`
directives with SplitMix64, as docs/npus-syntax.md specifies). Integer outputs must match bit for
bit; fp16 outputs must match the sequential fp32 accumulation exactly.

usage: check_traces.py NPUSIM REPO_DIR WORK_DIR
"""
import os
import re
import subprocess
import sys

import numpy as np

NPUSIM, REPO, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(WORK, exist_ok=True)
MASK = (1 << 64) - 1


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def region_data(npus_text, region, size):
    """The initial bytes of a region, from its `.data NAME [at=X] random ...` lines."""
    img = bytearray(size)
    for m in re.finditer(r"^\.data\s+(\w+)\s+(?:at=(\d+)\s+)?random\s+(.*)$", npus_text, re.M):
        if m.group(1) != region:
            continue
        at = int(m.group(2) or 0)
        kv = dict(re.findall(r"(\w+)=(\S+)", m.group(3)))
        seed, count, dtype = int(kv["seed"]), int(kv["count"]), kv.get("dtype", "i8")
        lo, hi = float(kv["lo"]), float(kv["hi"])
        state, out = seed, []
        for _ in range(count):
            state, u = splitmix64(state)
            if dtype in ("fp16", "bf16", "fp32"):
                x = lo + (hi - lo) * ((u >> 11) * 2.0**-53)
                out.append(x)
            else:
                out.append(int(lo) + u % (int(hi - lo) + 1))
        arr = {"i8": np.int8, "u8": np.uint8, "i32": np.int32}.get(dtype)
        if dtype == "fp16":
            raw = np.array(out, dtype=np.float64).astype(np.float32).astype(np.float16).tobytes()
        else:
            raw = np.array(out, dtype=np.int64).astype(arr).tobytes()
        img[at:at + len(raw)] = raw
    return bytes(img)


def srdhm(x, m):
    """gemmlowp SaturatingRoundingDoublingHighMul, vectorised in int64/object."""
    ab = x.astype(object) * int(m)
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    v = ab + nudge
    q = np.array([int(a / (1 << 31)) if a >= 0 else -int((-a) // (1 << 31)) for a in v.ravel()], dtype=np.int64)
    return q.reshape(x.shape)


def requant_tflite(x, m, shift, zp, lo, hi):
    h = srdhm(x.astype(np.int64), m)
    if shift > 0:
        mask = (1 << shift) - 1
        rem = h & mask
        thr = (mask >> 1) + (h < 0)
        h = (h >> shift) + (rem > thr)
    y = np.clip(h + zp, lo, hi)
    return np.clip(y, -128, 127).astype(np.int8)


def run(name, inputs):
    cmd = [NPUSIM, "run", "--config", os.path.join(REPO, "configs", "edge.yaml"), os.path.join(REPO, "traces", name + ".npus"),
           "--output-dir", os.path.join(WORK, name), "--quiet"]
    for k, v in inputs.items():
        p = os.path.join(WORK, f"{name}_{k}.npy")
        np.save(p, v)
        cmd += ["--input", f"{k}={p}"]
    subprocess.run(cmd, check=True)
    return lambda out: np.load(os.path.join(WORK, name, out + ".npy"))


def text(name):
    return open(os.path.join(REPO, "traces", name + ".npus")).read()


rng = np.random.default_rng(5)
failures = 0

# gemm_i8_db: C = requant(A[64x256] @ B[256x64]), tflite M=1518500250 shift=9.
A = rng.integers(-128, 128, (64, 256), dtype=np.int8)
B = np.frombuffer(region_data(text("gemm_i8_db"), "b", 16384), dtype=np.int8).reshape(256, 64)
out = run("gemm_i8_db", {"A": A})
want = requant_tflite(A.astype(np.int64) @ B.astype(np.int64), 1518500250, 9, 0, -128, 127)
ok = np.array_equal(out("C"), want)
print("gemm_i8_db:", "bit-exact" if ok else "MISMATCH")
failures += not ok

# mlp_i8: y = fc2(relu(fc1(x))).
w = region_data(text("mlp_i8"), "w", 16384)
W1 = np.frombuffer(w[0:8192], np.int8).reshape(128, 64)
b1 = np.frombuffer(w[8192:8448], np.int32)
W2 = np.frombuffer(w[8448:10496], np.int8).reshape(64, 32)
b2 = np.frombuffer(w[10496:10624], np.int32)
x = rng.integers(-128, 128, (16, 128), dtype=np.int8)
out = run("mlp_i8", {"x": x})
h = requant_tflite(x.astype(np.int64) @ W1 + b1, 1073741824, 6, -128, -128, 127)
y = requant_tflite(h.astype(np.int64) @ W2 + b2, 1073741824, 5, 3, -128, 127)
ok = np.array_equal(out("y"), y)
print("mlp_i8:", "bit-exact" if ok else "MISMATCH")
failures += not ok

# gemm_fp16: fp16 inputs, products exact in fp32, accumulated in k order in fp32, rounded to fp16.
A16 = rng.uniform(-1, 1, (32, 64)).astype(np.float16)
B16 = np.frombuffer(region_data(text("gemm_fp16"), "b", 4096), np.float16).reshape(64, 32)
out = run("gemm_fp16", {"A": A16})
acc = np.zeros((32, 32), np.float32)
for k in range(64):
    acc = (acc + A16[:, k:k + 1].astype(np.float32) * B16[k:k + 1, :].astype(np.float32)).astype(np.float32)
ok = np.array_equal(out("C").view(np.uint16), acc.astype(np.float16).view(np.uint16))
print("gemm_fp16:", "bit-exact" if ok else "MISMATCH")
failures += not ok

sys.exit(1 if failures else 0)
