"""Shared harness of the LLM checks: the command line (NPUSIM SOURCE_DIR WORK_DIR), check() and run()."""
import os
import subprocess
import sys

npusim, src, work = sys.argv[1:4]
os.makedirs(work, exist_ok=True)
failures = []  # what failed, in order; the check exits 1 when it is not empty


def check(ok, what):
    """Prints one ok/FAIL line and records a failure."""
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def run(*args, expect=0):
    """Runs npusim with ARGS; prints its output when the exit code is not EXPECT."""
    p = subprocess.run([npusim, *args], capture_output=True, text=True)
    if p.returncode != expect:
        print(p.stdout, p.stderr)
    return p
