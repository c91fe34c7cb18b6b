/* preview_state.c - what outlives a preview's owner: one state file per running preview (who owns it, which
 * sandbox, until when), the reaping of previews whose owner is gone, and the live peak-memory read of a
 * sandbox's cgroup. A process is identified by pid and start time together, so a reused pid is never touched. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../common/auto.h"
#include "preview_int.h"

#define STATE_MAX    1024
#define STATE_MAGIC  "mrun-preview 1\n"
#define REAP_WAIT_MS 2000

/* Reads a small file whole (at most cap-1 bytes), NUL-terminated; -1 when it cannot be opened. */
static ssize_t read_small(int dirfd, const char *path, char *buf, size_t cap)
{
    mrun_autoclose int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < cap - 1) {
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    return (ssize_t)got;
}

unsigned long long pv_proc_start(int pid)
{
    if (pid <= 0)
        return 0;
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    if (read_small(AT_FDCWD, path, buf, sizeof(buf)) <= 0)
        return 0;
    /* "pid (comm) state ppid ...": comm may hold spaces and parentheses, so count from the last ')'. Field 3
     * (state) follows it; start time is field 22. A zombie counts as gone. */
    const char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X')
        return 0;
    p += 2;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return 0;
        p++;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno || end == p)
        return 0;
    return v;
}

/* Wall-clock milliseconds: the expiry in the file must mean something to another process. */
static int64_t realtime_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pv_state_write(mrun_preview *pv, mrun_err *err)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    if (snprintf(path, sizeof(path), "%s/preview-%d.state", pv->state_dir, pv->pid) >= (int)sizeof(path))
        return mrun_err_setx(err, E2BIG, "state file path too long");
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    char text[STATE_MAX];
    int64_t expires = realtime_ms() + (pv->expiry_ms - pv_now_ms());
    int n =
        snprintf(text, sizeof(text),
                 STATE_MAGIC "pid %d\npid_start %llu\nowner %d\nowner_start %llu\nport %u\nexpires_ms %" PRId64 "\n",
                 pv->pid, pv->pid_start, (int)getpid(), pv_proc_start((int)getpid()), pv->listen_port, expires);
    mrun_autoclose int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return mrun_err_set(err, errno, "state file '%s'", tmp);
    if (write(fd, text, (size_t)n) != n || fsync(fd) < 0) {
        int e = errno;
        unlink(tmp);
        return mrun_err_set(err, e ? e : EIO, "write state file '%s'", tmp);
    }
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return mrun_err_set(err, e, "rename state file to '%s'", path);
    }
    snprintf(pv->state_path, sizeof(pv->state_path), "%s", path);
    return 0;
}

/* ---- live peak memory ------------------------------------------------------------------------------------ */

/* Finds the mount of the hierarchy (v1: a "cgroup" mount whose super options name memory; v2: "cgroup2") and
 * maps the cgroup path onto it: mountpoint + (path without the mount's root). */
static int cgroup_dir(bool v2, const char *cg_path, char *out, size_t len)
{
    mrun_autoclose_file FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return -1;
    char line[1024];
    while (fgets(line, sizeof(line), f)) {
        char root[512], mnt[512], fstype[32], super[256];
        const char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*s %*s %*s %511s %511s", root, mnt) != 2 ||
            sscanf(dash + 3, "%31s %*s %255s", fstype, super) != 2)
            continue;
        bool match =
            v2 ? strcmp(fstype, "cgroup2") == 0 : strcmp(fstype, "cgroup") == 0 && strstr(super, "memory") != NULL;
        if (!match || strchr(mnt, '\\') || strchr(root, '\\'))
            continue;
        size_t rl = strcmp(root, "/") == 0 ? 0 : strlen(root);
        if (strncmp(cg_path, root, rl) != 0)
            continue;
        if (snprintf(out, len, "%s%s", mnt, cg_path + rl) >= (int)len)
            return -1;
        return 0;
    }
    return -1;
}

static int64_t read_number(const char *path)
{
    char buf[64];
    if (read_small(AT_FDCWD, path, buf, sizeof(buf)) <= 0)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    return errno || end == buf ? -1 : (int64_t)v;
}

