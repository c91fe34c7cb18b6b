/* bench_dispatch.c - times the coordinator/runner spine in one process with the real libraries: dispatch latency
 * (stage ready -> step process running in its sandbox) over tcp:// and inproc://, stage throughput with 1, 2 and
 * 4 runner slots, and the coordinator's memory and store size with 1,000 queued pipelines. A program, not a test;
 * see docs/benchmarks.md. */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "common/archive.h"
#include "common/auto.h"
#include "common/err.h"
#include "common/log.h"
#include "common/parse.h"
#include "coordinator/coord.h"
#include "coordinator/store.h"
#include "runner/runner.h"
#include "sandbox/sandbox.h"

#define MAX_SLOT_VARIANTS 3
#define MAX_SLOTS         4 /* the most slots a throughput variant uses */
#define WAIT_LIMIT_MS     60000 /* one pipeline taking longer than this is a failure, not a figure */
#define GITLAB_INTERVAL_MS 3000.0 /* GitLab Runner's documented default check_interval */

static const char usage[] =
    "usage: bench_dispatch [--runs N] [--warmup N] [--pipelines K] [--queued Q] [--sandbox-runs S] [--json] [-v]\n"
    "Dispatch latency over N single-stage pipelines per transport (default 200, warmup 10), throughput of K trivial\n"
    "stages with 1, 2 and 4 slots (default 300), coordinator memory with Q queued 3-stage pipelines (default 1000),\n"
    "and the sandbox's own start-up over S runs (default 300) for reference. -v: the libraries' debug log on stderr.\n";

static const char yaml_date[] = "name: bench-dispatch\nstages:\n  d:\n    steps:\n      - run: date +%s%N\n";
static const char yaml_true[] = "name: bench-throughput\nstages:\n  t:\n    steps:\n      - run: \"true\"\n";
static const char yaml_three[] = "name: bench-queued\nstages:\n"
                                 "  a: {steps: [{run: \"true\"}]}\n"
                                 "  b: {needs: [a], steps: [{run: \"true\"}]}\n"
                                 "  c: {needs: [b], steps: [{run: \"true\"}]}\n";

typedef struct opts {
    int64_t runs, warmup, pipelines, queued, sb_runs;
    bool json, verbose;
} opts;

typedef struct summary {
    unsigned n;
    double p50, p95, p99, mean, min, max;
} summary;

typedef struct results {
    char kernel[256];
    long nproc;
    char command[1024];
    summary sb_start, sb_total, sb_date;        /* sandbox alone: start() returns; start..free; start..date prints */
    summary dispatch[2], finish[2], submit[2]; /* [0] tcp, [1] inproc */
    int slots[MAX_SLOT_VARIANTS];
    double tput_ms[MAX_SLOT_VARIANTS], tput_submit_ms[MAX_SLOT_VARIANTS];
    int64_t rss_before_kb, rss_after_kb, store_bytes, store_closed_bytes;
    int64_t log_lost[MAX_SLOT_VARIANTS];
    int64_t queued, pipelines;
} results;

/* ---- small helpers --------------------------------------------------------------------------------------- */

