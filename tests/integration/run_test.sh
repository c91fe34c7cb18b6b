#!/bin/sh
# run_test.sh MRUN CASE - `mrun run` end to end on a small app: real embedded coordinator and runner, real
# sandboxes. Exit 0 pass, 1 fail, 77 skip (no user namespaces).
set -u
MRUN=$1
CASE=$2
T=$(mktemp -d /tmp/mrun-runtest.XXXXXX)
trap 'rm -rf "$T"' EXIT
fail() {
    echo "FAIL run_$CASE: $*" >&2
    echo "--- output ---" >&2
    cat "$T/out" >&2
    exit 1
}
unshare -U true 2>/dev/null || [ "$(id -u)" = 0 ] || exit 77

mkdir -p "$T/app/.mrun" "$T/app/src"
echo 'print("hello from app")' >"$T/app/src/app.py"
printf 'build/\n' >"$T/app/.gitignore"
mkdir -p "$T/app/build" && echo junk >"$T/app/build/ignored.txt"

case "$CASE" in
dag)
    cat >"$T/app/.mrun/pipeline.yml" <<'YML'
name: dag
env: {GREETING: hi}
stages:
  a:
    steps:
      - run: python3 src/app.py; echo "GREETING=$GREETING"; test ! -e build/ignored.txt && echo "ignored file not packed"
  b: {needs: [a], steps: [{run: echo b-ran}]}
  c: {needs: [a], steps: [{run: echo c-ran}]}
  d:
    needs: [b, c]
    steps:
      - uses: require-files
        with: {paths: src/app.py}
  pr-only: {needs: [d], if: "event == 'pull_request'", steps: [{run: echo should-not-run}]}
YML
    "$MRUN" run "$T/app" >"$T/out" 2>&1
    rc=$?
    [ $rc = 0 ] || fail "exit $rc, want 0"
    for want in "hello from app" "GREETING=hi" "ignored file not packed" "b-ran" "c-ran" "require-files: ok" \
        "pr-only skipped" "passed"; do
        grep -q "$want" "$T/out" || fail "output lacks '$want'"
    done
    grep -q should-not-run "$T/out" && fail "a stage whose if: is false ran"
    # the same app as a pull request runs the conditional stage
    "$MRUN" run --event pull_request "$T/app" >"$T/out" 2>&1 || fail "pull_request run failed"
    grep -q should-not-run "$T/out" || fail "pr-only did not run for a pull_request"
    ;;
fail)
    cat >"$T/app/.mrun/pipeline.yml" <<'YML'
stages:
  test:
    retry: 1
    steps:
      - {run: 'echo soft; exit 2', continue-on-error: true}
      - run: echo attempt; exit 7
  after: {needs: [test], steps: [{run: echo after-ran}]}
  cleanup: {needs: [test], if: failure(), steps: [{run: echo cleanup-ran}]}
YML
    "$MRUN" run "$T/app" >"$T/out" 2>&1
    rc=$?
    [ $rc = 1 ] || fail "exit $rc, want 1 for a failed pipeline"
    [ "$(grep -c '^  \[test\] attempt' "$T/out")" = 2 ] || fail "retry: 1 should run the stage twice"
    grep -q after-ran "$T/out" && fail "a stage after a failed need ran"
    grep -q cleanup-ran "$T/out" || fail "the failure() stage did not run"
    grep -q "test FAILED" "$T/out" || fail "no FAILED line"
    ;;
badfile)
    printf 'stages:\n  a:\n    need: [b]\n    steps: [{run: "true"}]\n' >"$T/app/.mrun/pipeline.yml"
    "$MRUN" run "$T/app" >"$T/out" 2>&1
    rc=$?
    [ $rc != 0 ] || fail "a bad pipeline file was accepted"
    grep -q "pipeline.yml:3:5: .*'need'.*did you mean 'needs'" "$T/out" || fail "no file:line:col error with a hint"
    printf 'stages:\n  a: {if: "evnt == 1", steps: [{run: "true"}]}\n' >"$T/app/.mrun/pipeline.yml"
    "$MRUN" run "$T/app" >"$T/out" 2>&1 && fail "a bad if: was accepted"
    grep -q "pipeline.yml:2:.*event" "$T/out" || fail "no position or hint for a bad if:"
    ;;
secrets)
    # an embedded run has no secret store; env from the file still reaches every step, nothing else does
    cat >"$T/app/.mrun/pipeline.yml" <<'YML'
