#!/bin/sh
# scripts/sweep_dask.py on a 2-worker Dask LocalCluster: every point runs on a worker, the table
# is assembled from the cache, and it equals the local pool's table.
#   test_sweep_dask.sh NPUSIM SOURCE_DIR WORK_DIR   (exit 77: python3-distributed missing, skipped)
. "$(dirname "$0")/common.sh" "$@"
/usr/bin/python3 -c "import dask.distributed" 2>/dev/null || { echo "python3-distributed is not installed"; exit 77; }
for out in dask local; do
  cat >$out.yaml <<YAML
base: $SRC/configs/edge.yaml
axes:
  mxu.rows: [8, 16]
  mxu.dataflow: [ws, os]
workloads: [$SRC/traces/topologies/resnet50_conv.csv, $SRC/traces/models/cnn.onnx]
output: $out
YAML
done
/usr/bin/python3 "$SRC/scripts/sweep_dask.py" dask.yaml --workers 2 --npusim "$NPUSIM" >d.txt 2>&1 || { cat d.txt; fail "dask sweep exited"; }
grep -q "sweep_dask: 8 points on 2 Dask workers" d.txt && grep -q "8/8 done (0 failed)" d.txt \
  && grep -q "8/8 points (8 cached, 0 failed)" d.txt && echo "ok: 8 points ran on 2 Dask workers, assembled from the cache" \
  || fail "dask run"
"$NPUSIM" sweep local.yaml -j 2 --quiet || fail "local sweep exited $?"
/usr/bin/python3 -c "
import csv
d, l = list(csv.DictReader(open('dask/results.csv'))), list(csv.DictReader(open('local/results.csv')))
cols = ('point', 'workload', 'key', 'cycles', 'seconds', 'energy_j', 'pareto')
assert [[r[c] for c in cols] for r in d] == [[r[c] for c in cols] for r in l]" \
  && echo "ok: the Dask table equals the local pool's" || fail "tables differ"
finish "Dask sweep"
