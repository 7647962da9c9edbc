#!/bin/sh
# Keeps the README's example outputs true: runs its worked example, the example driver and the
# serving example, and checks that what they print is what the README shows.
#   readme_examples.sh NPUSIM DRIVER SOURCE_DIR WORK_DIR
set -u
NPUSIM=$1
DRIVER=$2
SRC=$3
WORK=$4
README="$SRC/README.md"
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK" || exit 1
failures=0
# shown TEXT WHAT: the README holds TEXT verbatim.
shown() {
  if grep -qF -- "$1" "$README"; then echo "ok: $2"; else echo "FAIL: $2: the README lacks '$1'"; failures=$((failures + 1)); fi
}
CFG="$SRC/configs/edge.yaml"
# The worked example.
"$NPUSIM" asm "$SRC/traces/gemm_i8_db.npus" -o gemm.npub >/dev/null
/usr/bin/python3 -c "import numpy as np; np.save('A.npy', np.ones((64, 256), np.int8))"
"$NPUSIM" run --config "$CFG" gemm.npub --input A=A.npy --output-dir out >run.txt 2>&1
while IFS= read -r line; do shown "$line" "worked example: $line"; done <run.txt
# The example driver.
"$NPUSIM" asm "$SRC/traces/mlp_i8.npus" -o mlp.npub >/dev/null
"$DRIVER" "sim:$CFG" mlp.npub >driver.txt 2>&1
while IFS= read -r line; do shown "$line" "driver: $line"; done <driver.txt
# Serving: the figures of both load runs.
for b in 1 8; do
  "$NPUSIM" load --config "$CFG" "$SRC/traces/models/mlp.onnx" --rate 40000/s --duration 2s --max-batch $b --max-wait 100us \
    >load$b.txt 2>&1
  figures=$(sed -n 's/.*\(throughput [^;]*; latency p50 [^;]*\);.*/\1/p' load$b.txt)
  shown "$figures" "load, batches of up to $b: $figures"
done
if [ "$failures" -ne 0 ]; then echo "$failures README example(s) out of date"; exit 1; fi
echo "the README's examples print what it shows"
