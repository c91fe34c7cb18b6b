#!/bin/sh
# run.sh NAME MRUN PAYLOAD_DIR - one sandbox test (ctest runs each NAME as its own test, label "sandbox").
#
# Runs hostile payloads under `MRUN sandbox` and asserts they were stopped. Exit 0 pass, 1 fail (the
# reasons on stderr, each with the output of the run concerned), 77 skip (no user namespaces, or a cgroup
# controller the test needs is missing), 2 bad usage. The tests live in the t_*.sh files beside this one.
set -u
if [ $# -ne 3 ]; then
    echo "usage: run.sh NAME MRUN PAYLOAD_DIR" >&2
    exit 2
fi
TEST=$1
MRUN=$2
PAYLOADS=$(cd "$3" 2>/dev/null && pwd) || PAYLOADS=$3
HERE=$(cd "$(dirname "$0")" && pwd)

. "$HERE/lib.sh"
. "$HERE/t_status.sh"
. "$HERE/t_limits.sh"
. "$HERE/t_escape.sh"
. "$HERE/t_view.sh"

if ! type "t_$TEST" >/dev/null 2>&1; then
    echo "run.sh: no test named '$TEST'" >&2
    exit 2
fi
[ -x "$MRUN" ] || {
    echo "run.sh: $MRUN is not built" >&2
    exit 1
}
[ -x "$PAYLOADS/probe" ] || {
    echo "run.sh: payloads are not built in $PAYLOADS" >&2
    exit 1
}
need_userns
"t_$TEST"
if [ "$FAILED" = 0 ]; then
    log "passed"
fi
exit "$FAILED"
