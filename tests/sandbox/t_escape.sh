# t_escape.sh - attempts to outlive, reach out of, or act upon the host from inside the sandbox: orphan
# daemons, killing `mrun sandbox` itself, the host's loopback, host files, read-only system directories,
# refused syscalls, kill(-1). Sourced by run.sh.
# shellcheck shell=sh disable=SC2016,SC2015,SC2154,SC2153,SC2012

# A double-forked, setsid'd daemon that keeps stdout open and ignores SIGTERM; the main command exits 0.
# The sandbox must return at once (not wait for the daemon's output to end) and leave nothing behind.
t_orphan_exit() {
    new_marker
    sbp --timeout 30s -- "$P/orphan" daemon "$m"
    expect_rc 0 "main command exiting while its daemon runs"
    expect_out "daemon running"
    expect_fast 10000 "a job whose daemon holds stdout open"
    expect_gone "$m" "orphan daemon after the main command exited"
}

t_orphan_timeout() {
    new_marker
    sbp --timeout 1s -- sh -c "$P/orphan daemon $m; exec sleep 30"
    expect_rc 124 "daemon plus sleep past --timeout 1s"
    expect_fast 6000 "a 1 s timeout with a daemon"
    expect_gone "$m" "orphan daemon after the timeout"
}

# start_daemon_job: mrun in the background whose job starts a daemon (marker m) and then idles as its main
# command (marker mi); sets MPID, DPID (the daemon's host pid) and CG (the sandbox's cgroup directories, as
# seen from the daemon).
start_daemon_job() {
    new_marker
    mi=$m
    Mi=$M
    new_marker
    sb_bg --timeout 60s -- sh -c "$P/orphan daemon $m; exec $P/orphan idle $mi 60"
    DPID=$(wait_procs "$M" 10 | head -1)
    if [ -z "$DPID" ]; then
        fail "the daemon never appeared on the host"
        return 1
    fi
    wait_procs "$Mi" 10 >/dev/null || log "the idle main command never appeared"
    CG=$(cgroup_dirs "$DPID")
    log "sandbox cgroups: $(echo "$CG" | tr '\n' ' ')"
    if [ -z "$CG" ]; then
        fail "the sandbox's processes are in the test's own cgroups: no limits can apply"
    fi
}

# expect_cgroups_removed: every one of the sandbox's cgroup directories is gone (waits up to 3 s).
expect_cgroups_removed() {
    i=0
    while [ "$i" -lt 30 ]; do
        left=""
        for d in $CG; do [ -d "$d" ] && left="$left $d"; done
        [ -z "$left" ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    for d in $left; do
        fail "$1: cgroup $d is left behind (procs: $(tr '\n' ' ' <"$d/cgroup.procs" 2>/dev/null))"
    done
    CLEAN_CGROUPS="$CLEAN_CGROUPS $left"
}

# expect_cgroups_empty: none of the sandbox's cgroup directories still holds a process.
expect_cgroups_empty() {
    for d in $CG; do
        [ -d "$d" ] || continue
        procs=$(cat "$d/cgroup.procs" 2>/dev/null)
        if [ -n "$procs" ]; then
            fail "$1: cgroup $d still holds processes: $(echo "$procs" | tr '\n' ' ')"
        else
            log "$1: cgroup $d is left behind, empty"
        fi
        CLEAN_CGROUPS="$CLEAN_CGROUPS $d"
    done
}

t_cgroup_cleanup() {
    start_daemon_job || return
    for p in $(find_procs "$Mi"); do kill -TERM "$p"; done
    wait_exit "$MPID" 10 || fail "mrun sandbox did not return after its main command ended"
    expect_rc 0 "job ended by the host stopping its main command"
    expect_gone "$m" "daemon after a normal end"
    expect_gone "$mi" "main command after a normal end"
    expect_cgroups_removed "after a normal end"
}

t_kill_mrun_term() {
    start_daemon_job || return
    kill -TERM "$MPID"
    wait_exit "$MPID" 10 || fail "mrun sandbox did not exit within 10 s of SIGTERM"
    log "mrun sandbox exited with $RC after SIGTERM"
    expect_gone "$m" "SIGTERM to mrun sandbox"
    expect_gone "$mi" "SIGTERM to mrun sandbox"
    expect_cgroups_removed "SIGTERM to mrun sandbox"
}

# mrun gets no chance to clean up: the kernel must take everything down (PR_SET_PDEATHSIG, pid namespace).
t_kill_mrun_kill() {
    start_daemon_job || return
    kill -KILL "$MPID"
    wait_exit "$MPID" 10
    expect_gone "$m" "SIGKILL to mrun sandbox"
    expect_gone "$mi" "SIGKILL to mrun sandbox"
    expect_cgroups_empty "SIGKILL to mrun sandbox"
}

# A TCP listener on the host (all addresses): nothing inside may reach it, under either --net mode.
t_connect_host() {
    "$PY" - "$T/port" "$T/accepted" <<'EOF' &
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 0))
s.listen(16)
open(sys.argv[1] + ".tmp", "w").write("%d\n" % s.getsockname()[1])
__import__("os").rename(sys.argv[1] + ".tmp", sys.argv[1])
s.settimeout(60)
while True:
    try:
        c, a = s.accept()
    except OSError:
        break
    open(sys.argv[2], "a").write("%s\n" % a[0])
    c.close()
