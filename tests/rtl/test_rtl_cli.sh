#!/bin/sh
# mxu impl rtl through the whole simulator (label rtl): co-simulated traces and a quantized model
# with zero mismatches and RTL cycles beside analytical ones, calibration into a latency table
# that reproduces them, configuration errors, and a program whose false reuse_b claim the
# co-simulation catches (COSIM_MISMATCH).
#   test_rtl_cli.sh NPUSIM SOURCE_DIR WORK_DIR
set -u
NPUSIM=$1
SRC=$2
WORK=$3
rm -rf "$WORK" && mkdir -p "$WORK"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# edge.yaml with the RTL array (16x16 ws, int8 only) and, for os, a 8x8 output-stationary variant.
sed -e 's/^mxu:$/mxu:\n  impl: rtl/' -e 's/dtypes: \[i8, u8, fp16, bf16\]/dtypes: [i8, u8]/' \
  "$SRC/configs/edge.yaml" >"$WORK/rtl_ws16.yaml"
sed -e 's/  rows: 16/  rows: 8/' -e 's/  cols: 16/  cols: 8/' -e 's/  dataflow: ws/  dataflow: os/' \
  "$WORK/rtl_ws16.yaml" >"$WORK/rtl_os8.yaml"

# Tiles of many shapes (one fold and many, int8 and uint8 activations) for any array size.
cat >"$WORK/tiles.npus" <<'NPUS'
.npus 1.0
.target line=64 dtypes=i8|u8
.region x role=input size=8KiB
.region y role=output size=16KiB
.io x region=x dtype=i8 shape=[8192]
.io y region=y dtype=i32 shape=[4096]
.desc A region=x dtype=i8 box=[64, 40] stride=[64]
.desc B region=x dtype=i8 box=[64, 40] stride=[64] offset=4096
.desc Y region=y dtype=i32 box=[64, 64] stride=[256]
.sem l2m consumer=mxu
.sem m2s consumer=store
load s[0], A !sig(l2m)
load s[64], B !sig(l2m)
matmul acc[0], s[0], s[64], m=5, n=7, k=3, dtype=i8 !wait(l2m,2)
matmul acc[0], s[0], s[64], m=16, n=16, k=16, dtype=i8, accumulate
matmul acc[0], s[0], s[64], m=33, n=20, k=9, dtype=u8, accumulate
matmul acc[0], s[0], s[64], m=40, n=64, k=40, dtype=i8, accumulate
matmul acc[0], s[0], s[64], m=12, n=30, k=17, dtype=u8, accumulate, trans_a !sig(m2s)
store Y, acc[0] !wait(m2s)
finish
NPUS
for run in rtl_ws16:gemm_i8_db rtl_ws16:mlp_i8 rtl_ws16:tiles rtl_os8:tiles; do
  cfg=${run%%:*}
  t=${run##*:}
  prog="$SRC/traces/$t.npus"
  [ "$t" = tiles ] && prog="$WORK/tiles.npus"
  {
    "$NPUSIM" run --config "$WORK/$cfg.yaml" "$prog" --random-inputs 5 --output-dir "$WORK/$cfg.$t" \
      --cosim-report "$WORK/$cfg.$t.csv" --quiet || fail "$cfg $t exited $?"
    rows=$(($(wc -l <"$WORK/$cfg.$t.csv") - 1))
    bad=$(awk -F, 'NR > 1 && ($10 != 0 || $7 != $8) { n++ } END { print n + 0 }' "$WORK/$cfg.$t.csv")
    if [ "$rows" -gt 0 ] && [ "$bad" -eq 0 ]; then
      echo "ok: $cfg $t: $rows matmuls co-simulated, 0 mismatches, RTL cycles = analytical cycles"
    else
      fail "$cfg $t: $rows rows, $bad with mismatches or differing cycles"; cat "$WORK/$cfg.$t.csv"
    fi
    # The same outputs as the analytical model's run.
    sed -e 's/^mxu:$/mxu:\n  impl: analytical/' "$WORK/$cfg.yaml" | sed -e '/^  impl: rtl$/d' >"$WORK/$cfg.an.yaml"
    "$NPUSIM" run --config "$WORK/$cfg.an.yaml" "$prog" --random-inputs 5 --output-dir "$WORK/$cfg.$t.an" \
      --quiet || fail "analytical $cfg $t"
    for f in "$WORK/$cfg.$t"/*.npy; do
      cmp -s "$f" "$WORK/$cfg.$t.an/$(basename "$f")" || fail "$cfg $t: $(basename "$f") differs from the analytical run"
    done
  }
done

# Calibration: the table reproduces the RTL's cycles.
"$NPUSIM" calibrate --config "$WORK/rtl_ws16.yaml" -o "$WORK/table.yaml" | tee "$WORK/cal.txt"
grep -q "analytical model within 0% of the RTL" "$WORK/cal.txt" || fail "calibration deviation"
sed -e "s|^mxu:\$|mxu:\n  impl: table\n  file: $WORK/table.yaml|" "$SRC/configs/edge.yaml" >"$WORK/table_cfg.yaml"
rtl=$("$NPUSIM" run --config "$WORK/rtl_ws16.yaml" "$SRC/traces/gemm_i8_db.npus" --random-inputs 1 | head -1)
tab=$("$NPUSIM" run --config "$WORK/table_cfg.yaml" "$SRC/traces/gemm_i8_db.npus" --random-inputs 1 | head -1)
[ "$rtl" = "$tab" ] && echo "ok: table run = RTL run ($tab)" || fail "table '$tab' vs rtl '$rtl'"

# Configuration errors.
sed -e 's/^mxu:$/mxu:\n  impl: rtl/' "$SRC/configs/edge.yaml" >"$WORK/rtl_fp16.yaml"
"$NPUSIM" run --config "$WORK/rtl_fp16.yaml" "$SRC/traces/gemm_i8_db.npus" --random-inputs 1 >"$WORK/e.txt" 2>&1
[ $? -eq 2 ] && grep -q "impl rtl: the RTL array multiplies int8 (i8, u8); dtypes lists fp16" "$WORK/e.txt" \
  && echo "ok: rtl with fp16 rejected" || { fail "rtl+fp16"; cat "$WORK/e.txt"; }
sed -e 's/  rows: 16/  rows: 12/' -e 's/  cols: 16/  cols: 12/' "$WORK/rtl_ws16.yaml" >"$WORK/rtl12.yaml"
"$NPUSIM" run --config "$WORK/rtl12.yaml" "$SRC/traces/gemm_i8_db.npus" --random-inputs 1 >"$WORK/e.txt" 2>&1
[ $? -eq 2 ] && grep -q "RTL models exist for 4x4, 8x8 and 16x16 arrays, not 12x12" "$WORK/e.txt" \
  && echo "ok: 12x12 rtl rejected" || { fail "rtl 12x12"; cat "$WORK/e.txt"; }

# A program that claims reuse_b for a different B: the analytical model cannot tell, the RTL (whose
# PEs still hold the first B) computes something else, and the co-simulation reports it.
cat >"$WORK/lie.npus" <<'NPUS'
.npus 1.0
.target line=64 dtypes=i8
.region x role=input size=4KiB
.io x region=x dtype=i8 shape=[4096]
.desc A region=x dtype=i8 box=[16, 16] stride=[16]
.desc B region=x dtype=i8 box=[16, 16] stride=[16] offset=256
.desc B2 region=x dtype=i8 box=[16, 16] stride=[16] offset=512
.sem l2m consumer=mxu
load s[0], A !sig(l2m)
load s[16], B !sig(l2m)
load s[32], B2 !sig(l2m)
matmul acc[0], s[0], s[16], m=16, n=16, k=16, dtype=i8 !wait(l2m,3)
matmul acc[64], s[0], s[32], m=16, n=16, k=16, dtype=i8, reuse_b
finish
NPUS
"$NPUSIM" run --config "$WORK/rtl_ws16.yaml" "$WORK/lie.npus" --random-inputs 3 >"$WORK/e.txt" 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q "COSIM_MISMATCH: instruction #4 (matmul 16x16x16)" "$WORK/e.txt" \
  && echo "ok: a false reuse_b is caught by the co-simulation" || { fail "reuse_b lie rc=$rc"; cat "$WORK/e.txt"; }

if [ "$failures" -ne 0 ]; then echo "$failures RTL CLI check(s) failed"; exit 1; fi
echo "all RTL CLI checks passed"
