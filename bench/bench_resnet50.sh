#!/bin/sh
# ResNet-50 through the compiler: compile time and simulated latency (timing-only) per bundled
# config: fp16 on the parts with a float array (edge, datacenter), int8 post-training quantization
# (2 random calibration samples) on edge and the int8 parts (gemmini, tpu_v1).
#   bench_resnet50.sh NPUSIM SOURCE_DIR WORK_DIR
set -eu
NPUSIM=$1
SRC=$2
WORK=$3
mkdir -p "$WORK/calibration"
[ -f "$WORK/resnet50.onnx" ] || /usr/bin/python3 "$SRC/bench/resnet50_onnx.py" "$WORK/resnet50.onnx"
[ -f "$WORK/calibration/s1.npy" ] || /usr/bin/python3 -c "
import numpy as np
r = np.random.default_rng(5)
for i in range(2): np.save('$WORK/calibration/s%d.npy' % i, r.uniform(-1, 1, (1, 3, 224, 224)).astype(np.float32))"
for point in edge:fp16 datacenter:fp16 edge:int8 gemmini:int8 tpu_v1:int8; do
  cfg=${point%%:*}
  prec=${point##*:}
  extra=""
  [ "$prec" = int8 ] && extra="--calibrate $WORK/calibration"
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  "$NPUSIM" compile "$WORK/resnet50.onnx" --config "$SRC/configs/$cfg.yaml" --precision "$prec" $extra \
    -o "$WORK/resnet50.$cfg.$prec.npub"
  end=$(date +%s.%N)
  echo "$cfg $prec: compile wall time $(awk "BEGIN { print $end - $start }") s"
  start=$(date +%s.%N)
  "$NPUSIM" run --config "$SRC/configs/$cfg.yaml" "$WORK/resnet50.$cfg.$prec.npub" --timing-only --random-inputs 1 \
    --stats "$WORK/resnet50.$cfg.$prec.stats.json" | head -3
  end=$(date +%s.%N)
  echo "$cfg $prec: simulation wall time (timing-only) $(awk "BEGIN { print $end - $start }") s"
done
