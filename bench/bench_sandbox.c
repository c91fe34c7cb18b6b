/* bench_sandbox.c - times `mrun sandbox` against bubblewrap starting /bin/true with comparable isolation.
 * A program, not a test: the variants run round-robin in one process, so machine noise hits them alike,
 * and it prints wall-time p50, p95 and mean and the CPU time per variant, plus the mrun/bwrap ratios.
 * See docs/benchmarks.md. */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/perf_event.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/auto.h"
#include "common/err.h"
#include "common/parse.h"

extern char **environ;

#define MAX_ARGS      64
#define MAX_VARIANTS  3
#define CMD_MAX       4096
#define CAPTURE_SHOW  8192 /* bytes of a failed tool's stdout/stderr we print */
#define CGROUP2_MAGIC 0x63677270
#define PATH_ENV      "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" /* as mrun sets it */
#define TMPFS_BYTES   "268435456" /* 256M: mrun's default /tmp size */

/* One command being timed. argv points at string literals, the tool paths in struct bench, and ws
 * (the per-run workspace, at index ws_slot when ws_slot >= 0). ms holds one sample per recorded run. */
typedef struct variant {
    const char *name;
    bool is_mrun; /* numerator of the ratios */
    const char *argv[MAX_ARGS];
    unsigned argc;
    int ws_slot;
    char ws[PATH_MAX];
    double *ms;  /* wall time, spawn to reap */
    double *cpu; /* task-clock of the tool and all its descendants (an inherited perf counter); -1 if unavailable */
    unsigned n;
} variant;

typedef struct stats {
    double p50, p95, mean, min, max;
    double cpu_p50;
} stats;

/* Everything main() owns; no globals. */
typedef struct bench {
    int64_t runs, warmup;
    int64_t pause_ms; /* untimed sleep before every run: a cold start, as when a runner starts jobs seconds apart */
    char mrun[PATH_MAX], bwrap[PATH_MAX];
    bool json;
    char base[PATH_MAX];         /* mkdtemp'd dir that holds the per-run workspaces; "" before it exists */
    int null_fd, out_fd, err_fd; /* /dev/null for stdin; memfds that capture the tool's stdout and stderr */
    int cpu_fd;                  /* inherited task-clock counter on this process, or -1 */
    variant v[MAX_VARIANTS];
    unsigned nv;
} bench;

static const char usage[] = "usage: bench_sandbox [--runs N] [--warmup N] [--pause MS] [--mrun PATH] [--bwrap PATH]\n"
                            "                     [--variants mrun-ws,mrun,bwrap] [--json]\n"
                            "Times N interleaved runs of /bin/true under each variant (default 200, warmup 10).\n"
                            "--pause MS sleeps MS milliseconds (untimed) before every run, for cold starts.\n";

/* ---- small helpers ------------------------------------------------------------------------------------- */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* An executable path: as given when it contains '/', else looked up in PATH. */
static int resolve_exe(const char *name, char *ret, size_t len, mrun_err *err)
{
    if (strchr(name, '/')) {
        if (access(name, X_OK) < 0)
            return mrun_err_set(err, errno, "'%s'", name);
        snprintf(ret, len, "%s", name);
        return 0;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = PATH_ENV;
    for (const char *p = path; *p;) {
        size_t n = strcspn(p, ":");
        char cand[PATH_MAX];
        int w = snprintf(cand, sizeof(cand), "%.*s/%s", (int)n, p, name);
        if (n > 0 && w > 0 && (size_t)w < sizeof(cand) && access(cand, X_OK) == 0) {
            snprintf(ret, len, "%s", cand);
            return 0;
        }
        p += n + (p[n] == ':');
    }
    return mrun_err_setx(err, ENOENT, "'%s' not found in PATH (pass its path)", name);
}

/* Appends s to buf (of size CMD_MAX), single-quoted when it holds anything a shell would interpret. */
static void append_quoted(char *buf, const char *s)
{
    size_t len = strlen(buf);
    bool plain =
        *s && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_./:=@%+,-") == strlen(s);
    if (len && len < CMD_MAX - 1)
        buf[len++] = ' ';
    if (!plain && len < CMD_MAX - 1)
        buf[len++] = '\'';
    for (; *s && len < CMD_MAX - 5; s++) {
        if (*s == '\'' && !plain) {
            memcpy(buf + len, "'\\''", 4);
            len += 4;
        } else {
            buf[len++] = *s;
        }
    }
    if (!plain && len < CMD_MAX - 1)
        buf[len++] = '\'';
    buf[len] = '\0';
}

/* The command line as a shell would take it, with the workspace shown as WS. */
static void format_cmd(const variant *v, char *buf)
{
    buf[0] = '\0';
    for (unsigned i = 0; i < v->argc; i++)
        append_quoted(buf, (int)i == v->ws_slot ? "WS" : v->argv[i]);
}

static void fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    if (remove(path) < 0 && errno != ENOENT)
        return -1;
    return 0;
}