stages:
  env:
    env: {STAGE_VAR: x}
    steps:
      - run: 'env | sort; test -z "${HOST_SECRET:-}"'
YML
    HOST_SECRET=s3cr3t "$MRUN" run "$T/app" >"$T/out" 2>&1 || fail "run failed"
    grep -q "STAGE_VAR=x" "$T/out" || fail "stage env missing"
    grep -q "CI=true" "$T/out" || fail "CI=true missing"
    grep -q "s3cr3t" "$T/out" && fail "the host environment leaked into a step"
    ;;
artifacts)
    cat >"$T/app/.mrun/pipeline.yml" <<'YML'
stages:
  build:
    steps:
      - run: mkdir -p dist/sub && echo binary > dist/app.bin && echo deep > dist/sub/x.txt && echo report > junit.xml
    artifacts: [dist/, junit.xml]
  test:
    needs: [build]
    steps:
      - run: cat dist/app.bin dist/sub/x.txt junit.xml
  unrelated:
    steps:
      - run: test ! -e dist/app.bin && echo "no artifacts without needs"
YML
    "$MRUN" run "$T/app" >"$T/out" 2>&1 || fail "exit $?, want 0"
    for want in "\[test\] binary" "\[test\] deep" "\[test\] report" "no artifacts without needs"; do
        grep -q "$want" "$T/out" || fail "output lacks '$want'"
    done
    ;;
hello)
    # the sample app the README and the quickstart use passes its own pipeline, and as a pull request too
    cp -r "$(dirname "$0")/../../templates/hello/." "$T/app/" || fail "copy the sample"
    "$MRUN" run "$T/app" >"$T/out" 2>&1 || fail "the sample app's pipeline failed"
    grep -q "Ran 5 tests" "$T/out" || fail "the sample's unit tests did not run"
    grep -q "smoke: 1699" "$T/out" || fail "the sample's build did not run"
    "$MRUN" run --event pull_request "$T/app" >"$T/out" 2>&1 || fail "the sample as a pull request failed"
    grep -q "a preview would start here" "$T/out" || fail "the pull-request stage did not run"
    ;;
secretscan)
    # the secret-scan built-in blocks an app with a planted key, says how to fix it, writes SARIF; an allow
    # comment with a reason lets it through and shows it as suppressed
    cat >"$T/app/.mrun/pipeline.yml" <<'YML'
stages:
  checks:
    steps:
      - uses: secret-scan
        with: {sarif: reports/secrets.sarif}
    artifacts: [reports/]
  test: {needs: [checks], steps: [{run: echo tests-ran}]}
YML
    printf 'import os\nSTRIPE = "sk_live_51Mx9QpLk3Vb7Rt2Yh8Nc4Ze6Wu0JaQ"\n' >"$T/app/src/pay.py"
    "$MRUN" run "$T/app" >"$T/out" 2>&1 && fail "a planted key passed the secret scan"
    grep -q "pay.py:2:" "$T/out" || fail "the report lacks file:line"
    grep -q "sk_l…" "$T/out" || fail "the report lacks the redacted value"
    grep -q "sk_live_51Mx9QpLk3Vb7Rt2Yh8Nc4Ze6Wu0JaQ" "$T/out" && fail "the report printed the whole secret"
    grep -q "tests-ran" "$T/out" && fail "stages after a failed scan ran"
    printf 'import os\nSTRIPE = "sk_live_51Mx9QpLk3Vb7Rt2Yh8Nc4Ze6Wu0JaQ"  # mrun:allow stripe-secret-key test fixture, revoked\n' \
        >"$T/app/src/pay.py"
    rule=$(grep -o "critical [a-z0-9-]*\|high [a-z0-9-]*" "$T/out" | head -1 | cut -d' ' -f2)
    sed -i "s/mrun:allow stripe-secret-key/mrun:allow $rule/" "$T/app/src/pay.py"
    "$MRUN" run "$T/app" >"$T/out" 2>&1 || fail "an allowed finding still failed the scan (rule $rule)"
    grep -q "suppressed" "$T/out" || fail "the suppressed finding is not shown as suppressed"
    grep -q "tests-ran" "$T/out" || fail "the stage after the scan did not run"
    ;;
lint)
    # llm-lint blocks verify=False with a fix hint and passes once it is fixed
    cat >"$T/app/.mrun/pipeline.yml" <<'YML'
