#!/bin/sh
# examples/ci stays true: gate.sh passes on the bundled model (recording its golden first), fails
# with exit 1 and a JUnit failure when the cycle band, an output or the fallback policy is
# violated, takes float32 NCHW inputs for the compiled .npub, and its stats.json validates against
# docs/stats.schema.json and names the simulator, ISA, program and config.
# usage: test_ci_example.sh NPUSIM SOURCE_DIR WORK_DIR
set -u
NPUSIM=$1 SRC=$2 WORK=$3
PY=/usr/bin/python3
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK" || exit 1
fail() { echo "FAIL: $*"; exit 1; }
export NPUSIM PYTHON=$PY CONFIG="$SRC/configs/edge.yaml"

sh "$SRC/examples/ci/gate.sh" out >gate.txt 2>&1 || { cat gate.txt; fail "gate.sh on its own golden exited $?"; }
grep -q 'failures="0"' out/junit/npusim.xml || fail "the passing gate's JUnit report has failures"
grep -q '<testcase classname="[^"]*" name="output y"' out/junit/npusim.xml || fail "no output test case"
$PY - out/stats.json "$SRC/docs/stats.schema.json" <<'PYEOF' || fail "stats.json does not validate"
import json, sys, jsonschema
stats, schema = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
jsonschema.Draft202012Validator(schema).validate(stats)
for k in ("npusim_version", "isa_version", "program_hash", "command_line", "precision"):
    assert stats[k], k
assert stats["config"]["hash"].startswith("0x") and stats["program"].endswith("model.npub")
PYEOF

# A cycle band the run misses: exit 1, the diff names the band, the JUnit report the failure.
sed 's/^cycles: .*/cycles: {max: 10}/' out/expect.yaml >tight.yaml
sed -i "s#reference: #reference: out/#" tight.yaml
"$NPUSIM" run --config "$CONFIG" out/model.npub --input x=out/x.npy --expect tight.yaml --junit tight.xml --quiet \
  >tight.txt 2>&1
[ $? -eq 1 ] || { cat tight.txt; fail "a missed cycle band did not exit 1"; }
grep -q "FAIL cycles: .* is above \[-inf, 10\] cycles" tight.txt || { cat tight.txt; fail "no readable cycle diff"; }
grep -q '<failure message="[0-9]* cycles is above' tight.xml || fail "no JUnit failure for the band"

# Other inputs: the output check fails (and names the worst element).
$PY -c "import numpy as np; np.save('x2.npy', (np.load('out/x.npy') * -1).astype(np.float32))"
"$NPUSIM" run --config "$CONFIG" out/model.npub --input x=x2.npy --expect out/expect.yaml --quiet >out2.txt 2>&1
[ $? -eq 1 ] || fail "a wrong output did not exit 1"
grep -q "FAIL output y: .*worst at flat index" out2.txt || { cat out2.txt; fail "no output diff"; }

# Device-format data stays accepted: fp16 NHWC gives the same outputs as float32 NCHW.
$PY -c "import numpy as np; np.save('xd.npy', np.load('out/x.npy').astype(np.float16).transpose(0, 2, 3, 1).copy())"
"$NPUSIM" run --config "$CONFIG" out/model.npub --input x=xd.npy --output-dir dev --quiet || fail "device format refused"
"$NPUSIM" run --config "$CONFIG" out/model.onnx --input x=out/x.npy --output-dir onnx --quiet || fail "onnx run"
"$NPUSIM" run --config "$CONFIG" out/model.npub --input x=out/x.npy --output-dir a/b/c --quiet || fail "npub run"
$PY -c "
import numpy as np
a, b, c = np.load('dev/y.npy'), np.load('onnx/y.npy'), np.load('a/b/c/y.npy')
assert a.dtype == np.float32 and a.shape == (1, 4, 16, 16), (a.dtype, a.shape)
assert (a == b).all() and (b == c).all()" || fail "npub outputs differ from the onnx run's"
"$NPUSIM" run --config "$CONFIG" out/model.npub --input x=x.bad.npy --quiet 2>/dev/null && fail "missing input file accepted"
$PY -c "import numpy as np; np.save('xi.npy', np.zeros((1, 3, 16, 16), np.int32))"
"$NPUSIM" run --config "$CONFIG" out/model.npub --input x=xi.npy --quiet >bad.txt 2>&1
[ $? -eq 2 ] && grep -q "matches neither format of input 'x': the model's float32 '<f4' (1, 3, 16, 16) NCHW, or the device's fp16" bad.txt \
  || { cat bad.txt; fail "a wrong dtype's message"; }

