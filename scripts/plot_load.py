#!/usr/bin/python3
"""Plots `npusim load` results as a PNG: the latency CDF of each tenant (from --latency-csv) and,
with --queue, the queue length of each tenant over time (from --queue-csv) and, with --thermal,
the temperature and clock over time (from --thermal-csv).

usage: scripts/plot_load.py LATENCY.csv [--queue QUEUE.csv] [--thermal TH.csv] -o OUT.png [--title TEXT]

Needs Debian's python3-matplotlib (installed by scripts/setup-deps).
"""
import argparse
import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path, header, columns):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0] != header:
        sys.exit(f"{path}: expected the header {','.join(header)}")
    out = defaultdict(lambda: [[] for _ in range(columns)])
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != columns + 1:
            sys.exit(f"{path}:{i}: expected {columns + 1} values")
        try:
            for k in range(columns):
                out[row[0]][k].append(float(row[k + 1]))
        except ValueError as e:
            sys.exit(f"{path}:{i}: {e}")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("latency")
    ap.add_argument("--queue")
    ap.add_argument("--thermal")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--title")
    a = ap.parse_args()
    lat = read(a.latency, ["tenant", "arrival_s", "latency_s"], 2)
    panels = 1 + bool(a.queue) + bool(a.thermal)
    fig, ax = plt.subplots(panels, 1, figsize=(10, 4 * panels), squeeze=False)
    for name, (_, l) in lat.items():
        l = sorted(v * 1e3 for v in l)
        n = len(l)
        ax[0][0].plot(l, [(i + 1) / n for i in range(n)], label=f"{name} (p99 {l[min(n - 1, int(0.99 * n))]:.3g} ms)")
    ax[0][0].set_xscale("log")
    ax[0][0].set_xlabel("latency (ms)")
    ax[0][0].set_ylabel("fraction of requests")
    ax[0][0].grid(True, alpha=0.3)
    ax[0][0].legend(loc="lower right")
    if a.queue:
        q = read(a.queue, ["tenant", "time_s", "queue_length"], 2)
        for name, (t, n) in q.items():
            ax[1][0].step(t, n, where="post", label=name)
        ax[1][0].set_xlabel("simulated time (s)")
        ax[1][0].set_ylabel("queued requests")
        ax[1][0].grid(True, alpha=0.3)
        ax[1][0].legend(loc="upper right")
    if a.thermal:
        with open(a.thermal, newline="") as f:
            rows = list(csv.reader(f))
        if not rows or rows[0] != ["time_s", "temp_c", "clock_hz", "power_w"]:
            sys.exit(f"{a.thermal}: expected the header time_s,temp_c,clock_hz,power_w")
        try:
            t, temp, hz = ([float(r[k]) for r in rows[1:]] for k in (0, 1, 2))
        except (ValueError, IndexError) as e:
            sys.exit(f"{a.thermal}: {e}")
        th = ax[panels - 1][0]
        th.plot(t, temp, color="tab:red")
        th.set_xlabel("simulated time (s)")
        th.set_ylabel("hottest node (C)", color="tab:red")
        th.grid(True, alpha=0.3)
        clk = th.twinx()
        clk.step(t, [h / 1e6 for h in hz], where="post", color="tab:blue")
        clk.set_ylabel("clock (MHz)", color="tab:blue")
    fig.suptitle(a.title or a.latency)
    fig.tight_layout()
    fig.savefig(a.output, dpi=110)
    print(f"{a.output}: {sum(len(v[1]) for v in lat.values())} requests, {len(lat)} tenant(s)")


if __name__ == "__main__":
    main()
