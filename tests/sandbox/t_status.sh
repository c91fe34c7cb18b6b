# t_status.sh - what `mrun sandbox` reports (exit statuses, --json, output cap) and what it does with the
# workspace and bind mounts. Sourced by run.sh.
# shellcheck shell=sh disable=SC2016,SC2015,SC2154,SC2153,SC2012

t_smoke() {
    sb -- /bin/true
    expect_rc 0 "/bin/true"
    sb -- /bin/false
    expect_rc 1 "/bin/false"
    sb -- sh -c 'echo out; echo err >&2'
    expect_rc 0 "echo"
    [ "$(cat "$T/out")" = out ] || fail "stdout: want 'out', got '$(head -c 200 "$T/out")'"
    grep -qx err "$T/err" || fail "stderr lacks the job's line 'err'"
}

t_exit_code() {
    for code in 0 3 42 255; do
        sb -- sh -c "exit $code"
        expect_rc "$code" "sh -c 'exit $code'"
    done
}

t_exit_signal() {
    sb --json "$T/r.json" -- sh -c 'kill -SEGV $$'
    expect_rc 139 "job killed by SIGSEGV"
    expect_json "$T/r.json" signal 11
    expect_json "$T/r.json" exit_code 139
    sb -- sh -c 'kill -KILL $$'
    expect_rc 137 "job killed by SIGKILL"
    sb -- sh -c 'kill -TERM $$'
    expect_rc 143 "job killed by SIGTERM"
}

t_exit_notfound() {
    new_marker
    sb -- "mrun-no-such-command-$m"
    expect_rc 127 "command not in PATH"
    expect_err "mrun-no-such-command-$m"
    sb -- "/nonexistent/mrun-no-such-command-$m"
    expect_rc 127 "absolute path that does not exist"
    [ -s "$T/err" ] || fail "no message on stderr for a missing command"
}

t_exit_noexec() {
    sb -- /etc/passwd
    expect_rc 126 "file without execute permission"
    [ -s "$T/err" ] || fail "no message on stderr for a non-executable file"
    sb -- /usr/bin
    expect_rc 126 "directory as command"
}

t_exit_setup() {
    new_marker
    sb --ro "/nonexistent-$m:/opt/x" -- /bin/true
    expect_rc 125 "--ro of a missing host path"
    lines=$(wc -l <"$T/err")
    [ "$lines" = 1 ] || fail "setup failure: want one line on stderr, got $lines"
    sb --workspace "/nonexistent-$m" -- /bin/true
    expect_rc 125 "--workspace that does not exist"
    [ -s "$T/err" ] || fail "no reason on stderr for a failed setup"
}

# The --json object: every field, with the right JSON type, and values that agree with the run.
t_json() {
    sb --json "$T/r.json" -- sh -c 'echo hello; exit 3'
    expect_rc 3 "sh -c 'echo hello; exit 3'"
    [ -f "$T/r.json" ] || {
        fail "--json wrote no file"
        return
    }
    if ! errs=$("$PY" - "$T/r.json" "$MS" 2>&1 <<'EOF'
import json, sys
path, elapsed = sys.argv[1], int(sys.argv[2])
try:
    d = json.load(open(path))
except ValueError as e:
    sys.exit("not exactly one JSON object: %s: %r" % (e, open(path).read()[:300]))
if not isinstance(d, dict):
    sys.exit("not an object: %r" % (d,))
# docs/sandbox.md: signal is null unless a signal killed the command; peak_memory_bytes is null without a
# memory cgroup. Python's bool is an int, so exact types are compared.
types = {"exit_code": (int,), "signal": (int, type(None)), "timed_out": (bool,), "oom_killed": (bool,),
         "wall_ms": (int,), "cpu_ms": (int,), "peak_memory_bytes": (int, type(None)), "output_bytes": (int,),
         "output_truncated": (bool,)}
errs = []
for k, ts in types.items():
    if k not in d:
        errs.append("field %s is missing" % k)
    elif type(d[k]) not in ts:
        errs.append("field %s: want %s, got %r" % (k, " or ".join(t.__name__ for t in ts), d[k]))
if errs:
    sys.exit("; ".join(errs))
want = {"exit_code": 3, "signal": None, "timed_out": False, "oom_killed": False, "output_bytes": 6,
        "output_truncated": False}
errs = ["%s: want %r, got %r" % (k, v, d[k]) for k, v in want.items() if d[k] != v]
if not 0 <= d["wall_ms"] <= elapsed + 50:
    errs.append("wall_ms %d is not within the %d ms the run took" % (d["wall_ms"], elapsed))
if d["cpu_ms"] < 0:
    errs.append("cpu_ms %d < 0" % d["cpu_ms"])
if d["peak_memory_bytes"] is not None and d["peak_memory_bytes"] <= 0:
    errs.append("peak_memory_bytes %d: want > 0, or null without a memory cgroup" % d["peak_memory_bytes"])
if errs:
    sys.exit("; ".join(errs))
EOF
    ); then
        fail "--json: $errs"
    fi
}