static int remove_tree(const char *path, mrun_err *err)
{
    if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 && errno != ENOENT)
        return mrun_err_set(err, errno, "remove '%s'", path);
    return 0;
}

/* ---- variants ------------------------------------------------------------------------------------------- */

static void push(variant *v, const char *arg)
{
    if (v->argc + 1 >= MAX_ARGS) {
        fprintf(stderr, "bench_sandbox: too many arguments for '%s'\n", v->name);
        exit(2);
    }
    v->argv[v->argc++] = arg;
    v->argv[v->argc] = NULL;
}

static void push_ws(variant *v)
{
    v->ws_slot = (int)v->argc;
    push(v, v->ws);
}

/* /bin, /sbin, /lib, /lib64: a symlink like the host's (usrmerge), a read-only bind of a real directory,
 * or nothing when the host lacks it. Link targets are copied into links[] so argv can point at them. */
static void push_root_dirs(variant *v, char links[4][PATH_MAX])
{
    static const char *const dirs[] = {"/bin", "/sbin", "/lib", "/lib64"};
    for (unsigned i = 0; i < 4; i++) {
        struct stat st;
        if (lstat(dirs[i], &st) < 0)
            continue;
        if (S_ISLNK(st.st_mode)) {
            ssize_t n = readlink(dirs[i], links[i], PATH_MAX - 1);
            if (n <= 0)
                continue;
            links[i][n] = '\0';
            push(v, "--symlink");
            push(v, links[i]);
            push(v, dirs[i]);
        } else if (S_ISDIR(st.st_mode)) {
            push(v, "--ro-bind");
            push(v, dirs[i]);
            push(v, dirs[i]);
        }
    }
}

static void build_variant(bench *b, const char *name, char links[4][PATH_MAX])
{
    variant *v = &b->v[b->nv++];
    v->name = name;
    v->ws_slot = -1;
    if (strcmp(name, "bwrap") == 0) {
        const char *pre[] = {b->bwrap,        "--unshare-all", "--die-with-parent",
                             "--new-session", "--hostname",    "sandbox",
                             "--ro-bind",     "/usr",          "/usr"};
        for (unsigned i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
            push(v, pre[i]);
        push_root_dirs(v, links);
        const char *mid[] = {"--proc", "/proc", "--dev", "/dev", "--size", TMPFS_BYTES, "--tmpfs", "/tmp", "--bind"};
        for (unsigned i = 0; i < sizeof(mid) / sizeof(mid[0]); i++)
            push(v, mid[i]);
        push_ws(v);
        const char *post[] = {"/workspace", "--chdir", "/workspace", "--clearenv", "--setenv",
                              "PATH",       PATH_ENV,  "--",         "/bin/true"};
        for (unsigned i = 0; i < sizeof(post) / sizeof(post[0]); i++)
            push(v, post[i]);
        return;
    }
    v->is_mrun = true;
    push(v, b->mrun);
    push(v, "sandbox");
    if (strcmp(name, "mrun-ws") == 0) {
        push(v, "--workspace");
        push_ws(v);
    }
    push(v, "--");
    push(v, "/bin/true");
}

/* "mrun-ws,mrun,bwrap" in any order and subset; each name once. */
static int parse_variants(bench *b, const char *list, char links[4][PATH_MAX], mrun_err *err)
{
    static const char *const known[] = {"mrun-ws", "mrun", "bwrap"};
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        bool found = false;
        for (unsigned k = 0; k < MAX_VARIANTS; k++) {
            if (strlen(known[k]) != n || strncmp(p, known[k], n) != 0)
                continue;
            for (unsigned j = 0; j < b->nv; j++)
                if (strcmp(b->v[j].name, known[k]) == 0)
                    return mrun_err_setx(err, EINVAL, "--variants: '%s' given twice", known[k]);
            build_variant(b, known[k], links);
            found = true;
        }
        if (!found)
            return mrun_err_setx(err, EINVAL, "--variants: unknown '%.*s' (mrun-ws, mrun, bwrap)", (int)n, p);
        p += n + (p[n] == ',');
    }
    if (b->nv == 0)
        return mrun_err_setx(err, EINVAL, "--variants: empty");
    return 0;
}

