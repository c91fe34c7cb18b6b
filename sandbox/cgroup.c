/* cgroup.c - one cgroup per sandbox for limits (memory, pids, cpu) and accounting, on cgroup v2 or v1:
 * finding where this process may create cgroups, creating and filling them, reading, killing, removing. */
#include "sandbox_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "../common/auto.h"

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define LAYOUT_PATH_MAX sizeof(((sb_cg_layout *)0)->v2_base)
#define CG_PATH_MAX     (LAYOUT_PATH_MAX + 256) /* base + "/" + a name of at most NAME_MAX */

/* ---- parsing: pure, over the kernel's text ---------------------------------------------------------------- */

/* The controllers we use, in the order of the layout's v1 fields. */
enum { C_MEMORY, C_PIDS, C_CPU, C_CPUACCT, C_N };
static const char *const ctrl_name[C_N] = {"memory", "pids", "cpu", "cpuacct"};

typedef struct span {
    const char *p;
    size_t n;
} span;

static bool span_is(span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

/* Whether the sep-separated list holds tok as a whole item ("cpu" is not in "cpuacct,cpuset"). */
static bool list_has(span list, char sep, const char *tok)
{
    const char *p = list.p, *end = list.p + list.n;
    while (p < end) {
        const char *e = memchr(p, sep, (size_t)(end - p));
        if (!e)
            e = end;
        if (span_is((span){p, (size_t)(e - p)}, tok))
            return true;
        p = e + 1;
    }
    return false;
}

/* The next space-separated field of a mountinfo line; n == 0 at the end. */
static span next_field(const char **p, const char *end)
{
    const char *s = *p;
    while (s < end && *s == ' ')
        s++;
    const char *e = s;
    while (e < end && *e != ' ')
        e++;
    *p = e;
    return (span){s, (size_t)(e - s)};
}

/* mountinfo escapes space, tab, newline and backslash in paths as \ooo (fs/proc_namespace.c, mangle()).
 * Returns false when the result does not fit. */
static bool unescape(span s, char *out, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < s.n; i++) {
        char c = s.p[i];
        if (c == '\\' && i + 3 < s.n && s.p[i + 1] >= '0' && s.p[i + 1] <= '3' && s.p[i + 2] >= '0' &&
            s.p[i + 2] <= '7' && s.p[i + 3] >= '0' && s.p[i + 3] <= '7') {
            c = (char)((s.p[i + 1] - '0') * 64 + (s.p[i + 2] - '0') * 8 + (s.p[i + 3] - '0'));
            i += 3;
        }
        if (o + 1 >= len)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

/* Where this process sits in each hierarchy, from /proc/self/cgroup ("ID:CONTROLLERS:PATH" per line). */
typedef struct own_paths {
    span v1[C_N]; /* n == 0: not listed */
    span v2;
} own_paths;

static int parse_self_cgroup(const char *text, own_paths *own, mrun_err *err)
{
    memset(own, 0, sizeof(*own));
    unsigned lineno = 0;
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        const char *end = nl ? nl : line + strlen(line);
        lineno++;
        const char *c1 = memchr(line, ':', (size_t)(end - line));
        const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
        if (end > line && (!c1 || !c2 || c1 == line || c2 + 1 >= end || c2[1] != '/'))
            return mrun_err_setx(err, EPROTO, "/proc/self/cgroup:%u:1: expected ID:CONTROLLERS:/PATH", lineno);
        if (end > line) {
            span ctrls = {c1 + 1, (size_t)(c2 - c1 - 1)};
            span path = {c2 + 1, (size_t)(end - c2 - 1)};
            if (span_is((span){line, (size_t)(c1 - line)}, "0") && ctrls.n == 0) {
                own->v2 = path;
            } else {
                for (int i = 0; i < C_N; i++)
                    if (list_has(ctrls, ',', ctrl_name[i]))
                        own->v1[i] = path;
            }
        }
        line = nl ? nl + 1 : end;
    }
    return 0;
}

/* Rejects "." and ".." components so a hostile or garbled input cannot point outside the mount. */
static bool path_is_clean(span p)
{
    const char *s = p.p, *end = p.p + p.n;
    while (s < end) {
        const char *e = memchr(s, '/', (size_t)(end - s));
        if (!e)
            e = end;
        span comp = {s, (size_t)(e - s)};
        if (span_is(comp, ".") || span_is(comp, ".."))
            return false;
        s = e + 1;
    }
    return true;
}

/* The directory of our own cgroup under a mount of its hierarchy: mountpoint + (own path - mount root).
 * False when the mount does not show our cgroup (another cgroup namespace, a bind of an unrelated
 * subtree) or the result is too long. */
static bool own_dir(const char *mp, const char *root, span own, char *out, size_t len)
{
    if (own.n == 0 || own.p[0] != '/' || !path_is_clean(own))
        return false;
    size_t rl = strlen(root);
    if (strcmp(root, "/") != 0) {
        if (own.n < rl || memcmp(own.p, root, rl) != 0 || (own.n > rl && own.p[rl] != '/'))
            return false;
        own.p += rl;
        own.n -= rl;
    }
    while (own.n > 0 && own.p[own.n - 1] == '/')
        own.n--;
    size_t ml = strlen(mp);
    if (ml == 1 && own.n > 0)
        ml = 0; /* the hierarchy mounted on "/": do not write "//x" */
    if (ml + own.n + 1 > len)
        return false;
    memcpy(out, mp, ml);
    memcpy(out + ml, own.p, own.n);
    out[ml + own.n] = '\0';
    return true;
}

/* A mount we may use; cleared when a later mount hides it. */
typedef struct cand {
    bool held;
    char mp[LAYOUT_PATH_MAX];
    char dir[LAYOUT_PATH_MAX];
} cand;

/* True when a mount at mp hides what is mounted at under (same place, or an ancestor mounted later). */
static bool hides(const char *mp, const char *under)
{
    size_t n = strlen(mp);
    if (n == 1 && mp[0] == '/')
        return true;
    return strncmp(mp, under, n) == 0 && (under[n] == '\0' || under[n] == '/');
}

static int parse_mountinfo(const char *text, const own_paths *own, cand v1[C_N], cand *v2, mrun_err *err)
{
    unsigned lineno = 0;
    for (const char *line = text; *line;) {
        const char *nl = strchr(line, '\n');
        const char *end = nl ? nl : line + strlen(line);
        const char *p = line;
        lineno++;
        line = nl ? nl + 1 : end;
        span f[6];
        for (int i = 0; i < 6; i++)
            f[i] = next_field(&p, end);
        if (f[0].n == 0)
            continue; /* blank line */
        span sep, fstype, source, super;
        do
            sep = next_field(&p, end); /* optional fields ("shared:1") end at "-" */
        while (sep.n > 0 && !span_is(sep, "-"));
        fstype = next_field(&p, end);
        source = next_field(&p, end);
        super = next_field(&p, end);
        if (f[5].n == 0 || sep.n == 0 || super.n == 0 || source.n == 0)
            return mrun_err_setx(err, EPROTO,
                                 "mountinfo:%u:1: expected ID PARENT DEV ROOT MOUNTPOINT OPTIONS ... - "
                                 "FSTYPE SOURCE SUPER-OPTIONS",
                                 lineno);
        char mp[LAYOUT_PATH_MAX], root[LAYOUT_PATH_MAX];
        if (!unescape(f[4], mp, sizeof(mp)))
            continue; /* too long to be ours, and too long to be an ancestor of a candidate */
        for (int i = 0; i < C_N; i++)
            if (v1[i].held && hides(mp, v1[i].mp))
                v1[i].held = false;
        if (v2->held && hides(mp, v2->mp))
            v2->held = false;
        if (!unescape(f[3], root, sizeof(root)))
            continue;
        if (span_is(fstype, "cgroup")) {
            for (int i = 0; i < C_N; i++) {
                if (v1[i].held || !list_has(super, ',', ctrl_name[i]))
                    continue;
                if (own_dir(mp, root, own->v1[i], v1[i].dir, sizeof(v1[i].dir))) {
                    v1[i].held = true;
                    memcpy(v1[i].mp, mp, sizeof(mp));
                }
            }
        } else if (span_is(fstype, "cgroup2") && !v2->held) {
            if (own_dir(mp, root, own->v2, v2->dir, sizeof(v2->dir))) {
                v2->held = true;
                memcpy(v2->mp, mp, sizeof(mp));
            }
        }
    }
    return 0;
}

/* Where sb_cgroup_detect moves this process on v2 when its own cgroup must pass on controllers. */
#define SUPERVISOR "mrun-supervisor"

/* A process that already sits in <base>/mrun-supervisor (moved there by an earlier detect) uses <base>,
 * not its leaf: that would nest a new supervisor leaf on every call. */
static void strip_supervisor(char *dir)
{
    size_t n = strlen(dir), sl = strlen("/" SUPERVISOR);
    if (n > sl && strcmp(dir + n - sl, "/" SUPERVISOR) == 0)
        dir[n - sl] = '\0';
}

/* Whether a cgroup.controllers text offers any controller we set limits with. */
static bool v2_usable(const char *controllers)
{
    if (!controllers)
        return false;
    span s = {controllers, strlen(controllers)};
    while (s.n > 0 && (s.p[s.n - 1] == '\n' || s.p[s.n - 1] == ' '))
        s.n--;
    return list_has(s, ' ', "memory") || list_has(s, ' ', "pids") || list_has(s, ' ', "cpu");
}

/* v1 wins when any of memory, pids or cpu has a v1 hierarchy: a controller lives in one version only, and
 * a hybrid host's unified mount then holds nothing of ours (here it offers only hugetlb, or nothing). */
int sb_cgroup_parse_layout(const char *mountinfo, const char *self_cgroup, const char *v2_controllers,
                           sb_cg_layout *ret_layout, mrun_err *err)
{
    own_paths own;
    if (parse_self_cgroup(self_cgroup, &own, err) < 0)
        return -1;
    cand v1[C_N] = {0}, v2 = {0};
    if (parse_mountinfo(mountinfo, &own, v1, &v2, err) < 0)
        return -1;
    sb_cg_layout l;
    memset(&l, 0, sizeof(l));
    char *v1_out[C_N] = {l.v1_memory, l.v1_pids, l.v1_cpu, l.v1_cpuacct};
    bool any_v1 = v1[C_MEMORY].held || v1[C_PIDS].held || v1[C_CPU].held;
    for (int i = 0; i < C_N && any_v1; i++)
        if (v1[i].held)
            memcpy(v1_out[i], v1[i].dir, sizeof(v1[i].dir));
    if (any_v1) {
        l.version = SB_CG_V1;
    } else if (v2.held && v2_usable(v2_controllers)) {
        l.version = SB_CG_V2;
        memcpy(l.v2_base, v2.dir, sizeof(v2.dir));
        strip_supervisor(l.v2_base);
    }
    *ret_layout = l;
    return 0;
}

/* ---- small file I/O relative to a cgroup directory -------------------------------------------------------- */

/* Reads a small file into buf (NUL-terminated). Returns the length, or -errno. */
static ssize_t read_at(int dfd, const char *file, char *buf, size_t len)
{
    mrun_autoclose int fd = openat(dfd, file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t got = 0;
    while (got + 1 < len) {
        ssize_t n = read(fd, buf + got, len - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    return (ssize_t)got;
}

/* Writes val in one write(2), as cgroup files require. Returns 0 or -errno. */
static int write_at(int dfd, const char *file, const char *val)
{
    mrun_autoclose int fd = openat(dfd, file, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t n = strlen(val);
    ssize_t w;
    do
        w = write(fd, val, n);
    while (w < 0 && errno == EINTR);
    if (w < 0)
        return -errno;
    return (size_t)w == n ? 0 : -EIO;
}

/* The value after "key " in a flat-keyed file ("oom_kill 3\n"); -1 when absent. */
static int64_t keyed_value(const char *text, const char *key)
{
    size_t kl = strlen(key);
    const char *p = text;
    while (strncmp(p, key, kl) != 0 || p[kl] != ' ') {
        p = strchr(p, '\n');
        if (!p)
            return -1;
        p++;
    }
    char *e;
    errno = 0;
    long long v = strtoll(p + kl + 1, &e, 10);
    return errno == 0 && e != p + kl + 1 && v >= 0 ? v : -1;
}

static int64_t number_at(int dfd, const char *file)
{
    char buf[64];
    if (read_at(dfd, file, buf, sizeof(buf)) <= 0)
        return -1;
    char *e;
    errno = 0;
    long long v = strtoll(buf, &e, 10);
    if (errno != 0 || e == buf || v < 0)
        return -1;
    return v;
}

static void sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- detection ----------------------------------------------------------------------------------------------- */

/* Reads a whole /proc file (they report size 0, so grow as we go), at most max bytes. */
static int read_proc(const char *path, size_t max, char **ret_text, mrun_err *err)
{
    mrun_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mrun_err_set(err, errno, "open '%s'", path);
    mrun_autofree char *buf = NULL;
    size_t cap = 0, got = 0;
    for (;;) {
        if (got + 1 >= cap) {
            if (cap >= max)
                return mrun_err_setx(err, E2BIG, "'%s' is larger than %zu bytes", path, max);
            size_t ncap = cap ? cap * 2 : 16384;
            char *nb = realloc(buf, ncap);
            if (!nb)
                return mrun_err_set(err, ENOMEM, "read '%s'", path);
            buf = nb;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + got, cap - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return mrun_err_set(err, errno, "read '%s'", path);
        if (n == 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    *ret_text = mrun_steal_ptr(&buf);
    return 0;
}

/* Our own v2 cgroup directory, found the same way the parser does (for reading its controllers). */
static bool v2_own_dir(const char *mountinfo, const char *self_cgroup, char *out, size_t len)
{
    own_paths own;
    cand v1[C_N] = {0}, v2 = {0};
    if (parse_self_cgroup(self_cgroup, &own, NULL) < 0 || parse_mountinfo(mountinfo, &own, v1, &v2, NULL) < 0 ||
        !v2.held || strlen(v2.dir) >= len)
        return false;
    memcpy(out, v2.dir, strlen(v2.dir) + 1);
    return true;
}

/* Whether the cgroup.procs of dfd lists this process and no other. */
static bool only_us(int dfd)
{
    char buf[256];
    if (read_at(dfd, "cgroup.procs", buf, sizeof(buf)) <= 0)
        return false;
    char want[24];
    int n = snprintf(want, sizeof(want), "%d\n", (int)getpid());
    return strncmp(buf, want, (size_t)n) == 0 && buf[n] == '\0';
}

/* The "no internal processes" rule of v2: a non-root cgroup cannot both hold processes and pass controllers
 * to its children. When the base is our own cgroup (a delegated service cgroup, a container's root) and
 * enabling fails with EBUSY, this process moves into the leaf <base>/mrun-supervisor and tries again, but
 * only when it is alone there: with a login shell beside it the move would gain nothing. That case (root in
 * an interactive session) gets no limits; use MRUN_CGROUP_ROOT or systemd-run -p Delegate=yes instead.
 * Any failure leaves the controllers off; sb_cgroup_create then reports those limits as unenforced. */
static void v2_prepare(const char *base, bool base_is_own)
{
    mrun_autoclose int dfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char avail[256], enabled[256];
    if (dfd < 0 || read_at(dfd, "cgroup.controllers", avail, sizeof(avail)) < 0 ||
        read_at(dfd, "cgroup.subtree_control", enabled, sizeof(enabled)) < 0)
        return;
    span a = {avail, strcspn(avail, "\n")}, e = {enabled, strcspn(enabled, "\n")};
    static const char *const want[] = {"memory", "pids", "cpu"};
    bool moved = false;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (!list_has(a, ' ', want[i]) || list_has(e, ' ', want[i]))
            continue;
        char op[16];
        snprintf(op, sizeof(op), "+%s", want[i]);
        int r = write_at(dfd, "cgroup.subtree_control", op);
        if (r == -EBUSY && base_is_own && !moved && only_us(dfd)) {
            moved = true;
            if (mkdirat(dfd, SUPERVISOR, 0755) < 0 && errno != EEXIST)
                return;
            mrun_autoclose int sfd = openat(dfd, SUPERVISOR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (sfd < 0 || write_at(sfd, "cgroup.procs", "0") < 0) /* "0": the writing process, all threads */
                return;
            r = write_at(dfd, "cgroup.subtree_control", op);
        }
        if (r < 0 && r != -EBUSY)
            continue; /* e.g. cpu refused while realtime threads exist: try the others */
        if (r < 0)
            return; /* other processes share the base: nothing more can be enabled */
    }
}

int sb_cgroup_detect(sb_cg_layout *ret_layout, mrun_err *err)
{
    mrun_autofree char *mountinfo = NULL;
    mrun_autofree char *self = NULL;
    if (read_proc("/proc/self/mountinfo", 64u << 20, &mountinfo, err) < 0 ||
        read_proc("/proc/self/cgroup", 1u << 20, &self, err) < 0)
        return mrun_err_prefix(err, "detect cgroups");

    const char *override = getenv("MRUN_CGROUP_ROOT");
    char own[LAYOUT_PATH_MAX], dir[LAYOUT_PATH_MAX];
    if (!v2_own_dir(mountinfo, self, own, sizeof(own)))
        own[0] = '\0';
    memcpy(dir, own, sizeof(own));
    strip_supervisor(dir);
    if (override && *override) {
        struct statfs sfs;
        if (override[0] != '/' || strlen(override) >= sizeof(dir))
            return mrun_err_setx(err, EINVAL, "MRUN_CGROUP_ROOT '%.200s': expected an absolute path shorter than %zu",
                                 override, sizeof(dir));
        if (statfs(override, &sfs) < 0)
            return mrun_err_set(err, errno, "MRUN_CGROUP_ROOT '%.200s'", override);
        if (sfs.f_type != CGROUP2_SUPER_MAGIC)
            return mrun_err_setx(err, EINVAL, "MRUN_CGROUP_ROOT '%.200s': not a cgroup v2 directory", override);
        memcpy(dir, override, strlen(override) + 1);
    }

    char controllers[256];
    bool have_ctrl = false;
    if (dir[0]) {
        mrun_autoclose int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        have_ctrl = dfd >= 0 && read_at(dfd, "cgroup.controllers", controllers, sizeof(controllers)) >= 0;
    }
    sb_cg_layout l;
    if (override && *override) {
        if (!v2_usable(have_ctrl ? controllers : NULL))
            return mrun_err_setx(err, EINVAL, "MRUN_CGROUP_ROOT '%.200s': none of memory, pids, cpu is available",
                                 override);
        memset(&l, 0, sizeof(l));
        l.version = SB_CG_V2;
        memcpy(l.v2_base, dir, sizeof(dir));
    } else if (sb_cgroup_parse_layout(mountinfo, self, have_ctrl ? controllers : NULL, &l, err) < 0) {
        return mrun_err_prefix(err, "detect cgroups");
    }
    if (l.version == SB_CG_V2)
        v2_prepare(l.v2_base, own[0] && strcmp(own, l.v2_base) == 0);
    *ret_layout = l;
    return 0;
}

/* ---- one sandbox's cgroup ------------------------------------------------------------------------------------ */

enum { R_MEM = 1u << 0, R_PIDS = 1u << 1, R_CPU = 1u << 2, R_CPUACCT = 1u << 3 };

/* One directory per hierarchy (v1: up to four, fewer when controllers share a mount; v2: one). The fds are
 * open from create to destroy; on v2 fd is the CLONE_INTO_CGROUP fd. Owned by the thread that owns the
 * sandbox; the clone child gets the entry fds over its setup socket (sb_cgroup_entry_fds). */
typedef struct cg_dir {
    unsigned roles; /* R_* this directory serves */
    int fd;         /* the directory */
    int entry_fd;   /* v1 "tasks", v2 "cgroup.procs", open for writing: a process joins by writing "0" */
    char path[CG_PATH_MAX];
} cg_dir;

struct sb_cgroup {
    sb_cg_version version; /* SB_CG_NONE: nothing was created, every call does nothing */
    unsigned n;
    cg_dir dirs[C_N];
};

static unsigned limit_bits(unsigned roles, const sb_cg_limits *lim)
{
    unsigned bits = 0;
    if ((roles & R_MEM) && lim->mem_bytes > 0)
        bits |= MRUN_SANDBOX_LIMIT_MEM;
    if ((roles & R_PIDS) && lim->pids > 0)
        bits |= MRUN_SANDBOX_LIMIT_PIDS;
    if ((roles & R_CPU) && lim->cpu_milli > 0)
        bits |= MRUN_SANDBOX_LIMIT_CPU;
    return bits;
}

/* Errors meaning "not ours to use" (no permission, read-only, controller absent) rather than a failure. */
static bool is_unavailable(int e)
{
    return e == EACCES || e == EPERM || e == EROFS || e == ENOENT;
}

/* The CFS period is left at the kernel's default of 100 ms for a new cgroup; the quota is a share of it. */
#define CPU_PERIOD_US 100000

static int64_t cpu_quota_us(int64_t milli)
{
    if (milli > 10000000)
        milli = 10000000; /* 10,000 CPUs: no limit in practice, and far below the kernel's maximum */
    int64_t q = milli * (CPU_PERIOD_US / 1000);
    return q < 1000 ? 1000 : q; /* the kernel refuses quotas under 1 ms */
}

/* Writes one limit; an absent file or refused permission makes it unenforced rather than failing. */
static int put_limit(cg_dir *d, const char *file, const char *val, unsigned bit, unsigned *unenforced, mrun_err *err)
{
    int r = write_at(d->fd, file, val);
    if (r == 0)
        return 0;
    if (is_unavailable(-r)) {
        *unenforced |= bit;
        return 0;
    }
    return mrun_err_set(err, -r, "write %s to '%s/%s'", val, d->path, file);
}

static int put_limits(sb_cg_version v, cg_dir *d, const sb_cg_limits *lim, unsigned *unenforced, mrun_err *err)
{
    char val[32];
    if ((d->roles & R_MEM) && lim->mem_bytes > 0) {
        snprintf(val, sizeof(val), "%" PRId64, lim->mem_bytes);
        unsigned before = *unenforced;
        if (put_limit(d, v == SB_CG_V2 ? "memory.max" : "memory.limit_in_bytes", val, MRUN_SANDBOX_LIMIT_MEM,
                      unenforced, err) < 0)
            return -1;
        /* Swap would let the job exceed the limit unseen; absent when the kernel accounts no swap. */
        int r = *unenforced != before ? 0
                : v == SB_CG_V2       ? write_at(d->fd, "memory.swap.max", "0")
                                      : write_at(d->fd, "memory.memsw.limit_in_bytes", val);
        if (r < 0 && r != -ENOENT)
            return mrun_err_set(err, -r, "limit swap in '%s'", d->path);
    }
    if ((d->roles & R_PIDS) && lim->pids > 0) {
        snprintf(val, sizeof(val), "%" PRId64, lim->pids);
        if (put_limit(d, "pids.max", val, MRUN_SANDBOX_LIMIT_PIDS, unenforced, err) < 0)
            return -1;
    }
    if ((d->roles & R_CPU) && lim->cpu_milli > 0) {
        int64_t q = cpu_quota_us(lim->cpu_milli);
        const char *file = v == SB_CG_V2 ? "cpu.max" : "cpu.cfs_quota_us";
        if (v == SB_CG_V2)
            snprintf(val, sizeof(val), "%" PRId64 " %d", q, CPU_PERIOD_US);
        else
            snprintf(val, sizeof(val), "%" PRId64, q);
        if (put_limit(d, file, val, MRUN_SANDBOX_LIMIT_CPU, unenforced, err) < 0)
            return -1;
    }
    return 0;
}

/* Makes base/name. Returns 1 when made, 0 when this hierarchy is not ours to use, -1 on error. */
static int make_dir(cg_dir *d, bool v2, const char *base, const char *name, mrun_err *err)
{
    int n = snprintf(d->path, sizeof(d->path), "%s/%s", base, name);
    if (n < 0 || (size_t)n >= sizeof(d->path))
        return mrun_err_setx(err, E2BIG, "cgroup path '%s/%s' too long", base, name);
    if (mkdir(d->path, 0755) < 0) {
        int e = errno;
        /* A leftover of a crashed run with the same name: its counters (oom_kill) would be wrong, so
         * start afresh. rmdir fails if something still runs there, and then so do we. */
        if (e == EEXIST && rmdir(d->path) == 0 && mkdir(d->path, 0755) == 0)
            goto made;
        if (is_unavailable(e))
            return 0;
        return mrun_err_set(err, e, "mkdir '%s'", d->path);
    }
made:
    d->fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->fd >= 0)
        d->entry_fd = openat(d->fd, v2 ? "cgroup.procs" : "tasks", O_WRONLY | O_CLOEXEC);
    if (d->fd < 0 || d->entry_fd < 0) {
        int e = errno;
        mrun_closep(&d->fd);
        rmdir(d->path);
        return mrun_err_set(err, e, "open '%s'", d->path);
    }
    return 1;
}

/* Removes "mrun-<pid>-..." cgroups under base whose creating process is gone: an mrun killed with SIGKILL
 * cannot remove its own. rmdir refuses a cgroup that still holds a process, so a live sandbox is never hurt. */
static void sweep_dir(const char *base)
{
    DIR *d = opendir(base);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_type != DT_DIR || strncmp(e->d_name, "mrun-", 5) != 0)
            continue;
        char *end;
        errno = 0;
        long pid = strtol(e->d_name + 5, &end, 10);
        if (errno || end == e->d_name + 5 || *end != '-' || pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char path[CG_PATH_MAX];
        int n = snprintf(path, sizeof(path), "%s/%s", base, e->d_name);
        if (n > 0 && (size_t)n < sizeof(path))
            rmdir(path);
    }
    closedir(d);
}

void sb_cgroup_sweep(const sb_cg_layout *layout)
{
    if (layout->version == SB_CG_V2) {
        sweep_dir(layout->v2_base);
    } else if (layout->version == SB_CG_V1) {
        const char *dirs[] = {layout->v1_memory, layout->v1_pids, layout->v1_cpu, layout->v1_cpuacct};
        for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
            bool seen = false;
            for (size_t j = 0; j < i; j++)
                seen = seen || strcmp(dirs[i], dirs[j]) == 0;
            if (dirs[i][0] && !seen)
                sweep_dir(dirs[i]);
        }
    }
}

static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n <= 255 && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static void destroyp(sb_cgroup **cg)
{
    sb_cgroup_destroy(*cg);
}

int sb_cgroup_create(const sb_cg_layout *layout, const char *name, const sb_cg_limits *lim, sb_cgroup **ret_cg,
                     unsigned *ret_unenforced, mrun_err *err)
{
    if (!name_ok(name))
        return mrun_err_setx(err, EINVAL, "bad cgroup name '%.64s'", name);
    mrun_cleanup(destroyp) sb_cgroup *cg = calloc(1, sizeof(*cg));
    if (!cg)
        return mrun_err_set(err, ENOMEM, "cgroup '%s'", name);
    cg->version = layout->version;
    unsigned want = R_MEM | R_PIDS | R_CPU | R_CPUACCT;
    unsigned unenforced = 0;

    /* Which directories to make: one per distinct base. On v1, a hierarchy only for a limit that is set
     * (pids, cpu) is skipped when that limit is 0: each costs a mkdir, an attach and an rmdir. */
    const char *base[C_N] = {0};
    unsigned roles[C_N] = {0};
    unsigned nb = 0;
    if (layout->version == SB_CG_V2) {
        base[0] = layout->v2_base;
        roles[nb++] = want;
    } else if (layout->version == SB_CG_V1) {
        const char *lb[C_N] = {layout->v1_memory, layout->v1_pids, layout->v1_cpu, layout->v1_cpuacct};
        unsigned lr[C_N] = {R_MEM, R_PIDS, R_CPU, R_CPUACCT};
        bool needed[C_N] = {true, lim->pids > 0, lim->cpu_milli > 0, true};
        for (int i = 0; i < C_N; i++) {
            if (!needed[i] || !lb[i][0])
                continue;
            unsigned j = 0;
            while (j < nb && strcmp(base[j], lb[i]) != 0)
                j++;
            if (j == nb)
                base[nb++] = lb[i];
            roles[j] |= lr[i];
        }
    }
    for (unsigned j = 0; j < nb; j++) {
        cg_dir *d = &cg->dirs[cg->n];
        d->fd = d->entry_fd = -1;
        int r = make_dir(d, layout->version == SB_CG_V2, base[j], name, err);
        if (r < 0)
            return mrun_err_prefix(err, "create cgroup");
        if (r == 0)
            continue;
        d->roles = roles[j];
        cg->n++;
    }
    unsigned have = 0;
    for (unsigned j = 0; j < cg->n; j++) {
        if (put_limits(cg->version, &cg->dirs[j], lim, &unenforced, err) < 0)
            return mrun_err_prefix(err, "create cgroup");
        have |= cg->dirs[j].roles;
    }
    if (cg->n == 0)
        cg->version = SB_CG_NONE;
    unenforced |= limit_bits(want & ~have, lim);
    *ret_unenforced = unenforced;
    *ret_cg = mrun_steal_ptr(&cg);
    return 0;
}

int sb_cgroup_fd(const sb_cgroup *cg)
{
    return cg && cg->version == SB_CG_V2 && cg->n == 1 ? cg->dirs[0].fd : -1;
}

int sb_cgroup_attach(sb_cgroup *cg, pid_t pid, mrun_err *err)
{
    char val[24];
    snprintf(val, sizeof(val), "%d", (int)pid);
    for (unsigned j = 0; cg && j < cg->n; j++) {
        int r = write_at(cg->dirs[j].fd, "cgroup.procs", val);
        if (r < 0)
            return mrun_err_set(err, -r, "move pid %d into '%s'", (int)pid, cg->dirs[j].path);
    }
    return 0;
}

unsigned sb_cgroup_entry_fds(const sb_cgroup *cg, int *fds, unsigned max)
{
    unsigned n = 0;
    for (unsigned j = 0; cg && j < cg->n && n < max; j++)
        fds[n++] = cg->dirs[j].entry_fd;
    return n;
}

static const cg_dir *dir_for(const sb_cgroup *cg, unsigned role)
{
    for (unsigned j = 0; cg && j < cg->n; j++)
        if (cg->dirs[j].roles & role)
            return &cg->dirs[j];
    return NULL;
}

void sb_cgroup_stats_read(const sb_cgroup *cg, sb_cg_stats *ret_stats)
{
    sb_cg_stats s = {.peak_memory_bytes = -1, .cpu_usage_ms = -1, .oom_killed = false};
    char buf[512];
    bool v2 = cg && cg->version == SB_CG_V2;
    const cg_dir *m = dir_for(cg, R_MEM);
    if (m) {
        s.peak_memory_bytes = number_at(m->fd, v2 ? "memory.peak" : "memory.max_usage_in_bytes");
        if (read_at(m->fd, v2 ? "memory.events" : "memory.oom_control", buf, sizeof(buf)) > 0)
            s.oom_killed = keyed_value(buf, "oom_kill") > 0;
    }
    const cg_dir *c = dir_for(cg, v2 ? R_CPU : R_CPUACCT);
    if (c && v2) {
        if (read_at(c->fd, "cpu.stat", buf, sizeof(buf)) > 0) {
            int64_t us = keyed_value(buf, "usage_usec");
            s.cpu_usage_ms = us < 0 ? -1 : us / 1000;
        }
    } else if (c) {
        int64_t ns = number_at(c->fd, "cpuacct.usage");
        s.cpu_usage_ms = ns < 0 ? -1 : ns / 1000000;
    }
    *ret_stats = s;
}

/* SIGKILLs every pid listed in dir's cgroup.procs. Returns how many were listed, or -1 if unreadable.
 * A pid may be reused between the read and the kill; the window is one read, and the pids are of
 * processes this cgroup held a moment ago, so we accept it (cgroup.kill, on v2, has no such window). */
static int kill_listed(const cg_dir *d)
{
    mrun_autoclose int fd = openat(d->fd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[4096];
    size_t carry = 0;
    int listed = 0;
    for (;;) {
        ssize_t n = read(fd, buf + carry, sizeof(buf) - 1 - carry);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        size_t len = carry + (size_t)n, start = 0;
        buf[len] = '\0';
        for (size_t i = 0; i <= len; i++) {
            if (i < len ? buf[i] != '\n' : n != 0 || start == len)
                continue; /* the last line may lack its newline; at EOF take it anyway */
            buf[i] = '\0';
            long v = strtol(buf + start, NULL, 10);
            if (v > 0) {
                kill((pid_t)v, SIGKILL);
                listed++;
            }
            start = i + 1;
        }
        if (n == 0)
            return listed;
        carry = len - start;
        memmove(buf, buf + start, carry);
    }
}

void sb_cgroup_kill(sb_cgroup *cg)
{
    if (!cg || cg->n == 0)
        return;
    if (cg->version == SB_CG_V2 && write_at(cg->dirs[0].fd, "cgroup.kill", "1") == 0)
        return;
    /* No cgroup.kill (v1, or v2 before Linux 5.14): a forking job can add processes between our read and
     * our kills, so read again until the list is empty, for at most about a second. */
    int64_t deadline = now_us() + 1000000;
    for (;;) {
        int listed = kill_listed(&cg->dirs[0]);
        if (listed <= 0 || now_us() > deadline)
            return;
        sleep_us(200);
    }
}

void sb_cgroup_destroy(sb_cgroup *cg)
{
    if (!cg)
        return;
    /* rmdir fails with EBUSY until the last process has left; a killed process takes a moment to exit. */
    int64_t deadline = now_us() + 1000000;
    for (unsigned j = 0; j < cg->n; j++) {
        cg_dir *d = &cg->dirs[j];
        mrun_closep(&d->fd);
        mrun_closep(&d->entry_fd);
        while (rmdir(d->path) < 0 && errno == EBUSY && now_us() < deadline)
            sleep_us(1000);
    }
    free(cg);
}
