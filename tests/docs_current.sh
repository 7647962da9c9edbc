#!/bin/sh
# Checks that docs/config.md holds exactly what `npusim info --config` prints.
#   docs_current.sh NPUSIM SOURCE_DIR
set -eu
NPUSIM=$1
SRC=$2
expected=$(mktemp)
actual=$(mktemp)
"$NPUSIM" info --config >"$expected"
sed -n '/<!-- BEGIN npusim info --config -->/,/<!-- END npusim info --config -->/p' "$SRC/docs/config.md" | sed '1,2d;$d' | sed '$d' >"$actual"
if ! diff -u "$expected" "$actual"; then
  echo "docs/config.md is stale: regenerate its reference block from 'npusim info --config'"
  exit 1
fi
echo "docs/config.md matches npusim info --config"
