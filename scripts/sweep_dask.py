#!/usr/bin/python3
"""Runs an `npusim sweep` on a Dask cluster: the points go to Dask workers, the results come
back through the sweep's content-addressed cache, and `npusim sweep` assembles the table.

usage: scripts/sweep_dask.py SWEEP.yaml [--scheduler tcp://HOST:8786 | --workers N]
                             [--npusim PATH] [--plot]

1. `npusim sweep SWEEP.yaml --plan` lists the points that are not cached yet (command lines and
   result paths);
2. each becomes a Dask task that runs its `npusim sweep-point` command on a worker (workers must
   see the same files: the sweep's output folder, the workloads and the npusim executable, as on a
   cluster with a shared file system);
3. `npusim sweep SWEEP.yaml` then finds every result in the cache and writes results.csv/json
   (a point that failed on the cluster is tried once more locally, which also reports its error).

Without --scheduler it starts a LocalCluster of --workers processes (default: all cores). Needs
Debian's python3-distributed (installed by scripts/setup-deps).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def run_job(job):
    """Runs one sweep point on a worker; returns (key, exit code)."""
    with open(job["log"], "w") as log:
        rc = subprocess.run(job["argv"], stdout=log, stderr=subprocess.STDOUT).returncode
    return job["key"], rc


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sweep")
    ap.add_argument("--scheduler", help="address of a running dask scheduler (default: a LocalCluster)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="LocalCluster worker processes")
    ap.add_argument("--npusim", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "bin", "npusim"))
    ap.add_argument("--plot", action="store_true", help="draw the Pareto plot when assembling")
    a = ap.parse_args()
    if not os.access(a.npusim, os.X_OK):
        sys.exit(f"{a.npusim}: no npusim executable there (build first, or pass --npusim)")
    from dask.distributed import Client, LocalCluster, as_completed  # noqa: E402 - after the usage checks

    with tempfile.TemporaryDirectory() as tmp:
        plan_file = os.path.join(tmp, "plan.json")
        r = subprocess.run([a.npusim, "sweep", a.sweep, "--plan", plan_file])
        if r.returncode != 0:
            sys.exit(r.returncode)
        with open(plan_file) as f:
            jobs = json.load(f)["jobs"]
    t0 = time.time()
    if jobs:
        cluster = None
        if a.scheduler:
            client = Client(a.scheduler)
        else:
            cluster = LocalCluster(n_workers=a.workers, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
        print(f"sweep_dask: {len(jobs)} points on {len(client.scheduler_info()['workers'])} Dask workers", flush=True)
        failed = 0
        futures = client.map(run_job, jobs, pure=False)
        for n, fut in enumerate(as_completed(futures), 1):
            key, rc = fut.result()
            failed += rc != 0
            print(f"  {n}/{len(jobs)} done ({failed} failed), {time.time() - t0:.1f} s", flush=True)
        client.close()
        if cluster:
            cluster.close()
    else:
        print("sweep_dask: every point is cached", flush=True)
    cmd = [a.npusim, "sweep", a.sweep, "-j", "1"] + (["--plot"] if a.plot else [])
    sys.exit(subprocess.run(cmd).returncode)


if __name__ == "__main__":
    main()
