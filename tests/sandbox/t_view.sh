# t_view.sh - what the job sees of itself and the host: fds, environment, capabilities, uid, /proc, mounts,
# /dev, the terminal, hostname, pids, network interfaces. Sourced by run.sh.
# shellcheck shell=sh disable=SC2016,SC2015,SC2154,SC2153,SC2012

# Descriptors the test holds open (without close-on-exec) must not reach the job.
t_fd_leak() {
    exec 7</etc/hostname 8>"$T/fd8" 9<"$T"
    sbp -- "$P/probe" fds
    exec 7<&- 8>&- 9<&-
    expect_rc 0 "listing the job's fds"
    fds=$(field fds)
    nums=$(for e in $fds; do echo "${e%%=*}"; done | sort -n | tr '\n' ' ')
    [ "$nums" = "0 1 2 " ] || fail "the job has fds '$nums', want only 0 1 2 ($fds)"
}

t_env_leak() {
    new_marker
    SECRET_TOKEN=token-$m
    TERM=xterm-$m
    export SECRET_TOKEN TERM
    sb --env "FOO=bar-$m" -- env
    expect_rc 0 "env"
    expect_no_out "token-$m"
    names=$(sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' "$T/out" | sort | tr '\n' ' ')
    [ "$names" = "FOO HOME LANG PATH TERM " ] || fail "environment names: want 'FOO HOME LANG PATH TERM', got '$names'"
    grep -qx 'HOME=/workspace' "$T/out" || fail "HOME is not /workspace"
    grep -qx 'LANG=C.UTF-8' "$T/out" || fail "LANG is not C.UTF-8"
    grep -qx "TERM=xterm-$m" "$T/out" || fail "TERM was not passed through"
    grep -qx "FOO=bar-$m" "$T/out" || fail "--env FOO=bar-$m was not passed"
    grep -q '^PATH=.*/usr/bin' "$T/out" || fail "PATH lacks /usr/bin"

    unset TERM
    sb -- env
    expect_rc 0 "env without TERM"
    names=$(sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' "$T/out" | sort | tr '\n' ' ')
    [ "$names" = "HOME LANG PATH " ] || fail "environment names without TERM: want 'HOME LANG PATH', got '$names'"
}

t_caps_nnp() {
    for how in direct shell; do
        if [ "$how" = direct ]; then
            sb -- cat /proc/self/status
        else
            sb -- sh -c 'cat /proc/self/status'
        fi
        expect_rc 0 "reading /proc/self/status ($how)"
        for c in CapInh CapPrm CapEff CapBnd CapAmb; do
            v=$(awk -v k="$c:" '$1 == k { print $2 }' "$T/out")
            [ "$v" = 0000000000000000 ] || fail "$how: $c is '$v', want 0000000000000000"
        done
        v=$(awk '$1 == "NoNewPrivs:" { print $2 }' "$T/out")
        [ "$v" = 1 ] || fail "$how: NoNewPrivs is '$v', want 1"
        v=$(awk '$1 == "Seccomp:" { print $2 }' "$T/out")
        [ "$v" = 2 ] || fail "$how: Seccomp is '$v', want 2 (filter)"
    done
}

# Root inside, an unprivileged uid outside: the host sees the job's process with a non-zero uid.
t_host_uid_not_root() {
    new_marker
    sb_bg -- sh -c "id -u; id -g; exec $P/orphan idle $m 20"
    pid=$(wait_procs "$M" 10 | head -1)
    if [ -z "$pid" ]; then
        fail "the job's process never appeared on the host"
        return
    fi
    uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")
    gids=$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "/proc/$pid/status")
    log "host view of the job: uid $uids, gid $gids"
    for u in $uids; do [ "$u" != 0 ] || fail "the job runs as host uid 0 (Uid: $uids)"; done
    for g in $gids; do [ "$g" != 0 ] || fail "the job runs as host gid 0 (Gid: $gids)"; done
    kill -TERM "$pid"
    wait_exit "$MPID" 10 || fail "mrun sandbox did not return after the job ended"
    expect_rc 0 "job ended by SIGTERM from the host"
    [ "$(sed -n 1p "$T/out")" = 0 ] || fail "uid inside is '$(sed -n 1p "$T/out")', want 0"
    [ "$(sed -n 2p "$T/out")" = 0 ] || fail "gid inside is '$(sed -n 2p "$T/out")', want 0"
}

t_proc_sys_ro() {
    new_marker
    host_before=$(cat /proc/sys/kernel/hostname)
    sbp -- sh -c "$P/probe write /proc/sys/kernel/hostname pwned-$m; $P/probe openw /proc/sys/vm/drop_caches;
        $P/probe openw /proc/sysrq-trigger; echo \"name: \$(cat /proc/sys/kernel/hostname)\"; cat /proc/self/mountinfo"
    expect_rc 0 "writing to /proc/sys"
    for k in "write /proc/sys/kernel/hostname" "openw /proc/sys/vm/drop_caches" "openw /proc/sysrq-trigger"; do
        res=$(field "$k")
        case $res in "") fail "$k: no result" ;; ok) fail "$k: succeeded" ;; esac
    done
    [ "$(field name)" != "pwned-$m" ] || fail "the job changed its hostname through /proc/sys"
    [ "$(cat /proc/sys/kernel/hostname)" = "$host_before" ] || fail "the host's hostname changed"
    opts=$(awk '$5 == "/proc/sys" { print $6 }' "$T/out")
    case ",$opts," in *,ro,*) ;; *) fail "/proc/sys is not mounted read-only (options '$opts')" ;; esac
}

