#!/bin/sh
# mkseed.sh - writes a fuzz_deps seed: one selector byte, then the file. The selector picks the file name from
# the table in tests/fuzz/fuzz_deps.c (keep both in step):
#   0 package-lock.json   1 npm-shrinkwrap.json   2 yarn.lock   3 pnpm-lock.yaml   4 requirements.txt
#   5 poetry.lock         6 Pipfile.lock          7 uv.lock     8 go.mod           9 go.sum
#  10 Cargo.lock         11 Gemfile.lock         12 composer.lock
# Usage: mkseed.sh SELECTOR INPUT-FILE SEED-NAME   e.g. mkseed.sh 2 yarn.lock yarn-v1-small
# writes tests/fuzz/corpus/deps/<SEED-NAME>.bin (name seeds <kind>-<what>.bin). Keep seeds small (< 8 KiB).
set -eu
[ $# -eq 3 ] || { echo "usage: $0 SELECTOR INPUT-FILE SEED-NAME" >&2; exit 2; }
dir=$(dirname "$0")
{ printf "\\$(printf '%03o' "$1")"; cat "$2"; } > "$dir/$3.bin"
