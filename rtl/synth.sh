#!/bin/sh
# Area proxy: yosys (Debian's yosys) synthesizes one PE and the whole array at each built size to
# generic gates and prints cell and flip-flop counts. The operand/result buffers are synthesized
# with TMAX=16 (a real design would use SRAM macros for them), so the array figure is the PE grid,
# the control and small buffers.   rtl/synth.sh [SIZES...]   (default: 4 8 16)
set -eu
DIR=$(cd "$(dirname "$0")" && pwd)
command -v yosys >/dev/null || { echo "yosys not installed (apt-get install yosys)"; exit 0; }
cells() {  # prints "cells flip-flops" from a yosys stat log
  awk '/Number of cells:/ { c = $4 } /\$_(S?DFF|DFFE|SDFF)/ { f += $2 } END { print c, f + 0 }' "$1"
}
log=$(mktemp)
yosys -q -p "read_verilog -sv $DIR/mac_pe.v; synth -top mac_pe; tee -q -o $log stat" >/dev/null 2>&1
set -- ${*:-4 8 16}
echo "mac_pe: $(cells "$log" | awk '{ print $1 " cells, " $2 " flip-flops" }')"
for n in "$@"; do
  start=$(date +%s)
  yosys -q -p "read_verilog -sv $DIR/mac_pe.v $DIR/systolic_array.v; chparam -set ROWS $n -set COLS $n -set TMAX 16 systolic_array; synth -top systolic_array -flatten; tee -q -o $log stat" >/dev/null 2>&1
  echo "systolic_array ${n}x${n} (TMAX 16): $(cells "$log" | awk '{ print $1 " cells, " $2 " flip-flops" }') ($(( $(date +%s) - start )) s)"
done
rm -f "$log"
