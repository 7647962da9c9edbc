#!/bin/sh
# npusim load through the CLI on a small ONNX model: one tenant with batching; two tenants with
# priorities; every output file; the plot when matplotlib is there; errors.
#   test_load_cli.sh NPUSIM SOURCE_DIR WORK_DIR
. "$(dirname "$0")/common.sh" "$@"
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
# The trace: every engine stretch lies inside a batch of its tenant, on a track per engine.
/usr/bin/python3 - <<'PY' && echo "ok: engine activity in the trace lines up with the batches" || fail "engine tracks"
import json
ev = json.load(open('t.json'))['traceEvents']
names = {e['tid']: e['args']['name'] for e in ev if e.get('ph') == 'M' and e.get('name') == 'thread_name'}
engines = {tid for tid, n in names.items() if n.startswith('NPU engine ')}
assert {names[t] for t in engines} >= {'NPU engine load', 'NPU engine mxu', 'NPU engine store'}, names
batches = sorted((e['ts'], e['ts'] + e['dur']) for e in ev if e.get('ph') == 'X' and e['tid'] == 0)
busy = [e for e in ev if e.get('ph') == 'X' and e['tid'] in engines]
assert len(busy) > len(batches) > 0
import bisect
starts = [b[0] for b in batches]
for e in busy:
    i = bisect.bisect_right(starts, e['ts'] + 1e-6) - 1
    assert i >= 0 and e['ts'] + e['dur'] <= batches[i][1] + 1e-3, (e, batches[i])
PY
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
cat >sliced.yaml <<'YAML'
tenants:
  - {name: a, model: m.onnx, rate: 100000/s, slice: 1ms}
  - {name: b, model: m.onnx, rate: 100000/s, slice: 3ms, seed: 2}
YAML
"$NPUSIM" load --config "$CFG" --tenants sliced.yaml --duration 0.2s --report sr.json --quiet || fail "sliced exited $?"
/usr/bin/python3 -c "
import json; t = json.load(open('sr.json'))['tenants']
assert t[0]['name'] == 'a' and t[1]['name'] == 'b'" && echo "ok: tenants with time slices" || fail "slices"
if /usr/bin/python3 -c "import matplotlib" 2>/dev/null; then
  /usr/bin/python3 "$SRC/scripts/plot_load.py" tl.csv --queue tq.csv -o load.png >/dev/null && [ -s load.png ] \
    && echo "ok: latency CDF and queue plot" || fail "plot"
fi
sed 's/ambient: 35/ambient: 80/; s/trips: \[85\]/trips: [81]/' "$CFG" >hot.yaml
"$NPUSIM" load --config hot.yaml m.onnx --rate 20000/s --duration 30s --max-batch 4 --max-wait 50us --thermal \
  --thermal-csv th.csv --report hr.json >hout.txt || fail "thermal run exited $?"
/usr/bin/python3 -c "
import json; p = json.load(open('hr.json'))['power']
assert p['first_throttle_s'] > 0 and p['max_temp_c'] > 81 and p['energy_j'] > 0, p
assert p['clock_changes'][-1]['hz'] < 1e9, p" && head -1 th.csv | grep -q '^time_s,temp_c,clock_hz,power_w$' \
  && grep -q "first clock change at" hout.txt && echo "ok: thermal run throttles and reports power" || fail "thermal run"
if /usr/bin/python3 -c "import matplotlib" 2>/dev/null; then
  /usr/bin/python3 "$SRC/scripts/plot_load.py" l.csv --thermal th.csv -o thermal.png >/dev/null && [ -s thermal.png ] \
    && echo "ok: temperature and clock plot" || fail "thermal plot"
fi
# Exposition format: every family has one HELP and one TYPE line, every sample a family.
"$NPUSIM" load --config hot.yaml m.onnx --rate 20000/s --duration 2s --thermal --metrics hr.prom --quiet
/usr/bin/python3 - <<'PY' && echo "ok: exposition has one HELP/TYPE per family and power gauges" || fail "exposition"
import re
types, samples = {}, []
for line in open('hr.prom'):
    if line.startswith('# TYPE '):
        _, _, name, kind = line.split()
        assert name not in types, 'second TYPE for ' + name
        types[name] = kind
    elif not line.startswith('#'):
        m = re.match(r'([a-z_]+)(\{[^}]*\})? (\S+)$', line.strip())
        assert m, line
        float(m.group(3)); samples.append(m.group(1))
