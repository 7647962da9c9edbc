#!/bin/sh
# npusim load through the CLI on a small ONNX model: one tenant with batching; two tenants with
# priorities; every output file; the plot when matplotlib is there; errors.
#   test_load_cli.sh NPUSIM SOURCE_DIR WORK_DIR
set -u
NPUSIM=$1
SRC=$2
WORK=$3
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK" || exit 1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
/usr/bin/python3 - <<'PY'
import numpy as np, onnx
from onnx import helper, TensorProto, numpy_helper as nh
r = np.random.default_rng(0)
g = helper.make_graph([helper.make_node('Gemm', ['x', 'W', 'b'], ['h'], name='fc1'), helper.make_node('Relu', ['h'], ['y'], name='relu')], 'm',
                      [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 128])], [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1, 256])],
                      [nh.from_array(r.normal(0, 0.1, (128, 256)).astype(np.float32), 'W'), nh.from_array(np.zeros(256, np.float32), 'b')])
m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)]); m.ir_version = 8; onnx.save(m, 'm.onnx')
PY
CFG="$SRC/configs/edge.yaml"
"$NPUSIM" load --config "$CFG" m.onnx --rate 20000/s --duration 1s --max-batch 4 --max-wait 50us --report r.json \
  --metrics m.prom --queue-csv q.csv --latency-csv l.csv --trace t.json >out.txt || fail "single tenant exited $?"
grep -q '"batches": \[' r.json && grep -q 'npusim_request_latency_seconds_bucket' m.prom \
  && head -1 q.csv | grep -q '^tenant,time_s,queue_length$' && head -1 l.csv | grep -q '^tenant,arrival_s,latency_s$' \
  && /usr/bin/python3 -c "import json; json.load(open('t.json')); json.load(open('r.json'))" \
  && echo "ok: single tenant wrote report, metrics, queue, latencies and trace" || fail "single-tenant outputs"
"$NPUSIM" load --config "$CFG" m.onnx --rate 20000/s --duration 1s --max-batch 4 --max-wait 50us --report r2.json --quiet
cmp -s r.json r2.json && echo "ok: same seed, same report" || fail "reports differ"
cat >tenants.yaml <<'YAML'
tenants:
  - {name: interactive, model: m.onnx, rate: 1000/s, priority: 1}
  - {name: bulk, model: m.onnx, rate: 30000/s, arrivals: onoff, on: 100ms, off: 100ms, max_batch: 8, max_wait: 100us}
YAML
"$NPUSIM" load --config "$CFG" --tenants tenants.yaml --duration 1s --report tr.json --latency-csv tl.csv --queue-csv tq.csv \
  >tout.txt || fail "tenants exited $?"
grep -q '"name": "interactive"' tr.json && grep -q '"name": "bulk"' tr.json && grep -q "interactive:" tout.txt \
  && echo "ok: two tenants reported" || fail "tenant report"
if /usr/bin/python3 -c "import matplotlib" 2>/dev/null; then
  /usr/bin/python3 "$SRC/scripts/plot_load.py" tl.csv --queue tq.csv -o load.png >/dev/null && [ -s load.png ] \
    && echo "ok: latency CDF and queue plot" || fail "plot"
fi
printf 'tenants:\n  - {name: x, model: m.onnx, rate: fast}\n' >bad.yaml
"$NPUSIM" load --config "$CFG" --tenants bad.yaml >e.txt 2>&1
[ $? -eq 2 ] && grep -q "bad.yaml: tenant 0: rate expects requests per second" e.txt && echo "ok: bad tenant rejected" || fail "bad tenant"
printf 'tenants:\n  - {name: x, model: m.onnx, colour: red}\n' >bad2.yaml
"$NPUSIM" load --config "$CFG" --tenants bad2.yaml >e.txt 2>&1
[ $? -eq 2 ] && grep -q "unknown key 'colour'" e.txt && echo "ok: unknown key rejected" || fail "unknown key"
if [ "$failures" -ne 0 ]; then echo "$failures load CLI check(s) failed"; exit 1; fi
echo "all load CLI checks passed"