static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t realtime_ms(void)
{
    return realtime_ns() / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (type == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

static void remove_tree(const char *path)
{
    nftw(path, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
}

static int64_t tree_bytes_acc;
static int size_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (type == FTW_F)
        tree_bytes_acc += sb->st_size;
    return 0;
}

/* Apparent size of every regular file under path (nftw has no user pointer; main's thread only). */
static int64_t tree_bytes(const char *path)
{
    tree_bytes_acc = 0;
    nftw(path, size_entry, 32, FTW_PHYS);
    return tree_bytes_acc;
}

static int64_t vmrss_kb(void)
{
    mrun_autoclose int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    char buf[8192];
    ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    const char *p = strstr(buf, "VmRSS:");
    return p ? strtoll(p + 6, NULL, 10) : -1;
}

/* A port the kernel just handed out on 127.0.0.1 and that nobody listens on (closed again at once). */
static int free_port(mrun_err *err)
{
    mrun_autoclose int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || getsockname(fd, (struct sockaddr *)&a, &len) < 0)
        return mrun_err_set(err, errno, "free port");
    return ntohs(a.sin_port);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Percentile with linear interpolation between closest ranks (R type 7), as bench_sandbox. */
static double percentile(const double *sorted, unsigned n, double p)
{
    double pos = p * (double)(n - 1);
    unsigned lo = (unsigned)pos;
    if (lo + 1 >= n)
        return sorted[n - 1];
    return sorted[lo] + (pos - (double)lo) * (sorted[lo + 1] - sorted[lo]);
}

static summary summarize(double *v, unsigned n)
{
    summary s = {.n = n};
    if (n == 0)
        return s;
    qsort(v, n, sizeof(double), cmp_double);
    double sum = 0;
    for (unsigned i = 0; i < n; i++)
        sum += v[i];
    s.mean = sum / n;
    s.p50 = percentile(v, n, 0.50);
    s.p95 = percentile(v, n, 0.95);
    s.p99 = percentile(v, n, 0.99);
    s.min = v[0];
    s.max = v[n - 1];
    return s;
}

/* The source every pipeline carries: a tar.gz of a directory holding one small file, packed once. */
static int make_source(const char *base, uint8_t **ret_buf, size_t *ret_len, mrun_err *err)
{
    char dir[4096], file[4200];
    snprintf(dir, sizeof(dir), "%s/src", base);
    snprintf(file, sizeof(file), "%s/README", dir);
    if (mkdir(dir, 0755) < 0)
        return mrun_err_set(err, errno, "mkdir '%s'", dir);
    mrun_autoclose int f = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f < 0 || write(f, "bench\n", 6) != 6)
        return mrun_err_set(err, errno, "write '%s'", file);
    mrun_autoclose int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    mrun_autoclose int mfd = memfd_create("bench-src", MFD_CLOEXEC);
    if (dfd < 0 || mfd < 0)
        return mrun_err_set(err, errno, "open source dir");
    mrun_pack_stats ps;
    if (mrun_archive_pack_dir(dfd, NULL, mfd, &ps, err) < 0)
        return mrun_err_prefix(err, "pack");
    off_t size = lseek(mfd, 0, SEEK_END);
    mrun_autofree uint8_t *buf = malloc(size > 0 ? (size_t)size : 1);
    if (!buf || size <= 0 || pread(mfd, buf, (size_t)size, 0) != size)
        return mrun_err_setx(err, EIO, "read packed source");
    *ret_buf = mrun_steal_ptr(&buf);
    *ret_len = (size_t)size;
    return 0;
}

/* ---- one coordinator (+ runner) in this process ---------------------------------------------------------- */

/* Everything of one variant: made by spine_start in a fresh directory under base, undone by spine_stop. */
typedef struct spine {
    char dir[4096], data[4200], work[4200], url[128];
    mrun_coord *coord;
    mrun_runner *runner;
    mrun_store *st; /* our own connection, main thread only */
    const uint8_t *src;
    size_t src_len;
} spine;

static int spine_start(spine *sp, const char *base, const char *name, bool tcp, int slots, mrun_err *err)
{
    snprintf(sp->dir, sizeof(sp->dir), "%s/%s", base, name);
    snprintf(sp->data, sizeof(sp->data), "%s/data", sp->dir);
    snprintf(sp->work, sizeof(sp->work), "%s/work", sp->dir);
    if (mkdir(sp->dir, 0700) < 0)
        return mrun_err_set(err, errno, "mkdir '%s'", sp->dir);
    if (tcp) {
        int port = free_port(err);
        if (port < 0)
            return -1;
        snprintf(sp->url, sizeof(sp->url), "tcp://127.0.0.1:%d", port);
    } else {
        snprintf(sp->url, sizeof(sp->url), "inproc://bench-%d-%s", (int)getpid(), name);
    }
    mrun_coord_config cc = {.data_dir = sp->data, .listen = sp->url, .open_registration = 1};
    if (mrun_coord_start(&cc, &sp->coord, err) < 0)
        return mrun_err_prefix(err, "coordinator on %s", sp->url);
    if (mrun_store_open(sp->data, &sp->st, err) < 0)
        return mrun_err_prefix(err, "store");
    if (slots > 0) {
        static const char *const labels[] = {"linux", NULL};
        mrun_runner_config rc = {.coordinator = sp->url, .token = "bench", .name = "bench", .labels = labels,
                                 .slots = slots, .work_dir = sp->work};
        if (mrun_runner_start(&rc, &sp->runner, err) < 0)
            return mrun_err_prefix(err, "runner");
    }
    return 0;
}

/* Stops and closes everything; removes the variant's directory unless keep (to measure it after the close). */
static void spine_stop(spine *sp, bool keep)
{
    mrun_runner_stop(sp->runner, 1000);
    mrun_coord_stop(sp->coord);
    mrun_store_close(sp->st);
    sp->runner = NULL;
    sp->coord = NULL;
    sp->st = NULL;
    if (sp->dir[0] && !keep)
        remove_tree(sp->dir);
}

static int submit(spine *sp, const char *yaml, char id[33], mrun_err *err)
{
    mrun_coord_submit sub = {.file = ".mrun/pipeline.yml", .yaml = (const uint8_t *)yaml, .yaml_len = strlen(yaml),
                             .archive = sp->src, .archive_len = sp->src_len, .event = "push",
                             .ref = "refs/heads/main", .branch = "main", .submitter = "bench"};
    return mrun_coord_submit_pipeline(sp->coord, &sub, id, err);
}

static int get_state(const mrun_store_pipeline_info *pi, void *ud)
{
    *(mrun_store_pipeline_state *)ud = pi->state;
    return 0;
}

/* Polls the pipeline's state every 1 ms until it has finished; *ret_ns is when that was seen (CLOCK_REALTIME).
 * A pipeline that did not pass is an error: the figures would not be of what we mean to time. */
static int wait_done(spine *sp, const char *id, int64_t *ret_ns, mrun_err *err)
{
    int64_t give_up = realtime_ms() + WAIT_LIMIT_MS;
    for (;;) {
        mrun_store_pipeline_state s = MRUN_STORE_PIPELINE_QUEUED;
        if (mrun_store_pipeline_get(sp->st, id, get_state, &s, err) < 0)
            return mrun_err_prefix(err, "pipeline %s", id);
        if (s != MRUN_STORE_PIPELINE_QUEUED && s != MRUN_STORE_PIPELINE_RUNNING) {
            *ret_ns = realtime_ns();
            if (s != MRUN_STORE_PIPELINE_PASSED)
                return mrun_err_setx(err, EPROTO, "pipeline %s %s", id, mrun_store_pipeline_state_name(s));
            return 0;
        }
        if (realtime_ms() > give_up)
            return mrun_err_setx(err, ETIMEDOUT, "pipeline %s not finished after %d ms", id, WAIT_LIMIT_MS);
        sleep_ms(1);
    }
}

typedef struct text {
    char buf[256];
    size_t len;
} text;

static void text_add(text *t, const void *data, size_t len)
{
    size_t n = len < sizeof(t->buf) - 1 - t->len ? len : sizeof(t->buf) - 1 - t->len;
    memcpy(t->buf + t->len, data, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

static int collect_stdout(const mrun_store_log_chunk *c, void *ud)
{
    if (c->stream == 1)
        text_add(ud, c->data, c->len);
    return 0;
}

/* mrun's own lines (stream 3). */
static int collect_system(const mrun_store_log_chunk *c, void *ud)
{
    if (c->stream == 3)
        text_add(ud, c->data, c->len);
    return 0;
}

/* The first number on stdout: what `date +%s%N` printed inside the sandbox. */
static int parse_ns(const char *s, int64_t *ret_ns, mrun_err *err)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || v <= 0)
        return mrun_err_setx(err, EPROTO, "no timestamp in the step's output '%.60s'", s);
    *ret_ns = v;
    return 0;
}

/* ---- 1. the sandbox alone -------------------------------------------------------------------------------- */

static void on_output(void *ctx, int stream, const char *data, size_t len)
{
    if (stream == 1)
        text_add(ctx, data, len);
}

/* One sandboxed command over a fresh workspace, as the runner does it. ret_start_ms: until mrun_sandbox_start
 * returns (the command has been exec'd); ret_total_ms: until mrun_sandbox_free returns; ret_out: its stdout. */
static int sandbox_once(const char *ws, char *const argv[], double *ret_start_ms, double *ret_total_ms, text *ret_out,
                        int64_t *ret_t0_ns, mrun_err *err)
{
    if (mkdir(ws, 0755) < 0)
        return mrun_err_set(err, errno, "mkdir '%s'", ws);
    mrun_sandbox_opts o;
    mrun_sandbox_opts_init(&o);
    o.workspace = (char *)ws;
    ret_out->len = 0;
    ret_out->buf[0] = '\0';
    mrun_sandbox_io io = {.stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1, .on_output = on_output, .ctx = ret_out};
    mrun_sandbox *sb = NULL;
    mrun_sandbox_result res;
    int64_t t0 = realtime_ns();
    int rc = mrun_sandbox_start(&o, argv, &io, &sb, err);
    int64_t t1 = realtime_ns();
    if (rc == 0) {
        while ((rc = mrun_sandbox_wait(sb, -1, &res, err)) == 1)
            ;
        mrun_sandbox_free(sb);
    }
    int64_t t2 = realtime_ns();
    o.workspace = NULL; /* not ours to free */
    mrun_sandbox_opts_fini(&o);
    remove_tree(ws);
    if (rc < 0)
        return mrun_err_prefix(err, "sandbox %s", argv[0]);
    if (res.exit_code != 0)
        return mrun_err_setx(err, EPROTO, "sandbox %s exited %d", argv[0], res.exit_code);
    *ret_start_ms = (double)(t1 - t0) / 1e6;
    *ret_total_ms = (double)(t2 - t0) / 1e6;
    *ret_t0_ns = t0;
    return 0;
}

static int bench_sandbox_alone(const opts *op, const char *base, results *r, mrun_err *err)
{
    unsigned n = (unsigned)op->sb_runs;
    mrun_autofree double *start = calloc(n, sizeof(double)), *total = calloc(n, sizeof(double)),
                         *date = calloc(n, sizeof(double));
    if (!start || !total || !date)
        return mrun_err_set(err, ENOMEM, "samples");
    char ws[4200];
    snprintf(ws, sizeof(ws), "%s/sandbox-ws", base);
    char *true_argv[] = {"/bin/true", NULL};
    char *date_argv[] = {"/bin/sh", "-e", "-c", "date +%s%N", NULL};
    text out;
    for (int64_t i = -op->warmup; i < (int64_t)n; i++) {
        double s1, t1, s2, t2;
        int64_t t0, printed;
        if (sandbox_once(ws, true_argv, &s1, &t1, &out, &t0, err) < 0 ||
            sandbox_once(ws, date_argv, &s2, &t2, &out, &t0, err) < 0 || parse_ns(out.buf, &printed, err) < 0)
            return -1;
        if (i >= 0) {
            start[i] = s1;
            total[i] = t1;
            date[i] = (double)(printed - t0) / 1e6;
        }
    }
    r->sb_start = summarize(start, n);
    r->sb_total = summarize(total, n);
    r->sb_date = summarize(date, n);
    return 0;
}

/* ---- 2. dispatch latency --------------------------------------------------------------------------------- */

static int bench_dispatch(const opts *op, const char *base, const uint8_t *src, size_t src_len, bool tcp,
                          summary *ret_dispatch, summary *ret_finish, summary *ret_submit, mrun_err *err)
{
    unsigned n = (unsigned)op->runs;
    mrun_autofree double *disp = calloc(n, sizeof(double)), *fin = calloc(n, sizeof(double)),
                         *subm = calloc(n, sizeof(double));
    if (!disp || !fin || !subm)
        return mrun_err_set(err, ENOMEM, "samples");
    spine sp = {.src = src, .src_len = src_len};
    int rc = spine_start(&sp, base, tcp ? "dispatch-tcp" : "dispatch-inproc", tcp, 1, err);
    for (int64_t i = -op->warmup; rc == 0 && i < (int64_t)n; i++) {
        char id[33];
        int64_t t_submit = realtime_ns();
        if (submit(&sp, yaml_date, id, err) < 0) {
            rc = -1;
            break;
        }
        int64_t t_ready = realtime_ns(), t_done, printed;
        text out = {.len = 0};
        if (wait_done(&sp, id, &t_done, err) < 0 ||
            mrun_store_log_read(sp.st, id, "d", 0, collect_stdout, &out, NULL, err) < 0 ||
            parse_ns(out.buf, &printed, err) < 0) {
            rc = -1;
            break;
        }
        if (i >= 0) {
            disp[i] = (double)(printed - t_ready) / 1e6;
            fin[i] = (double)(t_done - t_submit) / 1e6;
            subm[i] = (double)(t_ready - t_submit) / 1e6;
        }
    }
    spine_stop(&sp, false);
    if (rc < 0)
        return mrun_err_prefix(err, "dispatch over %s", tcp ? "tcp" : "inproc");
    *ret_dispatch = summarize(disp, n);
    *ret_finish = summarize(fin, n);
    *ret_submit = summarize(subm, n);
    return 0;
}

/* ---- 3. throughput --------------------------------------------------------------------------------------- */

static int bench_throughput(const opts *op, const char *base, const uint8_t *src, size_t src_len, int slots,
                            double *ret_ms, double *ret_submit_ms, int64_t *ret_lost, mrun_err *err)
{
    size_t k = (size_t)op->pipelines;
    mrun_autofree char(*ids)[33] = calloc(k + 2 * MAX_SLOTS, sizeof(*ids)); /* room for the warmup */
    if (!ids)
        return mrun_err_set(err, ENOMEM, "ids");
    char name[64];
    snprintf(name, sizeof(name), "throughput-%d", slots);
    spine sp = {.src = src, .src_len = src_len};
    int rc = spine_start(&sp, base, name, true, slots, err);
    /* warm up: every slot registered and through one stage before the clock starts */
    for (int i = 0; rc == 0 && i < 2 * slots; i++)
        rc = submit(&sp, yaml_true, ids[i], err);
    for (int i = 0; rc == 0 && i < 2 * slots; i++) {
        int64_t t;
        rc = wait_done(&sp, ids[i], &t, err);
    }
    int64_t t0 = realtime_ns(), t_submitted = 0, t_last = 0;
    for (size_t i = 0; rc == 0 && i < k; i++)
        rc = submit(&sp, yaml_true, ids[i], err);
    t_submitted = realtime_ns();
    for (size_t i = 0; rc == 0 && i < k; i++) /* in order: the last one seen done is when all are */
        rc = wait_done(&sp, ids[i], &t_last, err);
    /* every stage's log starts with the runner's "==> step" line: count the stages whose line never got stored */
    *ret_lost = 0;
    for (size_t i = 0; rc == 0 && i < k; i++) {
        text sys = {.len = 0};
        rc = mrun_store_log_read(sp.st, ids[i], "t", 0, collect_system, &sys, NULL, err);
        if (rc == 0 && !strstr(sys.buf, "==> step"))
            ++*ret_lost;
    }
    spine_stop(&sp, false);
    if (rc < 0)
        return mrun_err_prefix(err, "throughput with %d slot(s)", slots);
    *ret_ms = (double)(t_last - t0) / 1e6;
    *ret_submit_ms = (double)(t_submitted - t0) / 1e6;
    return 0;
}

/* ---- 4. memory with queued pipelines --------------------------------------------------------------------- */

static int bench_memory(const opts *op, const char *base, const uint8_t *src, size_t src_len, results *r,
                        mrun_err *err)
{
    spine sp = {.src = src, .src_len = src_len};
    int rc = spine_start(&sp, base, "queued", true, 0, err);
    sleep_ms(300); /* the worker's first ticks */
    r->rss_before_kb = vmrss_kb();
    int64_t before_bytes = tree_bytes(sp.data);
    for (int64_t i = 0; rc == 0 && i < op->queued; i++) {
        char id[33];
        rc = submit(&sp, yaml_three, id, err);
    }
    sleep_ms(1000); /* let the worker reconcile what the submits kicked */
    r->rss_after_kb = vmrss_kb();
    r->store_bytes = tree_bytes(sp.data) - before_bytes;
    r->queued = op->queued;
    spine_stop(&sp, true); /* the last connection to close checkpoints the WAL into the database and removes it */
    r->store_closed_bytes = tree_bytes(sp.data);
    remove_tree(sp.dir);
    return rc < 0 ? mrun_err_prefix(err, "queued pipelines") : 0;
}

/* ---- report ---------------------------------------------------------------------------------------------- */

static const char *const transport_name[2] = {"tcp", "inproc"};

static void print_summary_row(const char *what, const summary *s)
{
    printf("| %-46s | %5u | %8.2f | %8.2f | %8.2f | %8.2f | %8.2f |\n", what, s->n, s->p50, s->p95, s->p99, s->mean,
           s->max);
}

static void report_text(const results *r)
{
    printf("bench_dispatch: coordinator + runner in one process, real libraries\n");
    printf("machine: nproc %ld, kernel %s\n", r->nproc, r->kernel);
    printf("command: %s\n\n", r->command);
    printf("| %-46s | %5s | %8s | %8s | %8s | %8s | %8s |\n", "figure (ms)", "n", "p50", "p95", "p99", "mean", "max");
    printf("|%s|-------|----------|----------|----------|----------|----------|\n",
           "------------------------------------------------");
    print_summary_row("sandbox alone: start() until /bin/true exec'd", &r->sb_start);
    print_summary_row("sandbox alone: /bin/true start..free", &r->sb_total);
    print_summary_row("sandbox alone: start() until `date` prints", &r->sb_date);
    for (int t = 0; t < 2; t++) {
        char what[96];
        snprintf(what, sizeof(what), "%s: submit_pipeline call (fsyncs)", transport_name[t]);
        print_summary_row(what, &r->submit[t]);
        snprintf(what, sizeof(what), "%s: dispatch, ready until `date` prints", transport_name[t]);
        print_summary_row(what, &r->dispatch[t]);
        snprintf(what, sizeof(what), "%s: submit until pipeline seen finished", transport_name[t]);
        print_summary_row(what, &r->finish[t]);
    }
    printf("\n| %-46s | %10s | %10s |\n", "dispatch p50, split (ms)", "tcp", "inproc");
    printf("|------------------------------------------------|------------|------------|\n");
    printf("| %-46s | %10.2f | %10.2f |\n", "dispatch p50", r->dispatch[0].p50, r->dispatch[1].p50);
    printf("| %-46s | %10.2f | %10.2f |\n", "minus sandbox start..`date` p50 = scheduling",
           r->dispatch[0].p50 - r->sb_date.p50, r->dispatch[1].p50 - r->sb_date.p50);
    printf("| %-46s | %10.2f | %10.2f |\n", "minus /bin/true start..free p50", r->dispatch[0].p50 - r->sb_total.p50,
           r->dispatch[1].p50 - r->sb_total.p50);
    printf("| %-46s | %10.0f | %10.0f |\n", "GitLab Runner default poll: expected (3 s / 2)", GITLAB_INTERVAL_MS / 2,
           GITLAB_INTERVAL_MS / 2);
    printf("| %-46s | %10.0f | %10.0f |\n", "GitLab Runner default poll: worst (3 s)", GITLAB_INTERVAL_MS,
           GITLAB_INTERVAL_MS);
    printf("| %-46s | %9.4fx | %9.4fx |\n", "mrun p50 / GitLab expected delay", r->dispatch[0].p50 / (GITLAB_INTERVAL_MS / 2),
           r->dispatch[1].p50 / (GITLAB_INTERVAL_MS / 2));
    printf("(GitLab figures are the documented default check_interval, not a measurement)\n");
    printf("\n| %-6s | %9s | %11s | %12s | %10s | %13s |\n", "slots", "stages", "elapsed ms", "of it submit",
           "stages/s", "logs lost");
    printf("|--------|-----------|-------------|--------------|------------|---------------|\n");
    for (int i = 0; i < MAX_SLOT_VARIANTS; i++)
        printf("| %-6d | %9lld | %11.1f | %12.1f | %10.1f | %13lld |\n", r->slots[i], (long long)r->pipelines,
               r->tput_ms[i], r->tput_submit_ms[i], (double)r->pipelines * 1000.0 / r->tput_ms[i],
               (long long)r->log_lost[i]);
    printf("(logs lost: stages whose \"==> step\" log line the coordinator refused; see docs/benchmarks.md)\n");
    printf("\n| %-46s | %12s |\n", "queued pipelines, no runner", "value");
    printf("|------------------------------------------------|--------------|\n");
    printf("| %-46s | %12lld |\n", "pipelines (3 stages each)", (long long)r->queued);
    printf("| %-46s | %12lld |\n", "VmRSS before, KiB", (long long)r->rss_before_kb);
    printf("| %-46s | %12lld |\n", "VmRSS after, KiB", (long long)r->rss_after_kb);
    printf("| %-46s | %12.2f |\n", "VmRSS growth per pipeline, KiB",
           (double)(r->rss_after_kb - r->rss_before_kb) / (double)r->queued);
    printf("| %-46s | %12lld |\n", "store growth on disk, bytes", (long long)r->store_bytes);
    printf("| %-46s | %12.0f |\n", "store growth per pipeline, bytes", (double)r->store_bytes / (double)r->queued);
    printf("| %-46s | %12lld |\n", "store after close (WAL checkpointed), bytes", (long long)r->store_closed_bytes);
    printf("| %-46s | %12.0f |\n", "  per pipeline, bytes", (double)r->store_closed_bytes / (double)r->queued);
}

static void json_summary(const char *name, const summary *s, bool comma)
{
    printf("\"%s\":{\"n\":%u,\"p50_ms\":%.3f,\"p95_ms\":%.3f,\"p99_ms\":%.3f,\"mean_ms\":%.3f,\"min_ms\":%.3f,"
           "\"max_ms\":%.3f}%s",
           name, s->n, s->p50, s->p95, s->p99, s->mean, s->min, s->max, comma ? "," : "");
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", (unsigned char)*s);
        else
            putchar(*s);
    }
    putchar('"');
}

