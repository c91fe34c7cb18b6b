#!/bin/sh
# checks_test.sh MRUN CASE - each check stage (`uses:`) through `mrun run` on a small sample app: the exit status,
# the SARIF valid against the SARIF 2.1.0 JSON schema (tests/data/sarif, python3-jsonschema) with the expected
# ruleId, level and location; and per check, a symlink a step plants in the workspace pointing outside it (at a key,
# verify=False, an untested function, a 100% coverage report, a GPL package) is skipped and never followed.
# Exit 0 pass, 1 fail, 77 skip (no user namespaces, no python3-jsonschema, a check not built yet).
set -u
MRUN=$1
CASE=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
SCHEMA=$SRC/tests/data/sarif/sarif-schema-2.1.0.json
T=$(mktemp -d /tmp/mrun-checks.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() {
    echo "FAIL checks_$CASE: $*" >&2
    echo "--- output ---" >&2
    cat "$T/out" >&2
    exit 1
}
unshare -U true 2>/dev/null || [ "$(id -u)" = 0 ] || exit 77
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3 # Debian's, where python3-jsonschema lives
$PY -c 'import jsonschema' 2>/dev/null || { echo "SKIP: python3-jsonschema is not installed" >&2; exit 77; }

APP=$T/app
OUT=$T/outside # never part of the workspace
mkdir -p "$APP/.mrun" "$APP/src" "$OUT"
: >"$T/out"

# pipeline USES WITH [PRE]: stage `check` runs the check as is (its verdict is the pipeline's exit status); stage
# `report` runs it again with continue-on-error and keeps the SARIF, which `dump` prints (a failed stage keeps no
# artifacts). PRE is a shell command run first in both stages (planting a symlink, producing a report).
pipeline() {
    pre=""
    [ -n "${3:-}" ] && pre="      - run: '$3'"
    cat >"$APP/.mrun/pipeline.yml" <<YML
stages:
  check:
    steps:
$pre
      - uses: $1
        with: {$2}
  report:
    steps:
$pre
      - {uses: $1, with: {sarif: out.sarif, $2}, continue-on-error: true}
    artifacts: [out.sarif]
  dump: {needs: [report], steps: [{run: cat out.sarif}]}
YML
    sed -i 's/{sarif: out.sarif, }/{sarif: out.sarif}/; /^$/d' "$APP/.mrun/pipeline.yml"
}

# run WANT_EXIT: runs the pipeline, checks the exit status, extracts the SARIF the dump stage printed
run() {
    "$MRUN" run --data "$T/data" "$APP" >"$T/out" 2>&1
    rc=$?
    grep -q "AddressSanitizer\|runtime error:" "$T/out" && fail "a sanitizer report"
    grep -q "unknown.*uses\|uses.*unknown\|not a built-in" "$T/out" && { echo "SKIP: check not built" >&2; exit 77; }
    [ "$rc" = "$1" ] || fail "exit $rc, want $1"
    sed -n 's/^  \[dump\] //p' "$T/out" | sed '1d;$d' >"$T/out.sarif"
}

# sarif EXPECT...: the SARIF is valid 2.1.0 and has, for each EXPECT "ruleId level uri line" (line 0: any, '-' for
# none expected), a matching result; "!text" means no result's uri contains text; "#N" means exactly N results.
sarif() {
    $PY - "$SCHEMA" "$T/out.sarif" "$@" >"$T/sarif.err" 2>&1 <<'PYEOF' || { cat "$T/sarif.err" >>"$T/out"; fail "SARIF check"; }
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
doc = json.load(open(sys.argv[2]))
jsonschema.Draft4Validator(schema).validate(doc)
assert doc["version"] == "2.1.0", doc["version"]
results = doc["runs"][0]["results"]
def where(r):
    loc = r["locations"][0]["physicalLocation"]
    return loc["artifactLocation"]["uri"], loc.get("region", {}).get("startLine", 0)
got = [(r["ruleId"], r.get("level", "warning")) + where(r) for r in results]
for want in sys.argv[3:]:
    if want.startswith("!"):
        bad = [g for g in got if want[1:] in g[2]]
        assert not bad, "unexpected result for %s: %s" % (want[1:], bad)
    elif want.startswith("#"):
        assert len(got) == int(want[1:]), "want %s results, got %s" % (want[1:], got)
    else:
        rule, level, uri, line = want.split()
        ok = [g for g in got if g[0] == rule and g[1] == level and g[2] == uri and (line == "0" or g[3] == int(line))]
        assert ok, "no %s in %s" % (want, got)
print("sarif ok:", len(got), "results")
PYEOF
}

KEY='sk_live_51Mx9QpLk3Vb7Rt2Yh8Nc4Ze6Wu0JaQ'

case "$CASE" in
secretscan)
    printf 'import os\nSTRIPE = "%s"\n' "$KEY" >"$APP/src/pay.py"
    pipeline secret-scan ""
    run 1
    grep -q "pay.py:2:" "$T/out" || fail "the log lacks file:line"
    grep -q "$KEY" "$T/out" && fail "the whole key reached the log"
    grep -q "$KEY" "$T/out.sarif" && fail "the whole key reached the SARIF"
    sarif "stripe-secret-key error src/pay.py 2" "#1"
    ;;
