#!/bin/sh
# CLI behaviour through the real executable: exit codes (0 ok, 2 usage/input error), messages,
# and asm/disasm round trips of every bundled program.
#   test_cli.sh NPUSIM SOURCE_DIR WORK_DIR
set -u
NPUSIM=$1
SRC=$2
WORK=$3
rm -rf "$WORK" && mkdir -p "$WORK"
failures=0

# expect CODE PATTERN CMD...: runs CMD, checks its exit code and that stdout+stderr match PATTERN.
expect() {
  code=$1 pattern=$2
  shift 2
  "$@" >"$WORK/out.txt" 2>&1
  rc=$?
  if [ "$rc" != "$code" ]; then
    echo "FAIL: '$*' exited $rc, expected $code"; cat "$WORK/out.txt"; failures=$((failures + 1)); return
  fi
  if [ -n "$pattern" ] && ! grep -q -- "$pattern" "$WORK/out.txt"; then
    echo "FAIL: '$*' output lacks '$pattern'"; cat "$WORK/out.txt"; failures=$((failures + 1)); return
  fi
  echo "ok: $*"
}

expect 2 "usage: npusim COMMAND" "$NPUSIM"
expect 0 "exit codes: 0 success, 1 simulation/runtime fault, 2 usage or input error" "$NPUSIM" --help
for c in asm disasm info; do expect 0 "usage: npusim $c" "$NPUSIM" "$c" --help; done
expect 0 "usage: npusim asm" "$NPUSIM" help asm
expect 2 "unknown command 'frobnicate'" "$NPUSIM" frobnicate
expect 2 "unknown option '--bogus'" "$NPUSIM" asm --bogus x.npus
expect 2 "asm needs exactly one input file" "$NPUSIM" asm
expect 2 "expects a non-negative integer" "$NPUSIM" asm "$SRC/traces/mlp_i8.npus" --queue-depth=-1
expect 0 "npusim 0" "$NPUSIM" --version
expect 0 "0x60 matmul" "$NPUSIM" info --isa