/* ---- running -------------------------------------------------------------------------------------------- */

static int reset_capture(int fd, mrun_err *err)
{
    if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
        return mrun_err_set(err, errno, "reset capture file");
    return 0;
}

/* A task-clock counter on this process that children inherit: its value grows by the CPU time of every
 * descendant when that descendant exits, reaped or not (bwrap leaves its pid 1 to be reaped by others, so
 * wait4's rusage would miss it). Kernel work done later by kworkers (netns cleanup) is counted for neither. */
static int cpu_counter_open(void)
{
    struct perf_event_attr a;
    memset(&a, 0, sizeof(a));
    a.size = sizeof(a);
    a.type = PERF_TYPE_SOFTWARE;
    a.config = PERF_COUNT_SW_TASK_CLOCK;
    a.inherit = 1;
    return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

static double cpu_counter_ms(int fd)
{
    uint64_t ns = 0;
    if (fd < 0 || read(fd, &ns, sizeof(ns)) != (ssize_t)sizeof(ns))
        return -1;
    return (double)ns / 1e6;
}

/* Spawns argv with stdin from /dev/null and stdout/stderr into the capture files, and reaps it. Returns 0
 * or an errno; *ret_ms is spawn-to-reap wall time and *ret_cpu_ms the CPU time of the whole tree (-1: none). */
static int spawn_wait(bench *b, const char *const *argv, int *ret_status, double *ret_ms, double *ret_cpu_ms)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, b->null_fd, 0);
    posix_spawn_file_actions_adddup2(&fa, b->out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, b->err_fd, 2);
    pid_t pid;
    double c0 = cpu_counter_ms(b->cpu_fd);
    double t0 = now_ms();
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    while (rc == 0 && waitpid(pid, ret_status, 0) < 0) {
        if (errno != EINTR)
            rc = errno;
    }
    double t1 = now_ms();
    double c1 = cpu_counter_ms(b->cpu_fd);
    posix_spawn_file_actions_destroy(&fa);
    *ret_ms = t1 - t0;
    *ret_cpu_ms = c0 < 0 || c1 < 0 ? -1 : c1 - c0;
    return rc;
}

/* Runs v's command once. The workspace (if any) is made before and removed after, outside the timed span.
 * Fails if the command exits other than 0. */
static int run_once(bench *b, variant *v, unsigned iter, double *ret_ms, double *ret_cpu_ms, mrun_err *err)
{
    if (reset_capture(b->out_fd, err) < 0 || reset_capture(b->err_fd, err) < 0)
        return -1;
    if (v->ws_slot >= 0) {
        int w = snprintf(v->ws, sizeof(v->ws), "%s/%s-%u", b->base, v->name, iter);
        if (w < 0 || (size_t)w >= sizeof(v->ws))
            return mrun_err_setx(err, ENAMETOOLONG, "workspace path too long");
        if (mkdir(v->ws, 0755) < 0)
            return mrun_err_set(err, errno, "mkdir '%s'", v->ws);
    }
    int status = 0;
    int rc = spawn_wait(b, v->argv, &status, ret_ms, ret_cpu_ms);
    if (rc != 0)
        return mrun_err_set(err, rc, "%s: spawn '%s'", v->name, v->argv[0]);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (WIFSIGNALED(status))
            return mrun_err_setx(err, EPROTO, "%s: iteration %u: killed by signal %d", v->name, iter, WTERMSIG(status));
        return mrun_err_setx(err, EPROTO, "%s: iteration %u: exited with status %d", v->name, iter,
                             WEXITSTATUS(status));
    }
    if (v->ws_slot >= 0 && remove_tree(v->ws, err) < 0)
        return mrun_err_prefix(err, "%s", v->name);
    return 0;
}