EOF
    BG_PIDS="$BG_PIDS $!"
    i=0
    while [ ! -s "$T/port" ] && [ "$i" -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    port=$(cat "$T/port" 2>/dev/null)
    [ -n "$port" ] || {
        fail "the host listener did not start"
        return
    }
    # The test can fail: the same probe on the host does reach the listener.
    "$PAYLOADS/probe" connect 127.0.0.1 "$port" | grep -q ': ok$' || fail "host self-check: probe cannot reach its own listener"
    # Wait until the listener has recorded the self-check, or it would be counted as the sandbox's.
    i=0
    while [ ! -s "$T/accepted" ] && [ "$i" -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    before=$(wc -l <"$T/accepted" 2>/dev/null || echo 0)
    [ "$before" -ge 1 ] || fail "host self-check: the listener did not record the probe's connection"
    addrs=$(ip -4 -o addr show 2>/dev/null | awk '{ split($4, a, "/"); print a[1] }')
    [ -n "$addrs" ] || addrs=127.0.0.1
    job=""
    for a in $addrs; do job="$job $P/probe connect $a $port;"; done
    for net in none loopback; do
        sbp --net "$net" -- sh -c "$job"
        expect_rc 0 "connecting out with --net $net"
        for a in $addrs; do
            res=$(field "connect $a:$port")
            case $res in
            "") fail "--net $net: no result for $a:$port" ;;
            ok) fail "--net $net: connected to the host's listener at $a:$port" ;;
            esac
        done
    done
    after=$(wc -l <"$T/accepted" 2>/dev/null || echo 0)
    [ "$after" = "$before" ] || fail "the host listener accepted $((after - before)) connection(s) from the sandbox"
}

t_host_file() {
    new_marker
    secret="content-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
    files="/root/mrun-secret-$m /var/tmp/mrun-secret-$m /home/mrun-secret-$m"
    for f in $files; do
        CLEAN_PATHS="$CLEAN_PATHS $f"
        printf '%s\n' "$secret" >"$f"
    done
    sb -- sh -c "for f in $files /etc/shadow /etc/gshadow /etc/sudoers /root/.bashrc /root/.ssh/id_rsa; do
            if cat \"\$f\" >/dev/null 2>&1; then echo \"READABLE \$f\"; cat \"\$f\"; elif [ -e \"\$f\" ]; then echo \"EXISTS \$f\"; fi
        done
        for d in /root /home /var /var/tmp; do [ -d \"\$d\" ] && echo \"DIR \$d: \$(ls -A \"\$d\" 2>&1 | tr '\n' ' ')\"; done
        echo \"ETC \$(ls -A /etc | tr '\n' ' ')\""
    expect_rc 0 "looking for host files"
    expect_no_out "$secret"
    expect_no_out "READABLE"
    shown=$(grep '^DIR ' "$T/out" | grep -v ': *$')
    [ -z "$shown" ] || fail "host directories are visible and not empty: $shown"
    for f in shadow gshadow sudoers ssh; do
        case " $(field ETC) " in *" $f "*) log "note: /etc/$f exists inside (unreadable)" ;; esac
    done
}

