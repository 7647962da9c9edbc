#!/bin/sh
# Checks that docs/cli.md's option tables are what `npusim help --markdown` prints (the options
# each subcommand declares in tools/cli/cmd_*.cpp).
#   cli_docs.sh NPUSIM SOURCE_DIR
set -eu
NPUSIM=$1
SRC=$2
expected=$(mktemp)
actual=$(mktemp)
trap 'rm -f "$expected" "$actual"' EXIT
"$NPUSIM" help --markdown >"$expected"
sed -n '/<!-- BEGIN npusim help --markdown -->/,/<!-- END npusim help --markdown -->/p' "$SRC/docs/cli.md" |
  sed '1d;$d' >"$actual"
if ! diff -u "$expected" "$actual"; then
  echo "docs/cli.md is stale: copy 'npusim help --markdown' between its BEGIN and END markers"
  exit 1
fi
echo "docs/cli.md lists the options of the $(grep -c '^### ' "$expected") subcommands npusim help --markdown prints"
