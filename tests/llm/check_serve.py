#!/usr/bin/env python3
"""npusim load --llm against npusim generate: usage check_serve.py NPUSIM SOURCE_DIR WORK_DIR.

Builds the tiny GPT-like decoder (scripts/make_tiny_gpt.py, seed 0), then checks:
- one request (8-token prompt, 16 tokens) served alone has generate's TTFT and mean TPOT on edge
  and datacenter (the same step programs; equal to the report's 9 significant digits);
- under Poisson load with a small KV capacity: admission never reserves more than the capacity,
  no decode iteration exceeds --max-batch, and batching raises tokens/s over a batch of 1;
- the report's step programs (timed without data) have the cycles of generate's steps (with data);
- a request that cannot fit is refused with a message naming the limit, and counted;
- the report, the Prometheus families, the occupancy CSV and the Perfetto trace are written.
"""
import csv
import json
import os
import subprocess
import sys

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, failures, npusim, run, src, work  # noqa: E402


model = os.path.join(work, "tiny_gpt.onnx")
prompt = os.path.join(work, "prompt.npy")
np.save(prompt, np.array([5, 17, 42, 99, 3, 64, 8, 21], dtype=np.int64))
subprocess.run([sys.executable, os.path.join(src, "scripts/make_tiny_gpt.py"), model, "--seed", "0"],
               capture_output=True, check=True)
one = os.path.join(work, "one.csv")
with open(one, "w") as f:
    f.write("arrival_s,prompt_tokens,output_tokens\n0.001,8,16\n")

for cfg in ("edge", "datacenter"):
    conf = os.path.join(src, "configs", cfg + ".yaml")
    gen, rep = os.path.join(work, f"{cfg}.gen.json"), os.path.join(work, f"{cfg}.one.json")
    g = run("generate", "--config", conf, model, "--tokens", prompt, "--new-tokens", "16", "--stats", gen, "--quiet")
    r = run("load", "--config", conf, model, "--llm", "--arrivals", "trace:" + one, "--report", rep, "--quiet")
    check(g.returncode == 0 and r.returncode == 0, f"{cfg}: generate and load --llm exit 0")
    if g.returncode or r.returncode:
        continue
    gs, ls = json.load(open(gen)), json.load(open(rep))
    # The report prints 9 significant digits: equal within that rounding (5e-9 relative).
    check(abs(ls["ttft_s"]["p50"] - gs["ttft_s"]) <= 1e-8 * gs["ttft_s"],
          f"{cfg}: a lone request's TTFT {ls['ttft_s']['p50']} == generate's {gs['ttft_s']}")
    check(abs(ls["tpot_s"]["p50"] - gs["tpot_s"]["mean"]) <= 1e-8 * gs["tpot_s"]["mean"],
          f"{cfg}: its TPOT {ls['tpot_s']['p50']} == generate's mean TPOT {gs['tpot_s']['mean']}")
    want = sorted({(1, 8, 32, gs["steps"][0]["cycles"])} |
                  {(1, 1, x["past_bucket"], x["cycles"]) for x in gs["steps"][1:]})
    got = sorted((x["batch"], x["seq"], x["past"], x["cycles"]) for x in ls["step_programs"])
    check(got == want, f"{cfg}: the step programs' cycles (timed without data) equal generate's steps: {got}")
    check(ls["tokens"] == 16 and ls["served"] == 1 and ls["iterations"] == {
        "prefill": 1, "decode": 15, "mean_decode_batch": 1, "max_decode_batch": 1}, f"{cfg}: 1 prefill + 15 decode steps")

# Load: Poisson arrivals above what batch 1 serves, KV capacity 300 tokens.
conf = os.path.join(src, "configs/edge.yaml")
outs = {x: os.path.join(work, "load." + x) for x in ("json", "prom", "trace.json", "kv.csv", "lat.csv")}
common = ["load", "--config", conf, model, "--llm", "--rate", "4000/s", "--duration", "20ms", "--prompt-tokens", "4..24",
          "--output-tokens", "4..40", "--kv-capacity", "300", "--seed", "3", "--quiet"]
r = run(*common, "--max-batch", "6", "--report", outs["json"], "--metrics", outs["prom"], "--trace", outs["trace.json"],
        "--kv-csv", outs["kv.csv"], "--latency-csv", outs["lat.csv"])