t_write_usr_etc() {
    new_marker
    paths="/usr/mrun-probe-$m /usr/bin/mrun-probe-$m /bin/mrun-probe-$m /lib/mrun-probe-$m /sbin/mrun-probe-$m
        /etc/mrun-probe-$m /etc/ssl/mrun-probe-$m $P/mrun-probe-$m"
    existing="/etc/passwd /etc/hosts /etc/ld.so.cache /usr/bin/env"
    job=""
    for p in $paths; do job="$job $P/probe create $p;"; done
    for p in $existing; do job="$job $P/probe openw $p;"; done
    sbp -- sh -c "$job"
    expect_rc 0 "writing to /usr and /etc"
    for p in $paths; do
        res=$(field "create $p")
        case $res in EROFS | EACCES) ;; *) fail "creating $p: got '$res', want EROFS or EACCES" ;; esac
    done
    for p in $existing; do
        res=$(field "openw $p")
        case $res in EROFS | EACCES) ;; *) fail "opening $p for writing: got '$res', want EROFS or EACCES" ;; esac
    done
    for d in /usr /usr/bin /etc /etc/ssl "$PAYLOADS"; do
        if [ -e "$d/mrun-probe-$m" ]; then
            fail "the job created $d/mrun-probe-$m on the host"
            rm -f "$d/mrun-probe-$m"
        fi
    done
}

# probe_check NAMES...: the probe tries each; every one must end as probe.c's table expects.
probe_check() {
    sbp -- "$P/probe" check "$@"
    expect_rc 0 "probe check $*"
    for n in "$@"; do
        grep -q "^PASS $n:" "$T/out" || fail "$n: $(grep "^FAIL $n:" "$T/out" || echo "no result")"
    done
}

t_mount() { probe_check mount umount pivot_root chroot; }
t_ptrace() { probe_check ptrace_attach ptrace_traceme process_vm_readv process_vm_writev; }
t_unshare() {
    probe_check unshare_user unshare_mnt unshare_net setns clone_newuser clone_newns clone_newpid clone_newnet clone3
}
t_bpf() { probe_check bpf perf_event_open; }
t_keyctl() { probe_check keyctl add_key request_key; }
t_deny_kernel() {
    probe_check kexec_load kexec_file_load init_module finit_module delete_module reboot swapon settimeofday \
        open_by_handle_at userfaultfd io_uring_setup mknod
}
t_deny_sockets() {
    probe_check socket_netlink socket_packet socket_vsock socket_alg socket_key \
        socket_unix socketpair_unix socket_inet socket_inet6 fork clone_plain
}

# sandbox_host_uid: sets HUID to the host uid the sandbox's root maps to, read from a process inside.
sandbox_host_uid() {
    HUID=""
    new_marker
    sb_bg -- "$P/orphan" idle "$m" 20
    pid=$(wait_procs "$M" 10 | head -1)
    [ -n "$pid" ] || return 1
    HUID=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
    kill -TERM "$pid"
    wait_exit "$MPID" 10
}

# kill(-1, SIGKILL) inside: host processes, root's and one running as the sandbox's own host uid, live on.
t_kill_all() {
    sleep 120 &
    c1=$!
    BG_PIDS="$BG_PIDS $c1"
    c2=""
    sandbox_host_uid
    u=$HUID
    if [ -n "$u" ] && [ "$u" != 0 ] && command -v setpriv >/dev/null; then
        setpriv --reuid="$u" --regid="$u" --clear-groups sleep 120 &
        c2=$!
        BG_PIDS="$BG_PIDS $c2"
    else
        log "no canary under the sandbox's host uid (uid '$u')"
    fi
    sleep 0.2
    sbp -- sh -c "sleep 100 & sleep 100 & exec $P/probe killall"
    expect_rc 0 "kill(-1, SIGKILL) inside"
    log "kill(-1, SIGKILL) inside returned: $(field killall)"
    kill -0 "$c1" 2>/dev/null || fail "kill(-1) inside killed a host process (root's sleep, pid $c1)"
    if [ -n "$c2" ]; then
        kill -0 "$c2" 2>/dev/null || fail "kill(-1) inside killed a host process running as host uid $u (pid $c2)"
    fi
}