# Every mount nosuid; every mount outside /dev nodev; /usr read-only.
t_mount_flags() {
    sb -- cat /proc/self/mountinfo
    expect_rc 0 "reading mountinfo"
    bad=$(awk '{ o = "," $6 "," }
        o !~ /,nosuid,/ { print "no nosuid: " $5 " (" $6 ")" }
        o !~ /,nodev,/ && $5 != "/dev" && $5 !~ /^\/dev\// { print "no nodev: " $5 " (" $6 ")" }
        $5 == "/usr" && o !~ /,ro,/ { print "not read-only: /usr (" $6 ")" }' "$T/out")
    [ -z "$bad" ] || fail "mount flags: $bad"
    awk '$5 == "/usr"' "$T/out" | grep -q . || fail "no /usr mount"
}

t_dev() {
    sb -- sh -c 'ls -A /dev | tr "\n" " "; echo; echo x > /dev/null && echo null-ok; head -c 4 /dev/urandom | wc -c;
        head -c 4 /dev/zero | wc -c; (echo x > /dev/full) 2>&1; echo "full=$?"'
    expect_rc 0 "using /dev"
    list=" $(sed -n 1p "$T/out") "
    for d in null zero full random urandom tty pts shm; do
        case $list in *" $d "*) ;; *) fail "/dev/$d is missing (/dev holds:$list)" ;; esac
    done
    for d in mem kmem port kmsg vda sda nvme0 nvme0n1 loop0 loop-control fuse net dri kvm console; do
        case $list in *" $d "*) fail "/dev/$d is visible inside" ;; esac
    done
    expect_out null-ok
    [ "$(sed -n 3p "$T/out")" = 4 ] || fail "/dev/urandom does not read"
    [ "$(sed -n 4p "$T/out")" = 4 ] || fail "/dev/zero does not read"
    expect_no_out "full=0"
}

# stdin is a pty that is mrun's controlling terminal: the job must not get it as its own, nor push input
# into it with TIOCSTI.
t_tiocsti() {
    RUNS=$((RUNS + 1))
    log "run $RUNS: mrun sandbox -- $P/probe tty, stdin a pty that is mrun's controlling terminal"
    "$PY" - "$MRUN" "$PAYLOADS" >"$T/out" 2>"$T/err" <<'EOF'
import fcntl, os, pty, struct, subprocess, sys, termios, tty
mrun, payloads = sys.argv[1], sys.argv[2]
master, slave = pty.openpty()
tty.setraw(slave)  # raw, so that FIONREAD counts every injected byte
def make_ctty():
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
r = subprocess.run([mrun, "sandbox", "--ro", payloads + ":/opt/payloads", "--", "/opt/payloads/probe", "tty"],
                   stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                   preexec_fn=make_ctty, timeout=30)
pending = struct.unpack("i", fcntl.ioctl(slave, termios.FIONREAD, b"\0\0\0\0"))[0]
sys.stdout.write(r.stdout.decode(errors="replace"))
sys.stderr.write(r.stderr.decode(errors="replace"))
print("rc: %d" % r.returncode)
print("pending: %d" % pending)
EOF
    [ "$(field rc)" = 0 ] || fail "probe tty: exit status '$(field rc)', want 0"
    [ "$(field isatty)" = 1 ] || log "note: the job's stdin is not the pty (isatty: $(field isatty))"
    [ "$(field tty_nr)" = 0 ] || fail "the job has a controlling terminal (tty_nr $(field tty_nr))"
    case $(field devtty) in ok | "") fail "the job opened /dev/tty: '$(field devtty)'" ;; esac
    case $(field tiocsti) in ok | "") fail "TIOCSTI on stdin: '$(field tiocsti)', want it refused" ;; esac
    [ "$(field pending)" = 0 ] || fail "$(field pending) byte(s) were pushed into the host terminal's input"
}