int64_t pv_cgroup_peak(int pid)
{
    if (pid <= 0)
        return -1;
    char path[64], text[2048];
    snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
    if (read_small(AT_FDCWD, path, text, sizeof(text)) <= 0)
        return -1;
    /* "N:controllers:/path" per line; the v1 memory line wins over the v2 "0::/path". */
    char v1[512] = "", v2[512] = "";
    for (char *l = text, *nl; l && *l; l = nl) {
        nl = strchr(l, '\n');
        if (nl)
            *nl++ = '\0';
        char *c1 = strchr(l, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        const char *ctrl = c1 + 1, *cg = c2 + 1;
        if (ctrl[0] == '\0' && strcmp(l, "0:") == 0)
            snprintf(v2, sizeof(v2), "%s", cg);
        for (const char *t = ctrl; (t = strstr(t, "memory")) != NULL; t += 6)
            if ((t == ctrl || t[-1] == ',') && (t[6] == '\0' || t[6] == ','))
                snprintf(v1, sizeof(v1), "%s", cg);
    }
    char dir[1024], file[1100];
    if (v1[0] && cgroup_dir(false, v1, dir, sizeof(dir)) == 0) {
        snprintf(file, sizeof(file), "%s/memory.max_usage_in_bytes", dir);
        return read_number(file);
    }
    if (v2[0] && cgroup_dir(true, v2, dir, sizeof(dir)) == 0) {
        snprintf(file, sizeof(file), "%s/memory.peak", dir);
        int64_t v = read_number(file);
        if (v < 0) { /* kernels before 5.19: the current usage is the best sample there is */
            snprintf(file, sizeof(file), "%s/memory.current", dir);
            v = read_number(file);
        }
        return v;
    }
    return -1;
}

/* ---- reaping ----------------------------------------------------------------------------------------------- */

typedef struct state_rec {
    int pid, owner;
    unsigned long long pid_start, owner_start;
} state_rec;

static int parse_state(const char *text, state_rec *r)
{
    if (strncmp(text, STATE_MAGIC, strlen(STATE_MAGIC)) != 0)
        return -1;
    unsigned port;
    long long expires;
    if (sscanf(text + strlen(STATE_MAGIC),
               "pid %d\npid_start %llu\nowner %d\nowner_start %llu\nport %u\nexpires_ms %lld", &r->pid, &r->pid_start,
               &r->owner, &r->owner_start, &port, &expires) != 6)
        return -1;
    return r->pid > 0 && r->owner > 0 ? 0 : -1;
}

/* Kills pid if it is still the process the state file names: the pidfd is taken first and the start time
 * checked after, so the pid cannot be reused between the check and the signal. Waits briefly for the end.
 * Returns 1 when it killed, 0 when the process was gone or is someone else. */
static int kill_if_same(int pid, unsigned long long start)
{
    mrun_autoclose int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pfd < 0)
        return 0;
    if (start == 0 || pv_proc_start(pid) != start)
        return 0;
    if (syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0) < 0)
        return 0;
    struct pollfd pf = {.fd = pfd, .events = POLLIN};
    while (poll(&pf, 1, REAP_WAIT_MS) < 0 && errno == EINTR)
        ;
    return 1;
}

static bool is_state_name(const char *n)
{
    size_t l = strlen(n);
    return strncmp(n, "preview-", 8) == 0 && l > 14 && strcmp(n + l - 6, ".state") == 0;
}

int mrun_preview_reap_orphans(const char *state_dir, mrun_err *err)
{
    DIR *d = opendir(state_dir);
    if (!d)
        return mrun_err_set(err, errno, "preview state dir '%s'", state_dir);
    int killed = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!is_state_name(de->d_name))
            continue;
        char text[STATE_MAX];
        if (read_small(dirfd(d), de->d_name, text, sizeof(text)) < 0)
            continue;
        state_rec r;
        if (parse_state(text, &r) == 0) {
            if (r.owner_start != 0 && pv_proc_start(r.owner) == r.owner_start)
                continue; /* its owner runs: not an orphan */
            killed += kill_if_same(r.pid, r.pid_start);
        }
        unlinkat(dirfd(d), de->d_name, 0); /* an orphan's, or unreadable: nothing can use it */
    }
    closedir(d);
    return killed;
}