for s in samples:
    assert s in types or re.sub('_(bucket|sum|count)$', '', s) in types, s
for g in ('npusim_temperature_max_celsius', 'npusim_clock_hz', 'npusim_energy_joules_total', 'npusim_throttle_events_total'):
    assert g in types, g
PY
"$NPUSIM" load --config "$CFG" m.onnx --rate 1000/s --duration 1s --metrics-port 0 --metrics-port-file port.txt \
  --metrics-linger 20s --quiet &
LOAD_PID=$!
/usr/bin/python3 - <<'PY' && echo "ok: metrics endpoint answers /metrics and 404s elsewhere" || fail "metrics endpoint"
import os, time, urllib.request, urllib.error
for _ in range(200):
    if os.path.exists('port.txt') and open('port.txt').read().strip(): break
    time.sleep(0.05)
port = open('port.txt').read().strip()
body = urllib.request.urlopen(f'http://127.0.0.1:{port}/metrics', timeout=5).read().decode()
assert 'npusim_request_latency_seconds_count{tenant="m.onnx"}' in body, body[:300]
try:
    urllib.request.urlopen(f'http://127.0.0.1:{port}/', timeout=5); raise SystemExit('no 404')
except urllib.error.HTTPError as e:
    assert e.code == 404
PY
kill -TERM $LOAD_PID; wait $LOAD_PID
[ $? -eq 0 ] && echo "ok: SIGTERM ends the endpoint cleanly" || fail "endpoint exit"
sed 's/ambient: 35/ambient: 99/' "$CFG" >critical.yaml
"$NPUSIM" load --config critical.yaml m.onnx --rate 1000/s --duration 60s --thermal >e.txt 2>&1
[ $? -eq 1 ] && grep -q "THERMAL_CRITICAL" e.txt && echo "ok: critical temperature exits 1" || fail "critical"
printf 'tenants:\n  - {name: x, model: m.onnx, rate: fast}\n' >bad.yaml
"$NPUSIM" load --config "$CFG" --tenants bad.yaml >e.txt 2>&1
[ $? -eq 2 ] && grep -q "bad.yaml:2:36: error: tenant 0 (x): rate: expected requests per second such as 300/s, got .fast." e.txt && echo "ok: bad tenant rejected" || fail "bad tenant"
printf 'tenants:\n  - {name: x, model: m.onnx, colour: red}\n' >bad2.yaml
"$NPUSIM" load --config "$CFG" --tenants bad2.yaml >e.txt 2>&1
[ $? -eq 2 ] && grep -q "unknown key 'colour'" e.txt && echo "ok: unknown key rejected" || fail "unknown key"
printf 'tenants:\n  - {name: x, model: m.onnx, priority: high}\n' >bad3.yaml
"$NPUSIM" load --config "$CFG" --tenants bad3.yaml >e.txt 2>&1
[ $? -eq 2 ] && grep -q "tenant 0 (x): priority: expected an integer in \[-1000, 1000\], got 'high'" e.txt && echo "ok: bad priority rejected" \
  || fail "bad priority: $(cat e.txt)"
