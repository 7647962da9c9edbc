#!/bin/sh
# Builds the libFuzzer targets with clang-14 (ASan + UBSan) in BUILD_DIR and runs each for
# SECONDS, seeded with the bundled programs (as .npus text and as assembled .npub) and configs.
#   run_fuzz.sh SOURCE_DIR BUILD_DIR [SECONDS]
# A crash leaves its input in BUILD_DIR/artifacts and fails the run. Reproduce one with
# `BUILD_DIR/bin/fuzz_X ARTIFACT` before trusting it when its stack runs under SystemC's
# sc_thread_cor_fn: ASan does not know SystemC's coroutine stacks (Debian's SystemC has no fiber
# annotations), so a report inside an engine thread that depends on earlier runs in the same
# process and does not reproduce alone (nor under valgrind in a plain build) is that blind spot.
set -eu
SRC=$1
BUILD=$2
SECONDS_EACH=${3:-60}
CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -g -O1"
# A tree configured with another C compiler (before the C driver joined the fuzz build) would make
# CMake drop the options below while it resets its cache: start that cache afresh.
if [ -f "$BUILD/CMakeCache.txt" ] && ! grep -q '^CMAKE_C_COMPILER:[A-Z]*=.*clang-14' "$BUILD/CMakeCache.txt"; then
  rm -rf "$BUILD/CMakeCache.txt" "$BUILD/CMakeFiles"
fi
cmake -S "$SRC" -B "$BUILD" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14 -DNPUSIM_FUZZ=ON -DNPUSIM_TESTS=OFF -DNPUSIM_RTL=OFF \
  -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS=$CXX_FLAGS" "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined" >/dev/null
cmake --build "$BUILD" -j 2 --target fuzz_npub fuzz_npus fuzz_config fuzz_onnx fuzz_topology fuzz_wire fuzz_replay npusim npu_example_driver
mkdir -p "$BUILD/corpus/npus" "$BUILD/corpus/npub" "$BUILD/corpus/config" "$BUILD/corpus/onnx" "$BUILD/corpus/topology" \
  "$BUILD/corpus/wire" "$BUILD/corpus/replay" "$BUILD/artifacts"
# Device seeds: a protocol session (enable, ring registers, a doorbell, reads, SYNC, PERF, BYE) and
# a register trace (a buffer, its bytes, writes, reads, idle time).
/usr/bin/python3 - "$BUILD/corpus" <<'PY'
import struct, sys
out = sys.argv[1]
def msg(t, req, payload=b''):
    return struct.pack('<HHIQQ', t, 0, len(payload), req, 0) + payload
w = lambda off, v: struct.pack('<II', off, v)
s = b''.join([msg(7, 1, w(0x204, 0xff)), msg(7, 2, w(0x1000, 0)), msg(7, 3, w(0x1004, 1)), msg(7, 4, w(0x1008, 4)),
              msg(7, 5, w(0x1010, 0x800)), msg(7, 6, w(0x1014, 1)), msg(7, 7, w(0x1018, 4)), msg(7, 8, w(0x1028, 1)),
              msg(7, 9, w(0x100, 1)), msg(7, 10, w(0x8000, 1)), msg(5, 11, struct.pack('<I', 0x104)),
              msg(8, 12, struct.pack('<Q', 1000000)), msg(9, 13, struct.pack('<Q', 1)), msg(14, 14)])
open(out + '/wire/session', 'wb').write(s)
open(out + '/replay/trace', 'w').write('# npusim register trace\nmem_add 4294967296 64\nload_mem 4294967296 ' + '4a4f4231' + '00' * 60 +
    '\nwrite_reg 4096 0\nwrite_reg 4100 1\nwrite_reg 4104 1\nwrite_reg 256 1\nwrite_reg 4136 1\nwrite_reg 32768 1\n'
    'read_reg 0 1398099022\nread_reg 260 2\nidle 1000\nmem_remove 4294967296\n')
PY
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
# A register trace of a real session up to its first job (the example driver over the socket), so
# fuzzed traces start from rings, a job entry and a program that run.
"$BUILD/bin/npusim" asm "$SRC/traces/mlp_i8.npus" -o "$BUILD/mlp.npub" >/dev/null 2>&1
rm -f "$BUILD/seed.sock"
ASAN_OPTIONS=detect_leaks=0 "$BUILD/bin/npusim" serve --config "$SRC/configs/edge.yaml" --socket "$BUILD/seed.sock" \
  --record "$BUILD/session.rtrace" --exit-when-idle 2>/dev/null &
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do [ -S "$BUILD/seed.sock" ] && break; sleep 0.5; done
ASAN_OPTIONS=detect_leaks=0 "$BUILD/bin/npu_example_driver" "unix:$BUILD/seed.sock" "$BUILD/mlp.npub" >/dev/null 2>&1 || true
wait
awk '{ print } /^q[0-3] write_reg 32768 / { n = 1 } n && ++k > 12 { exit }' "$BUILD/session.rtrace" >"$BUILD/corpus/replay/session" || true
export ASAN_OPTIONS=detect_leaks=1
for f in npub npus config onnx topology wire replay; do
  echo "fuzzing fuzz_$f for ${SECONDS_EACH}s"
  "$BUILD/bin/fuzz_$f" "$BUILD/corpus/$f" -max_total_time="$SECONDS_EACH" -max_len=131072 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="$BUILD/artifacts/$f-" -print_final_stats=1 2>&1 | tail -12
done
