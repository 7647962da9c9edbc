#!/bin/sh
# Concepts covered: gating a model on npusim in CI. Compile once, run the compiled program on the
# user's float32 NCHW tensors with expectations (outputs within tolerance, cycle, latency and
# energy bands, no host fallback), JUnit XML for the CI system, stats.json naming the simulator,
# ISA, program and config it came from.
#
# usage: gate.sh OUT [EXPECT.yaml]
#   NPUSIM (default: npusim on PATH) and CONFIG (default: configs/edge.yaml) from the environment.
#   Without EXPECT.yaml, the first run records OUT/expect.yaml (the golden to commit), then gates on it.
# Exit 0 when every expectation holds, 1 when one fails (the diff is on stderr), 2 on a usage error.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
NPUSIM=${NPUSIM:-npusim}
CONFIG=${CONFIG:-$here/../../configs/edge.yaml}
OUT=$1
EXPECT=${2:-$OUT/expect.yaml}
PYTHON=${PYTHON:-python3}

"$PYTHON" "$here/make_model.py" "$OUT"
# Compile once: the .npub records the model's float32 NCHW tensors (npub-format.md, IO), so the
# runs below take the same .npy files as `npusim run model.onnx` would.
"$NPUSIM" compile --config "$CONFIG" "$OUT/model.onnx" -o "$OUT/model.npub" --no-fallback
if [ ! -f "$EXPECT" ]; then
  "$NPUSIM" run --config "$CONFIG" "$OUT/model.npub" --input x="$OUT/x.npy" --record-expect "$EXPECT" --quiet
  echo "recorded $EXPECT (commit it, with its .npy references, as the golden)"
fi
"$NPUSIM" run --config "$CONFIG" "$OUT/model.npub" --input x="$OUT/x.npy" --expect "$EXPECT" \
  --junit "$OUT/junit/npusim.xml" --stats "$OUT/stats.json" --quiet
