# Sourced by the CLI test scripts: arguments, a fresh work folder, fail() and finish().
#   . common.sh NPUSIM SOURCE_DIR WORK_DIR
set -u
NPUSIM=$1
SRC=$2
WORK=$3
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK" || exit 1
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
# finish WHAT: exit 1 when a check failed, else report that all WHAT checks passed.
finish() {
  if [ "$failures" -ne 0 ]; then echo "$failures $1 check(s) failed"; exit 1; fi
  echo "all $1 checks passed"
}
