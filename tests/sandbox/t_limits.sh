# t_limits.sh - resource bombs: timeouts, CPU, pids, memory, /tmp, workspace disk, rlimits.
# Each asserts that the limit held, that the job saw the error it should, and that the host is left clean.
# Sourced by run.sh.
# shellcheck shell=sh disable=SC2016,SC2015,SC2154,SC2153,SC2012

MiB=1048576

t_cpu_spin() {
    sb --timeout 1s --json "$T/r.json" -- sh -c 'while :; do :; done'
    expect_rc 124 "CPU spin past --timeout 1s"
    expect_fast 5000 "a 1 s timeout"
    expect_json "$T/r.json" timed_out true
    expect_json "$T/r.json" exit_code 124
    wall=$(jget "$T/r.json" wall_ms)
    case $wall in
    *[!0-9]* | "") fail "JSON wall_ms: want a number, got $wall" ;;
    *) [ "$wall" -ge 900 ] && [ "$wall" -le 5000 ] || fail "JSON wall_ms: want about 1000, got $wall" ;;
    esac
    cpu=$(jget "$T/r.json" cpu_ms)
    case $cpu in
    *[!0-9]* | "") fail "JSON cpu_ms: want a number, got $cpu" ;;
    *) [ "$cpu" -ge 200 ] || fail "JSON cpu_ms: a 1 s spin used $cpu ms of CPU, want at least 200" ;;
    esac
}

# A job that ignores SIGTERM everywhere, and has a spinning child: the timeout must still end it all.
t_cpu_spin_trap() {
    new_marker
    sb --timeout 1s -- bash -c 'exec -a "$1" bash -c "trap \"\" TERM INT HUP; (while :; do :; done) & while :; do :; done"' \
        sh "$M"
    expect_rc 124 "spin that ignores SIGTERM, past --timeout 1s"
    expect_fast 6000 "a 1 s timeout on a job ignoring SIGTERM"
    expect_gone "$m" "timeout of a job ignoring SIGTERM"
}

t_cpu_quota() {
    need_cgroup cpu
    sb --cpus 0.5 --timeout 2s --json "$T/r.json" -- sh -c 'while :; do :; done & while :; do :; done'
    expect_rc 124 "two spinning processes past --timeout 2s"
    cpu=$(jget "$T/r.json" cpu_ms)
    case $cpu in
    *[!0-9]* | "") fail "JSON cpu_ms: want a number, got $cpu" ;;
    *)
        [ "$cpu" -le 1400 ] || fail "--cpus 0.5: 2 s of two spinners used $cpu ms of CPU, want at most 1400 (1000 + 40%)"
        [ "$cpu" -ge 300 ] || fail "--cpus 0.5: only $cpu ms of CPU in 2 s, want at least 300"
        ;;
    esac
}

# Counts how many processes the job gets: fewer than --pids, and all gone afterwards.
t_fork_bomb() {
    need_cgroup pids
    new_marker
    sbp --pids 64 --timeout 20s -- "$P/hog" forkbomb "$m" 5000
    expect_rc 0 "fork bomb under --pids 64"
    expect_fast 15000 "fork bomb under --pids 64"
    line=$(field forkbomb)
    n=$(echo "$line" | sed -n 's/.* after \([0-9]*\) children$/\1/p')
    if [ -z "$n" ]; then
        fail "fork bomb: no report from the payload"
    else
        [ "$n" -lt 64 ] || fail "fork bomb: the job started $n processes under --pids 64"
        [ "$n" -ge 8 ] || fail "fork bomb: the job could start only $n processes; is fork broken?"
        case $line in EAGAIN*) ;; *) fail "fork bomb: fork failed with '$line', want EAGAIN" ;; esac
    fi
    expect_gone "$m" "fork bomb"
    sh -c 'exit 0' || fail "the host cannot fork after the fork bomb"
}

# The classic shell bomb, which never ends on its own: the timeout ends it, and nothing survives.
t_fork_bomb_sh() {
    need_cgroup pids
    new_marker
    sb --pids 64 --timeout 3s --output-limit 64K -- \
        bash -c 'exec -a "$1" bash -c "bomb() { bomb | bomb & }; bomb; sleep 30"' sh "$M"
    expect_fast 12000 "shell fork bomb with --timeout 3s"
    case $RC in 124 | 0 | 1 | 2 | 254 | 126) ;; *) fail "shell fork bomb: unexpected exit status $RC" ;; esac
    expect_gone "$m" "shell fork bomb"
    sh -c 'exit 0' || fail "the host cannot fork after the fork bomb"
}

