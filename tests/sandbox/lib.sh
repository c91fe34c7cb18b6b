# lib.sh - helpers for the sandbox tests (sourced by run.sh; POSIX sh).
#
# A test function calls sb/sbp to run `mrun sandbox`, then the expect_* helpers. Failures are collected in
# FAILED and explained on stderr together with the output of the run they concern; run.sh exits 1 if any.
# Every process a test starts on the host is killed, and every host file it creates is removed, on exit.
# shellcheck shell=sh disable=SC2034,SC2018,SC2019,SC2086

P=/opt/payloads # where the payload directory is bound inside the sandbox
WATCHDOG=20     # seconds any one `mrun sandbox` may take before the test gives up on it
FAILED=0
RUNS=0
SHOWN=0
BG_PIDS=""
SURVIVORS=""
CLEAN_PATHS=""
CLEAN_CGROUPS=""
RC=""
MS=""
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

T=$(mktemp -d "${TMPDIR:-/tmp}/mrun-sbtest.XXXXXX") || exit 1

cleanup() {
    for p in $BG_PIDS $SURVIVORS; do
        kill -KILL "$p" 2>/dev/null
    done
    for d in $CLEAN_CGROUPS; do # the kernel needs a moment to empty them after the kills above
        i=0
        while [ -d "$d" ] && ! rmdir "$d" 2>/dev/null && [ "$i" -lt 20 ]; do
            sleep 0.1
            i=$((i + 1))
        done
    done
    for f in $CLEAN_PATHS; do
        rm -rf "$f"
    done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

log() { printf '%s: %s\n' "$TEST" "$*" >&2; }

# Shows the output of the last run once, so that every failure comes with what the sandbox said.
show_run() {
    [ "$SHOWN" = "$RUNS" ] && return
    SHOWN=$RUNS
    for f in out err; do
        [ -s "$T/$f" ] || continue
        printf -- '--- %s of run %s (first 2000 bytes) ---\n' "$f" "$RUNS" >&2
        head -c 2000 "$T/$f" >&2
        printf '\n' >&2
    done
}

fail() {
    printf 'FAIL %s: %s\n' "$TEST" "$*" >&2
    FAILED=1
    show_run
}

skip() {
    printf 'SKIP %s: %s\n' "$TEST" "$*" >&2
    exit 77
}

now_ms() { date +%s%3N; }

# sb ARGS...: `mrun sandbox ARGS` with stdin from $SB_STDIN (default /dev/null), under a watchdog.
# Sets RC (exit status) and MS (elapsed milliseconds); stdout and stderr are in $T/out and $T/err.
sb() {
    RUNS=$((RUNS + 1))
    log "run $RUNS: mrun sandbox $*"
    t0=$(now_ms)
    timeout -s KILL "$WATCHDOG" "$MRUN" sandbox "$@" <"${SB_STDIN:-/dev/null}" >"$T/out" 2>"$T/err"
    RC=$?
    MS=$(($(now_ms) - t0))
    if [ "$MS" -ge $((WATCHDOG * 1000 - 200)) ]; then
        fail "mrun sandbox did not return within ${WATCHDOG}s and was killed"
    fi
}

# sbp ARGS...: sb with the payload directory bound read-only at $P.
sbp() { sb --ro "$PAYLOADS:$P" "$@"; }

# sb_bg ARGS...: starts `mrun sandbox --ro payloads ARGS` in the background; its pid is in MPID.
sb_bg() {
    RUNS=$((RUNS + 1))
    log "run $RUNS (background): mrun sandbox --ro $PAYLOADS:$P $*"
    "$MRUN" sandbox --ro "$PAYLOADS:$P" "$@" </dev/null >"$T/out" 2>"$T/err" &
    MPID=$!
    BG_PIDS="$BG_PIDS $MPID"
}

# wait_exit PID SECS: waits for a background child to end; sets RC. Returns 1 if it is still running.
wait_exit() {
    i=0
    while [ "$i" -lt $(($2 * 10)) ]; do
        state=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null)
        if [ -z "$state" ] || [ "$state" = Z ]; then
            wait "$1"
            RC=$?
            return 0
        fi
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

expect_rc() {
    [ "$RC" = "$1" ] || fail "${2:-exit status}: want $1, got $RC"
}

expect_fast() { # MAX_MS WHAT
    [ "$MS" -le "$1" ] || fail "$2 took ${MS} ms, want at most $1 ms"
}

expect_out() { # FIXED-STRING: some line of stdout contains it
    grep -qF -- "$1" "$T/out" || fail "stdout lacks '$1'"
}

expect_no_out() {
    if grep -qF -- "$1" "$T/out"; then fail "stdout contains '$1': $(grep -F -- "$1" "$T/out" | head -3)"; fi
}

expect_err() {
    grep -qF -- "$1" "$T/err" || fail "stderr lacks '$1'"
}

# field NAME: the text after "NAME: " on the first stdout line that starts so.
field() { awk -v k="$1: " 'index($0, k) == 1 { print substr($0, length(k) + 1); exit }' "$T/out"; }

# jget FILE KEY: the JSON value of KEY (true/false/number), or "missing".
jget() {
    "$PY" -c 'import json,sys
d = json.load(open(sys.argv[1]))
print(json.dumps(d[sys.argv[2]]) if sys.argv[2] in d else "missing")' "$1" "$2" 2>/dev/null || echo unreadable
}

expect_json() { # FILE KEY WANT
    got=$(jget "$1" "$2")
    [ "$got" = "$3" ] || fail "JSON $2: want $3, got $got"
}

# A marker unique to this run: lower case on mrun's command line; payloads show it upper-cased.
new_marker() {
    m="mrunsbx$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
    M=$(printf '%s' "$m" | tr a-z A-Z)
}

# find_procs PATTERN [-i]: host pids whose cmdline contains PATTERN. The pattern goes through a file so
# that grep's own command line does not match.
find_procs() {
    printf '%s\n' "$1" >"$T/pattern"
    grep -alF ${2:-} -f "$T/pattern" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 | grep -vx "$$"
}

# wait_procs PATTERN SECS: waits until a process shows PATTERN; prints its pids. Returns 1 on timeout.
wait_procs() {
    i=0
    while [ "$i" -lt $(($2 * 10)) ]; do
        pids=$(find_procs "$1")
        if [ -n "$pids" ]; then
            echo "$pids"
            return 0
        fi
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

describe_pid() {
    printf 'pid %s [%s] %s %s' "$1" "$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)" \
        "$(grep '^PPid:' "/proc/$1/status" 2>/dev/null | tr '\t' ' ')" \
        "$(grep '^Uid:' "/proc/$1/status" 2>/dev/null | tr '\t' ' ')"
}

# expect_gone MARKER WHAT: after the sandbox has returned, no host process may carry the marker in any case
# (upper case: a payload; lower case: a process forked from mrun, such as the sandbox's init). Waits up
# to 3 s for the kernel to finish killing, then fails; the survivors are killed on exit, after the test has
# looked at them (their cgroups, for instance).
expect_gone() {
    i=0
    while [ "$i" -lt 30 ]; do
        left=$(find_procs "$1" -i)
        [ -z "$left" ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    for p in $left; do
        fail "$2: a process survived the sandbox: $(describe_pid "$p")"
    done
    SURVIVORS="$SURVIVORS $left"
}

# cgroup_dirs PID: the cgroup directories of PID that are not ours, i.e. the sandbox's own.
cgroup_dirs() {
    while IFS=: read -r id ctl path; do
        own=$(grep "^$id:" /proc/$$/cgroup | cut -d: -f3-)
        [ "$path" = "$own" ] && continue
        case $ctl in
        "")
            base=/sys/fs/cgroup
            [ -f /sys/fs/cgroup/unified/cgroup.procs ] && base=/sys/fs/cgroup/unified
            ;;
        name=*) base=/sys/fs/cgroup/${ctl#name=} ;;
        *) base=/sys/fs/cgroup/$ctl ;;
        esac
        echo "$base$path"
    done <"/proc/$1/cgroup"
}

# need_userns: skip (77) when the kernel refuses user namespaces to us.
need_userns() {
    command -v unshare >/dev/null || return 0
    if [ "$(id -u)" = 0 ]; then
        unshare --user true 2>/dev/null || skip "user namespaces are disabled"
    else
        unshare --user --map-root-user true 2>/dev/null || skip "user namespaces are refused to uid $(id -u)"
    fi
}

# need_cgroup CONTROLLER: skip (77) when that controller is not available to us.
need_cgroup() {
    [ -n "${MRUN_CGROUP_ROOT:-}" ] && return 0
    if awk -F: -v c="$1" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) f = 1 } END { exit !f }' \
        /proc/self/cgroup; then
        [ "$(id -u)" = 0 ] || skip "cgroup v1 controller $1 is not writable by uid $(id -u)"
        return 0
    fi
    for base in /sys/fs/cgroup /sys/fs/cgroup/unified; do
        own=$(sed -n 's/^0:://p' /proc/self/cgroup)
        f="$base$own/cgroup.controllers"
        [ -f "$f" ] || f="$base/cgroup.controllers"
        if [ -f "$f" ] && grep -qw "$1" "$f"; then
            [ -w "$base$own" ] || skip "cgroup v2 $base$own is not writable by uid $(id -u)"
            return 0
        fi
    done
    skip "no $1 cgroup controller"
}
