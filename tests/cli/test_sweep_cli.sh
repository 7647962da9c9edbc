#!/bin/sh
# npusim sweep through the CLI: a grid over a layer list and an ONNX model on a 2-process pool,
# a rerun that comes entirely from the cache, the plan for external executors, a failing point,
# the Pareto plot, and a malformed spec.
#   test_sweep_cli.sh NPUSIM SOURCE_DIR WORK_DIR
. "$(dirname "$0")/common.sh" "$@"
cat >sweep.yaml <<YAML
base: $SRC/configs/edge.yaml
axes:
  mxu.rows: [8, 16]
  mxu.dataflow: [ws, os]
workloads: [$SRC/traces/topologies/resnet50_conv.csv, $SRC/traces/models/cnn.onnx]
output: out
YAML
"$NPUSIM" sweep sweep.yaml -j 2 >run1.txt 2>err1.txt || fail "sweep exited $?"
/usr/bin/python3 - <<'PY' && echo "ok: 4 designs x 2 workloads ran, results in CSV and JSON" || fail "results"
import csv, json
rows = list(csv.DictReader(open('out/results.csv')))
assert len(rows) == 8 and all(r['status'] == 'ok' for r in rows), rows
assert all(r['cached'] == '0' for r in rows)
j = json.load(open('out/results.json'))
assert len(j['results']) == 8 and j['points'] == 4
for w in ('resnet50_conv.csv', 'cnn.onnx'):
    assert any(r['pareto'] == '1' for r in rows if r['workload'] == w), w
# More PEs, fewer cycles for the layer list (same dataflow).
c = {(r['mxu.rows'], r['mxu.dataflow']): int(r['cycles']) for r in rows if r['workload'] == 'resnet50_conv.csv'}
assert c[('16', 'ws')] < c[('8', 'ws')] and c[('16', 'os')] < c[('8', 'os')], c
PY
grep -q "8/8 points (0 cached, 0 failed)" err1.txt && echo "ok: progress with counts and ETA" || fail "progress"
cp out/results.csv first.csv
"$NPUSIM" sweep sweep.yaml -j 2 --quiet || fail "rerun exited $?"
/usr/bin/python3 -c "
import csv
a, b = list(csv.DictReader(open('first.csv'))), list(csv.DictReader(open('out/results.csv')))
assert all(r['cached'] == '1' for r in b)
assert [(r['key'], r['cycles'], r['energy_j']) for r in a] == [(r['key'], r['cycles'], r['energy_j']) for r in b]" \
  && echo "ok: a rerun comes from the cache with the same results" || fail "cache"
sed 's/^axes:$/axes:\n  vpu.lanes: [32]/' sweep.yaml >sweep2.yaml
"$NPUSIM" sweep sweep2.yaml --plan plan.json || fail "plan exited $?"
/usr/bin/python3 -c "
import json; p = json.load(open('plan.json'))
assert len(p['jobs']) == 8, len(p['jobs'])
assert all(j['argv'][1] == 'sweep-point' for j in p['jobs'])" && echo "ok: --plan lists the uncached jobs" || fail "plan"
cat >fail.yaml <<YAML
base: $SRC/configs/edge.yaml
axes:
  mxu.rows: [16, 8]
workloads: [$SRC/traces/mlp_i8.npus]
output: fout
YAML
"$NPUSIM" sweep fail.yaml --quiet >f.txt 2>&1
[ $? -eq 1 ] && grep -q "point 1 (mlp_i8.npus) failed: .*tiled for a 16x16 array" f.txt \
  && grep -q ',failed,' fout/results.csv && echo "ok: a failing point is reported, the rest kept, exit 1" || fail "failure"
if /usr/bin/python3 -c "import matplotlib" 2>/dev/null; then
  /usr/bin/python3 "$SRC/scripts/plot_sweep.py" out/results.csv -o pareto.png >/dev/null && [ -s pareto.png ] \
    && echo "ok: Pareto plot" || fail "plot"
fi
printf 'base: %s/configs/edge.yaml\nworkloads: [%s/traces/mlp_i8.npus]\naxes:\n  mxu.rows: [0]\n' "$SRC" "$SRC" >bad.yaml
"$NPUSIM" sweep bad.yaml >e.txt 2>&1
[ $? -eq 2 ] && grep -q "point (mxu.rows=0)" e.txt && echo "ok: an invalid design is rejected before running" || fail "bad spec"
# A point that runs past --point-timeout is killed and listed as failed; the sweep exits 1.
printf 'base: %s/configs/edge.yaml\nworkloads: [%s/traces/topologies/resnet50_conv.csv]\naxes:\n  mxu.rows: [8, 16]\noutput: slow_out\n' \
  "$SRC" "$SRC" >slow.yaml
"$NPUSIM" sweep slow.yaml --point-timeout 1ms --no-cache >o.txt 2>e.txt
[ $? -eq 1 ] && grep -q "timed out after 1ms (--point-timeout)" e.txt o.txt slow_out/results.csv \
  && echo "ok: --point-timeout kills a point that runs too long" || fail "point timeout: $(cat e.txt o.txt)"
"$NPUSIM" sweep slow.yaml --point-timeout soon >e.txt 2>&1
[ $? -eq 2 ] && grep -q "point-timeout expects a time" e.txt && echo "ok: a bad --point-timeout is a usage error" \
  || fail "bad point timeout: $(cat e.txt)"
# An output folder holding someone else's files is refused (results.csv would be overwritten); a
# folder an earlier sweep wrote is reused.
mkdir -p theirs && echo precious >theirs/results.csv
printf 'base: %s/configs/edge.yaml\nworkloads: [%s/traces/mlp_i8.npus]\naxes:\n  mxu.rows: [16]\noutput: theirs\n' "$SRC" "$SRC" >theirs.yaml
"$NPUSIM" sweep theirs.yaml >e.txt 2>&1
[ $? -eq 2 ] && grep -q "holds files npusim sweep did not write" e.txt && [ "$(cat theirs/results.csv)" = precious ] \
  && echo "ok: an output folder of someone else's files is refused and left alone" || fail "foreign output: $(cat e.txt)"
sed 's/output: theirs/output: mine/' theirs.yaml >mine.yaml
"$NPUSIM" sweep mine.yaml >/dev/null 2>&1 && "$NPUSIM" sweep mine.yaml >/dev/null 2>e.txt \
  && echo "ok: a sweep's own output folder is reused" || fail "own output: $(cat e.txt)"
# A workload that is a FIFO (or a folder) is refused at its sweep-file line, before any output exists.
rm -f wl.fifo && mkfifo wl.fifo
printf 'base: %s/configs/edge.yaml\naxes:\n  mxu.rows: [16]\nworkloads: [wl.fifo]\noutput: fifo_out\n' "$SRC" >fifo.yaml
timeout 20 "$NPUSIM" sweep fifo.yaml >e.txt 2>&1
[ $? -eq 2 ] && grep -q "fifo.yaml:4.*wl.fifo: cannot read workload: it is a FIFO" e.txt && [ ! -e fifo_out ] \
  && echo "ok: a FIFO workload is refused at its line and leaves no output folder" || fail "fifo workload: $(cat e.txt)"
finish "sweep CLI"