lint)
    printf 'import requests\nr = requests.get(URL, verify=False)\n' >"$APP/src/net.py"
    mkdir -p "$APP/analysis"
    cp "$SRC/tests/data/notebook/prices.ipynb" "$APP/analysis/" # code cells: verify=False on the notebook's line 40
    pipeline llm-lint ""
    run 1
    grep -q "net.py:2:.*py-tls-verify-disabled" "$T/out" || fail "no finding with file:line and rule"
    sarif "py-tls-verify-disabled error src/net.py 2" "py-tls-verify-disabled error analysis/prices.ipynb 40" \
        "py-eval-input error analysis/prices.ipynb 65"
    ;;
testpresence)
    printf 'def total(xs):\n    return sum(xs)\n\ndef average(xs):\n    return total(xs) / len(xs)\n' >"$APP/src/stats.py"
    mkdir -p "$APP/src/tests"
    printf 'from stats import total\n\ndef test_total():\n    assert total([1, 2]) == 3\n' >"$APP/src/tests/test_stats.py"
    pipeline test-presence ""
    run 1
    sarif "test-function-untested warning src/stats.py 4" "#1"
    ;;
coverage | coverage_pass)
    # a real report: the test step runs coverage.py over a small app inside the stage
    mkdir -p "$APP/app" "$APP/tests"
    : >"$APP/app/__init__.py"
    : >"$APP/tests/__init__.py"
    printf 'def add(a, b):\n    return a + b\n\n\ndef unused(x):\n    if x:\n        return 1\n    return 2\n' >"$APP/app/calc.py"
    printf 'import unittest\nfrom app.calc import add\n\n\nclass T(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(add(1, 2), 3)\n' \
        >"$APP/tests/test_calc.py"
    min=80 want=1
    [ "$CASE" = coverage_pass ] && min=40 want=0
    pipeline coverage-gate "report: coverage.xml, min: $min" \
        "python3 -m coverage run --source=app -m unittest && python3 -m coverage xml -o coverage.xml"
    run $want
    grep -q "Ran 1 test" "$T/out" || fail "the tests did not run"
    grep -q "coverage: 50.0% of lines (3 of 6)" "$T/out" || fail "wrong total (coverage.py: 3 of 6 statements)"
    if [ "$CASE" = coverage ]; then
        grep -q "FAILED: add tests for app/calc.py (50.0%); coverage 50.0% is below min 80%" "$T/out" ||
            fail "no verdict with a fix"
        sarif "coverage-below-min error coverage.xml 0" "coverage-file-low note app/calc.py 0"
    else
        grep -q "passed: 50.0% meets min 40%" "$T/out" || fail "no passing verdict"
        sarif "#0"
    fi
    ;;
license)
    mkdir -p "$APP/node_modules/gplpkg"
    printf '{"name": "app", "version": "1.0.0", "dependencies": {"gplpkg": "1.0.0"}}\n' >"$APP/package.json"
    printf '{"name": "gplpkg", "version": "1.0.0", "license": "GPL-3.0-only"}\n' >"$APP/node_modules/gplpkg/package.json"
    pipeline license-check ""
    run 1
    grep -q "GPL-3.0-only (gplpkg@1.0.0) is denied" "$T/out" || fail "the log does not name the package and license"
    sarif "license-denied error node_modules/gplpkg/package.json 1" "project-license-missing note LICENSE 0" "#2"
    ;;
symlink_secrets)
    printf 'STRIPE = "%s"\n' "$KEY" >"$OUT/key.py"
    printf 'print("clean")\n' >"$APP/src/ok.py"
    pipeline secret-scan "" "ln -s $OUT/key.py src/leak.py"
    run 0
    grep -q "skipped src/leak.py (symlink)" "$T/out" || fail "the symlink is not reported as skipped"
    sarif "#0" "!leak.py"
    ;;
symlink_lint)
    printf 'import requests\nrequests.get(u, verify=False)\n' >"$OUT/net.py"
    printf 'print("clean")\n' >"$APP/src/ok.py"
    pipeline llm-lint "" "ln -s $OUT/net.py src/net.py && ln -s $OUT src/outside"
    run 0
    grep -q "skipped src/net.py (symlink)" "$T/out" || fail "the symlink is not reported as skipped"
    grep -q "skipped src/outside (symlink)" "$T/out" || fail "the directory symlink is not reported as skipped"
    sarif "#0" "!net.py"
    ;;