# A job printing 1 MiB under --output-limit 1K: the host gets at most 1 KiB, the JSON says truncated and
# still counts all the bytes the job wrote.
t_output_cap() {
    sb --output-limit 1K --json "$T/r.json" -- sh -c 'head -c 1048576 /dev/zero | tr "\000" Q'
    expect_rc 0 "job printing 1 MiB"
    n=$(wc -c <"$T/out")
    [ "$n" -le 1024 ] || fail "stdout: host received $n bytes, want at most 1024"
    [ "$n" -gt 0 ] || fail "stdout: host received nothing, want the first bytes up to the limit"
    [ "$(tr -d Q <"$T/out" | wc -c)" = 0 ] || fail "stdout holds bytes the job did not write"
    expect_json "$T/r.json" output_truncated true
    expect_json "$T/r.json" output_bytes 1048576
    expect_fast 10000 "a job printing 1 MiB"

    sb --output-limit 1K --json "$T/r.json" -- \
        sh -c 'head -c 614400 /dev/zero | tr "\000" Q; head -c 614400 /dev/zero | tr "\000" Z >&2'
    expect_rc 0 "job printing 600 KiB to each of stdout and stderr"
    n=$(($(tr -cd Q <"$T/out" | wc -c) + $(tr -cd Z <"$T/err" | wc -c)))
    [ "$n" -le 1024 ] || fail "stdout+stderr: host received $n bytes of job output, want at most 1024 together"
    expect_json "$T/r.json" output_truncated true
    expect_json "$T/r.json" output_bytes 1228800
}

t_workspace() {
    sb -- sh -c 'pwd; echo "$HOME"; echo hi > f && cat f; touch /workspace/g && echo writable'
    expect_rc 0 "job in a fresh workspace"
    [ "$(sed -n 1p "$T/out")" = /workspace ] || fail "working directory is not /workspace"
    [ "$(sed -n 2p "$T/out")" = /workspace ] || fail "HOME is not /workspace"
    expect_out hi
    expect_out writable

    W=$T/ws
    mkdir -p "$W/keepdir"
    echo from-host >"$W/in.txt"
    echo old >"$W/mod.txt"
    echo bye >"$W/del.txt"
    sb --workspace "$W" -- sh -c 'cat in.txt; echo new > mod.txt; rm del.txt; mkdir -p sub && echo y > sub/y;
        echo out > out.txt'
    expect_rc 0 "job in --workspace DIR"
    expect_out from-host
    [ "$(cat "$W/in.txt" 2>&1)" = from-host ] || fail "workspace: in.txt changed"
    [ "$(cat "$W/mod.txt" 2>&1)" = new ] || fail "workspace: the job's change to mod.txt was not applied"
    [ ! -e "$W/del.txt" ] || fail "workspace: the job deleted del.txt but it is still on the host"
    [ "$(cat "$W/sub/y" 2>&1)" = y ] || fail "workspace: the job's new sub/y is not on the host"
    [ "$(cat "$W/out.txt" 2>&1)" = out ] || fail "workspace: the job's new out.txt is not on the host"
    [ -d "$W/keepdir" ] || fail "workspace: keepdir disappeared"
}