# The fallback policy: a model with a host operator fails the gate unless the EXPECT file allows it.
$PY - <<'PYEOF'
import onnx
from onnx import TensorProto, helper
n = helper.make_node("Softplus", ["a"], ["y"])  # a host kernel, no NPU lowering
g = helper.make_graph([n], "fb", [helper.make_tensor_value_info("a", TensorProto.FLOAT, [4, 8])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]); m.ir_version = 8
onnx.save(m, "fb.onnx")
PYEOF
printf 'npusim_expect: 1\ncycles: {max: 1000000}\n' >fb.yaml
"$NPUSIM" run --config "$CONFIG" fb.onnx --random-inputs 1 --expect fb.yaml --junit fb.xml --quiet >fb.txt 2>&1
rc=$?
if grep -q "host operator" fb.txt; then
  [ $rc -eq 1 ] && grep -q "FAIL fallback: 1 host operator(s) (at most 0)" fb.txt || { cat fb.txt; fail "fallback policy"; }
  printf 'npusim_expect: 1\nfallback: {max_host_operators: 1}\n' >fb2.yaml
  "$NPUSIM" run --config "$CONFIG" fb.onnx --random-inputs 1 --expect fb2.yaml --quiet || fail "an allowed host operator failed"
else
  echo "Softplus did not fall back to the host: the fallback case needs a host-only operator"; cat fb.txt; exit 1
fi

# Strict EXPECT files: an unknown key is an error naming it (exit 2, before the run).
printf 'npusim_expect: 1\ncycle: {max: 10}\n' >typo.yaml
"$NPUSIM" run --config "$CONFIG" out/model.npub --input x=out/x.npy --expect typo.yaml >typo.txt 2>&1
[ $? -eq 2 ] && grep -q "typo.yaml:2: cycle: unknown key 'cycle'" typo.txt || { cat typo.txt; fail "unknown key"; }

# Output paths: an unwritable one is named with the OS's reason before the simulation.
"$NPUSIM" run --config "$CONFIG" out/model.npub --input x=out/x.npy --stats /proc/npusim/s.json >w.txt 2>&1
[ $? -eq 2 ] && grep -q "/proc/npusim: cannot create the folder: " w.txt && ! grep -q finished w.txt \
  || { cat w.txt; fail "unwritable --stats"; }
# A faulted run's stats.json: a structured fault (code, engine, instruction, region, address), valid
# against the schema; exit 1, and a JUnit report with the failed run.
"$NPUSIM" run --config "$CONFIG" out/model.npub --input x=out/x.npy --fault bus_error:insn=3 --stats fault.json \
  --junit fault.xml --quiet 2>fault.txt
[ $? -eq 1 ] || fail "a faulted run did not exit 1"
grep -q '<failure message="FAULT BUS_ERROR: instruction #3' fault.xml || fail "no JUnit failure for the fault"
$PY - fault.json "$SRC/docs/stats.schema.json" <<'PYEOF' || fail "the fault's stats.json"
import json, sys, jsonschema
stats, schema = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
jsonschema.Draft202012Validator(schema).validate(stats)
f = stats["fault"]
assert stats["status"] == f["code"] == "BUS_ERROR" and f["engine"] == "load", f
assert f["has_instruction"] == 1 and f["instruction"] == 3 and f["region"], f
assert f["message"].startswith("BUS_ERROR: instruction #3"), f["message"]
PYEOF

# Stable figures (docs/cli.md "Which figures to gate on"): two runs of one (program, config) write
# the same stats.json but for command_line; a gating config with refresh off (dram.tREFI: 0ns)
# has no refresh stalls, so per-operator cycles no longer depend on where refresh windows fall.
"$NPUSIM" run --config "$CONFIG" out/model.npub --input x=out/x.npy --stats again.json --quiet || fail "rerun"
$PY - out/stats.json again.json <<'PYEOF' || fail "a rerun's stats.json differs"
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:])
a.pop("command_line"); b.pop("command_line")
assert a == b, [k for k in a if a[k] != b.get(k)]
PYEOF
sed 's/tREFI: .*/tREFI: 0ns/' "$SRC/configs/datacenter.yaml" >gating.yaml
"$NPUSIM" run --config gating.yaml out/model.onnx --input x=out/x.npy --stats dc.json --quiet || fail "refresh off"
$PY -c "
import json; d = json.load(open('dc.json')); assert d['memory']['dram']['refresh_stalls'] == 0, d['memory']['dram']" \
  || fail "refresh stalls with tREFI 0ns"
echo "ci example: ok"