static void report_json(const results *r)
{
    printf("{\"machine\":{\"nproc\":%ld,\"kernel\":", r->nproc);
    json_string(r->kernel);
    printf("},\"command\":");
    json_string(r->command);
    printf(",\"sandbox\":{");
    json_summary("true_start", &r->sb_start, true);
    json_summary("true_total", &r->sb_total, true);
    json_summary("date_printed", &r->sb_date, false);
    printf("},\"dispatch\":{");
    for (int t = 0; t < 2; t++) {
        printf("\"%s\":{", transport_name[t]);
        json_summary("submit", &r->submit[t], true);
        json_summary("dispatch", &r->dispatch[t], true);
        json_summary("finished", &r->finish[t], true);
        printf("\"scheduling_p50_ms\":%.3f,\"ratio_p50_to_gitlab_expected\":%.6f}%s", r->dispatch[t].p50 - r->sb_date.p50,
               r->dispatch[t].p50 / (GITLAB_INTERVAL_MS / 2), t == 0 ? "," : "");
    }
    printf("},\"gitlab_reference\":{\"check_interval_ms\":%.0f,\"expected_ms\":%.0f,\"worst_ms\":%.0f,"
           "\"measured\":false},\"throughput\":[",
           GITLAB_INTERVAL_MS, GITLAB_INTERVAL_MS / 2, GITLAB_INTERVAL_MS);
    for (int i = 0; i < MAX_SLOT_VARIANTS; i++)
        printf("%s{\"slots\":%d,\"stages\":%lld,\"elapsed_ms\":%.3f,\"submit_ms\":%.3f,\"stages_per_s\":%.2f,"
               "\"logs_lost\":%lld}",
               i ? "," : "", r->slots[i], (long long)r->pipelines, r->tput_ms[i], r->tput_submit_ms[i],
               (double)r->pipelines * 1000.0 / r->tput_ms[i], (long long)r->log_lost[i]);
    printf("],\"queued\":{\"pipelines\":%lld,\"rss_before_kb\":%lld,\"rss_after_kb\":%lld,\"rss_per_pipeline_kb\":%.3f,"
           "\"store_bytes\":%lld,\"store_bytes_per_pipeline\":%.1f,\"store_closed_bytes\":%lld}}\n",
           (long long)r->queued, (long long)r->rss_before_kb, (long long)r->rss_after_kb,
           (double)(r->rss_after_kb - r->rss_before_kb) / (double)r->queued, (long long)r->store_bytes,
           (double)r->store_bytes / (double)r->queued, (long long)r->store_closed_bytes);
}

