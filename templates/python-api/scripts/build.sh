#!/bin/sh
# build.sh - packs {{app}} into one runnable file, dist/{{app}}.pyz (a zipapp: `python3 dist/{{app}}.pyz`), then
# starts it on a free loopback port and checks /healthz before calling the build good. Needs only python3.
set -eu
cd "$(dirname "$0")/.."
rm -rf build/pyz dist
mkdir -p build/pyz dist
cp src/*.py build/pyz/
python3 -m zipapp build/pyz -o "dist/{{app}}.pyz" -p "/usr/bin/env python3" -m "app:main"
python3 scripts/smoke.py "dist/{{app}}.pyz"
echo "built dist/{{app}}.pyz ($(wc -c <"dist/{{app}}.pyz") bytes)"
