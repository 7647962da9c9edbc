#!/usr/bin/python3
"""Plots a long run's time series (npusim run --repeat/--duration --power-csv RUN.csv) as a PNG:
temperature (heat node and hottest node), clock frequency and power over time, one panel each.

usage: scripts/plot_power.py RUN.csv -o RUN.png [--title TEXT]

Needs Debian's python3-matplotlib (installed by scripts/setup-deps).
"""
import argparse
import csv
import sys

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt  # noqa: E402

COLUMNS = ["time_s", "power_w", "heat_node_c", "max_node_c", "clock_mhz", "volts", "throttle_level", "inferences"]


def read(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0] != COLUMNS:
        sys.exit(f"{path}: not an npusim power CSV (expected the header {','.join(COLUMNS)})")
    data = {c: [] for c in COLUMNS}
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(COLUMNS):
            sys.exit(f"{path}:{i}: expected {len(COLUMNS)} values, got {len(row)}")
        try:
            for c, v in zip(COLUMNS, row):
                data[c].append(float(v))
        except ValueError as e:
            sys.exit(f"{path}:{i}: {e}")
    if not data["time_s"]:
        sys.exit(f"{path}: no samples")
    return data


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("csv")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--title", default=None)
    a = ap.parse_args()
    d = read(a.csv)
    t = d["time_s"]
    fig, ax = plt.subplots(3, 1, sharex=True, figsize=(10, 8))
    ax[0].plot(t, d["heat_node_c"], label="heat node (die)")
    ax[0].plot(t, d["max_node_c"], label="hottest node", linestyle="--")
    ax[0].set_ylabel("temperature (°C)")
    ax[0].legend(loc="lower right")
    ax[1].step(t, d["clock_mhz"], where="post", color="tab:orange")
    ax[1].set_ylabel("clock (MHz)")
    ax[2].plot(t, d["power_w"], color="tab:red", linewidth=0.8)
    ax[2].set_ylabel("power (W)")
    ax[2].set_xlabel("simulated time (s)")
    for x in ax:
        x.grid(True, alpha=0.3)
    fig.suptitle(a.title or a.csv)
    fig.tight_layout()
    fig.savefig(a.output, dpi=110)
    print(f"{a.output}: {len(t)} samples, {t[-1]:.6g} s")


if __name__ == "__main__":
    main()