symlink_tests)
    printf 'def exported(x):\n    return x\n' >"$OUT/ext.py"
    pipeline test-presence "" "ln -s $OUT/ext.py src/ext.py"
    run 0
    # test-presence counts skipped files but does not name them (its API takes no skip callback)
    grep -q "0 findings (0 suppressed), 1 file scanned, 1 skipped" "$T/out" || fail "the symlink is not counted as skipped"
    sarif "#0" "!ext.py"
    ;;
symlink_coverage)
    # the report path is a symlink to a perfect report outside: refused, so the gate fails instead of passing
    printf '<coverage line-rate="1" lines-valid="10" lines-covered="10"/>\n' >"$OUT/coverage.xml"
    pipeline coverage-gate "report: coverage.xml, min: 80" "ln -s $OUT/coverage.xml coverage.xml"
    "$MRUN" run --data "$T/data" "$APP" >"$T/out" 2>&1 && fail "a symlinked report passed the gate"
    grep -q "coverage-gate: report 'coverage.xml'.*symlinks and paths out of the workspace are refused" "$T/out" ||
        fail "no refusal naming the report"
    grep -q "coverage: 100" "$T/out" && fail "the outside report was read"
    # a symlinked directory on the way is refused too
    mkdir -p "$OUT/r" && cp "$OUT/coverage.xml" "$OUT/r/"
    pipeline coverage-gate "report: r/coverage.xml, min: 80" "ln -s $OUT/r r"
    "$MRUN" run --data "$T/data" "$APP" >"$T/out" 2>&1 && fail "a report under a symlinked directory passed"
    grep -q "symlinks and paths out of the workspace are refused" "$T/out" || fail "no refusal for r/"
    ;;
symlink_license)
    mkdir -p "$OUT/gplpkg" "$APP/node_modules"
    printf '{"name": "app", "version": "1.0.0"}\n' >"$APP/package.json"
    printf '{"name": "gplpkg", "version": "1.0.0", "license": "GPL-3.0-only"}\n' >"$OUT/gplpkg/package.json"
    cp /usr/share/common-licenses/GPL-3 "$OUT/LICENSE" 2>/dev/null ||
        printf 'GNU GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007\n' >"$OUT/LICENSE"
    pipeline license-check "" "ln -s $OUT/gplpkg node_modules/gplpkg && ln -s $OUT/LICENSE LICENSE"
    run 0
    # not followed: the package behind the symlink is not an inventory entry, the project has no license file
    sed -n 's/^  \[check\] //p' "$T/out" | grep -v "step 1/2" | grep -v "skipped " | grep -q "gplpkg" && fail "the package behind the symlink was read"
    sarif "!gplpkg" "project-license-missing note LICENSE 0" "#1" # the GPL text behind LICENSE was not read
    # the license check does not name what it skipped yet; say so rather than pass silently
    grep -q "skipped.*gplpkg.*symlink" "$T/out" || fail "license-check does not report the skipped symlink"
    ;;
cli_coverage)
    # `mrun coverage` runs the same gate by hand: exit 1 below --min or --baseline, 0 above, 2 on a bad report
    D=$SRC/tests/data/coverage
    "$MRUN" coverage "$D/python-cobertura.xml" --min 80 >"$T/out" 2>&1
    [ $? = 1 ] || fail "72.4% passed --min 80"
    grep -q "FAILED: add tests for app/store.py (64.7%); coverage 72.4% is below min 80%" "$T/out" || fail "no verdict"
    "$MRUN" coverage "$D/node-lcov.info" --min 70 --baseline 74 --tolerance 1 >"$T/out" 2>&1 || fail "73.3% failed"
    "$MRUN" coverage "$D/node-lcov.info" --baseline 75% >"$T/out" 2>&1 && fail "a drop passed"
    grep -q "dropped below the default branch's 75.0%" "$T/out" || fail "no drop verdict"
    "$MRUN" coverage "$D/node-lcov.info" --json >"$T/out" 2>&1 || fail "--json"
    $PY -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["percent"] == 73.33 and len(d["files"]) == 3, d' \
        "$T/out" || fail "--json output"
    "$MRUN" coverage "$D/hostile/billion-laughs.xml" >"$T/out" 2>&1
    [ $? = 2 ] || fail "a billion laughs report was read"
    grep -q "billion-laughs.xml:2:1: DOCTYPE with an internal subset" "$T/out" || fail "no file:line:col refusal"
    "$MRUN" coverage --min 101 "$D/node-lcov.info" >"$T/out" 2>&1
    [ $? = 2 ] || fail "--min 101 accepted"
    ;;
*)
    echo "unknown case $CASE" >&2
    exit 2
    ;;
esac
echo "ok checks_$CASE"
