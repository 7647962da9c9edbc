#!/usr/bin/python3
"""Per model family: compile time, simulated latency per config, MXU utilization, host operators.

Exports the model zoo of tests/models/export_zoo.py (torch, seeded random weights) into WORK, then
for every model and bundled config: `npusim compile` (wall time, the best of three, quiet), and
`npusim run --timing-only --stats` (the same cycles as a functional run) for the cycles, the
latency at the config's clock, the MXU utilization and the fallback counts. Prints one markdown
table (docs/compiler.md quotes it). A model that does not compile or run is a failure, as is a
host operator (the zoo runs entirely on the NPU) or a ResNet-50 compile slower than the band below.

usage: bench_zoo.py NPUSIM REPO_DIR WORK_DIR
"""
import json
import os
import subprocess
import sys
import time

NPUSIM, REPO, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
CONFIGS = ["edge", "datacenter"]
# Family of each zoo model (the families), in the table's order.
FAMILIES = [
    ("CNN", ["resnet18", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "regnet_y_400mf",
             "shufflenet_v2_x0_5", "squeezenet1_1", "densenet121", "convnext_tiny"]),
    ("vision transformer", ["vit_tiny"]),
    ("encoder (BERT-like)", ["bert_like", "embed_mask_attn"]),
    ("decoder (GPT-like)", ["gpt_like"]),
    ("speech", ["whisper_like", "lstm_speech", "gru_speech"]),
    ("recommendation", ["dlrm_like"]),
    ("detector", ["tiny_detector"]),
]
# ResNet-50 (bench/resnet50_onnx.py) compile time band on this project's reference machine
# (2 cores): the limit.
RESNET50_COMPILE_MAX_S = 2.0

os.makedirs(WORK, exist_ok=True)
models = [m for _, ms in FAMILIES for m in ms]
subprocess.run(["/usr/bin/python3", os.path.join(REPO, "tests", "models", "export_zoo.py"), WORK] + models, check=True,
               stdout=subprocess.DEVNULL)
subprocess.run(["/usr/bin/python3", os.path.join(REPO, "bench", "resnet50_onnx.py"), os.path.join(WORK, "resnet50.onnx")],
               check=True, stdout=subprocess.DEVNULL)


def compile_time(model, config):
    best = None
    for _ in range(3):
        t0 = time.perf_counter()
        p = subprocess.run([NPUSIM, "compile", model, "--config", os.path.join(REPO, "configs", config + ".yaml"),
                            "-o", os.path.join(WORK, "bench.npub")], capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if p.returncode != 0:
            return None, p.stderr.strip().splitlines()[-1][:160]
        best = dt if best is None else min(best, dt)
    return best, ""


failures = 0
print("| family | model | compile (s) | " + " | ".join(f"{c} cycles | {c} us | {c} MXU util" for c in CONFIGS)
      + " | host ops |")
print("|---|---|---|" + "---|---|---|" * len(CONFIGS) + "---|")
for family, names in FAMILIES:
    for name in names:
        model = os.path.join(WORK, name + ".onnx")
        ct, why = compile_time(model, "edge")
        if ct is None:
            print(f"| {family} | {name} | FAIL: {why} |")
            failures += 1
            continue
        cells, host = [], 0
        for config in CONFIGS:
            stats = os.path.join(WORK, f"{name}.{config}.stats.json")
            p = subprocess.run([NPUSIM, "run", "--config", os.path.join(REPO, "configs", config + ".yaml"), model,
                                "--timing-only", "--random-inputs", "1", "--quiet", "--stats", stats], capture_output=True, text=True)
            if p.returncode != 0:
                cells.append(f"FAIL: {p.stderr.strip()[:100]} | | ")
                failures += 1
                continue
            s = json.load(open(stats))
            host = max(host, s["fallback"]["host_operators"])
            cells.append(f"{s['total_cycles']:,} | {s['seconds'] * 1e6:,.1f} | {s['mxu_utilization'] * 100:.1f}%")
        if host:
            failures += 1
        print(f"| {family} | {name} | {ct:.2f} | " + " | ".join(cells) + f" | {host} |")

r50 = os.path.join(WORK, "resnet50.onnx")
for config in CONFIGS:
    ct, why = compile_time(r50, config)
    ok = ct is not None and ct <= RESNET50_COMPILE_MAX_S
    failures += not ok
    print(f"ResNet-50 compile on {config}: " + (f"{ct:.2f} s" if ct is not None else "FAIL " + why) +
          f" (band <= {RESNET50_COMPILE_MAX_S} s){'' if ok else '  OUT OF BAND'}")
print(f"bench_zoo: {len(models)} models, {failures} failure(s)")
sys.exit(1 if failures else 0)
