#!/bin/sh
# examples/driver.py, a driver written from docs/wire-protocol.md, docs/registers.md and
# docs/npub-format.md alone, against `npusim serve`: the same outputs and cycles as `npusim run`
# for two programs, a corrupted container failed by the device with JOB_INVALID (16), and faults
# scheduled with `npusim serve --fault`.
#   test_python_driver.sh NPUSIM SOURCE_DIR WORK_DIR
. "$(dirname "$0")/common.sh" "$@"
CFG="$SRC/configs/edge.yaml"
"$NPUSIM" serve --config "$CFG" --socket npu.sock 2>serve.err &
server=$!
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do [ -S npu.sock ] && break; sleep 0.2; done
check() {  # PROGRAM INPUT SHAPE OUTPUT
  "$NPUSIM" asm "$SRC/traces/$1.npus" -o "$1.npub" >/dev/null || fail "asm $1"
  /usr/bin/python3 -c "
import numpy as np
x = np.random.default_rng(7).integers(-128, 128, $3, dtype=np.int8)
np.save('$2.npy', x); x.tofile('$2.bin')"
  /usr/bin/python3 "$SRC/examples/driver.py" npu.sock "$1.npub" --input "$2=$2.bin" --out "py_$1" >py.txt 2>&1 \
    || fail "$1: driver.py exited $?: $(cat py.txt)"
  "$NPUSIM" run --config "$CFG" "$1.npub" --input "$2=$2.npy" --output-dir "ref_$1" >ref.txt || fail "$1: npusim run"
  py_cycles=$(sed -n 's/.* \([0-9]*\) cycles (.*/\1/p' py.txt)
  ref_cycles=$(sed -n 's/.*: \([0-9]*\) cycles, .*/\1/p' ref.txt | head -1)
  same=$(/usr/bin/python3 -c "
import numpy as np
print(int((np.fromfile('py_$1/$4.bin', np.int8) == np.load('ref_$1/$4.npy').ravel()).all()))")
  if [ -n "$py_cycles" ] && [ "$py_cycles" = "$ref_cycles" ] && [ "$same" = 1 ]; then
    echo "ok: $1 through driver.py: $py_cycles cycles and outputs as npusim run"
  else
    fail "$1: driver.py '$py_cycles' cycles vs '$ref_cycles', outputs identical: $same; $(cat py.txt)"
  fi
}
check mlp_i8 x "(16, 128)" y
check gemm_i8_db A "(64, 256)" C
# A container with a wrong CRC: the device fails the job (JOB_INVALID), the driver exits 1.
/usr/bin/python3 -c "
d = bytearray(open('mlp_i8.npub', 'rb').read()); d[48] ^= 0xFF; open('bad.npub', 'wb').write(d)"
/usr/bin/python3 "$SRC/examples/driver.py" npu.sock bad.npub --input x=x.bin --out bad >bad.txt 2>&1
rc=$?
[ $rc -eq 1 ] && grep -q "status 1, error 16" bad.txt && echo "ok: a corrupted container fails with JOB_INVALID: $(cat bad.txt)" \
  || fail "corrupted container: exit $rc, $(cat bad.txt)"
kill $server 2>/dev/null
wait $server 2>/dev/null
# Faults from the command line, for a driver that is not changed: the first job gets a bus error at
# instruction 1, the second job's interrupt is dropped, the third runs as usual; the recorded
# session (with its scheduled faults) replays.
"$NPUSIM" serve --config "$CFG" --socket f.sock --record f.rtrace --fault bus_error:insn=1 --fault drop_irq:job=2 \
  2>serve.err &
server=$!
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do [ -S f.sock ] && break; sleep 0.2; done
for j in 1 2 3; do /usr/bin/python3 "$SRC/examples/driver.py" f.sock mlp_i8.npub --input x=x.bin --out f$j >f$j.txt 2>&1; echo $? >f$j.rc; done
grep -q "status 1, error 17 at instruction 1," f1.txt && [ "$(cat f1.rc)" = 1 ] \
  && echo "ok: --fault bus_error:insn=1 fails the first job: $(cat f1.txt)" || fail "first job: $(cat f1.txt)"
grep -q "status 0, .*INT_STATUS 0x2$" f2.txt && echo "ok: --fault drop_irq:job=2 drops the second job's JOB_DONE: $(cat f2.txt)" \
  || fail "second job: $(cat f2.txt)"
grep -q "status 0, .* 4286 cycles .*INT_STATUS 0x3$" f3.txt && echo "ok: the third job runs as usual: $(cat f3.txt)" \
  || fail "third job: $(cat f3.txt)"
kill $server 2>/dev/null
wait $server 2>/dev/null
grep -q '^schedule_fault ' f.rtrace && "$NPUSIM" replay f.rtrace --config "$CFG" >replay.txt 2>&1 \
  && echo "ok: the session with its faults replays: $(cat replay.txt)" || fail "replay with faults: $(cat replay.txt)"
"$NPUSIM" serve --config "$CFG" --socket g.sock --fault bus_error:factor=2 >e.txt 2>&1
[ $? -eq 2 ] && grep -q "fault 'bus_error:factor=2': 'factor=2': expected insn=N, count=N (1..255) or job=N" e.txt \
  && echo "ok: a bad --fault is a usage error: $(head -1 e.txt)" || fail "bad --fault: $(cat e.txt)"
finish "Python driver"