t_hostname() {
    host=$(uname -n)
    sb -- sh -c 'uname -n; cat /proc/sys/kernel/hostname'
    expect_rc 0 "reading the hostname"
    inside=$(sed -n 1p "$T/out")
    [ -n "$inside" ] || fail "empty hostname inside"
    [ "$inside" != "$host" ] || fail "hostname inside is the host's ('$host')"
    [ "$(sed -n 2p "$T/out")" = "$inside" ] || fail "/proc/sys/kernel/hostname disagrees with uname"
}

# A new pid namespace: the job is not pid 1 (init is) and sees only the sandbox's few processes.
t_proc_ns() {
    sb -- sh -c 'echo "pid: $$"; echo "procs: $(ls /proc | grep -c "^[0-9][0-9]*$")"; echo "sid: $(cut -d" " -f6 /proc/self/stat)"'
    expect_rc 0 "looking at /proc"
    pid=$(field pid)
    [ -n "$pid" ] && [ "$pid" != 1 ] || fail "the job's shell is pid '$pid', want a pid other than 1 (init)"
    n=$(field procs)
    [ -n "$n" ] && [ "$n" -le 6 ] || fail "the job sees $n processes in /proc, want only the sandbox's few"
}

t_netdev() {
    sbp -- sh -c "cat /proc/net/dev; $P/probe loopback"
    expect_rc 0 "looking at the network"
    ifs=$(awk -F: 'NR > 2 && /^ *[^ :]+: *[0-9]/ { gsub(/ /, "", $1); print $1 }' "$T/out" | sort | tr '\n' ' ')
    [ "$ifs" = "lo " ] || fail "interfaces inside: want only lo, got '$ifs'"
    [ "$(field loopback)" = ok ] || fail "lo is not up by default: loopback connect got '$(field loopback)'"
    sbp --net loopback -- "$P/probe" loopback
    expect_rc 0 "loopback with --net loopback"
    [ "$(field loopback)" = ok ] || fail "--net loopback: lo is not up: '$(field loopback)'"
}

# Rootless: run by an ordinary user (nobody), the sandbox still isolates through a user namespace, maps 0 inside
# to that user, merges the workspace as that user's files, and says which cgroup limits it could not get.
t_rootless() {
    [ "$(id -u)" = 0 ] || skip "needs root to become an ordinary user for the test"
    command -v setpriv >/dev/null 2>&1 || skip "setpriv is not installed"
    asuser="setpriv --reuid=65534 --regid=65534 --clear-groups"
    $asuser unshare -U true 2>/dev/null || skip "unprivileged user namespaces are disabled on this host"
    dir=$(mktemp -d /tmp/mrun-rootless.XXXXXX)
    cp "$MRUN" "$dir/mrun"
    mkdir "$dir/ws"
    echo before >"$dir/ws/old"
    chmod 755 "$dir" "$dir/mrun"
    chown -R 65534:65534 "$dir/ws"
    RUNS=$((RUNS + 1))
    log "run $RUNS (as uid 65534): mrun sandbox --workspace $dir/ws -- ..."
    (cd "$dir" && $asuser "$dir/mrun" sandbox --workspace "$dir/ws" -- sh -c \
        'cat /proc/self/uid_map; grep CapEff /proc/self/status; cat old; echo made >new; echo appended >>old') \
        >"$T/out" 2>"$T/err" </dev/null
    RC=$?
    expect_rc 0 "rootless run"
    grep -q '^ *0 *65534 *1$' "$T/out" || fail "uid 0 inside should map to host uid 65534"
    grep -q 'CapEff:[[:space:]]*0000000000000000' "$T/out" || fail "capabilities are not all dropped rootless"
    grep -q '^before$' "$T/out" || fail "the workspace's file is not visible inside"
    [ "$(cat "$dir/ws/new" 2>/dev/null)" = made ] || fail "the job's new file was not merged back"
    [ "$(stat -c %u "$dir/ws/new" 2>/dev/null)" = 65534 ] || fail "the merged file is not owned by the user"
    [ "$(sed -n 2p "$dir/ws/old" 2>/dev/null)" = appended ] || fail "the job's append was not merged back"
    # nobody has no delegated cgroup here: mrun must say so rather than pretend
    if [ -z "${MRUN_CGROUP_ROOT:-}" ]; then
        grep -q 'not enforced' "$T/err" || fail "no warning about the cgroup limits it could not apply"
    fi
    rm -rf "$dir"
}