for t in "$SRC"/traces/*.npus; do
  name=$(basename "$t" .npus)
  expect 0 "instructions" "$NPUSIM" asm "$t" -o "$WORK/$name.npub"
  expect 0 "deadlock:     free" "$NPUSIM" info "$WORK/$name.npub"
  expect 0 "" "$NPUSIM" disasm "$WORK/$name.npub" -o "$WORK/$name.npus"
  expect 0 "" "$NPUSIM" asm "$WORK/$name.npus" -o "$WORK/$name.re.npub"
  if cmp -s "$WORK/$name.npub" "$WORK/$name.re.npub"; then echo "ok: $name round trip identical"; else
    echo "FAIL: $name: reassembled disassembly differs"; failures=$((failures + 1)); fi
done

# Bad input: exit code 2 and a message that names the place.
expect 2 "syntax.npus:3:48: error: matmul: k=5000 does not fit the 12-bit field (max 4095)" "$NPUSIM" asm "$SRC/tests/data/bad/syntax.npus" -o "$WORK/x.npub"
expect 2 "deadlock.npus:8: error: deadlock" "$NPUSIM" asm "$SRC/tests/data/bad/deadlock.npus" -o "$WORK/x.npub"
expect 0 "" "$NPUSIM" asm "$SRC/tests/data/bad/deadlock.npus" --no-deadlock-check -o "$WORK/deadlock.npub"
expect 0 "deadlock:     YES" "$NPUSIM" info "$WORK/deadlock.npub"
expect 2 "cannot read program: No such file" "$NPUSIM" disasm "$WORK/does-not-exist.npub"
printf 'not a container at all, just some text that is long enough to pass the size check....\n' >"$WORK/junk.npub"
expect 2 "junk.npub: header: bad magic" "$NPUSIM" disasm "$WORK/junk.npub"
head -c 100 "$WORK/mlp_i8.npub" >"$WORK/trunc.npub"
expect 2 "trunc.npub: header: total_size" "$NPUSIM" disasm "$WORK/trunc.npub"
: >"$WORK/empty.npub"
expect 2 "shorter than the 64-byte header" "$NPUSIM" info "$WORK/empty.npub"

# run: exit 0 with outputs and stats, 1 on a device fault, 2 on bad configs or inputs.
expect 0 "finished on edge" "$NPUSIM" run --config "$SRC/configs/edge.yaml" "$SRC/traces/gemm_i8_db.npus" --random-inputs 3 \
  --output-dir "$WORK/out" --stats "$WORK/stats.json" --trace "$WORK/trace.json"
[ -s "$WORK/out/C.npy" ] && grep -q '"total_cycles"' "$WORK/stats.json" && grep -q '"traceEvents"' "$WORK/trace.json" \
  && echo "ok: run wrote outputs, stats and trace" || { echo "FAIL: run outputs missing"; failures=$((failures + 1)); }
for c in "$SRC"/configs/*.yaml; do expect 0 "# " "$NPUSIM" info --config "$c"; done
expect 1 "DEADLOCK" "$NPUSIM" run --config "$SRC/configs/edge.yaml" "$WORK/deadlock.npub"
expect 1 "WATCHDOG" "$NPUSIM" run --config "$SRC/configs/edge.yaml" "$SRC/traces/mlp_i8.npus" --random-inputs 1 --watchdog-cycles 50
expect 2 "input tensor 'A' has no data: give --input A=FILE.npy, --random-inputs SEED, or run --timing-only" \
  "$NPUSIM" run --config "$SRC/configs/edge.yaml" "$SRC/traces/gemm_i8_db.npus"
# Regions whose sizes add up past 2^64 are refused by name, and the limit is an option.
printf '.npus 1.0\n.target line=64\n.region a role=scratch size=9223372036854775807\n.region b role=scratch size=9223372036854775807\n.region c role=scratch size=9223372036854775807\n        finish\n' >"$WORK/huge.npus"
expect 2 "needs more than 2^64 bytes of host memory (its largest region 'a'" "$NPUSIM" run --config "$SRC/configs/edge.yaml" "$WORK/huge.npus"
expect 2 "more than the limit of 1024 bytes for a functional run (run it --timing-only, or raise npusim run --max-memory)" \
  "$NPUSIM" run --config "$SRC/configs/edge.yaml" "$SRC/traces/gemm_i8_db.npus" --random-inputs 1 --max-memory 1KiB
expect 2 "--max-memory expects a size such as 4GiB, got 'lots'" "$NPUSIM" run --config "$SRC/configs/edge.yaml" "$SRC/traces/gemm_i8_db.npus" --max-memory lots
# A calibration sample holding NaN is refused by file and element.
mkdir -p "$WORK/calib_nan"
/usr/bin/python3 -c "import numpy as np, sys; x = np.zeros((1, 256), np.float32); x[0, 7] = np.nan; np.save(sys.argv[1], x)" "$WORK/calib_nan/s0.npy"
expect 2 "calib_nan/s0.npy: calibration sample holds NaN at element 7" "$NPUSIM" run --config "$SRC/configs/edge.yaml" \
  "$SRC/traces/models/mlp.onnx" --precision int8 --calibrate "$WORK/calib_nan" --random-inputs 1
# Timing needs no data: --timing-only and long runs (timing-only profiles) run without inputs.
expect 0 "finished on edge" "$NPUSIM" run --config "$SRC/configs/edge.yaml" "$SRC/traces/gemm_i8_db.npus" --timing-only
expect 0 "inferences" "$NPUSIM" run --config "$SRC/configs/edge.yaml" "$SRC/traces/gemm_i8_db.npus" --repeat 1000
expect 0 "finished on edge" "$NPUSIM" run --config "$SRC/configs/edge.yaml" "$SRC/traces/models/mlp.onnx" --timing-only
expect 2 "run needs --config" "$NPUSIM" run "$SRC/traces/gemm_i8_db.npus"
printf 'name: broken\nmxu:\n  rwos: 4\n' >"$WORK/broken.yaml"
expect 2 "broken.yaml:3:3: error: unknown key 'rwos' in mxu (did you mean 'rows'?)" "$NPUSIM" run --config "$WORK/broken.yaml" "$WORK/mlp_i8.npub"
expect 2 "program does not fit config 'gemmini'" "$NPUSIM" run --config "$SRC/configs/gemmini.yaml" "$WORK/mlp_i8.npub" --random-inputs 1
printf 'junk' >"$WORK/x.npy"
expect 2 "x.npy: not a valid .npy file" "$NPUSIM" run --config "$SRC/configs/edge.yaml" "$WORK/mlp_i8.npub" --input "x=$WORK/x.npy"
expect 2 "no input tensor of that name" "$NPUSIM" run --config "$SRC/configs/edge.yaml" "$WORK/mlp_i8.npub" --input "nope=$WORK/x.npy"

# Long runs: power/temperature/clock time series, stats, a counter trace, the PNG, and the
# critical temperature as a device fault (exit 1).
expect 0 "long run on edge: 2000 inferences" "$NPUSIM" run --config "$SRC/configs/edge.yaml" "$SRC/traces/gemm_i8_db.npus" \
  --random-inputs 1 --repeat 2000 --power-csv "$WORK/run.csv" --stats "$WORK/long.json" --trace "$WORK/long_trace.json"
head -1 "$WORK/run.csv" | grep -q '^time_s,power_w,heat_node_c,max_node_c,clock_mhz,volts,throttle_level,inferences$' \
  && grep -q '"long_run"' "$WORK/long.json" && grep -q '"temperature (C)"' "$WORK/long_trace.json" \
  && echo "ok: long run wrote CSV, stats and trace" || { echo "FAIL: long-run outputs"; failures=$((failures + 1)); }
if /usr/bin/python3 -c "import matplotlib" 2>/dev/null; then
  expect 0 "samples" /usr/bin/python3 "$SRC/scripts/plot_power.py" "$WORK/run.csv" -o "$WORK/run.png"
  [ -s "$WORK/run.png" ] && echo "ok: plot written" || { echo "FAIL: no PNG"; failures=$((failures + 1)); }
  printf 'a,b\n1,2\n' >"$WORK/bad.csv"
  expect 1 "not an npusim power CSV" /usr/bin/python3 "$SRC/scripts/plot_power.py" "$WORK/bad.csv" -o "$WORK/bad.png"
fi
# A 99 C oven: edge's area-based leakage (~0.02 W at 25 C, docs/power.md) does not run away, so
# the load's own 0.58 W must lift the die the last kelvin to the 100 C critical point (in 0.1 s).
sed -e 's/  ambient: 35/  ambient: 99/' "$SRC/configs/edge.yaml" >"$WORK/oven.yaml"
expect 1 "THERMAL_CRITICAL" "$NPUSIM" run --config "$WORK/oven.yaml" "$SRC/traces/gemm_i8_db.npus" --random-inputs 1 --duration 60s
expect 2 "--duration expects a time" "$NPUSIM" run --config "$SRC/configs/edge.yaml" "$SRC/traces/gemm_i8_db.npus" --random-inputs 1 --duration soon
/usr/bin/python3 -c "import json, sys; assert 'total' in json.load(open(sys.argv[1]))['power']['energy_j']" "$WORK/stats.json" \
  && echo "ok: single-run stats have power" \
  || { echo "FAIL: no power in stats"; failures=$((failures + 1)); }

# Fault injection on one run (the device's fault names): the run fails as the device would.
M="$SRC/traces/mlp_i8.npus"
expect 1 "BUS_ERROR: instruction #1 (load on load): injected fault" "$NPUSIM" run --config "$SRC/configs/edge.yaml" "$M" \
  --random-inputs 1 --fault bus_error:insn=1
expect 1 "ECC: instruction #3" "$NPUSIM" run --config "$SRC/configs/edge.yaml" "$M" --random-inputs 1 --fault ecc:insn=3
expect 1 "FAULT on edge (11 instructions): 50000 cycles" "$NPUSIM" run --config "$SRC/configs/edge.yaml" "$M" \
  --random-inputs 1 --fault hang_engine:insn=2 --watchdog-cycles 50000
expect 0 "finished on edge (15 instructions): 9183 cycles" "$NPUSIM" run --config "$SRC/configs/edge.yaml" "$M" \
  --random-inputs 1 --fault slow_dram:factor=4
expect 2 "DROP_IRQ acts on the device's interrupts or resets: use npusim serve --fault" "$NPUSIM" run \
  --config "$SRC/configs/edge.yaml" "$M" --fault drop_irq
expect 2 "expected one of bus_error, ecc, drop_irq, spurious_irq, hang_engine, slow_dram, stuck_reset" "$NPUSIM" run \
  --config "$SRC/configs/edge.yaml" "$M" --fault cosmic_ray
expect 2 "--fault applies to a single run" "$NPUSIM" run --config "$SRC/configs/edge.yaml" "$M" --fault ecc --repeat 3

if [ "$failures" -ne 0 ]; then echo "$failures CLI check(s) failed"; exit 1; fi
echo "all CLI checks passed"