# expect_oom WHAT: the run was stopped by the memory limit: killed and reported as OOM, or refused memory.
expect_oom() {
    expect_no_out resident
    if grep -q 'malloc: ENOMEM' "$T/out"; then
        log "$1: the job was refused memory (ENOMEM) rather than OOM-killed"
    else
        [ "$RC" != 0 ] || fail "$1: exit status 0, want the job stopped"
        expect_json "$T/r.json" oom_killed true
    fi
    peak=$(jget "$T/r.json" peak_memory_bytes)
    case $peak in
    null) log "$1: peak_memory_bytes is null (no memory accounting)" ;;
    *[!0-9]* | "") fail "$1: JSON peak_memory_bytes: want a number, got $peak" ;;
    *) [ "$peak" -le $((136 * MiB)) ] || fail "$1: peak_memory_bytes $peak is above --mem 128M" ;;
    esac
}

t_mem_bomb_one() {
    need_cgroup memory
    sbp --mem 128M --json "$T/r.json" -- "$P/hog" memhog 1 1024
    expect_fast 20000 "1 GiB memory bomb under --mem 128M"
    grep -q 'malloc: ENOMEM' "$T/out" || expect_rc 137 "one process touching 1 GiB under --mem 128M (OOM kill)"
    expect_oom "one process touching 1 GiB under --mem 128M"
}

# 20 processes x 40 MiB: each under any per-process limit, together far above --mem 128M.
t_mem_bomb_many() {
    need_cgroup memory
    sbp --mem 128M --json "$T/r.json" -- "$P/hog" memhog 20 40
    expect_fast 30000 "20 x 40 MiB memory bomb under --mem 128M"
    expect_oom "20 processes touching 40 MiB each under --mem 128M"
}

# check_fill WHAT MAXBYTES ERRNOS...: the "fill:" report names one of ERRNOS and at most MAXBYTES written.
check_fill() {
    what=$1
    max=$2
    shift 2
    line=$(field fill)
    got=${line%% *}
    bytes=$(echo "$line" | sed -n 's/.* after \([0-9]*\) bytes$/\1/p')
    [ -n "$bytes" ] || {
        fail "$what: no report from the payload"
        return
    }
    ok=0
    for e in "$@"; do [ "$got" = "$e" ] && ok=1; done
    [ "$ok" = 1 ] || fail "$what: writing stopped with '$got', want $*"
    [ "$bytes" -le "$max" ] || fail "$what: wrote $bytes bytes, want at most $max"
    [ "$bytes" -ge $((max / 2)) ] || fail "$what: only $bytes bytes fitted, want about $max"
}

t_tmp_fill() {
    new_marker
    sbp --tmpfs-size 16M -- "$P/hog" fill "/tmp/fill-$m" 64
    expect_rc 0 "filling /tmp"
    check_fill "/tmp with --tmpfs-size 16M" $((16 * MiB)) ENOSPC
    leaked=$(find /tmp /var/tmp -xdev -maxdepth 3 -name "fill-$m" 2>/dev/null)
    [ -z "$leaked" ] || fail "/tmp fill: the job's file appeared on the host: $leaked"
}

t_workspace_fill_file() {
    sbp --disk 32M --fsize 1G -- "$P/hog" fill /workspace/big 64
    expect_rc 0 "one huge file in the workspace"
    check_fill "one file in the workspace with --disk 32M" $((32 * MiB)) ENOSPC EDQUOT
}

t_workspace_fill_files() {
    sbp --disk 32M -- "$P/hog" fillfiles /workspace/d 20000 4096
    expect_rc 0 "many small files in the workspace"
    line=$(field fillfiles)
    n=$(echo "$line" | sed -n 's/.* after \([0-9]*\) files$/\1/p')
    case ${line%% *} in ENOSPC | EDQUOT) ;; *) fail "4 KiB files with --disk 32M: stopped with '$line', want ENOSPC" ;; esac
    if [ -n "$n" ]; then
        [ "$n" -le 8192 ] || fail "4 KiB files with --disk 32M: $n files fitted ($((n * 4)) KiB)"
        [ "$n" -ge 1000 ] || fail "4 KiB files with --disk 32M: only $n files fitted"
    fi
}

