#!/bin/sh
# npusim serve / replay through the CLI: the example driver over the socket with a register trace
# recorded, the trace replayed; a changed read (exit 1) and malformed traces (exit 2, naming the
# line) caught.
#   test_serve_cli.sh NPUSIM SOURCE_DIR WORK_DIR DRIVER
. "$(dirname "$0")/common.sh" "$1" "$2" "$3"
DRIVER=$4
CFG="$SRC/configs/edge.yaml"
"$NPUSIM" asm "$SRC/traces/mlp_i8.npus" -o mlp.npub >/dev/null || fail "asm"
"$NPUSIM" serve --config "$CFG" --socket npu.sock --record run.rtrace --exit-when-idle 2>serve.err &
server=$!
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do [ -S npu.sock ] && break; sleep 0.2; done
"$DRIVER" unix:npu.sock mlp.npub >driver.txt || fail "the example driver exited $? over the socket"
wait "$server" || fail "serve exited $?"
grep -q '^q0 open$' run.rtrace && grep -q '^q0 mem_add ' run.rtrace && grep -q '^q0 mem_remove ' run.rtrace \
  && grep -q '^q0 load_mem ' run.rtrace && grep -q '^q0 close$' run.rtrace \
  && echo "ok: the trace records the client's context and its buffers added, loaded and removed" || fail "trace lines"
"$NPUSIM" replay run.rtrace --config "$CFG" >replay.txt && grep -q 'every read as recorded' replay.txt \
  && echo "ok: the recorded session replays" || fail "replay of the recording"
# A read changed by one digit: exit 1, naming the line.
line=$(grep -n '^q0 read_reg ' run.rtrace | tail -1 | cut -d: -f1)
sed "${line}s/\$/1/" run.rtrace >changed.rtrace
"$NPUSIM" replay changed.rtrace --config "$CFG" 2>err.txt
rc=$?
[ $rc -eq 1 ] && grep -q "changed.rtrace:$line: error: register" err.txt && echo "ok: a changed read is caught (line $line)" \
  || fail "changed read: exit $rc, $(cat err.txt)"
# Malformed traces: exit 2 with file:line and what was expected.
check_bad() {  # NAME CONTENT EXPECTED-TEXT
  printf "$2" >"$1.rtrace"
  "$NPUSIM" replay "$1.rtrace" --config "$CFG" 2>err.txt
  rc=$?
  if [ $rc -eq 2 ] && grep -q "$3" err.txt; then echo "ok: $1 rejected: $(head -1 err.txt)"; else fail "$1: exit $rc, $(cat err.txt)"; fi
}
check_bad not_hex 'mem_add 4096 2\nload_mem 4096 0z11\n' "not_hex.rtrace:2: error: load_mem: 'z' is not a hex digit"
check_bad wrong_size 'mem_add 4096 2\nload_mem 4096 001122\n' "wrong_size.rtrace:2: error: load_mem of 3 bytes"
check_bad overlap 'mem_add 4096 4096\nmem_add 6000 10\n' "overlap.rtrace:2: error: mem_add overlaps"
check_bad huge 'mem_add 0 1073741825\n' "huge.rtrace:1: error: expected mem_add ADDR SIZE"
check_bad unknown '# comment\nwrite_reg 256 1\npoke 1 2\n' "unknown.rtrace:3: error: unknown operation 'poke'"
check_bad trailing 'read_reg 0 1398099022 x\n' "trailing.rtrace:1: error: expected read_reg OFFSET VALUE"
check_bad not_removed 'mem_remove 4096\n' "not_removed.rtrace:1: error: mem_remove of 4096"
check_bad bad_context 'q7 open\n' "bad_context.rtrace:1: error: 'q7': expected a context q0 to q3"
check_bad not_open 'q1 write_reg 256 1\n' "not_open.rtrace:1: error: context q1 is not open"
check_bad die_late 'q0 open\ndie own\n' "die_late.rtrace:2: error: 'die' must come before"
check_bad die_what 'die mine\n' "die_what.rtrace:1: error: expected die own or die shared"
grep -q '^die own$' run.rtrace && echo "ok: the trace says each context had a die of its own" || fail "no 'die own' line"
"$NPUSIM" replay run.rtrace --config "$CFG" --max-memory 1KiB 2>err.txt
rc=$?
[ $rc -eq 2 ] && grep -q "over the replay's limit of 1024" err.txt && echo "ok: --max-memory bounds a replay's buffers" \
  || fail "--max-memory 1KiB: exit $rc, $(cat err.txt)"
# A replay of a directory is an input error, not an empty success.
mkdir -p adir
"$NPUSIM" replay adir --config "$CFG" 2>err.txt
rc=$?
[ $rc -eq 2 ] && grep -q "adir: cannot read register trace: it is a directory" err.txt \
  && echo "ok: replay of a directory is refused" || fail "replay of a directory: exit $rc, $(cat err.txt)"
# serve never deletes a file that is not a socket, and refuses bad option values.
echo "keep me" >notes.txt
"$NPUSIM" serve --config "$CFG" --socket notes.txt 2>err.txt
rc=$?
[ $rc -eq 2 ] && grep -q "notes.txt: exists and is a regular file, not a socket" err.txt && grep -q "keep me" notes.txt \
  && echo "ok: serve refuses a regular file as its socket and keeps it" || fail "serve on a regular file: exit $rc, $(cat err.txt)"
"$NPUSIM" serve --config "$CFG" --socket x.sock --socket-mode 0044 2>err.txt
[ $? -eq 2 ] && grep -q "socket-mode expects octal permissions" err.txt && echo "ok: a socket mode without the owner is refused" \
  || fail "--socket-mode 0044: $(cat err.txt)"
"$NPUSIM" serve --config "$CFG" --socket x.sock --idle-timeout soon 2>err.txt
[ $? -eq 2 ] && grep -q "idle-timeout expects a time" err.txt && echo "ok: a bad --idle-timeout is refused" \
  || fail "--idle-timeout soon: $(cat err.txt)"
finish serve/replay