/* Runs warmup + runs iterations; iteration i starts at variant i % nv so no variant always goes first. */
static int run_all(bench *b, variant **ret_failed, mrun_err *err)
{
    int64_t total = b->warmup + b->runs;
    for (int64_t i = 0; i < total; i++) {
        for (unsigned k = 0; k < b->nv; k++) {
            variant *v = &b->v[(unsigned)((i + k) % b->nv)];
            double ms = 0, cpu = 0;
            if (b->pause_ms > 0) {
                struct timespec ts = {(time_t)(b->pause_ms / 1000), (long)(b->pause_ms % 1000) * 1000000L};
                while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                    ;
            }
            if (run_once(b, v, (unsigned)i, &ms, &cpu, err) < 0) {
                *ret_failed = v;
                return -1;
            }
            if (i >= b->warmup) {
                v->cpu[v->n] = cpu;
                v->ms[v->n++] = ms;
            }
        }
    }
    return 0;
}

/* Prints up to CAPTURE_SHOW bytes of what the failed tool wrote on fd. */
static void show_capture(int fd, const char *what)
{
    char buf[CAPTURE_SHOW + 1];
    ssize_t n = pread(fd, buf, CAPTURE_SHOW, 0);
    if (n <= 0) {
        fprintf(stderr, "--- %s: (empty)\n", what);
        return;
    }
    buf[n] = '\0';
    fprintf(stderr, "--- %s:\n%s%s", what, buf, buf[n - 1] == '\n' ? "" : "\n");
}

/* ---- report --------------------------------------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Percentile with linear interpolation between closest ranks (R type 7, numpy's default). */
static double percentile(const double *sorted, unsigned n, double p)
{
    double pos = p * (double)(n - 1);
    unsigned lo = (unsigned)pos;
    if (lo + 1 >= n)
        return sorted[n - 1];
    return sorted[lo] + (pos - (double)lo) * (sorted[lo + 1] - sorted[lo]);
}

static stats compute(variant *v)
{
    stats s = {0};
    qsort(v->ms, v->n, sizeof(double), cmp_double);
    double sum = 0;
    for (unsigned i = 0; i < v->n; i++)
        sum += v->ms[i];
    s.mean = sum / v->n;
    s.p50 = percentile(v->ms, v->n, 0.50);
    s.p95 = percentile(v->ms, v->n, 0.95);
    s.min = v->ms[0];
    s.max = v->ms[v->n - 1];
    qsort(v->cpu, v->n, sizeof(double), cmp_double);
    s.cpu_p50 = percentile(v->cpu, v->n, 0.50);
    return s;
}

typedef struct machine {
    long nproc;
    char kernel[256];
    char cpu[128];
    const char *cgroup;
} machine;

static void machine_read(machine *m)
{
    struct utsname u;
    m->nproc = sysconf(_SC_NPROCESSORS_ONLN);
    if (uname(&u) == 0)
        snprintf(m->kernel, sizeof(m->kernel), "%s %s %s", u.sysname, u.release, u.machine);
    snprintf(m->cpu, sizeof(m->cpu), "unknown");
    mrun_cleanup(fclosep) FILE *f = fopen("/proc/cpuinfo", "re");
    char line[256];
    while (f && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
            snprintf(m->cpu, sizeof(m->cpu), "%s", strchr(line, ':') + 2);
            m->cpu[strcspn(m->cpu, "\n")] = '\0';
            break;
        }
    }
    struct statfs sf;
    m->cgroup = "none";
    if (statfs("/sys/fs/cgroup", &sf) == 0)
        m->cgroup = sf.f_type == CGROUP2_MAGIC ? "v2" : "v1 (or hybrid)";
}

/* a / b, or -1 when either CPU figure is missing (no perf events). */
static double cpu_ratio(const stats *a, const stats *b)
{
    return a->cpu_p50 < 0 || b->cpu_p50 <= 0 ? -1 : a->cpu_p50 / b->cpu_p50;
}

