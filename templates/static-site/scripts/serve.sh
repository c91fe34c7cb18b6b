#!/bin/sh
# serve.sh - serves the built site (dist/) the way previews do: python3's http.server on HOST:PORT (default
# 127.0.0.1:8080), /healthz answered by the file dist/healthz. Run `python3 scripts/build.py` first.
set -eu
cd "$(dirname "$0")/.."
[ -f dist/index.html ] || { echo "serve: no dist/index.html; run python3 scripts/build.py first" >&2; exit 1; }
exec python3 -m http.server --bind "${HOST:-127.0.0.1}" --directory dist "${PORT:-8080}"