/* ---- main ------------------------------------------------------------------------------------------------ */

static int parse_args(opts *op, int argc, char **argv, mrun_err *err)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            op->json = true;
            continue;
        }
        if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            op->verbose = true;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            exit(0);
        }
        if (i + 1 >= argc)
            return mrun_err_setx(err, EINVAL, "unknown or incomplete option '%s'", a);
        const char *val = argv[++i];
        int64_t *dst = strcmp(a, "--runs") == 0           ? &op->runs
                       : strcmp(a, "--warmup") == 0       ? &op->warmup
                       : strcmp(a, "--pipelines") == 0    ? &op->pipelines
                       : strcmp(a, "--queued") == 0       ? &op->queued
                       : strcmp(a, "--sandbox-runs") == 0 ? &op->sb_runs
                                                          : NULL;
        if (!dst)
            return mrun_err_setx(err, EINVAL, "unknown option '%s'", a);
        if (mrun_parse_int(val, dst == &op->warmup ? 0 : 1, 1000000, dst, err) < 0)
            return mrun_err_prefix(err, "%s", a);
    }
    return 0;
}

static void describe(results *r, int argc, char **argv)
{
    struct utsname u;
    r->nproc = sysconf(_SC_NPROCESSORS_ONLN);
    if (uname(&u) == 0)
        snprintf(r->kernel, sizeof(r->kernel), "%s %s %s", u.sysname, u.release, u.machine);
    size_t off = 0;
    for (int i = 0; i < argc && off < sizeof(r->command); i++) {
        int w = snprintf(r->command + off, sizeof(r->command) - off, "%s%s", i ? " " : "", argv[i]);
        if (w < 0)
            break;
        off += (size_t)w;
    }
}

