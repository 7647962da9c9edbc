#!/usr/bin/python3
"""The npusim Python module against independent references and the CLI.

- Config: load, overrides checked by the strict schema (ValueError naming the key), to_dict.
- compile + run on traces/models/cnn.onnx: outputs against a float32 NumPy forward pass of the
  same model (fp16 on the device: max |err| <= 8 * 2^-10 * max(1, |ref|) per element, as the
  compiler's model checks), cycles equal to `npusim run --stats` on the same input, outputs equal
  to its --output-dir file bit for bit.
- run_program on mlp_i8.npus: cycles equal to the CLI's.
- run_topology: per-layer compute cycles equal the closed form on a 32x32 OS array.
- evaluate: the dict a sweep point reports.

usage: test_bindings.py MODULE_DIR NPUSIM SOURCE_DIR WORK_DIR
"""
import json
import math
import os
import subprocess
import sys

MODULE_DIR, NPUSIM, SRC, WORK = sys.argv[1:5]
sys.path.insert(0, MODULE_DIR)
import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402

import npusim  # noqa: E402

os.makedirs(WORK, exist_ok=True)
failures = 0


def check(label, ok, detail=""):
    global failures
    print(("ok: " if ok else "FAIL: ") + label + (f" ({detail})" if detail else ""))
    failures += not ok


cfg = npusim.Config(os.path.join(SRC, "configs", "edge.yaml"))
d = cfg.to_dict()
check("Config loads edge.yaml", d["mxu"]["rows"] == 16 and d["mxu"]["dataflow"] == "ws" and d["clock_hz"] == 1e9, d)
c32 = cfg.with_overrides({"mxu.rows": 32, "mxu.cols": 32, "mxu.dataflow": "os", "scratchpad.size": "1MiB"})
d32 = c32.to_dict()
check("with_overrides sets dotted keys", d32["mxu"]["rows"] == 32 and d32["mxu"]["dataflow"] == "os"
      and d32["scratchpad_bytes"] == 1 << 20 and d32["hash"] != d["hash"])
for bad, what in (({"mxu.rows": 0}, "mxu.rows"), ({"mxu.colour": 1}, "colour"), ({"nosuch.x": 1}, "nosuch")):
    try:
        cfg.with_overrides(bad)
        check(f"override {bad} rejected", False)
    except ValueError as e:
        check(f"override {bad} rejected", what in str(e), str(e))

# The CNN: a float32 NumPy forward pass as the reference.
model_path = os.path.join(SRC, "traces", "models", "cnn.onnx")
w = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in onnx.load(model_path).graph.initializer}


def conv3x3(x, W, b):
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    cols = np.stack([xp[:, :, i:i + h, j:j + wd] for i in range(3) for j in range(3)], axis=2)  # n c 9 h w
    return np.einsum("nckhw,fck->nfhw", cols, W.reshape(W.shape[0], c, 9)) + b.reshape(1, -1, 1, 1)


x = np.random.default_rng(5).uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32)
h = np.maximum(conv3x3(x.astype(np.float64), w["W1"], w["b1"]), 0)
h = h.reshape(1, 16, 16, 2, 16, 2).max(axis=(3, 5))
h = np.maximum(conv3x3(h, w["W2"], w["b2"]), 0)
ref = h.mean(axis=(2, 3)) @ w["Wfc"] + w["bfc"]

m = npusim.compile(model_path, cfg)
check("compile reports bindings and operators", m.inputs == [{"name": "image", "shape": [1, 3, 32, 32]}]
      and m.outputs == ["logits"] and m.operators[0] == "conv1" and m.host_operators == 0)
r = npusim.run(cfg, m, {"image": x})
got = r["outputs"]["logits"]
err = float(np.max(np.abs(got - ref) / np.maximum(1, np.abs(ref))))
check("run: logits match the NumPy reference", r["ok"] and got.dtype == np.float32 and got.shape == (1, 10)
      and err <= 8 * 2.0**-10, f"max rel err {err:.2e}")
check("run: stats as a dict", r["stats"]["total_cycles"] == r["cycles"] > 0 and "engines" in r["stats"])

np.save(os.path.join(WORK, "x.npy"), x)
subprocess.run([NPUSIM, "run", "--config", os.path.join(SRC, "configs", "edge.yaml"), model_path, "--input",
                f"image={os.path.join(WORK, 'x.npy')}", "--output-dir", os.path.join(WORK, "out"), "--stats",
                os.path.join(WORK, "s.json"), "--quiet"], check=True)
cli = json.load(open(os.path.join(WORK, "s.json")))
cli_out = np.load(os.path.join(WORK, "out", "logits.npy"))
check("run equals the CLI: cycles and outputs bit for bit",
      cli["total_cycles"] == r["cycles"] and cli_out.tobytes() == got.tobytes())
t = npusim.run(cfg, m, {"image": x}, timing_only=True)
check("timing_only: same cycles, no outputs", t["cycles"] == r["cycles"] and t["outputs"] == {})
for bad, what in (({}, "no data for input 'image'"), ({"image": x[:, :2]}, "shape does not match"),
                  ({"image": x, "extra": x}, "no input 'extra'")):
    try:
        npusim.run(cfg, m, bad)
        check(f"bad inputs rejected ({what})", False)
    except ValueError as e:
        check(f"bad inputs rejected ({what})", what in str(e), str(e))

prog = os.path.join(SRC, "traces", "mlp_i8.npus")
p = npusim.run_program(cfg, prog, timing_only=True)
subprocess.run([NPUSIM, "run", "--config", os.path.join(SRC, "configs", "edge.yaml"), prog, "--random-inputs", "1",
                "--timing-only", "--stats", os.path.join(WORK, "p.json"), "--quiet"], check=True)
check("run_program: cycles equal the CLI's", p["ok"] and p["cycles"] == json.load(open(os.path.join(WORK, "p.json")))["total_cycles"])

# A compiled .npub takes the model's float32 NCHW input (its IO table records it) and gives the
# model's float32 output, bit for bit as the model run.
npub = os.path.join(WORK, "model.npub")
subprocess.run([NPUSIM, "compile", "--config", os.path.join(SRC, "configs", "edge.yaml"), model_path, "-o", npub],
               check=True, capture_output=True)
q = npusim.run_program(cfg, npub, {"image": x})
qo = q["outputs"]["logits"]
check("run_program on a compiled .npub: float32 NCHW in, the model run's outputs out",
      q["ok"] and qo.dtype == np.float32 and qo.shape == (1, 10) and qo.tobytes() == got.tobytes())

topo = npusim.run_topology(c32, os.path.join(SRC, "traces", "topologies", "resnet50_conv.csv"), ideal_memory=True)
ok = topo["total"]["layers"] == 53
for layer in topo["layers"]:
    M, N, K, R, C = layer["m"], layer["n"], layer["k"], 32, 32
    folds = math.ceil(M / R) * math.ceil(N / C)  # OS: SR = M, SC = N, T = K
    ok = ok and layer["compute_cycles"] == folds * (R + C + K - 2) - 1 == layer["total_cycles"]
check("run_topology: 53 layers, closed-form OS cycles", ok)

e = npusim.evaluate(cfg, model_path)
check("evaluate: a sweep point's numbers", e["kind"] == "onnx" and e["cycles"] == r["cycles"] and e["energy_j"] > 0)

if failures:
    print(f"{failures} Python binding check(s) failed")
    sys.exit(1)
print("all Python binding checks passed")
