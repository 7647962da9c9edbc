#!/usr/bin/python3
"""Plots `npusim sweep` results as a PNG: latency against energy for every design point, one panel
per workload, the Pareto front joined, points coloured by the MXU area proxy.

usage: scripts/plot_sweep.py RESULTS.csv -o OUT.png [--title TEXT]

Needs Debian's python3-matplotlib (installed by scripts/setup-deps).
"""
import argparse
import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--title")
    a = ap.parse_args()
    with open(a.results, newline="") as f:
        rows = list(csv.DictReader(f))
    need = {"workload", "status", "seconds", "energy_j", "mxu_area_cells", "pareto"}
    if not rows or not need <= set(rows[0]):
        sys.exit(f"{a.results}: expected npusim sweep results with columns {', '.join(sorted(need))}")
    by = defaultdict(list)
    for r in rows:
        if r["status"] == "ok":
            by[r["workload"]].append(r)
    if not by:
        sys.exit(f"{a.results}: no successful points")
    fig, axes = plt.subplots(1, len(by), figsize=(6 * len(by), 5), squeeze=False)
    areas = [float(r["mxu_area_cells"]) for rs in by.values() for r in rs]
    norm = matplotlib.colors.LogNorm(vmin=min(areas), vmax=max(areas)) if min(areas) > 0 else None
    for ax, (wl, rs) in zip(axes[0], sorted(by.items())):
        x = [float(r["seconds"]) * 1e3 for r in rs]
        y = [float(r["energy_j"]) * 1e3 for r in rs]
        sc = ax.scatter(x, y, c=[float(r["mxu_area_cells"]) for r in rs], cmap="viridis", norm=norm, s=28)
        front = sorted((float(r["seconds"]) * 1e3, float(r["energy_j"]) * 1e3) for r in rs if r["pareto"] == "1")
        if front:
            ax.plot(*zip(*front), color="tab:red", marker="o", mfc="none", ms=9, lw=1.2, label="Pareto front")
            ax.legend(loc="upper right")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("latency (ms)")
        ax.set_ylabel("energy (mJ)")
        ax.set_title(f"{wl} ({len(rs)} designs)")
        ax.grid(True, which="both", alpha=0.3)
    fig.colorbar(sc, ax=axes[0].tolist(), label="MXU area proxy (yosys cells)")
    fig.suptitle(a.title or a.results)
    fig.savefig(a.output, dpi=110)
    print(f"{a.output}: {sum(len(v) for v in by.values())} points, {len(by)} workload(s)")


if __name__ == "__main__":
    main()
