#!/usr/bin/env python3
"""Validates every stats.json the suite wrote (copied to DIR by NPUSIM_STATS_COPY_DIR) against
docs/stats.schema.json (Debian's python3-jsonschema), and checks that each names the simulator,
ISA, program and config it came from. usage: check_stats_schema.py SCHEMA DIR"""
import glob
import json
import os
import sys

import jsonschema

schema_file, folder = sys.argv[1], sys.argv[2]
schema = json.load(open(schema_file))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
files = sorted(glob.glob(os.path.join(folder, "*.json")))
bad = 0
faults = 0
for f in files:
    stats = json.load(open(f))
    errors = sorted(validator.iter_errors(stats), key=lambda e: list(e.path))
    for k in ("npusim_version", "isa_version", "program_hash"):
        if not stats.get(k):
            errors.append(f"{k} is empty")
    if errors:
        bad += 1
        print(f"{f} ({stats.get('command_line', '?')}):")
        for e in errors[:5]:
            print("  ", getattr(e, "message", e), "at", "/".join(map(str, getattr(e, "path", []))))
    faults += "fault" in stats
print(f"stats.json files validated against {os.path.basename(schema_file)}: {len(files) - bad} of {len(files)} valid"
      f" ({faults} from faulted runs)")
if not files:
    print("note: the selected tests wrote no stats.json")
sys.exit(1 if bad else 0)
