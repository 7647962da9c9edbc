#!/usr/bin/env python3
"""npusim generate against torch: usage check_generate.py NPUSIM SOURCE_DIR WORK_DIR.

Builds the tiny GPT-like decoder (scripts/make_tiny_gpt.py, seed 0) at test time, then checks:
- the 16 generated tokens equal torch's greedy decode on edge and datacenter (fp16). Seed 0's
  smallest top-1/top-2 logit margin over those steps is 0.22, far above fp16's error here, so fp16
  cannot flip an argmax; the test asserts the margin stays >= 0.1;
- stats.json fields are present and consistent (TTFT = the prefill step, TPOT over the decode
  steps, tokens/s = 1 / mean TPOT, KV bytes = per token x context, the trace's two phase tracks);
- decode steps cost more as the context grows, one context bucket at a time, and never less;
- a prompt plus new tokens beyond --max-context is refused with exit 2 and a clear message, and
  so is a model without the KV-cache inputs;
- a position beyond the model's position table is a device fault (exit 1) naming the step;
- --plan prints the KV bytes per token (layers x 2 x heads x head_dim x 2 B) and what fits.
"""
import json
import os
import re
import statistics
import subprocess
import sys

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, failures, npusim, run, src, work  # noqa: E402


model = os.path.join(work, "tiny_gpt.onnx")
prompt = os.path.join(work, "prompt.npy")
ref = os.path.join(work, "ref.npy")
np.save(prompt, np.array([5, 17, 42, 99, 3, 64, 8, 21], dtype=np.int64))
p = subprocess.run([sys.executable, os.path.join(src, "scripts/make_tiny_gpt.py"), model, "--seed", "0",
                    "--reference", prompt, "16", ref], capture_output=True, text=True, check=True)
margin = float(re.search(r"margin ([0-9.]+)", p.stderr).group(1))
check(margin >= 0.1, f"torch's smallest top-1 margin over the 16 steps {margin:.4f} >= 0.1 (fp16 cannot flip it)")
want = np.load(ref)

for cfg in ("edge", "datacenter"):
    out, stats, trace = (os.path.join(work, f"{cfg}.{x}") for x in ("tokens.npy", "stats.json", "trace.json"))
    r = run("generate", "--config", os.path.join(src, "configs", cfg + ".yaml"), model, "--tokens", prompt,
            "--new-tokens", "16", "--output", out, "--stats", stats, "--trace", trace)
    check(r.returncode == 0, f"{cfg}: generate exits 0")
    if r.returncode:
        continue
    got = np.load(out)
    check(got.dtype == np.int64 and got.tolist() == want.tolist(), f"{cfg}: tokens {got.tolist()} == torch's")
    s = json.load(open(stats))
    steps = s["steps"]
    dec = [x for x in steps if x["phase"] == "decode"]
    check(len(steps) == 16 and steps[0]["phase"] == "prefill" and len(dec) == 15, f"{cfg}: 1 prefill + 15 decode steps")
    check([x["token"] for x in steps] == want.tolist(), f"{cfg}: each step's token is the next generated one")
    check(s["ttft_s"] == steps[0]["seconds"] > 0, f"{cfg}: TTFT is the prefill step's time")
    tp = [x["seconds"] for x in dec]
    check(abs(s["tpot_s"]["mean"] - statistics.mean(tp)) <= 1e-12 * s["tpot_s"]["mean"] + 1e-18,
          f"{cfg}: TPOT mean is the decode steps' mean")
    check(min(tp) <= s["tpot_s"]["p50"] <= s["tpot_s"]["p99"] <= max(tp), f"{cfg}: min <= TPOT p50 <= p99 <= max")
    check(abs(s["tokens_per_s"] * s["tpot_s"]["mean"] - 1) < 1e-9, f"{cfg}: tokens/s = 1 / mean TPOT")
    check(s["kv_cache_bytes_per_token"] == 2 * 2 * 4 * 16 * 2, f"{cfg}: KV bytes per token = 2 layers x K,V x 4 heads x 16 x 2 B")
    check(s["kv_cache_bytes"] == s["kv_cache_bytes_per_token"] * dec[-1]["context"], f"{cfg}: KV bytes = per token x context")
    check(abs(s["dram_bytes_per_token"] - statistics.mean(x["dram_bytes"] for x in dec)) < 1e-6,
          f"{cfg}: DRAM bytes per token is the decode steps' mean")
    check(abs(s["energy_j"] - sum(x["energy_j"] for x in steps)) < 1e-12 and s["energy_j_per_token"] > 0,
          f"{cfg}: energy = sum of the steps'")
    check(sum(s["operator_cycles"]["decode"].values()) > 0 and sum(s["operator_cycles"]["prefill"].values()) > 0,
          f"{cfg}: per-operator cycles for prefill and decode")
    # the cache's host round trip, modelled apart: irq round trip + (past in + new rows out) / bandwidth
    host = re.search(r"host:\s*\n\s*irq_round_trip: ([0-9.]+)us\s*\n\s*bandwidth: ([0-9.]+)GB/s",
                     open(os.path.join(src, "configs", cfg + ".yaml")).read())
    irq_s, bw = float(host.group(1)) * 1e-6, float(host.group(2)) * 1e9
    want_copy = [irq_s + 512 * (x["past_bucket"] + (8 if x["phase"] == "prefill" else 1)) / bw for x in steps]
    check(all(abs(x["host_kv_copy_s"] - w) < 1e-12 for x, w in zip(steps, want_copy)) and
          abs(s["host_kv_copy_s"] - sum(want_copy)) < 1e-12, f"{cfg}: host KV copy time = irq + bytes / bandwidth")
    ev = json.load(open(trace))["traceEvents"]
    names = {e["args"]["name"] for e in ev if e["ph"] == "M"}
    slices = [e for e in ev if e["ph"] == "X"]
    check(names == {"prefill", "decode"} and len(slices) == 16 and len({e["tid"] for e in slices}) == 2,
          f"{cfg}: trace has one track per phase, one slice per step")