static int bench_all(const opts *op, const char *base, results *r, mrun_err *err)
{
    mrun_autofree uint8_t *src = NULL;
    size_t src_len = 0;
    if (make_source(base, &src, &src_len, err) < 0)
        return -1;
    /* memory first, while the process is fresh: freed memory of earlier parts would hide growth */
    if (bench_memory(op, base, src, src_len, r, err) < 0)
        return -1;
    if (!op->json)
        fprintf(stderr, "bench_dispatch: queued pipelines done; sandbox alone...\n");
    if (bench_sandbox_alone(op, base, r, err) < 0)
        return -1;
    for (int t = 0; t < 2; t++) {
        if (!op->json)
            fprintf(stderr, "bench_dispatch: dispatch over %s...\n", transport_name[t]);
        if (bench_dispatch(op, base, src, src_len, t == 0, &r->dispatch[t], &r->finish[t], &r->submit[t], err) < 0)
            return -1;
    }
    static const int slot_variants[MAX_SLOT_VARIANTS] = {1, 2, 4};
    r->pipelines = op->pipelines;
    for (int i = 0; i < MAX_SLOT_VARIANTS; i++) {
        if (!op->json)
            fprintf(stderr, "bench_dispatch: throughput with %d slot(s)...\n", slot_variants[i]);
        r->slots[i] = slot_variants[i];
        if (bench_throughput(op, base, src, src_len, slot_variants[i], &r->tput_ms[i], &r->tput_submit_ms[i],
                             &r->log_lost[i], err) < 0)
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    opts op = {.runs = 200, .warmup = 10, .pipelines = 300, .queued = 1000, .sb_runs = 300};
    mrun_err err = MRUN_ERR_INIT;
    if (parse_args(&op, argc, argv, &err) < 0) {
        fprintf(stderr, "bench_dispatch: %s\n%s", err.msg, usage);
        return 2;
    }
    mrun_log_set_level(op.verbose ? MRUN_LOG_DEBUG : MRUN_LOG_WARN); /* before any thread starts */
    const char *tmp = getenv("TMPDIR");
    char base[4096];
    snprintf(base, sizeof(base), "%s/bench_dispatch.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(base)) {
        fprintf(stderr, "bench_dispatch: mkdtemp '%s': %s\n", base, strerror(errno));
        return 1;
    }
    mrun_autofree results *r = calloc(1, sizeof(*r));
    if (!r) {
        remove_tree(base);
        return 1;
    }
    describe(r, argc, argv);
    int rc = bench_all(&op, base, r, &err);
    remove_tree(base);
    if (rc < 0) {
        fprintf(stderr, "bench_dispatch: %s\n", err.msg);
        return 1;
    }
    if (op.json)
        report_json(r);
    else
        report_text(r);
    return 0;
}
