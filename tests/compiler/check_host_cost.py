#!/usr/bin/python3
"""The host cost model of host fallback operators (sim/host_cost.h), end to end.

A Softplus-only model (Softplus runs on the host) must take the modelled host time: stats.json's
fallback.host_ops[0].modelled_ns equals the closed form
    irq_round_trip + (read_bytes + write_bytes) / bandwidth + elements x ops_per_element / op_rate
for the config's `host` parameters, the run's cycles grow by exactly the extra round trip when
host.irq_round_trip grows (the device waits for the host), timing-only runs take the same cycles,
and the Perfetto trace has a "host" track with the operator's slice and its arguments. Programs
without host operators keep their cycles (pinned to the values before the host cost model).

usage: check_host_cost.py NPUSIM REPO_DIR WORK_DIR
"""
import json
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

NPUSIM, REPO, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(WORK, exist_ok=True)
failures = 0


def check(ok, what):
    global failures
    print(("ok   " if ok else "FAIL ") + what)
    failures += 0 if ok else 1


def config(name, irq_us):
    """configs/edge.yaml (1 GHz) with its host section replaced."""
    lines, skip = [], False
    for line in open(os.path.join(REPO, "configs", "edge.yaml")).read().splitlines():
        skip = line.startswith("host:") or (skip and line.startswith(" "))
        if not skip:
            lines.append(line)
    text = "\n".join(lines) + "\n"
    text += f"host:\n  irq_round_trip: {irq_us}us\n  bandwidth: 8GB/s\n  op_rate: 2000000000\n"
    path = os.path.join(WORK, name + ".yaml")
    open(path, "w").write(text)
    return path


def run(cfg, model, *extra):
    stats = os.path.join(WORK, os.path.basename(cfg) + ".stats.json")
    trace = os.path.join(WORK, os.path.basename(cfg) + ".trace.json")
    subprocess.run([NPUSIM, "run", "--config", cfg, model, "--random-inputs", "1", "--stats", stats, "--trace", trace,
                    "--quiet", *extra], check=True)
    return json.load(open(stats)), json.load(open(trace))


# A Softplus of a [64, 128] tensor: fp16 on the device, 16 KiB read, 16 KiB written, 8192 elements.
V = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, [64, 128])  # noqa: E731
g = helper.make_graph([helper.make_node("Softplus", ["a"], ["y"], name="softplus")], "softplus", [V("a")], [V("y")])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 8
model = os.path.join(WORK, "softplus.onnx")
onnx.save(m, model)

OPS_PER_ELEMENT = 32  # compiler/host_kernels.cpp: a softplus (exp, log1p) costs 32 adds
read_bytes, write_bytes, elements = 64 * 128 * 2, 64 * 128 * 2, 64 * 128
closed_ns = 3000 + (read_bytes + write_bytes) / 8.0 + elements * OPS_PER_ELEMENT / 2.0  # 3 us, 8 B/ns, 2 op/ns

s3, t3 = run(config("host3", 3), model)
fb = s3["fallback"]
h = fb["host_ops"][0] if fb["host_ops"] else {}
check(len(fb["host_ops"]) == 1 and h["node"] == "softplus" and h["operator"] == "Softplus", "one host operator, the Softplus")
check((h.get("read_bytes"), h.get("write_bytes"), h.get("elements")) == (read_bytes, write_bytes, elements),
      f"its bytes and elements: {h.get('read_bytes')}, {h.get('write_bytes')}, {h.get('elements')}")
check(abs(h.get("modelled_ns", 0) - closed_ns) < 1e-3, f"modelled {h.get('modelled_ns')} ns = closed form {closed_ns} ns")
check(abs(fb["host_modelled_ns"] - closed_ns) < 1e-3, "the total is the one operator's")
# The device waits: the run is the host time plus a few cycles of ctrl instructions (1 GHz: 1 ns each).
cycles3 = s3["total_cycles"]
check(closed_ns <= cycles3 <= closed_ns + 10, f"run {cycles3} cycles = host {closed_ns} ns + a few instructions")
s13, _ = run(config("host13", 13), model)
check(s13["total_cycles"] - cycles3 == 10000, f"10 us more round trip: {s13['total_cycles'] - cycles3} cycles more")
st, _ = run(config("host3", 3), model, "--timing-only")
check(st["total_cycles"] == cycles3, f"timing-only: {st['total_cycles']} cycles, the same")
host_tracks = [e for e in t3["traceEvents"] if e.get("ph") == "M" and e["args"].get("name") == "host"]
slices = [e for e in t3["traceEvents"] if host_tracks and e.get("ph") == "X" and e["tid"] == host_tracks[0]["tid"]]
check(len(slices) == 1, "a host track with one slice")
if slices:
    a = slices[0]["args"]
    check(a["operator"] == "Softplus" and a["node"] == "softplus" and a["elements"] == elements, f"slice args {a}")
    check(abs(slices[0]["dur"] * 1000 - closed_ns) < 1e-2 and abs(a["modelled_ns"] - closed_ns) < 1e-3,
          f"slice {slices[0]['dur']} us long")

# No host operators: cycles as before the host cost model (bundled programs on configs/edge.yaml).
for prog, cycles in (("gemm_fp16", 1659), ("gemm_i8_db", 8436), ("mlp_i8", 4286)):
    out = subprocess.run([NPUSIM, "run", "--config", os.path.join(REPO, "configs", "edge.yaml"),
                          os.path.join(REPO, "traces", prog + ".npus"), "--random-inputs", "1"],
                         check=True, capture_output=True, text=True).stdout
    check(f": {cycles} cycles" in out, f"{prog}: {out.splitlines()[0]} (pinned {cycles})")

print("all passed" if not failures else f"{failures} failed")
sys.exit(1 if failures else 0)
