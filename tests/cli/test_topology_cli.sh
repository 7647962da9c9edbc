#!/bin/sh
# npusim run --topology through the CLI: a SCALE-Sim .cfg and an npusim config, the SCALE-Sim
# style reports, the stats JSON, and malformed files.
#   test_topology_cli.sh NPUSIM SOURCE_DIR WORK_DIR
. "$(dirname "$0")/common.sh" "$@"
cat >ws.cfg <<'CFG'
[general]
run_name = r50_ws

[architecture_presets]
ArrayHeight:    32
ArrayWidth:     32
IfmapSramSzkB:   64
FilterSramSzkB:  64
OfmapSramSzkB:   64
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : 10
Dataflow : ws
MemoryBanks:   1

[run_presets]
InterfaceBandwidth: CALC
CFG
TOPO="$SRC/traces/topologies/resnet50_conv.csv"
"$NPUSIM" run --topology "$TOPO" --config ws.cfg --report-dir rep --stats s.json >out.txt || fail "cfg run exited $?"
[ "$(head -1 rep/COMPUTE_REPORT.csv)" = "LayerID, Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, Compute Util %," ] \
  && [ "$(wc -l <rep/COMPUTE_REPORT.csv)" -eq 54 ] && [ -s rep/BANDWIDTH_REPORT.csv ] && [ -s rep/DETAILED_ACCESS_REPORT.csv ] \
  && grep -q "53 layers on r50_ws (32x32 ws, ideal memory)" out.txt \
  && /usr/bin/python3 -c "
import json; s = json.load(open('s.json'))
assert s['total']['layers'] == 53 and s['total']['cycles'] == s['total']['compute_cycles'], s['total']
assert all(l['stall_cycles'] == 0 for l in s['layers'])" \
  && echo "ok: SCALE-Sim cfg, 53 ResNet-50 conv layers, reports and stats" || fail "cfg run outputs"
"$NPUSIM" run --topology "$TOPO" --config "$SRC/configs/edge.yaml" --stats e.json --quiet || fail "yaml run exited $?"
/usr/bin/python3 -c "
import json; s = json.load(open('e.json'))
assert s['total']['cycles'] > s['total']['compute_cycles'] and s['total']['energy_j'] > 0, s['total']
assert not s['ideal_memory']" && echo "ok: npusim config adds DRAM stalls and energy" || fail "yaml run stats"
"$NPUSIM" run --topology "$TOPO" --config "$SRC/configs/edge.yaml" --ideal-memory --stats i.json --quiet
/usr/bin/python3 -c "
import json; s = json.load(open('i.json'))
assert s['total']['cycles'] == s['total']['compute_cycles']" && echo "ok: --ideal-memory removes stalls" || fail "ideal"
printf 'Layer,M,N,K,\nattn,128,128,64,\n' >mnk.csv
"$NPUSIM" run --topology mnk.csv --config ws.cfg --quiet --stats g.json && grep -q '"m": 128, "n": 128, "k": 64' g.json \
  && echo "ok: GEMM form" || fail "gemm form"
printf 'Layer name, IFMAP Height\nc,8,8,3,3,4,x,1,\n' >bad.csv
"$NPUSIM" run --topology bad.csv --config ws.cfg >e.txt 2>&1
[ $? -eq 2 ] && grep -q "bad.csv:2: layer 'c': Num Filter expects a positive integer, got 'x'" e.txt \
  && echo "ok: bad topology exits 2 naming the line and column" || fail "bad topology"
sed 's/ArrayWidth/ArrayWdth/' ws.cfg >bad.cfg
"$NPUSIM" run --topology "$TOPO" --config bad.cfg >e.txt 2>&1
[ $? -eq 2 ] && grep -q "bad.cfg:6: unknown key 'arraywdth'" e.txt && echo "ok: bad cfg exits 2" || fail "bad cfg"
# A v3 config (its [layout], [sparsity] and request-buffer keys) and a topology with a `#dw`
# comment: both run, with notes on stderr naming what does not apply; --quiet drops them.
{ cat ws.cfg; printf '\n[layout]\nIfmapCustomLayout: False\nIfmapSRAMBankNum: 10\n'
  printf '\n[sparsity]\nSparsitySupport : false\nBlockSize : 8\n'; } >v3.cfg
sed -i 's/^MemoryBanks:   1$/MemoryBanks:   1\nReadRequestBuffer: 32\nWriteRequestBuffer: 32/' v3.cfg
printf 'Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\nc_dw,8,8,3,3,1,1,1,#dw\n' >dw.csv
"$NPUSIM" run --topology dw.csv --config v3.cfg >o.txt 2>n.txt || fail "v3 cfg run exited $?"
grep -q "note: v3.cfg: ReadRequestBuffer: SCALE-Sim v3 sizes its DRAM read and write request queues" n.txt \
  && grep -q "note: v3.cfg: IfmapCustomLayout:" n.txt && grep -q "dw.csv:2: text after a row's last comma is a comment ('#dw' here)" n.txt \
  && grep -q "1 layers on r50_ws" o.txt && echo "ok: v3 cfg and commented topology run with notes" || fail "v3 cfg notes"
"$NPUSIM" run --topology dw.csv --config v3.cfg --quiet 2>n.txt && [ ! -s n.txt ] && echo "ok: --quiet drops the notes" || fail "quiet notes"
finish "topology CLI"