# Merging the job's writes back must never follow a symlink that was in the workspace: here the host
# DIR holds a -> /root/victim, the job replaces it with a directory and writes a/pwn.
t_workspace_symlink() {
    new_marker
    V=/root/mrun-victim-$m
    CLEAN_PATHS="$CLEAN_PATHS $V"
    mkdir -p "$V"
    echo orig >"$V/orig"
    W=$T/ws
    mkdir -p "$W"
    ln -s "$V" "$W/a"
    ln -s "$V/orig" "$W/b"
    sb --workspace "$W" -- sh -c 'rm a && mkdir a && echo pwn > a/pwn; echo pwn2 > b; ls -la'
    expect_rc 0 "job replacing a symlink with a directory"
    [ "$(ls -A "$V")" = orig ] || fail "merge wrote through a symlink: $V now holds: $(ls -A "$V" | tr '\n' ' ')"
    [ "$(cat "$V/orig")" = orig ] || fail "merge wrote through a symlink: $V/orig now holds '$(head -c 100 "$V/orig")'"
    if [ -L "$W/a" ]; then
        fail "workspace: the job's directory a was not merged (a is still the symlink)"
    elif [ "$(cat "$W/a/pwn" 2>&1)" != pwn ]; then
        fail "workspace: the job's a/pwn is not on the host"
    fi
}

# A FIFO (and an unconnected socket path) left in the workspace must not hang the merge.
t_workspace_fifo() {
    W=$T/ws
    mkdir -p "$W"
    sb --workspace "$W" -- sh -c 'mkfifo fifo && echo made'
    expect_rc 0 "job leaving a FIFO in the workspace"
    expect_out made
    expect_fast 10000 "merging a workspace holding a FIFO"
}

# --ro: readable, not writable, and nothing reaches the host dir. With no :PATH the host path is the target
# (a /var/tmp dir here: /tmp inside is the sandbox's own tmpfs, see t_bind_tmp).
t_bind() {
    chmod 755 "$T"
    mkdir -p "$T/ro"
    echo ro-content >"$T/ro/f"
    sb --ro "$T/ro:/data" -- sh -c 'cat /data/f; (echo x > /data/g) 2>/dev/null; echo "g=$?"'
    expect_rc 0 "job using --ro HOSTPATH:PATH"
    expect_out ro-content
    expect_no_out "g=0"
    [ ! -e "$T/ro/g" ] || fail "--ro: the job created a file in the read-only mount's host directory"
    VT=$(mktemp -d /var/tmp/mrun-sbtest.XXXXXX)
    CLEAN_PATHS="$CLEAN_PATHS $VT"
    chmod 755 "$VT"
    echo same-path >"$VT/f"
    sb --ro "$VT" -- cat "$VT/f"
    expect_rc 0 "--ro HOSTPATH without :PATH"
    expect_out same-path
}

# --rw: the job's writes land in the host dir at once. The dir is root's, mode 0755, under a traversable
# parent: what `mrun sandbox --rw DIR` run by root is typically given.
t_bind_rw() {
    chmod 755 "$T"
    mkdir -p "$T/rw"
    echo before >"$T/rw/old"
    sb --rw "$T/rw:/out" -- sh -c 'cat /out/old; echo y > /out/h; echo "h=$?"; echo changed >> /out/old'
    expect_rc 0 "job writing to a --rw mount"
    expect_out before
    expect_out "h=0"
    [ "$(cat "$T/rw/h" 2>&1)" = y ] || fail "--rw: the job's file h is not in the host directory"
    [ "$(tail -1 "$T/rw/old")" = changed ] || fail "--rw: the job's append to old is not in the host file"
}

# A bind below /tmp or /workspace must not be silently hidden by the tmpfs or overlay the sandbox mounts
# there: it is visible to the job, or refused before anything runs (exit 125, or 2 as a usage error).
t_bind_shadowed() {
    chmod 755 "$T"
    mkdir -p "$T/ro"
    echo not-hidden >"$T/ro/f"
    for target in /tmp/data "$T/ro" /workspace/data; do
        sb --ro "$T/ro:$target" -- cat "$target/f"
        case $RC in
        0) expect_out not-hidden ;;
        2 | 125) log "--ro ...:$target is refused: $(head -1 "$T/err")" ;;
        *) fail "--ro ...:$target: exit status $RC; the job ran but the bind was hidden by a sandbox mount above it" ;;
        esac
    done
}