stages:
  lint:
    steps:
      - uses: llm-lint
        with: {sarif: reports/lint.sarif}
  test: {needs: [lint], steps: [{run: echo tests-ran}]}
YML
    printf 'import requests\n\ndef fetch(url):\n    return requests.get(url, verify=False)\n' >"$T/app/src/net.py"
    "$MRUN" run "$T/app" >"$T/out" 2>&1 && fail "verify=False passed the lint"
    grep -q "net.py:4:.*py-tls-verify-disabled" "$T/out" || fail "no finding with file:line and rule"
    grep -qi "verify=" "$T/out" || fail "no fix hint"
    grep -q "tests-ran" "$T/out" && fail "the stage after a failed lint ran"
    printf 'import requests\n\ndef fetch(url):\n    return requests.get(url, timeout=10)\n' >"$T/app/src/net.py"
    "$MRUN" run "$T/app" >"$T/out" 2>&1 || fail "the fixed app still fails the lint"
    grep -q "tests-ran" "$T/out" || fail "the stage after the lint did not run"
    ;;
testpresence)
    # test-presence blocks an untested public function, naming it, and passes once a test names it
    cat >"$T/app/.mrun/pipeline.yml" <<'YML'
stages:
  tests-present: {steps: [{uses: test-presence}]}
YML
    printf 'def total(xs):\n    return sum(xs)\n\ndef average(xs):\n    return total(xs) / len(xs)\n' >"$T/app/src/stats.py"
    mkdir -p "$T/app/src/tests"
    printf 'from stats import total\n\ndef test_total():\n    assert total([1, 2]) == 3\n' >"$T/app/src/tests/test_stats.py"
    "$MRUN" run "$T/app" >"$T/out" 2>&1 && fail "an untested function passed test-presence"
    grep -q "stats.py:4:.*test-function-untested" "$T/out" || fail "no finding at the untested function"
    grep -q "value: average" "$T/out" || fail "the finding does not name the function"
    printf '\ndef test_average():\n    assert average([2, 4]) == 3\n' >>"$T/app/src/tests/test_stats.py"
    "$MRUN" run "$T/app" >"$T/out" 2>&1 || fail "a tested module still fails test-presence"
    ;;
pack)
    # the same tree packs to the same bytes whatever the mtimes, modes, creation order or output kind
    mkdir -p "$T/a/d" "$T/b"
    echo one >"$T/a/d/1.txt" && echo two >"$T/a/2.txt" && ln -s d/1.txt "$T/a/link"
    echo two >"$T/b/2.txt" && mkdir "$T/b/d" && echo one >"$T/b/d/1.txt" && ln -s d/1.txt "$T/b/link"
    touch -d 2001-02-03 "$T/b/2.txt" "$T/b/d" && chmod 600 "$T/b/d/1.txt"
    "$MRUN" pack "$T/a" -o "$T/a.tgz" >"$T/out" 2>&1 || fail "pack a"
    "$MRUN" pack "$T/b" -o "$T/b.tgz" >>"$T/out" 2>&1 || fail "pack b"
    "$MRUN" pack "$T/a" -o - 2>>"$T/out" | cat >"$T/pipe.tgz" || fail "pack to a pipe"
    [ "$(sha256sum <"$T/a.tgz")" = "$(sha256sum <"$T/b.tgz")" ] || fail "two equal trees packed differently"
    [ "$(sha256sum <"$T/a.tgz")" = "$(sha256sum <"$T/pipe.tgz")" ] || fail "a pipe got other bytes than a file"
    grep -q "sha256:$(sha256sum <"$T/a.tgz" | cut -d' ' -f1)" "$T/out" || fail "the printed digest is wrong"
    echo changed >"$T/b/2.txt"
    "$MRUN" pack "$T/b" -o "$T/b.tgz" >>"$T/out" 2>&1 || fail "pack b again"
    [ "$(sha256sum <"$T/a.tgz")" != "$(sha256sum <"$T/b.tgz")" ] || fail "a changed file did not change the digest"
    echo keep >"$T/a/keep.tgz"
    "$MRUN" pack "$T/a" -o "$T/a/keep.tgz" >>"$T/out" 2>&1 && fail "packed into the tree itself"
    [ "$(cat "$T/a/keep.tgz")" = keep ] || fail "a refused pack truncated the file"
    ;;
