#!/bin/sh
# sbom_test.sh MRUN SRCDIR CASE - `mrun sbom` and `uses: sbom` end to end. Exit 0 pass, 1 fail, 77 skip.
#   schema  every sample lockfile (tests/data/deps, tests/data/sbom/npm-big) -> CycloneDX 1.6 and SPDX 2.3, each
#           validated against the official JSON schemas in tests/data/schemas (python3-jsonschema, no network);
#           the same input gives the same bytes; the big npm lockfile's components equal the list cyclonedx-npm
#           wrote for it (tests/data/sbom/npm-big/cyclonedx-npm.components.tsv), offline
#   cdxnpm  the same comparison against a live run of @cyclonedx/cyclonedx-npm --package-lock-only (installed into
#           /tmp/cdx-npm when missing; 77 when npm cannot reach the registry)
#   stage   `uses: sbom` in a pipeline run by `mrun run`: files written, summary logged, a symlinked output refused
set -u
MRUN=$1
SRC=$2
CASE=$3
DATA=$SRC/tests/data
T=$(mktemp -d /tmp/mrun-sbomtest.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() {
    echo "FAIL sbom_$CASE: $*" >&2
    [ -f "$T/out" ] && { echo "--- output ---" >&2; tail -c 4000 "$T/out" >&2; }
    exit 1
}

# a python3 with jsonschema: the one on PATH, else Debian's
find_python() {
    for py in /usr/bin/python3 python3; do
        if "$py" -c 'import jsonschema' 2>/dev/null; then
            echo "$py"
            return 0
        fi
    done
    return 1
}

big_lockfile() {
    mkdir -p "$T/npm-big"
    cp "$DATA/sbom/npm-big/package.json" "$T/npm-big/"
    gzip -dc "$DATA/sbom/npm-big/package-lock.json.gz" >"$T/npm-big/package-lock.json" || fail "gunzip"
}

case "$CASE" in
schema)
    PY=$(find_python) || { echo "SKIP: python3-jsonschema is not installed (scripts/setup.sh installs it)"; exit 77; }
    big_lockfile
    export SOURCE_DATE_EPOCH=1767225600
    n=0
    for dir in "$DATA"/deps/*/* "$DATA"/deps/*/*/* "$T/npm-big"; do
        [ -d "$dir" ] || continue
        ls "$dir" | grep -Eq '(package-lock\.json|yarn\.lock|pnpm-lock\.yaml|requirements.*\.txt|poetry\.lock|Pipfile\.lock|uv\.lock|go\.mod|Cargo\.lock|Gemfile\.lock|composer\.lock)$' || continue
        n=$((n + 1))
        for fmt in cyclonedx spdx; do
            out="$T/doc$n.$fmt.json"
            "$MRUN" sbom --format "$fmt" -o "$out" "$dir" >"$T/out" 2>&1 || fail "mrun sbom $fmt $dir"
            "$MRUN" sbom --format "$fmt" "$dir" 2>/dev/null | cmp -s - "$out" || fail "$dir: two runs differ ($fmt)"
        done
        echo "$dir" >>"$T/dirs"
    done
    [ "$n" -ge 10 ] || fail "only $n sample lockfile directories found"
    "$PY" "$DATA/sbom/validate.py" "$DATA/schemas" "$T"/doc*.json >"$T/out" 2>&1 || fail "schema validation"
    echo "sbom_schema: $n lockfile directories, $((n * 2)) documents valid"
    # the validator is no rubber stamp: a broken license id and an unknown relationship type are rejected
    "$PY" - "$T/doc$n.cyclonedx.json" "$T/doc$n.spdx.json" "$T" <<'PY' || fail "could not tamper"
import json, sys
cdx = json.load(open(sys.argv[1])); cdx["components"][0]["licenses"] = [{"license": {"id": "Not-A-License"}}]
json.dump(cdx, open(sys.argv[3] + "/bad.cdx.json", "w"))
spdx = json.load(open(sys.argv[2])); spdx["relationships"][0]["relationshipType"] = "USES"
json.dump(spdx, open(sys.argv[3] + "/bad.spdx.json", "w"))
PY
    for bad in "$T/bad.cdx.json" "$T/bad.spdx.json"; do
        "$PY" "$DATA/sbom/validate.py" "$DATA/schemas" "$bad" >"$T/out" 2>&1 && fail "$bad passed validation"
    done
    # the big lockfile: the same components as cyclonedx-npm listed (path, purl, name@version, scope, dev, licenses)
    "$MRUN" sbom -o "$T/big.cdx.json" "$T/npm-big" >"$T/out" 2>&1 || fail "mrun sbom npm-big"
    "$PY" "$DATA/sbom/components.py" "$T/big.cdx.json" >"$T/mrun.tsv" || fail "components.py"
    diff "$DATA/sbom/npm-big/cyclonedx-npm.components.tsv" "$T/mrun.tsv" >"$T/out" ||
        fail "components differ from cyclonedx-npm's list (< cyclonedx-npm, > mrun)"
    echo "sbom_schema: npm-big: $(wc -l <"$T/mrun.tsv") components, as cyclonedx-npm lists them"
    # a lockfile that does not parse is named on stderr and left out; the others still make the document
    mkdir -p "$T/broken"
    printf '{"lockfileVersion": 3, "packages": {' >"$T/broken/package-lock.json"
    printf 'requests==2.31.0\n' >"$T/broken/requirements.txt"
    "$MRUN" sbom --format spdx -o "$T/broken.spdx.json" "$T/broken" 2>"$T/out" || fail "a broken lockfile failed the run"
    grep -q "mrun sbom: skipped package-lock.json" "$T/out" || fail "the broken lockfile was not named"
    grep -q '"referenceLocator": "pkg:pypi/requests@2.31.0"' "$T/broken.spdx.json" || fail "requirements.txt left out"
    "$MRUN" sbom --format swid "$T/broken" >"$T/out" 2>&1 && fail "--format swid accepted"
    SOURCE_DATE_EPOCH=yesterday "$MRUN" sbom "$T/broken" >"$T/out" 2>&1 && fail "a bad SOURCE_DATE_EPOCH accepted"
    # the graph: every component but the root is reached from the root
    "$PY" - "$T/big.cdx.json" <<'PY' || fail "dependency graph"
import json, sys
bom = json.load(open(sys.argv[1]))
graph = {d["ref"]: d.get("dependsOn", []) for d in bom["dependencies"]}
seen, todo = set(), [bom["metadata"]["component"]["bom-ref"]]
while todo:
    r = todo.pop()
    if r not in seen:
        seen.add(r)
        todo += graph.get(r, [])
missing = [c["bom-ref"] for c in bom["components"] if c["bom-ref"] not in seen]
if missing:
    sys.exit("not reachable from the root: %s" % missing[:5])
PY
    ;;
cdxnpm)
    PY=$(find_python) || PY=python3
    CDX=${MRUN_CDX_NPM:-/tmp/cdx-npm/node_modules/.bin/cyclonedx-npm}
    if [ ! -x "$CDX" ]; then
        command -v npm >/dev/null 2>&1 || { echo "SKIP: npm is not installed"; exit 77; }
        timeout 300 npm install --prefix /tmp/cdx-npm --no-audit --no-fund @cyclonedx/cyclonedx-npm >"$T/out" 2>&1 ||
            { echo "SKIP: could not install @cyclonedx/cyclonedx-npm (registry unreachable?)"; exit 77; }
    fi
    big_lockfile
    (cd "$T/npm-big" && "$CDX" --ignore-npm-errors --package-lock-only --flatten-components --output-reproducible \
        --spec-version 1.6 --output-format JSON --output-file "$T/cdx.json") >"$T/out" 2>&1 || fail "cyclonedx-npm"
    "$MRUN" sbom -o "$T/mrun.json" "$T/npm-big" >"$T/out" 2>&1 || fail "mrun sbom"
    "$PY" "$DATA/sbom/components.py" "$T/cdx.json" >"$T/cdx.tsv" && "$PY" "$DATA/sbom/components.py" "$T/mrun.json" >"$T/mrun.tsv" ||
        fail "components.py"
    diff "$T/cdx.tsv" "$T/mrun.tsv" >"$T/out" || fail "components differ (< cyclonedx-npm, > mrun)"
    # the same graph: each component's dependencies, keyed by npm path (the bom-refs differ by design)
    "$PY" - "$T/cdx.json" "$T/mrun.json" >"$T/out" <<'PY' || fail "dependency graphs differ"
import json, sys
def graph(path):
    bom = json.load(open(path))
    key = {bom["metadata"]["component"]["bom-ref"]: "<root>"}
    for c in bom["components"]:
        key[c["bom-ref"]] = next(p["value"] for p in c["properties"] if p["name"] == "cdx:npm:package:path")
    return {key[d["ref"]]: sorted(key[x] for x in d.get("dependsOn", [])) for d in bom["dependencies"]}
a, b = graph(sys.argv[1]), graph(sys.argv[2])
bad = [k for k in set(a) | set(b) if a.get(k) != b.get(k)]
for k in sorted(bad)[:10]:
    print(k, "cyclonedx-npm:", a.get(k), "mrun:", b.get(k))
sys.exit(1 if bad else 0)
PY
    echo "sbom_cdxnpm: $(wc -l <"$T/mrun.tsv") components and their graph, the same as cyclonedx-npm $("$CDX" --version 2>/dev/null)"
    ;;
stage)
    unshare -U true 2>/dev/null || [ "$(id -u)" = 0 ] || exit 77
    mkdir -p "$T/app/.mrun"
    cp "$DATA/deps/js/npm-v3/package-lock.json" "$DATA/deps/js/npm-v3/package.json" "$T/app/" || fail "sample"
    cat >"$T/app/.mrun/pipeline.yml" <<'YML'
stages:
  sbom:
    steps:
      - uses: sbom
        with: {output: reports/deps}
      - run: |
          test -s reports/deps.cdx.json && test -s reports/deps.spdx.json &&
            grep -q '"bomFormat": "CycloneDX"' reports/deps.cdx.json &&
            grep -q '"spdxVersion": "SPDX-2.3"' reports/deps.spdx.json && echo sbom-files-ok
YML
    "$MRUN" run "$T/app" >"$T/out" 2>&1 || fail "pipeline failed"
    for want in "sbom: wrote reports/deps.cdx.json (CycloneDX 1.6)" "sbom: wrote reports/deps.spdx.json (SPDX 2.3)" \
        "components: npm" "sbom-files-ok"; do
        grep -q "$want" "$T/out" || fail "output lacks '$want'"
    done
    # an output path through a symlink that an earlier step planted is refused, and nothing is written outside
    escape="$T/escape"
    mkdir -p "$escape"
    cat >"$T/app/.mrun/pipeline.yml" <<YML
stages:
  sbom:
    steps:
      - run: ln -s $escape evil && echo planted
      - {uses: sbom, with: {output: evil/sbom, format: cyclonedx}}
YML
    "$MRUN" run "$T/app" >"$T/out" 2>&1 && fail "an output through a symlink passed"
    grep -q planted "$T/out" || fail "the symlink was not planted"
    grep -q "sbom: output: 'evil/sbom.cdx.json'" "$T/out" || fail "the stage did not fail on the symlink"
    [ -z "$(ls -A "$escape")" ] || fail "the stage wrote through a symlink: $(ls "$escape")"
    ;;
*)
    echo "unknown case $CASE" >&2
    exit 2
    ;;
esac
exit 0
