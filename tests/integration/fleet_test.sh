#!/bin/sh
# fleet_test.sh MRUN CASE - a real coordinator and two runners as processes on 127.0.0.1, driven over the HTTP API:
# a runner killed mid-stage, a coordinator killed with work queued, a cancel. Exit 0 pass, 1 fail, 77 skip.
set -u
MRUN=$1
CASE=$2
command -v curl >/dev/null 2>&1 || exit 77
command -v python3 >/dev/null 2>&1 || exit 77
[ "$(id -u)" = 0 ] || unshare -U true 2>/dev/null || exit 77
T=$(mktemp -d /tmp/mrun-fleet.XXXXXX)
PIDS=""
cleanup() {
    for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
fail() {
    echo "FAIL fleet_$CASE: $*" >&2
    for f in "$T"/*.log; do
        echo "--- $f (last 15 lines) ---" >&2
        tail -15 "$f" >&2
    done
    exit 1
}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
NNG="tcp://127.0.0.1:$(port)"
HTTP_PORT=$(port)
API="http://127.0.0.1:$HTTP_PORT/api/v1"
RT=$("$MRUN" tokens create --role runner --data "$T/data") || fail "runner token"
AT=$("$MRUN" tokens create --role admin --data "$T/data") || fail "admin token"

start_coord() {
    # shellcheck disable=SC2086
    "$MRUN" coordinator --data "$T/data" --listen "$NNG" --http "127.0.0.1:$HTTP_PORT" --lease-timeout 2000 \
        ${COORD_EXTRA:-} >>"$T/coord.log" 2>&1 &
    COORD=$!
    PIDS="$PIDS $COORD"
    i=0
    until curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 100 ] || fail "coordinator did not come up"
        sleep 0.05
    done
}
start_runner() { # NAME
    "$MRUN" runner --coordinator "$NNG" --token "$RT" --name "$1" --work "$T/work-$1" --drain 0 >>"$T/$1.log" 2>&1 &
    eval "RUNNER_$1=$!"
    PIDS="$PIDS $!"
}
api() { curl -sf -H "Authorization: Bearer $AT" "$@"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
submit() { # PIPELINE_FILE -> id
    tar czf "$T/src.tgz" -C "$T/app" . || fail "tar"
    d=$(api -X PUT --data-binary @"$T/src.tgz" "$API/blobs" | json 'd["digest"]') || fail "blob upload"
    python3 -c 'import json,sys; print(json.dumps({"pipeline": open(sys.argv[1]).read(), "source": sys.argv[2]}))' \
        "$1" "$d" | api -X POST -H 'Content-Type: application/json' --data-binary @- "$API/pipelines" | json 'd["id"]'
}
state() { api "$API/pipelines/$1" | json 'd["state"]'; }
wait_done() { # ID SECONDS
    i=0
    while :; do
        s=$(state "$1")
        case "$s" in passed | failed | cancelled) echo "$s"; return ;; esac
        i=$((i + 1))
        [ $i -lt $(($2 * 10)) ] || { echo "timeout($s)"; return; }
        sleep 0.1
    done
}

mkdir -p "$T/app"
echo hello >"$T/app/file.txt"
[ "$CASE" = preview ] && COORD_EXTRA="--preview-listen 127.0.0.1:$(port) --preview-ttl-max 0=30m,2=1d"
start_coord
start_runner r1
start_runner r2

case "$CASE" in
kill_runner)
    cat >"$T/p.yml" <<'YML'
stages:
  slow: {steps: [{run: 'for i in 1 2 3 4 5 6 7 8; do echo "tick $i"; sleep 0.3; done'}]}
  after: {needs: [slow], steps: [{run: cat file.txt}]}
YML
    id=$(submit "$T/p.yml") || fail "submit"
    i=0
    until grep -q "running stage 'slow'" "$T/r1.log" "$T/r2.log" 2>/dev/null; do
        i=$((i + 1))
        [ $i -lt 100 ] || fail "no runner took the stage"
        sleep 0.05
    done
    # kill only once the first attempt's output is stored, so that its log can be checked afterwards
    i=0
    until api "$API/pipelines/$id/logs/slow" | json 'd["data"]' | grep -q "tick 1"; do
        i=$((i + 1))
        [ $i -lt 100 ] || fail "the first attempt's output never arrived"
        sleep 0.05
    done
    victim=$(grep -l "running stage 'slow'" "$T/r1.log" "$T/r2.log" | head -1)
    case "$victim" in *r1.log) kill -9 "$RUNNER_r1" ;; *) kill -9 "$RUNNER_r2" ;; esac
    s=$(wait_done "$id" 30)
    [ "$s" = passed ] || fail "pipeline ended '$s', want passed after the runner died"
    attempt=$(api "$API/pipelines/$id" | json '[x for x in d["stages"] if x["name"]=="slow"][0]["attempt"]')
    [ "$attempt" = 2 ] || fail "stage 'slow' took $attempt attempts, want 2 (one lost, one on the other runner)"
    api "$API/pipelines/$id/logs/slow" | json 'd["data"]' >"$T/slow.log"
    grep -q "tick 8" "$T/slow.log" || fail "the finished attempt's log is missing"
    grep -q -- "--- attempt 2 (attempt 1 was lost or failed) ---" "$T/slow.log" || fail "the lost attempt is not marked"
    [ "$(grep -c "tick 1" "$T/slow.log")" = 2 ] || fail "the lost attempt's log was not kept"
    grep -q "requeued 1 stage" "$T/coord.log" || fail "the coordinator did not say it requeued the stage"
    api "http://127.0.0.1:$HTTP_PORT/metrics" >"$T/metrics.txt" || fail "/metrics"
    grep -q '^mrun_pipelines{state="passed"} 1$' "$T/metrics.txt" || fail "/metrics lacks the passed pipeline"
    grep -q '^mrun_queue_depth 0$' "$T/metrics.txt" || fail "/metrics lacks the queue depth"
    grep -q '^mrun_dispatch_seconds_count 2$' "$T/metrics.txt" || fail "/metrics: want 2 dispatches observed (first attempts)"
    grep -q '^mrun_stage_duration_seconds_count 2$' "$T/metrics.txt" || fail "/metrics: want 2 stage results observed"
    ;;
restart_coord)
    cat >"$T/p.yml" <<'YML'
stages:
  a: {steps: [{run: 'sleep 0.1; echo a'}]}
  b: {needs: [a], steps: [{run: echo b}]}
YML
    ids=""
    n=0
    while [ $n -lt 50 ]; do
        n=$((n + 1))
        ids="$ids $(submit "$T/p.yml")" || fail "submit $n"
    done
    sleep 0.3
    kill -9 "$COORD"
    wait "$COORD" 2>/dev/null
    start_coord
    for id in $ids; do
        s=$(wait_done "$id" 120)
        [ "$s" = passed ] || fail "pipeline $id ended '$s' after the coordinator restart"
        for st in a b; do
            c=$(grep -c "pipeline $id stage '$st' attempt [0-9]* passed" "$T/coord.log")
            [ "$c" = 1 ] || fail "pipeline $id stage $st finished $c times, want exactly once"
        done
    done
    n=$(api "$API/pipelines?limit=100" | json 'len(d["pipelines"])')
    [ "$n" = 50 ] || fail "$n pipelines after the restart, want exactly 50"
    ;;
cancel)
    # a sleep length no other process on the machine uses, so pgrep below sees only this job's
    naps="60.$(($$ % 1000))$(date +%N | cut -c1-3)"
    printf 'stages:\n  long: {steps: [{run: "echo started; sleep %s"}]}\n  next: {needs: [long], steps: [{run: echo never}]}\n' \
        "$naps" >"$T/p.yml"
    id=$(submit "$T/p.yml") || fail "submit"
    i=0
    until [ "$(api "$API/pipelines/$id" | json '[x for x in d["stages"] if x["name"]=="long"][0]["state"]')" = running ]; do
        i=$((i + 1))
        [ $i -lt 100 ] || fail "the stage did not start"
        sleep 0.05
    done
    sleep 0.3
    pgrep -f "sleep $naps" >/dev/null 2>&1 || fail "the step's sleep is not visible before the cancel"
    t0=$(date +%s%N)
    api -X POST "$API/pipelines/$id/cancel" >/dev/null || fail "cancel request"
    s=$(wait_done "$id" 10)
    [ "$s" = cancelled ] || fail "pipeline ended '$s', want cancelled"
    i=0
    while pgrep -f "sleep $naps" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 40 ] || fail "the sandboxed step still runs 2 s after the cancel"
        sleep 0.05
    done
    ms=$((($(date +%s%N) - t0) / 1000000))
    [ "$ms" -lt 2500 ] || fail "cancel took $ms ms"
    ;;
secrets)
    printf 'sk-live-0123456789abcdef\n' | "$MRUN" secrets set API_KEY --data "$T/data" 2>/dev/null || fail "secrets set"
    cat >"$T/p.yml" <<'YML'
stages:
  uses-secret:
    secrets: [API_KEY]
    steps:
      - run: 'echo "key=$API_KEY"; printf "sk-live-"; sleep 0.2; printf "0123456789abcdef\n"; test -n "$API_KEY"'
  no-secret:
    steps:
      - run: 'test -z "${API_KEY:-}" && echo "no key here"'
YML
    id=$(submit "$T/p.yml") || fail "submit"
    s=$(wait_done "$id" 30)
    [ "$s" = passed ] || fail "pipeline ended '$s'"
    log=$(api "$API/pipelines/$id/logs/uses-secret" | json 'd["data"]')
    echo "$log" | grep -q "sk-live-0123456789abcdef" && fail "the secret value is in the stored log: $log"
    [ "$(echo "$log" | grep -c "^\*\*\*$")" = 1 ] || fail "the value printed in two pieces was not masked: $log"
    echo "$log" | grep -q 'key=\*\*\*' || fail "the secret was not replaced by ***: $log"
    api "$API/pipelines/$id/logs/no-secret" | json 'd["data"]' | grep -q "no key here" ||
        fail "a stage that did not ask for the secret got it"
    grep -rq "sk-live-0123456789abcdef" "$T"/*.log && fail "the secret is in a daemon log"
    ;;
busy)
    # A job that pins every core and fills its memory for twice the lease timeout must not lose its lease: the
    # heartbeat comes from the runner's own thread, outside the job's cgroup.
    cat >"$T/p.yml" <<'YML'
stages:
  hog:
    limits: {memory: 300M}
    steps:
      - run: |
          for i in 1 2 3 4 5 6 7 8; do (while :; do :; done) & done
          python3 -c "x = bytearray(240 << 20); import time; time.sleep(4); print('survived')"
YML
    id=$(submit "$T/p.yml") || fail "submit"
    s=$(wait_done "$id" 60)
    [ "$s" = passed ] || fail "pipeline ended '$s'"
    attempt=$(api "$API/pipelines/$id" | json 'd["stages"][0]["attempt"]')
    [ "$attempt" = 1 ] || fail "the busy stage was requeued ($attempt attempts): its heartbeat starved"
    grep -q "requeued" "$T/coord.log" && fail "the coordinator requeued a stage during the busy job"
    ;;
cli)
    # the people's commands against the fleet: submit --wait, status, logs
    mkdir -p "$T/app/.mrun"
    cat >"$T/app/.mrun/pipeline.yml" <<'YML'
name: cli-app
stages:
  build: {steps: [{run: 'echo built; cat file.txt'}]}
  test: {needs: [build], steps: [{run: echo tested}]}
YML
    export MRUN_SERVER="http://127.0.0.1:$HTTP_PORT" MRUN_TOKEN="$AT"
    "$MRUN" submit --wait "$T/app" >"$T/submit.log" 2>&1 || fail "submit --wait of a passing pipeline: exit $?"
    id=$(head -1 "$T/submit.log")
    grep -q "tested" "$T/submit.log" || fail "submit --wait did not show the logs"
    "$MRUN" status "$id" >"$T/status.log" 2>&1 || fail "status of a passed pipeline"
    grep -q "passed" "$T/status.log" || fail "status lacks 'passed'"
    "$MRUN" logs "$id" build >"$T/logs.log" 2>&1 || fail "logs"
    grep -q "hello" "$T/logs.log" || fail "logs lack the stage output"
    "$MRUN" logs "$id" nosuchstage >/dev/null 2>&1 && fail "logs of an unknown stage succeeded"
    sed -i 's/echo tested/exit 4/' "$T/app/.mrun/pipeline.yml"
    "$MRUN" submit --wait "$T/app" >"$T/submit2.log" 2>&1 && fail "submit --wait of a failing pipeline exited 0"
    printf 'stages:\n  a: {need: [b], steps: [{run: "true"}]}\n' >"$T/app/.mrun/pipeline.yml"
    "$MRUN" submit --no-wait "$T/app" >"$T/submit3.log" 2>&1 && fail "an invalid pipeline was accepted"
    grep -q "did you mean 'needs'" "$T/submit3.log" || fail "no useful error for an invalid pipeline"
    MRUN_TOKEN=wrong "$MRUN" status >/dev/null 2>&1 && fail "a wrong token was accepted"
    ;;
tls)
    # runners reach the coordinator over tls+tcp:// and verify its certificate; a runner trusting another CA
    # never gets in
    command -v openssl >/dev/null 2>&1 || exit 77
    for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    PIDS=""
    cd "$T" || fail "cd"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=mrun-test-ca \
        -keyout ca.key -out ca.pem >/dev/null 2>&1 || fail "make CA"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost -keyout srv.key \
        -out srv.csr >/dev/null 2>&1 || fail "make server key"
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >ext.cnf
    openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf \
        -out srv.pem >/dev/null 2>&1 || fail "sign server cert"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=other-ca \
        -keyout other.key -out other.pem >/dev/null 2>&1 || fail "make other CA"
    NNG="tls+tcp://127.0.0.1:$(port)"
    HTTP_PORT=$(port)
    # the HTTP API over HTTPS too, with the same certificate, verified by curl against the CA
    API="https://localhost:$HTTP_PORT/api/v1"
    api() { curl -sf --cacert "$T/ca.pem" -H "Authorization: Bearer $AT" "$@"; }
    "$MRUN" coordinator --data "$T/data" --listen "$NNG" --tls-cert srv.pem --tls-key srv.key \
        --http "127.0.0.1:$HTTP_PORT" --http-tls-cert srv.pem --http-tls-key srv.key --lease-timeout 2000 \
        >>"$T/coord.log" 2>&1 &
    PIDS="$PIDS $!"
    i=0
    until curl -sf --cacert "$T/ca.pem" "https://localhost:$HTTP_PORT/healthz" >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 100 ] || fail "TLS coordinator did not come up"
        sleep 0.05
    done
    "$MRUN" runner --coordinator "$NNG" --token "$RT" --name trusted --work "$T/w-t" --tls-ca ca.pem \
        --tls-server-name localhost >>"$T/trusted.log" 2>&1 &
    PIDS="$PIDS $!"
    "$MRUN" runner --coordinator "$NNG" --token "$RT" --name untrusting --work "$T/w-u" --tls-ca other.pem \
        --tls-server-name localhost >>"$T/untrusting.log" 2>&1 &
    PIDS="$PIDS $!"
    printf 'stages:\n  a: {steps: [{run: echo over-tls}]}\n' >"$T/p.yml"
    id=$(submit "$T/p.yml") || fail "submit"
    s=$(wait_done "$id" 30)
    [ "$s" = passed ] || fail "pipeline over TLS ended '$s'"
    api "$API/pipelines/$id/logs/a" | json 'd["data"]' | grep -q over-tls || fail "no log over TLS"
    names=$(api "$API/runners" | json '" ".join(sorted(r["name"] for r in d["runners"]))')
    [ "$names" = trusted ] || fail "registered runners: '$names', want only 'trusted'"
    curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1 && fail "plain HTTP still answered"
    curl -sf --cacert "$T/other.pem" "https://localhost:$HTTP_PORT/healthz" >/dev/null 2>&1 &&
        fail "curl trusting another CA accepted the API's certificate"
    ;;
ops)
    # the operator's commands against the fleet: retry (a stage gated on a secret set only before the retry, and
    # the stage it skipped), artifacts ls/get (sha256 checked), runners, cancel
    export MRUN_SERVER="http://127.0.0.1:$HTTP_PORT" MRUN_TOKEN="$AT"
    cat >"$T/p.yml" <<'YML'
stages:
  build:
    steps: [{run: 'mkdir -p out && printf "report of %s\n" "$(cat file.txt)" >out/report.txt'}]
    artifacts: [out/report.txt]
  check:
    needs: [build]
    secrets: [GATE]
    steps: [{run: 'test -n "${GATE:-}" && echo gate-open'}]
  after: {needs: [check], steps: [{run: echo after-ran}]}
YML
    id=$(submit "$T/p.yml") || fail "submit"
    s=$(wait_done "$id" 20)
    [ "$s" = failed ] || fail "pipeline ended '$s', want failed (GATE unset)"
    st() { api "$API/pipelines/$id" | json "' '.join(x['state']+':'+str(x['attempt']) for x in d['stages'])"; }
    [ "$(st)" = "passed:1 failed:1 skipped:0" ] || fail "stages after the first run: $(st)"
    "$MRUN" retry "$id" build >"$T/retry0.log" 2>&1 && fail "retry of a passed stage succeeded"
    grep -q "409\|conflict" "$T/retry0.log" || fail "retry of a passed stage: $(cat "$T/retry0.log")"
    "$MRUN" retry "$id" nosuch >/dev/null 2>&1 && fail "retry of an unknown stage succeeded"
    "$MRUN" retry >/dev/null 2>&1; [ $? = 2 ] || fail "retry without ID: want exit 2"
    printf 'open\n' | "$MRUN" secrets set GATE --data "$T/data" 2>/dev/null || fail "secrets set"
    "$MRUN" retry --wait "$id" >"$T/retry.log" 2>&1 || fail "retry --wait: exit $? $(cat "$T/retry.log")"
    grep -q "retried 2 stage" "$T/retry.log" || fail "retry did not say 2 stages: $(cat "$T/retry.log")"
    [ "$(st)" = "passed:1 passed:2 passed:1" ] || fail "stages after the retry: $(st)"
    api "$API/pipelines/$id/logs/after" | json 'd["data"]' | grep after-ran >/dev/null || fail "'after' did not run"
    "$MRUN" retry "$id" >/dev/null 2>&1 && fail "retry of a passed pipeline succeeded"
    # artifacts
    "$MRUN" artifacts ls "$id" >"$T/ls.log" 2>&1 || fail "artifacts ls"
    grep -q "out/report.txt" "$T/ls.log" || fail "artifacts ls lacks the report: $(cat "$T/ls.log")"
    want=$(printf 'report of hello\n' | sha256sum | cut -d' ' -f1)
    d=$("$MRUN" artifacts ls --json "$id" |
        json '[a["digest"] for a in d["artifacts"] if a["path"] == "out/report.txt"][0]')
    [ "$d" = "$want" ] || fail "artifact digest '$d', want $want"
    (cd "$T" && "$MRUN" artifacts get "$id" out/report.txt -o got.txt) || fail "artifacts get"
    [ "$(cat "$T/got.txt")" = "report of hello" ] || fail "artifact content: $(cat "$T/got.txt")"
    "$MRUN" artifacts get "$id" out/report.txt -o "$T/got.txt" 2>/dev/null && fail "get replaced a file without --force"
    "$MRUN" artifacts get "$id" out/report.txt >"$T/stdout.txt" || fail "artifacts get to stdout"
    cmp -s "$T/stdout.txt" "$T/got.txt" || fail "artifact on stdout differs"
    "$MRUN" artifacts get "$id" nosuch.txt -o "$T/x" 2>/dev/null && fail "get of an unknown artifact succeeded"
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $AT" "$API/blobs/$(echo "$d" | tr a-f A-F)")
    [ "$code" = 400 ] || fail "an upper-case digest got $code, want 400"
    code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $AT" \
        "$API/blobs/$(printf x | sha256sum | cut -c1-64)")
    [ "$code" = 404 ] || fail "an unknown digest got $code, want 404"
    blob=$(find "$T/data/blobs" -type f -name "${d#??}")
    [ -n "$blob" ] || fail "blob file not found"
    chmod u+w "$blob" && printf 'report of HELLO\n' >"$blob" # same size: only the sha256 tells
    "$MRUN" artifacts get "$id" out/report.txt -o "$T/bad.txt" 2>"$T/bad.log" && fail "a tampered blob was accepted"
    grep -q "digest mismatch" "$T/bad.log" || fail "no digest error: $(cat "$T/bad.log")"
    [ -e "$T/bad.txt" ] && fail "a tampered blob was written"
    # runners
    "$MRUN" runners >"$T/runners.log" 2>&1 || fail "runners"
    grep -q "^r1 .* yes " "$T/runners.log" && grep -q "^r2 .* yes " "$T/runners.log" ||
        fail "runners lacks r1/r2 online: $(cat "$T/runners.log")"
    [ "$("$MRUN" runners --json | json 'len(d["runners"])')" = 2 ] || fail "runners --json"
    # cancel of a long stage (a retry while it runs is refused), then a named retry of it and its waiting stage
    cat >"$T/long.yml" <<'YML'
stages:
  long: {steps: [{run: 'echo started; sleep 60'}]}
  next: {needs: [long], steps: [{run: 'true'}]}
YML
    id2=$(submit "$T/long.yml") || fail "submit long"
    long_running() { # ATTEMPT
        i=0
        until [ "$(api "$API/pipelines/$id2" | json 'd["stages"][0]["state"] + str(d["stages"][0]["attempt"])')" = \
            "running$1" ]; do
            i=$((i + 1))
            [ $i -lt 100 ] || fail "the long stage did not start (attempt $1)"
            sleep 0.05
        done
    }
    long_running 1
    "$MRUN" retry "$id2" >/dev/null 2>&1 && fail "retry of a running pipeline succeeded"
    "$MRUN" cancel "$id2" >"$T/cancel.log" 2>&1 || fail "cancel: $(cat "$T/cancel.log")"
    grep -q "cancelled 2 stage" "$T/cancel.log" || fail "cancel said: $(cat "$T/cancel.log")"
    s=$(wait_done "$id2" 10)
    [ "$s" = cancelled ] || fail "long pipeline ended '$s', want cancelled"
    "$MRUN" retry "$id2" next 2>"$T/retry2.log" && fail "retry of a stage whose need was cancelled succeeded"
    grep -q "retry that one" "$T/retry2.log" || fail "retry of 'next': $(cat "$T/retry2.log")"
    "$MRUN" retry "$id2" long >"$T/retry3.log" 2>&1 || fail "retry of 'long': $(cat "$T/retry3.log")"
    grep -q "retried 2 stage" "$T/retry3.log" || fail "retry of 'long' said: $(cat "$T/retry3.log")"
    long_running 2
    [ "$(api "$API/pipelines/$id2" | json 'd["state"]+" "+d["stages"][1]["state"]')" = "running waiting" ] ||
        fail "after the retry of 'long' its pipeline and 'next' are not running/waiting"
    "$MRUN" cancel "$id2" >"$T/cancel2.log" 2>&1 || fail "second cancel"
    s=$(wait_done "$id2" 10)
    [ "$s" = cancelled ] || fail "long pipeline ended '$s' after the second cancel"
    "$MRUN" cancel 0123456789abcdef0123456789abcdef >/dev/null 2>&1 && fail "cancel of an unknown id succeeded"
    "$MRUN" cancel nothex >/dev/null 2>&1; [ $? = 2 ] || fail "cancel of a bad id: want exit 2"
    grep -rq "$AT" "$T"/*.log && fail "the token was printed"
    ;;
preview)
    # through the proxy only; a second pipeline of the same pull request replaces the first preview; rm and the
    # TTL end one; no app process outlives its preview
    cat >"$T/app/pv_fleet_app.py" <<'PY'
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path == "/go":
            self.send_response(302); self.send_header("Location", "/page"); self.end_headers(); return
        body = b"ok\n" if self.path == "/healthz" else b"hello from the preview\n"
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
http.server.HTTPServer(("127.0.0.1", 8080), H).serve_forever()
PY
    pv_pipeline() { # TTL [VISIBILITY]
        printf 'name: pvapp\nstages:\n  preview:\n    steps:\n      - uses: preview\n        with: {command: "python3 pv_fleet_app.py", port: "8080", ttl: %s, visibility: %s}\n' "$1" "${2:-public}" >"$T/pv.yml"
    }
    submit_pr() { # REF -> id
        tar czf "$T/src.tgz" -C "$T/app" . || fail "tar"
        d=$(api -X PUT --data-binary @"$T/src.tgz" "$API/blobs" | json 'd["digest"]') || fail "blob upload"
        python3 -c 'import json,sys; print(json.dumps({"pipeline": open(sys.argv[1]).read(), "source": sys.argv[2],
                     "event": "pull_request", "ref": sys.argv[3]}))' "$T/pv.yml" "$d" "$1" |
            api -X POST -H 'Content-Type: application/json' --data-binary @- "$API/pipelines" | json 'd["id"]'
    }
    live_url() { # -> the URL of the only live preview
        MRUN_TOKEN=$AT "$MRUN" preview ls --json --server "http://127.0.0.1:$HTTP_PORT" | json '[p["url"] for p in d["previews"] if p["state"] == "live"][0]'
    }
    apps() { pgrep -fc "^python3 pv_fleet_app.py" || true; }
    pv_pipeline 60s
    id=$(submit_pr refs/pull/7/head) && [ "$(wait_done "$id" 60)" = passed ] || fail "the preview pipeline did not pass"
    url1=$(live_url) || fail "no live preview listed"
    [ "$(curl -sf "${url1}page")" = "hello from the preview" ] || fail "the preview did not serve its page through the proxy"
    curl -s -D - -o /dev/null "${url1}go" | grep -qi "^location: /preview/.*/page" || fail "the redirect was not rewritten"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "${url1%/preview/*}/preview/0123456789abcdef0123456789abcdef/")" = 404 ] ||
        fail "an unknown preview id was not 404"
    # extend, capped by the tier (this pipeline is tier 0: 30 minutes)
    pid1=${url1%/}; pid1=${pid1##*/}
    MRUN_TOKEN=$AT "$MRUN" preview extend "$pid1" 5h --server "http://127.0.0.1:$HTTP_PORT" >/dev/null || fail "preview extend"
    left=$(MRUN_TOKEN=$AT "$MRUN" preview ls --json --server "http://127.0.0.1:$HTTP_PORT" |
        json '[p["expires_ms"] for p in d["previews"] if p["state"] == "live"][0]')
    now=$(python3 -c 'import time; print(int(time.time() * 1000))')
    [ $((left - now)) -gt 1700000 ] && [ $((left - now)) -le 1800000 ] ||
        fail "an extended tier-0 preview expires in $((left - now)) ms, want the 30 min cap"
    id=$(submit_pr refs/pull/7/head) && [ "$(wait_done "$id" 60)" = passed ] || fail "the second pipeline did not pass"
    url2=$(live_url) || fail "no live preview after the second pipeline"
    [ "$url1" != "$url2" ] || fail "the second pipeline did not get a new preview"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "${url1}page")" = 404 ] || fail "the replaced preview still answers"
    i=0; while [ "$(apps)" != 1 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    [ "$(apps)" = 1 ] || fail "$(apps) preview apps running after a replacement, want 1"
    pid2=${url2%/}; pid2=${pid2##*/}
    MRUN_TOKEN=$AT "$MRUN" preview rm "$pid2" --server "http://127.0.0.1:$HTTP_PORT" >/dev/null || fail "preview rm"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "${url2}page")" = 404 ] || fail "a removed preview still answers"
    i=0; while [ "$(apps)" != 0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    [ "$(apps)" = 0 ] || fail "the removed preview's app is still running"
    # the TTL, with the coordinator's stop and the runner's own timer racing: either way nothing is left
    pv_pipeline 3s
    id=$(submit_pr refs/pull/8/head) && [ "$(wait_done "$id" 60)" = passed ] || fail "the short preview did not pass"
    url3=$(live_url) || fail "no live short preview"
    [ "$(curl -sf "${url3}page")" = "hello from the preview" ] || fail "the short preview did not serve"
    sleep 4
    [ "$(curl -s -o /dev/null -w '%{http_code}' "${url3}page")" = 404 ] || fail "an expired preview still answers"
    i=0; while [ "$(apps)" != 0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    [ "$(apps)" = 0 ] || fail "the expired preview's app is still running"
    MRUN_TOKEN=$AT "$MRUN" preview ls --all --json --server "http://127.0.0.1:$HTTP_PORT" |
        json '" ".join(sorted(p["state"] for p in d["previews"]))' | grep -q "expired stopped stopped" ||
        fail "preview states are not expired, stopped, stopped"
    # a private preview: its listed URL is a signed link; without the signature the proxy says 401
    pv_pipeline 60s private
    id=$(submit_pr refs/pull/9/head) && [ "$(wait_done "$id" 60)" = passed ] || fail "the private preview did not pass"
    signed=$(live_url) || fail "no live private preview"
    case "$signed" in *"?mrun_exp="*) ;; *) fail "the private preview's URL is not a signed link: $signed" ;; esac
    [ "$(curl -s -o /dev/null -w '%{http_code}' "${signed%%\?*}page")" = 401 ] || fail "a private preview answered without a signature"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$signed")" = 200 ] || fail "the signed link was refused"
    # a runner may only send the proxy to its own address: one that reports 0.0.0.0 gets no route
    "$MRUN" runner --coordinator "$NNG" --token "$RT" --name r3 --labels odd --work "$T/work-r3" --drain 0 \
        --preview-bind 0.0.0.0 >>"$T/r3.log" 2>&1 &
    PIDS="$PIDS $!"
    printf 'name: pvodd\nstages:\n  preview:\n    runs-on: [odd]\n    steps:\n      - uses: preview\n        with: {command: "python3 pv_fleet_app.py", port: "8080"}\n' >"$T/pv.yml"
    id=$(submit_pr refs/pull/10/head) && [ "$(wait_done "$id" 60)" = passed ] || fail "the odd runner's stage did not pass"
    i=0; until grep -q "refused relay address '0.0.0.0:" "$T/coord.log" || [ $i -ge 50 ]; do sleep 0.1; i=$((i + 1)); done
    grep -q "refused relay address '0.0.0.0:" "$T/coord.log" || fail "a relay on another address was routed"
    MRUN_TOKEN=$AT "$MRUN" preview ls --all --json --server "http://127.0.0.1:$HTTP_PORT" |
        json '[p["state"] for p in d["previews"] if p["app"] == "pvodd"][0]' | grep -q failed || fail "the refused preview is not failed"
    ;;
hostile)
    # a submitted source archive that tries to write outside the workspace: the runner refuses it, the stage
    # fails with the reason, nothing lands outside
    python3 - "$T/evil.tgz" <<'PY' || fail "make the archive"
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w:gz") as t:
    for name, data in (("ok.txt", b"fine"), ("../../../../tmp/mrun-escaped-file", b"pwned")):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
PY
    rm -f /tmp/mrun-escaped-file
    d=$(api -X PUT --data-binary @"$T/evil.tgz" "$API/blobs" | json 'd["digest"]') || fail "blob upload"
    id=$(python3 -c 'import json,sys; print(json.dumps({"pipeline": "stages:\n  a: {steps: [{run: cat ok.txt}]}\n", "source": sys.argv[1]}))' "$d" |
        api -X POST -H 'Content-Type: application/json' --data-binary @- "$API/pipelines" | json 'd["id"]') || fail "submit"
    s=$(wait_done "$id" 30)
    [ "$s" = failed ] || fail "a pipeline with a hostile source ended '$s', want failed"
    api "$API/pipelines/$id/logs/a" | json 'd["data"]' | grep -q "leaves the directory" ||
        fail "the stage log does not say why the source was refused"
    [ -e /tmp/mrun-escaped-file ] && fail "the archive wrote outside the workspace"
    [ -n "$(find "$T"/work-r1 "$T"/work-r2 -mindepth 1 ! -path "*/previews" 2>/dev/null)" ] && fail "a refused workspace was left behind"
    ;;
*)
    echo "unknown case $CASE" >&2
    exit 2
    ;;
esac
echo "fleet_$CASE: passed"