r1 = run(*common, "--max-batch", "1", "--report", os.path.join(work, "b1.json"))
check(r.returncode == 0 and r1.returncode == 0, "load runs exit 0")
if r.returncode == 0 and r1.returncode == 0:
    s, s1 = json.load(open(outs["json"])), json.load(open(os.path.join(work, "b1.json")))
    kv = list(csv.DictReader(open(outs["kv.csv"])))
    check(s["served"] == s["requests"] > 40, f"{s['requests']} requests, all served")
    check(max(int(x["reserved_tokens"]) for x in kv) <= 300 and s["kv_cache"]["max_reserved_tokens"] <= 300,
          f"reserved cache tokens stay within the capacity (max {s['kv_cache']['max_reserved_tokens']} <= 300)")
    check(all(int(x["used_tokens"]) <= int(x["reserved_tokens"]) for x in kv), "used tokens <= reserved at every sample")
    check(1 < s["iterations"]["mean_decode_batch"] and s["iterations"]["max_decode_batch"] <= 6,
          f"decode batches up to 6 (mean {s['iterations']['mean_decode_batch']})")
    check(s["tokens_per_s"] > 1.5 * s1["tokens_per_s"],
          f"continuous batching: {s['tokens_per_s']} tokens/s > 1.5 x batch 1's {s1['tokens_per_s']}")
    check(s["ttft_s"]["p50"] <= s["ttft_s"]["p99"] <= s["ttft_s"]["max"] and s["tpot_s"]["p99"] > 0,
          "TTFT/TPOT percentiles ordered")
    prom = open(outs["prom"]).read()
    fams = ["npusim_llm_ttft_seconds", "npusim_llm_tpot_seconds", "npusim_llm_tokens_per_second",
            "npusim_llm_requests_total", "npusim_llm_kv_cache_capacity_tokens", "npusim_llm_kv_cache_used_tokens_max",
            "npusim_llm_kv_cache_occupancy_mean_ratio", "npusim_llm_decode_batch_mean"]
    check(all(f"# TYPE {f} " in prom for f in fams), "Prometheus families present")
    check(f"npusim_llm_ttft_seconds_count {s['served']}\n" in prom, "TTFT histogram counts the served requests")
    ev = json.load(open(outs["trace.json"]))["traceEvents"]
    names = {e["args"]["name"] for e in ev if e["ph"] == "M" and "tid" in e}
    check("NPU iterations" in names and "batch slot 5" in names, "trace: iteration track and a track per batch slot")
    check(sum(1 for e in ev if e["ph"] == "X" and e["tid"] > 0) == s["served"], "trace: one span per served request")
    check(any(e["ph"] == "C" and e["name"] == "KV cache tokens" for e in ev), "trace: KV cache occupancy counter")
    lat = list(csv.DictReader(open(outs["lat.csv"])))
    check(len(lat) == s["requests"], "latency CSV: a row per request")

# Refusals: 8 + 200 tokens exceed the maximum context; 60 + 60 exceed a 100-token cache.
bad = os.path.join(work, "bad.csv")
with open(bad, "w") as f:
    f.write("0,8,200\n0,60,60\n0.0001,8,8\n")
rep = os.path.join(work, "bad.json")
r = run("load", "--config", conf, model, "--llm", "--arrivals", "trace:" + bad, "--kv-capacity", "100", "--report",
        rep, "--quiet")
check(r.returncode == 0 and "exceed the maximum context of 128 tokens" in r.stderr and
      "120 tokens exceed the KV-cache capacity of 100 tokens" in r.stderr, f"refusals named: '{r.stderr.strip()}'")
if r.returncode == 0:
    s = json.load(open(rep))
    check(s["refused"] == 2 and s["served"] == 1 and len(s["refusals"]) == 2, "2 refused, 1 served")
with open(bad, "w") as f:
    f.write("0,8,x\n")
r = run("load", "--config", conf, model, "--llm", "--arrivals", "trace:" + bad, expect=2)
check(r.returncode == 2 and "bad.csv:1: expected arrival_s,prompt_tokens,output_tokens" in r.stderr,
      f"a malformed trace line is named: '{r.stderr.strip()}'")

r = run("load", "--config", conf, model, "--llm", "--max-wait", "1ms", expect=2)
check(r.returncode == 2 and "--max-wait does not apply to load --llm" in r.stderr, "batching-mode options are refused")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
