#!/bin/sh
# Checks that docs/compiler.md's operator table is what `npusim info --operators` prints (the
# registrations in compiler/ops/).
#   operators_docs.sh NPUSIM SOURCE_DIR
set -eu
NPUSIM=$1
SRC=$2
expected=$(mktemp)
actual=$(mktemp)
trap 'rm -f "$expected" "$actual"' EXIT
"$NPUSIM" info --operators >"$expected"
sed -n '/<!-- BEGIN npusim info --operators -->/,/<!-- END npusim info --operators -->/p' "$SRC/docs/compiler.md" |
  sed '1d;$d' >"$actual"
if ! diff -u "$expected" "$actual"; then
  echo "docs/compiler.md is stale: copy 'npusim info --operators' into its operator table"
  exit 1
fi
echo "docs/compiler.md lists the $(($(wc -l <"$expected") - 2)) operators npusim info --operators prints"