provenance)
    # a stage with artifacts gets provenance the coordinator signs; `mrun verify` accepts it, and refuses a
    # changed artifact; the statement names the source archive mrun itself packed
    cat >"$T/app/.mrun/pipeline.yml" <<'YML'
name: prov
stages:
  build:
    steps:
      - run: mkdir -p dist && echo binary > dist/app.bin
    artifacts: [dist/]
YML
    "$MRUN" run "$T/app" >"$T/out" 2>&1 || fail "exit $?, want 0"
    out="$T/app/.mrun/out/build"
    [ -f "$out/dist/app.bin" ] && [ -f "$out/build.sigstore.json" ] && [ -f "$out/build.intoto.jsonl" ] ||
        fail "artifacts or attestations not written to .mrun/out"
    line=$(grep "mrun verify " "$T/out" | head -1)
    [ -n "$line" ] || fail "no verify line printed"
    # shellcheck disable=SC2086
    sh -c "$line" >>"$T/out" 2>&1 || fail "the printed verify command fails: $line"
    key="$T/app/.mrun/cache/run/keys/coordinator.pub"
    "$MRUN" verify "$out/dist/app.bin" --attestation "$out/build.intoto.jsonl" --key "$key" >>"$T/out" 2>&1 ||
        fail "the .intoto.jsonl does not verify"
    src=$("$MRUN" pack "$T/app" -o - 2>/dev/null | sha256sum | cut -d' ' -f1)
    "$MRUN" verify "$out/dist/app.bin" --attestation "$out/build.sigstore.json" --key "$key" \
        --expect-source "$src" --expect-builder mrun://localhost/mrun-run >>"$T/out" 2>&1 ||
        fail "source digest or builder id is not what mrun packed and ran"
    "$MRUN" verify "$out/dist/app.bin" --attestation "$out/build.sigstore.json" --key "$key" \
        --expect-source 0000000000000000000000000000000000000000000000000000000000000000 >>"$T/out" 2>&1 &&
        fail "a wrong expected source passed"
    echo tampered >>"$out/dist/app.bin"
    "$MRUN" verify "$out/dist/app.bin" --attestation "$out/build.sigstore.json" --key "$key" >>"$T/out" 2>&1 &&
        fail "a changed artifact verified"
    grep -q "not a subject" "$T/out" || fail "the refusal does not say the artifact is not a subject"
    [ ! -e "$T/app/.mrun/out/build/.mrun" ] || fail "attestations left under a hidden folder"
    # the stage's artifacts again as one reproducible tar.gz, a subject of the provenance too
    bundle="$out/build.tar.gz"
    [ "$(tar tzf "$bundle" | tr '\n' ' ')" = "dist/ dist/app.bin " ] || fail "the bundle holds $(tar tzf "$bundle" | tr '\n' ' ')"
    first=$(sha256sum <"$bundle")
    "$MRUN" verify "$bundle" --attestation "$out/build.sigstore.json" --key "$key" >>"$T/out" 2>&1 ||
        fail "the bundle is not a subject of the provenance"
    sleep 1.1 # other mtimes in the second run's workspace
    "$MRUN" run "$T/app" >"$T/out" 2>&1 || fail "second run: exit $?, want 0"
    [ "$(sha256sum <"$bundle")" = "$first" ] || fail "the same build gave another bundle digest"
    ;;
coverage_baseline)
    # no-drop compares with what the default branch last measured; only passing main pipelines move it
    cat >"$T/app/.mrun/pipeline.yml" <<'YML'
name: covapp
stages:
  test:
    steps:
      - run: sh write_lcov.sh
      - uses: coverage-gate
        with: {report: lcov.info, no-drop: true}
YML
    lcov() { # lcov COVERED: 10 lines, COVERED of them hit
        { echo "TN:"; echo "SF:app.js"; i=1; while [ $i -le 10 ]; do
              if [ $i -le "$1" ]; then echo "DA:$i,1"; else echo "DA:$i,0"; fi; i=$((i + 1)); done
          echo "end_of_record"; } | sed 's/^/echo "/; s/$/" >>lcov.info/' >"$T/app/write_lcov.sh"
        sed -i '1i rm -f lcov.info' "$T/app/write_lcov.sh"
    }
    lcov 8
    "$MRUN" run "$T/app" >"$T/out" 2>&1 || fail "first run (no baseline yet) failed"
    grep -q "no baseline" "$T/out" || fail "the first run does not say there is no baseline"
    lcov 6
    "$MRUN" run --ref refs/heads/feature "$T/app" >"$T/out" 2>&1 && fail "a drop from 80% to 60% passed"
    grep -q "80.0%" "$T/out" || fail "the refusal does not name the baseline"
    lcov 9
    "$MRUN" run --ref refs/heads/feature "$T/app" >"$T/out" 2>&1 || fail "a rise on a feature branch failed"
    lcov 7
    "$MRUN" run "$T/app" >"$T/out" 2>&1 && fail "a feature branch moved the baseline (70% passed against 90%?)"
    grep -q "80.0%" "$T/out" || fail "the baseline is not main's 80%"
    ;;
