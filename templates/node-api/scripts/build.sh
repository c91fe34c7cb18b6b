#!/bin/sh
# build.sh - packs {{app}} into dist/{{app}}-<version>.tar.gz (src/ and package.json: the app needs no
# node_modules), unpacks that archive into a scratch directory, starts it on a free loopback port and checks
# /healthz before calling the build good. Needs only node, tar and gzip.
set -eu
cd "$(dirname "$0")/.."
version=$(node -p 'JSON.parse(require("fs").readFileSync("package.json", "utf8")).version')
rm -rf build dist
mkdir -p "build/{{app}}" dist
cp -R src package.json package-lock.json "build/{{app}}/"
tar -C build --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - "{{app}}" | gzip -n >"dist/{{app}}-$version.tar.gz"
mkdir -p build/smoke
tar -C build/smoke -xzf "dist/{{app}}-$version.tar.gz"
node scripts/smoke.mjs "build/smoke/{{app}}/src/app.js"
echo "built dist/{{app}}-$version.tar.gz ($(wc -c <"dist/{{app}}-$version.tar.gz") bytes)"