bad_tenants() {  # YAML EXPECTED
  printf "$1" >badt.yaml
  "$NPUSIM" load --config "$CFG" --tenants badt.yaml --duration 1s >e.txt 2>&1
  if [ $? -eq 2 ] && grep -qF "$2" e.txt; then echo "ok: tenants rejected: $(cat e.txt)"; else fail "tenants '$1': $(cat e.txt)"; fi
}
bad_tenants 'tenants: []\n' "badt.yaml: 'tenants' lists no tenant"
bad_tenants 'tenants:\n  - {model: m.onnx}\n  - {model: m.onnx}\n' "tenant 1: name 'default' is taken by tenant 0"
bad_tenants 'tenants:\n  - {model: m.onnx, precision: int8}\n' "precision expects fp16 or bf16 for an ONNX model, got 'int8'"
bad_tenants 'tenants:\n  - {model: m.onnx, arrivals: onoff, on: 0s}\n' "tenant 0: on expects a burst longer than 0s"
bad_tenants 'tenants:\n  - {[1]: 2}\n' "tenant 0: keys must be plain names, found a list"
bad_tenants 'tenant:\n  - {model: m.onnx}\n' "badt.yaml:1:1: error: unknown key 'tenant' (did you mean 'tenants'?)"
bad_tenants 'tenants:\n  - 3\n' "badt.yaml:2:5: error: tenant 0: expected a mapping"
bad_tenants 'tenants:\n  - {model: m.onnx, max_batch: 65}\n' "tenant 0: max_batch: expected an integer in [1, 64], got '65'"
bad_tenants 'tenants:\n  - {name: a, model: m.onnx, rate: [1]}\n' "tenant 0 (a): rate: expected a single value, found a list"
bad_tenants '' "badt.yaml:1:1: error: expected a mapping with the key 'tenants', found nothing"
"$NPUSIM" load --config "$CFG" m.onnx --rate fast >e.txt 2>&1
[ $? -eq 2 ] && grep -q "error: --rate: expected requests per second such as 300/s, got 'fast'" e.txt \
  && echo "ok: a bad --rate names the option" || fail "bad --rate: $(cat e.txt)"
"$NPUSIM" load --config "$CFG" --tenants tenants.yaml --duration soon >e.txt 2>&1
[ $? -eq 2 ] && grep -q "error: --duration: expected a time" e.txt \
  && echo "ok: a bad --duration for a tenants file names the option" || fail "bad --duration: $(cat e.txt)"
bad_tenants 'tenants:\n  - {model: m.onnx, name: "say \\"hi\\""}\n' "must be non-empty printable text without quotes or backslashes"
# Arrival traces: a header, extra columns, any order; the offered rate is what the trace holds.
printf 'time_s,request\n0.3,a\n0.1,b\n\n0.2,c\n' >arrivals.csv
"$NPUSIM" load --config "$CFG" m.onnx --arrivals trace:arrivals.csv --duration 1s --report trace.json >e.txt 2>&1 \
  && /usr/bin/python3 -c "
import json; r = json.load(open('trace.json'))['tenants'][0]
assert r['requests'] == 3 and r['offered_rate_per_s'] == 3 and r['throughput_per_s'] == 3, r" \
  && echo "ok: an arrival trace with a header and extra columns replays 3 requests at 3/s" || fail "trace: $(cat e.txt)"
# Paths in a tenants file are relative to it.
mkdir -p sub && cp arrivals.csv sub/
printf 'tenants:\n  - {name: t, model: ../m.onnx, arrivals: "trace:arrivals.csv"}\n' >sub/tenants.yaml
"$NPUSIM" load --config "$CFG" --tenants sub/tenants.yaml --duration 1s --report sub.json >e.txt 2>&1 \
  && /usr/bin/python3 -c "import json; assert json.load(open('sub.json'))['tenants'][0]['requests'] == 3" \
  && echo "ok: a tenants file's model and trace paths are relative to it" || fail "relative paths: $(cat e.txt)"
bad_trace() {  # CONTENT EXPECTED
  printf "$1" >bad.csv
  "$NPUSIM" load --config "$CFG" m.onnx --arrivals trace:bad.csv --duration 1s >e.txt 2>&1
  if [ $? -eq 2 ] && grep -qF "$2" e.txt; then echo "ok: bad trace rejected: $(cat e.txt)"; else fail "trace '$1': $(cat e.txt)"; fi
}
bad_trace '' 'bad.csv: no arrival times'
bad_trace '0.1\nnan\n' "bad.csv:2: expected an arrival time in seconds (a finite number >= 0), got 'nan'"
bad_trace 'time\n0.1\n-0.5\n' "bad.csv:3: expected an arrival time in seconds (a finite number >= 0), got '-0.5'"
bad_trace '0.1\nsoon\n' "bad.csv:2: expected an arrival time"
bad_trace '5\n7\n' 'every arrival is at or after the duration (1s)'
printf '0.1\n0.2\n5\n' >late.csv
"$NPUSIM" load --config "$CFG" m.onnx --arrivals trace:late.csv --duration 1s >o.txt 2>e.txt
grep -q "note: late.csv: 1 of 3 arrivals come at or after the duration (1s) and are left out" e.txt \
  && echo "ok: arrivals past the duration are noted" || fail "late arrivals: $(cat e.txt)"
finish "load CLI"
