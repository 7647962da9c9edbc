#!/bin/sh
# ResNet-50 through the compiler: compile time and simulated latency (timing-only) per bundled
# config that has an fp16 array (gemmini and tpu_v1 are int8 parts; the int8 path comes with
# post-training quantization).   bench_resnet50.sh NPUSIM SOURCE_DIR WORK_DIR
set -eu
NPUSIM=$1
SRC=$2
WORK=$3
mkdir -p "$WORK"
[ -f "$WORK/resnet50.onnx" ] || /usr/bin/python3 "$SRC/bench/resnet50_onnx.py" "$WORK/resnet50.onnx"
for cfg in edge datacenter; do
  start=$(date +%s.%N)
  "$NPUSIM" compile "$WORK/resnet50.onnx" --config "$SRC/configs/$cfg.yaml" -o "$WORK/resnet50.$cfg.npub"
  end=$(date +%s.%N)
  echo "$cfg: compile wall time $(awk "BEGIN { print $end - $start }") s"
  start=$(date +%s.%N)
  "$NPUSIM" run --config "$SRC/configs/$cfg.yaml" "$WORK/resnet50.$cfg.npub" --timing-only --random-inputs 1 \
    --stats "$WORK/resnet50.$cfg.stats.json" | head -3
  end=$(date +%s.%N)
  echo "$cfg: simulation wall time (timing-only) $(awk "BEGIN { print $end - $start }") s"
done
