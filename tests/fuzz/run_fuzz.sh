#!/bin/sh
# Builds the libFuzzer targets with clang-14 (ASan + UBSan) in BUILD_DIR and runs each for
# SECONDS, seeded with the bundled programs (as .npus text and as assembled .npub) and configs.
#   run_fuzz.sh SOURCE_DIR BUILD_DIR [SECONDS]
# A crash leaves its input in BUILD_DIR/artifacts and fails the run.
set -eu
SRC=$1
BUILD=$2
SECONDS_EACH=${3:-60}
CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -g -O1"
cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DNPUSIM_FUZZ=ON -DNPUSIM_TESTS=OFF -DNPUSIM_RTL=OFF \
  -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS=$CXX_FLAGS" "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined" >/dev/null
cmake --build "$BUILD" -j 2 --target fuzz_npub fuzz_npus fuzz_config fuzz_onnx fuzz_topology npusim
mkdir -p "$BUILD/corpus/npus" "$BUILD/corpus/npub" "$BUILD/corpus/config" "$BUILD/corpus/onnx" "$BUILD/corpus/topology" \
  "$BUILD/artifacts"
# Topology seeds: the first byte picks the reader (even: topology CSV, odd: SCALE-Sim .cfg).
for t in "$SRC"/traces/topologies/*.csv; do { printf '\000'; head -c 4000 "$t"; } >"$BUILD/corpus/topology/$(basename "$t")"; done
printf '\000Layer,M,N,K,\nqk,128,128,64,\n' >"$BUILD/corpus/topology/mnk.csv"
printf '\001[general]\nrun_name = f\n[architecture_presets]\nArrayHeight: 32\nArrayWidth: 32\nIfmapSramSzkB: 64\nFilterSramSzkB: 64\nOfmapSramSzkB: 64\nDataflow: os\nBandwidth: 10\n[run_presets]\nInterfaceBandwidth: USER\n' >"$BUILD/corpus/topology/scale.cfg"
cp "$SRC"/configs/*.yaml "$BUILD/corpus/config/"
# ONNX seeds: small models from the compiler tests (written by check_models.py, check_quantized.py).
/usr/bin/python3 "$SRC/tests/compiler/check_models.py" "$BUILD/bin/npusim" "$SRC" "$BUILD/onnx_seeds" >/dev/null 2>&1 || true
/usr/bin/python3 "$SRC/tests/compiler/check_quantized.py" "$BUILD/bin/npusim" "$SRC" "$BUILD/onnx_seeds" >/dev/null 2>&1 || true
for m in "$BUILD"/onnx_seeds/*.onnx; do [ -f "$m" ] && [ "$(stat -c %s "$m")" -lt 200000 ] && cp "$m" "$BUILD/corpus/onnx/"; done
for t in "$SRC"/traces/*.npus "$SRC"/tests/data/bad/*.npus; do
  cp "$t" "$BUILD/corpus/npus/"
  "$BUILD/bin/npusim" asm "$t" --no-deadlock-check -o "$BUILD/corpus/npub/$(basename "$t" .npus).npub" >/dev/null 2>&1 || true
done
export ASAN_OPTIONS=detect_leaks=1
for f in npub npus config onnx topology; do
  echo "fuzzing the .$f parser for ${SECONDS_EACH}s"
  "$BUILD/bin/fuzz_$f" "$BUILD/corpus/$f" -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="$BUILD/artifacts/$f-" -print_final_stats=1 2>&1 | tail -12
done