static void report_text(bench *b, const machine *m, const stats *st)
{
    char cmd[CMD_MAX];
    printf("bench_sandbox: /bin/true, %lld runs per variant after %lld warmup, variants interleaved round-robin, "
           "pause %lld ms before each run\n",
           (long long)b->runs, (long long)b->warmup, (long long)b->pause_ms);
    printf("machine: nproc %ld, kernel %s, cpu %s, cgroup %s\n", m->nproc, m->kernel, m->cpu, m->cgroup);
    printf("commands (WS = a fresh empty directory per run under %s):\n", b->base);
    for (unsigned k = 0; k < b->nv; k++) {
        format_cmd(&b->v[k], cmd);
        printf("  %-8s %s\n", b->v[k].name, cmd);
    }
    printf("\n%-8s %6s %9s %9s %9s %9s %9s %9s\n", "variant", "runs", "p50 ms", "p95 ms", "mean ms", "min ms", "max ms",
           "cpu ms");
    for (unsigned k = 0; k < b->nv; k++)
        printf("%-8s %6u %9.2f %9.2f %9.2f %9.2f %9.2f %9.2f\n", b->v[k].name, b->v[k].n, st[k].p50, st[k].p95,
               st[k].mean, st[k].min, st[k].max, st[k].cpu_p50);
    for (unsigned k = 0; k < b->nv; k++) {
        for (unsigned j = 0; j < b->nv; j++) {
            if (b->v[k].is_mrun && !b->v[j].is_mrun)
                printf("ratio %s/%s: p50 %.2fx, p95 %.2fx, cpu %.2fx\n", b->v[k].name, b->v[j].name,
                       st[k].p50 / st[j].p50, st[k].p95 / st[j].p95, cpu_ratio(&st[k], &st[j]));
        }
    }
}

static void report_json(bench *b, const machine *m, const stats *st)
{
    char cmd[CMD_MAX];
    printf("{\"program\":\"/bin/true\",\"runs\":%lld,\"warmup\":%lld,\"pause_ms\":%lld,\"machine\":{\"nproc\":%ld,"
           "\"kernel\":",
           (long long)b->runs, (long long)b->warmup, (long long)b->pause_ms, m->nproc);
    json_string(stdout, m->kernel);
    printf(",\"cpu\":");
    json_string(stdout, m->cpu);
    printf(",\"cgroup\":");
    json_string(stdout, m->cgroup);
    printf("},\"variants\":[");
    for (unsigned k = 0; k < b->nv; k++) {
        format_cmd(&b->v[k], cmd);
        printf("%s{\"name\":\"%s\",\"command\":", k ? "," : "", b->v[k].name);
        json_string(stdout, cmd);
        printf(",\"runs\":%u,\"p50_ms\":%.3f,\"p95_ms\":%.3f,\"mean_ms\":%.3f,\"min_ms\":%.3f,\"max_ms\":%.3f,"
               "\"cpu_p50_ms\":%.3f}",
               b->v[k].n, st[k].p50, st[k].p95, st[k].mean, st[k].min, st[k].max, st[k].cpu_p50);
    }
    printf("],\"ratios\":[");
    bool first = true;
    for (unsigned k = 0; k < b->nv; k++) {
        for (unsigned j = 0; j < b->nv; j++) {
            if (!b->v[k].is_mrun || b->v[j].is_mrun)
                continue;
            printf("%s{\"name\":\"%s/%s\",\"p50\":%.3f,\"p95\":%.3f,\"cpu\":%.3f}", first ? "" : ",", b->v[k].name,
                   b->v[j].name, st[k].p50 / st[j].p50, st[k].p95 / st[j].p95, cpu_ratio(&st[k], &st[j]));
            first = false;
        }
    }
    printf("]}\n");
}

/* ---- setup and main ------------------------------------------------------------------------------------- */

static int parse_args(bench *b, int argc, char **argv, const char **ret_variants, mrun_err *err)
{
    const char *mrun = "mrun", *bwrap = "bwrap";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            b->json = true;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            exit(0);
        }
        if (i + 1 >= argc)
            return mrun_err_setx(err, EINVAL, "unknown or incomplete option '%s'", a);
        const char *val = argv[++i];
        if (strcmp(a, "--runs") == 0) {
            if (mrun_parse_int(val, 1, 1000000, &b->runs, err) < 0)
                return mrun_err_prefix(err, "--runs");
        } else if (strcmp(a, "--warmup") == 0) {
            if (mrun_parse_int(val, 0, 1000000, &b->warmup, err) < 0)
                return mrun_err_prefix(err, "--warmup");
        } else if (strcmp(a, "--pause") == 0) {
            if (mrun_parse_int(val, 0, 60000, &b->pause_ms, err) < 0)
                return mrun_err_prefix(err, "--pause");
        } else if (strcmp(a, "--mrun") == 0) {
            mrun = val;
        } else if (strcmp(a, "--bwrap") == 0) {
            bwrap = val;
        } else if (strcmp(a, "--variants") == 0) {
            *ret_variants = val;
        } else {
            return mrun_err_setx(err, EINVAL, "unknown option '%s'", a);
        }
    }
    bool want_mrun = strstr(*ret_variants, "mrun") != NULL, want_bwrap = strstr(*ret_variants, "bwrap") != NULL;
    if (want_mrun && resolve_exe(mrun, b->mrun, sizeof(b->mrun), err) < 0)
        return mrun_err_prefix(err, "--mrun");
    if (want_bwrap && resolve_exe(bwrap, b->bwrap, sizeof(b->bwrap), err) < 0)
        return mrun_err_prefix(err, "--bwrap");
    return 0;
}