preview)
    # mrun run serves a preview through its own proxy until Ctrl-C; a script that does not wait gets told
    cat >"$T/app/pv_run_app.py" <<'PY'
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        body = b"ok\n" if self.path == "/healthz" else b"served by mrun run\n"
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", 8080), H).serve_forever()
PY
    cat >"$T/app/.mrun/pipeline.yml" <<'YML'
name: pvrun
stages:
  build: {steps: [{run: echo built}]}
  preview:
    needs: [build]
    steps:
      - uses: preview
        with: {command: "python3 pv_run_app.py", port: "8080", ttl: 1h}
YML
    "$MRUN" run --keep-previews "$T/app" >"$T/out" 2>&1 &
    pid=$!
    i=0; until grep -q "^preview of stage" "$T/out" || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
    url=$(grep -o 'http://[^ ]*' "$T/out" | head -1)
    [ -n "$url" ] || { kill -9 $pid; fail "no preview URL printed"; }
    [ "$(curl -sf "${url}x")" = "served by mrun run" ] || { kill -9 $pid; fail "the preview does not serve"; }
    kill -INT $pid
    wait $pid || fail "mrun run after Ctrl-C of its preview: exit $?, want 0 (the pipeline passed)"
    pgrep -f "^python3 pv_run_app.py" >/dev/null && fail "the preview's app outlived mrun run"
    "$MRUN" run --detach-previews "$T/app" >"$T/out" 2>&1 || fail "detached run failed"
    grep -q "stop now that mrun run exits" "$T/out" || fail "a detached run does not say its previews stop"
    pgrep -f "^python3 pv_run_app.py" >/dev/null && fail "a detached run left its preview's app running"
    ;;
preview_signed)
    # a tier-2 preview runs an artifact only when it matches the provenance the coordinator signed for it
    cat >"$T/app/.mrun/pipeline.yml" <<'YML'
name: signedpv
tier: 2
stages:
  build:
    steps:
      - run: mkdir -p dist && printf '%s\n' 'import http.server' 'class H(http.server.BaseHTTPRequestHandler):' '    def do_GET(self):' '        self.send_response(200); self.end_headers(); self.wfile.write(b"signed app")' 'http.server.HTTPServer(("127.0.0.1", 8080), H).serve_forever()' > dist/app.py
    artifacts: [dist/]
  preview:
    needs: [build]
    steps:
      - run: TAMPER
      - uses: preview
        with: {command: "python3 dist/app.py", port: "8080", health: /, artifact: dist/app.py}
YML
    sed -i 's/TAMPER/true/' "$T/app/.mrun/pipeline.yml"
    "$MRUN" run --detach-previews "$T/app" >"$T/out" 2>&1 || fail "a signed artifact's preview failed"
    grep -q "dist/app.py (sha256:[0-9a-f]*...) matches the provenance the coordinator signed" "$T/out" ||
        fail "the log does not say the artifact was verified"
    sed -i 's/      - run: true/      - run: echo "# changed after signing" >> dist\/app.py/' "$T/app/.mrun/pipeline.yml"
    "$MRUN" run --detach-previews "$T/app" >"$T/out" 2>&1 && fail "a changed artifact ran as a tier-2 preview"
    grep -q "refused dist/app.py: its sha256:.* is not the signed sha256" "$T/out" || fail "the refusal does not say why"
    sed -i 's/^tier: 2/tier: 0/' "$T/app/.mrun/pipeline.yml"
    "$MRUN" run --detach-previews "$T/app" >"$T/out" 2>&1 || fail "tier 0 refused an unverified artifact"
    grep -q "warning: dist/app.py is not verified" "$T/out" || fail "tier 0 does not warn about the unverified artifact"
    ;;
*)
    echo "unknown case $CASE" >&2
    exit 2
    ;;
esac
echo "run_$CASE: passed"