# Decode cost grows with the context: 60 tokens over buckets of 16 (the past before a decode step
# holds 8 to 66 tokens: buckets 16, 32, 48, 64, 80).
stats = os.path.join(work, "grow.json")
r = run("generate", "--config", os.path.join(src, "configs/edge.yaml"), model, "--tokens", prompt, "--new-tokens", "60",
        "--bucket", "16", "--stats", stats, "--quiet")
check(r.returncode == 0, "growth run exits 0")
if r.returncode == 0:
    dec = [x for x in json.load(open(stats))["steps"] if x["phase"] == "decode"]
    by_bucket = {}
    for x in dec:
        by_bucket.setdefault(x["past_bucket"], set()).add(x["cycles"])
    check(all(x["context"] - 1 <= x["past_bucket"] < x["context"] - 1 + 16 for x in dec),
          "each decode step's bucket is the smallest multiple of 16 holding its past")
    buckets = sorted(by_bucket)
    check(buckets == [16, 32, 48, 64, 80], f"decode buckets {buckets} == [16, 32, 48, 64, 80]")
    check(all(len(v) == 1 for v in by_bucket.values()), "one cost per bucket (the same program)")
    cyc = [by_bucket[b].pop() for b in buckets]
    check(all(a < b for a, b in zip(cyc, cyc[1:])), f"decode cycles grow with the context: {cyc}")
    print("decode cycles per bucket:", dict(zip(buckets, cyc)))

# Capacity: 8 + 121 > 128.
r = run("generate", "--config", os.path.join(src, "configs/edge.yaml"), model, "--tokens", prompt, "--new-tokens", "121",
        expect=2)
check(r.returncode == 2 and "does not fit the maximum context of 128 tokens" in r.stderr,
      f"beyond --max-context: exit {r.returncode}, '{r.stderr.strip()}'")
r = run("generate", "--config", os.path.join(src, "configs/edge.yaml"), model, "--tokens", prompt, "--new-tokens", "120",
        "--quiet")
check(r.returncode == 0, "exactly --max-context (8 + 120 = 128) is accepted")

# A --max-context beyond the model's position table (256): the step at position 256 faults (exit 1).
r = run("generate", "--config", os.path.join(src, "configs/edge.yaml"), model, "--tokens", prompt, "--new-tokens",
        "255", "--max-context", "300", "--bucket", "128", "--quiet", expect=1)
check(r.returncode == 1 and "decode step at context 256" in r.stderr and "gather index" in r.stderr,
      f"a position beyond the model's table faults: exit {r.returncode}, '{r.stderr.strip()[:160]}'")

# A model without the KV-cache inputs is refused (exit 2) naming what is missing.
import torch  # noqa: E402

plain = os.path.join(work, "plain.onnx")
torch.onnx.export(torch.nn.Linear(4, 4), (torch.zeros(1, 4),), plain, input_names=["x"], output_names=["y"],
                  opset_version=14)
r = run("generate", "--config", os.path.join(src, "configs/edge.yaml"), plain, "--tokens", prompt, expect=2)
check(r.returncode == 2 and "needs graph input 'input_ids'" in r.stderr,
      f"a model without a KV cache: exit {r.returncode}, '{r.stderr.strip()}'")
check(all(k in s for k in ("wall_s", "simulator_wall_s_per_token", "end_to_end_s")), "stats carry the wall times")

# Sizing.
r = run("generate", "--config", os.path.join(src, "configs/edge.yaml"), model, "--tokens", prompt, "--plan",
        "--memory", "1MiB")
m = re.search(r"KV cache: (\d+) bytes per token.*weights (\d+) bytes, per-step scratch and IO (\d+) bytes.*"
              r"cache tokens that fit: (\d+); largest context at batch 1: (\d+).*largest batch at context 128: (\d+)",
              r.stdout, re.S)
check(r.returncode == 0 and m is not None, "--plan prints the sizing")
if m:
    kv, w, sc, tok, ctx, batch = map(int, m.groups())
    check(kv == 512 and tok == (2**20 - w - sc) // kv and ctx == min(tok, 128) and batch == tok // 128,
          f"--plan: {tok} tokens = (1 MiB - {w} - {sc}) // {kv}, context {ctx}, batch {batch}")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