static int setup(bench *b, mrun_err *err)
{
    const char *tmp = getenv("TMPDIR");
    int w = snprintf(b->base, sizeof(b->base), "%s/bench_sandbox.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (w < 0 || (size_t)w >= sizeof(b->base) - 32) { /* room for "/mrun-ws-<iter>" */
        b->base[0] = '\0';
        return mrun_err_setx(err, ENAMETOOLONG, "TMPDIR too long");
    }
    if (!mkdtemp(b->base)) {
        int e = errno;
        b->base[0] = '\0';
        return mrun_err_set(err, e, "mkdtemp");
    }
    b->null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (b->null_fd < 0)
        return mrun_err_set(err, errno, "open /dev/null");
    b->out_fd = memfd_create("bench-stdout", MFD_CLOEXEC);
    if (b->out_fd < 0)
        return mrun_err_set(err, errno, "memfd_create");
    b->err_fd = memfd_create("bench-stderr", MFD_CLOEXEC);
    if (b->err_fd < 0)
        return mrun_err_set(err, errno, "memfd_create");
    b->cpu_fd = cpu_counter_open(); /* optional: without it the cpu column reads -1 */
    for (unsigned k = 0; k < b->nv; k++) {
        b->v[k].ms = calloc((size_t)b->runs, sizeof(double));
        b->v[k].cpu = calloc((size_t)b->runs, sizeof(double));
        if (!b->v[k].ms || !b->v[k].cpu)
            return mrun_err_set(err, ENOMEM, "allocate samples");
    }
    return 0;
}

static void teardown(bench *b)
{
    mrun_err err = MRUN_ERR_INIT;
    if (b->base[0] && remove_tree(b->base, &err) < 0)
        fprintf(stderr, "bench_sandbox: %s\n", err.msg);
    for (unsigned k = 0; k < b->nv; k++) {
        free(b->v[k].ms);
        free(b->v[k].cpu);
    }
    mrun_closep(&b->null_fd);
    mrun_closep(&b->out_fd);
    mrun_closep(&b->err_fd);
    mrun_closep(&b->cpu_fd);
}

/* Runs and reports; on a failed run prints the command and what it wrote. Returns the exit status. */
static int bench_run(bench *b)
{
    mrun_err err = MRUN_ERR_INIT;
    variant *failed = NULL;
    if (setup(b, &err) < 0 || run_all(b, &failed, &err) < 0) {
        fprintf(stderr, "bench_sandbox: %s\n", err.msg);
        if (failed) {
            char cmd[CMD_MAX];
            format_cmd(failed, cmd);
            fprintf(stderr, "command: %s\n  with WS = %s\n", cmd, failed->ws_slot >= 0 ? failed->ws : "(none)");
            show_capture(b->err_fd, "its stderr");
            show_capture(b->out_fd, "its stdout");
        }
        return 1;
    }
    machine m = {0};
    stats st[MAX_VARIANTS];
    machine_read(&m);
    for (unsigned k = 0; k < b->nv; k++)
        st[k] = compute(&b->v[k]);
    if (b->json)
        report_json(b, &m, st);
    else
        report_text(b, &m, st);
    return 0;
}

int main(int argc, char **argv)
{
    bench b = {.runs = 200, .warmup = 10, .null_fd = -1, .out_fd = -1, .err_fd = -1, .cpu_fd = -1};
    char links[4][PATH_MAX];
    const char *variants = "mrun-ws,mrun,bwrap";
    mrun_err err = MRUN_ERR_INIT;
    if (parse_args(&b, argc, argv, &variants, &err) < 0 || parse_variants(&b, variants, links, &err) < 0) {
        fprintf(stderr, "bench_sandbox: %s\n%s", err.msg, usage);
        return 2;
    }
    int rc = bench_run(&b);
    teardown(&b);
    return rc;
}