# bytes_in DIR: sum of the sizes of the regular files under DIR.
bytes_in() { find "$1" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }'; }

# With --workspace DIR the bound holds on the host too: DIR grows by at most --disk.
t_workspace_fill_merge() {
    W=$T/ws1
    mkdir -p "$W"
    head -c 1000 /dev/zero >"$W/keep"
    sbp --workspace "$W" --disk 32M --fsize 1G -- "$P/hog" fill /workspace/big 64
    expect_rc 0 "one huge file in --workspace DIR"
    check_fill "one file in --workspace DIR with --disk 32M" $((32 * MiB)) ENOSPC EDQUOT
    [ "$(wc -c <"$W/keep")" = 1000 ] || fail "--workspace: the host file keep changed"
    added=$(($(bytes_in "$W") - 1000))
    [ "$added" -le $((32 * MiB)) ] || fail "--workspace: DIR grew by $added bytes, past --disk 32M"
    [ -f "$W/big" ] || fail "--workspace: the job's file big was not applied to DIR"
    kb=$(du -sk "$W" | cut -f1)
    [ "$kb" -le $((34 * 1024)) ] || fail "--workspace: DIR uses $kb KiB on disk, past --disk 32M"

    W=$T/ws2
    mkdir -p "$W"
    sbp --workspace "$W" --disk 32M -- "$P/hog" fillfiles /workspace/d 20000 4096
    expect_rc 0 "many small files in --workspace DIR"
    added=$(bytes_in "$W")
    files=$(find "$W" -type f | wc -l)
    [ "$added" -le $((32 * MiB)) ] || fail "--workspace: DIR grew by $added bytes in $files files, past --disk 32M"
    [ "$files" -ge 1000 ] || fail "--workspace: only $files of the job's files were applied to DIR"
}

t_fsize() {
    sbp --fsize 1M -- "$P/hog" fill /workspace/f 4
    expect_rc 0 "writing 4 MiB with --fsize 1M, SIGXFSZ ignored"
    check_fill "--fsize 1M" "$MiB" EFBIG
    sb --fsize 1M -- sh -c 'head -c 2097152 /dev/zero > /workspace/g'
    expect_rc 153 "writing 2 MiB with --fsize 1M (SIGXFSZ)"
}

# limit NAME: "soft hard" of the line NAME in a copy of /proc/self/limits in stdout.
limit() {
    awk -v n="$1" 'index($0, n) == 1 { s = substr($0, 27); split(s, a, " "); print a[1], a[2] }' "$T/out"
}

t_rlimits() {
    sb --nofile 64 --fsize 2M -- sh -c 'ulimit -n; ulimit -c; cat /proc/self/limits'
    expect_rc 0 "reading rlimits"
    [ "$(sed -n 1p "$T/out")" = 64 ] || fail "--nofile 64: ulimit -n is '$(sed -n 1p "$T/out")'"
    [ "$(sed -n 2p "$T/out")" = 0 ] || fail "ulimit -c is '$(sed -n 2p "$T/out")', want 0"
    [ "$(limit 'Max open files')" = "64 64" ] || fail "--nofile 64: soft/hard are '$(limit 'Max open files')', want '64 64'"
    [ "$(limit 'Max file size')" = "2097152 2097152" ] ||
        fail "--fsize 2M: soft/hard are '$(limit 'Max file size')', want '2097152 2097152'"
    case $(limit 'Max core file size') in "0 "*) ;; *) fail "core size: '$(limit 'Max core file size')', want soft 0" ;; esac

    sb -- cat /proc/self/limits
    expect_rc 0 "reading default rlimits"
    case $(limit 'Max open files') in "1024 "*) ;; *) fail "default nofile: '$(limit 'Max open files')', want soft 1024" ;; esac
    case $(limit 'Max file size') in "1073741824 "*) ;;
    *) fail "default fsize: '$(limit 'Max file size')', want soft 1073741824 (= default --disk)" ;;
    esac
}
