#!/bin/sh
# Checks that a generated block of a doc is what an npusim command prints: the lines between
# `<!-- BEGIN npusim ARGS -->` and `<!-- END npusim ARGS -->` in DOC equal `npusim ARGS`.
#   doc_block_current.sh NPUSIM SOURCE_DIR DOC ARGS...   e.g. ... docs/cli.md help --markdown
set -eu
NPUSIM=$1
SRC=$2
DOC=$3
shift 3
expected=$(mktemp)
actual=$(mktemp)
trap 'rm -f "$expected" "$actual"' EXIT
"$NPUSIM" "$@" >"$expected"
sed -n "/<!-- BEGIN npusim $* -->/,/<!-- END npusim $* -->/p" "$SRC/$DOC" | sed '1d;$d' >"$actual"
if ! diff -u "$expected" "$actual"; then
  echo "$DOC is stale: copy 'npusim $*' between its BEGIN and END markers"
  exit 1
fi
echo "$DOC holds what npusim $* prints ($(wc -l <"$expected") lines)"
