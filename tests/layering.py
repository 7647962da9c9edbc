#!/usr/bin/env python3
"""The floors depend one way: fails when a folder includes a header of a folder above it.

Floors, bottom up (docs/architecture.md): base/ < isa/ < arch/, memory/ < rtl/ < compiler/ (beside
the hardware: it needs isa/ only) < sim/ (the SystemC model) < tools/ < python/, bench/, tests/,
examples/. Each folder lists what it may include; anything else is a violation, reported as
file:line: what it includes and why that is not allowed.

    layering.py SOURCE_DIR
"""
import pathlib
import re
import sys

# What each folder's sources may include ("npusim/" is include/npusim, the public C headers).
ALLOWED = {
    "base": set(),
    "isa": {"base"},
    "arch": {"base", "isa"},
    "memory": {"base", "isa"},
    "rtl": {"base", "isa", "arch"},
    "compiler": {"base", "isa"},
    "sim": {"base", "isa", "arch", "memory", "rtl"},
    "tools": {"base", "isa", "arch", "memory", "rtl", "compiler", "sim", "tools", "npusim"},
}
# Project folders an include may name (anything else is a generated or third-party header).
FOLDERS = set(ALLOWED) | {"npusim", "python", "bench", "tests", "examples"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def main() -> int:
    root = pathlib.Path(sys.argv[1])
    bad = []
    checked = 0
    for folder, allowed in ALLOWED.items():
        for path in sorted((root / folder).rglob("*")):
            if path.suffix not in {".h", ".cpp", ".c", ".inc"}:
                continue
            checked += 1
            for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                target = m.group(1).split("/")[0] if "/" in m.group(1) else None
                if target is None or target not in FOLDERS or target == folder:
                    continue
                if target not in allowed:
                    rel = path.relative_to(root)
                    bad.append(f"{rel}:{n}: includes \"{m.group(1)}\": {folder}/ may include only "
                               f"{', '.join(sorted(allowed)) or 'nothing of npusim'}")
    for b in bad:
        print(b)
    if checked == 0:
        print(f"{root}: no sources found", file=sys.stderr)
        return 2
    print(f"{checked} files checked, {len(bad)} include(s) against the floors")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
