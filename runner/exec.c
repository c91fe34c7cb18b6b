/* exec.c - one stage: its steps in order, each `run:` in its own sandbox over the same workspace, each `uses:`
 * through the built-in registry; masked logs; stage timeout, continue-on-error and cancel. */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/auto.h"
#include "../common/mask.h"
#include "../stages/stages.h"

#define MAX_WITH 64

/* The log path: sandbox output -> per-stream mask -> caller. mrun's own lines are masked too (a step name could
 * quote a secret). */
typedef struct logsink logsink;
typedef struct stream_sink {
    logsink *ls;
    int stream;
} stream_sink;

struct logsink {
    mrun_exec_log_fn log;
    void *ctx;
    mrun_mask *mask[4];    /* by stream: MRUN_EXEC_STDOUT, _STDERR, _SYSTEM */
    stream_sink sinks[4];
};

static void masked_out(void *ctx, const char *data, size_t len)
{
    stream_sink *s = ctx;
    s->ls->log(s->ls->ctx, s->stream, data, len);
}

static void on_output(void *ctx, int stream, const char *data, size_t len)
{
    logsink *ls = ctx;
    mrun_mask_feed(ls->mask[stream == 2 ? 2 : 1], data, len);
}

static void sys_line(logsink *ls, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sys_line(logsink *ls, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line))
        n = (int)sizeof(line) - 1;
    mrun_mask_feed(ls->mask[3], line, (size_t)n);
    mrun_mask_flush(ls->mask[3]);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void logsink_fini(logsink *ls)
{
    for (int i = 1; i <= 3; i++) {
        if (ls->mask[i])
            mrun_mask_flush(ls->mask[i]);
        mrun_mask_freep(&ls->mask[i]);
    }
}

/* Runs one `run:` step. Returns its exit status (the sandbox's), sets *timed_out / *cancelled. */
static int run_step(const mrun_exec_stage *st, const mrun_exec_step *step, int64_t deadline, logsink *ls,
                    const volatile int *cancel, bool *timed_out, bool *cancelled, mrun_err *err)
{
    mrun_sandbox_opts o = *st->limits; /* shallow: mounts and env below are replaced by our own lists */
    o.workspace = (char *)st->workspace;
    o.n_env = 0;
    o.n_mounts = 0;
    for (size_t i = 0; i < st->n_env && o.n_env < MRUN_SANDBOX_MAX_ENV; i++)
        o.env[o.n_env++] = (char *)st->env[i];
    o.timeout_ms = deadline - now_ms();
    if (o.timeout_ms <= 0) {
        *timed_out = true;
        return MRUN_SANDBOX_EXIT_TIMEOUT;
    }
    char *argv[] = {"/bin/sh", "-e", "-c", (char *)step->run, NULL};
    mrun_sandbox_io io = {.stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1, .on_output = on_output, .ctx = ls};
    mrun_sandbox *sb = NULL;
    if (mrun_sandbox_start(&o, argv, &io, &sb, err) < 0) {
        sys_line(ls, "mrun: step could not start: %s\n", err->msg);
        return err->sys_errno == ENOENT ? MRUN_SANDBOX_EXIT_NOTFOUND
               : err->sys_errno == ENOEXEC ? MRUN_SANDBOX_EXIT_NOEXEC
                                           : MRUN_SANDBOX_EXIT_SETUP;
    }
    mrun_sandbox_result res;
    int r;
    bool killed = false;
    while ((r = mrun_sandbox_wait(sb, 100, &res, err)) == 1) {
        if (cancel && *cancel && !killed) {
            mrun_sandbox_kill(sb, SIGKILL, err);
            killed = true;
            *cancelled = true;
        }
    }
    mrun_sandbox_free(sb);
    if (r < 0) {
        sys_line(ls, "mrun: %s\n", err->msg);
        return MRUN_SANDBOX_EXIT_SETUP;
    }
    *timed_out = res.timed_out;
    if (res.output_truncated)
        sys_line(ls, "mrun: output past the limit was dropped (%lld bytes in all)\n", (long long)res.output_bytes);
    if (res.oom_killed)
        sys_line(ls, "mrun: the step was killed for exceeding its memory limit\n");
    return res.exit_code;
}

static void stage_log(void *ctx, int stream, const char *data, size_t len)
{
    logsink *ls = ctx;
    mrun_mask_feed(ls->mask[stream == 2 ? 2 : 1], data, len);
}

/* Runs one `uses:` step through the registry, on the runner, over the workspace. */
static int uses_step(const mrun_exec_stage *st, const mrun_exec_step *step, logsink *ls, double *ret_coverage,
                     mrun_err *err)
{
    const mrun_stage_def *def = mrun_stages_find(step->uses);
    if (!def) {
        sys_line(ls, "mrun: unknown built-in '%s'\n", step->uses);
        return 1;
    }
    mrun_stage_opt with[MAX_WITH];
    size_t n = step->n_with < MAX_WITH ? step->n_with : MAX_WITH;
    for (size_t i = 0; i < n; i++) {
        with[i].key = step->with_keys[i];
        with[i].value = step->with_values[i];
    }
    if (mrun_stages_check_options(def, with, n, err) < 0) {
        sys_line(ls, "mrun: %s\n", err->msg);
        return 1;
    }
    mrun_autoclose int ws = open(st->workspace, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ws < 0) {
        sys_line(ls, "mrun: workspace: %s\n", strerror(errno));
        return 1;
    }
    mrun_stage_ctx sc = {.workspace_fd = ws, .with = with, .n_with = n, .log = stage_log, .log_ctx = ls,
                       .coverage_baseline = st->coverage_baseline, .ret_coverage = ret_coverage,
                       .preview = st->preview, .preview_ctx = st->preview_ctx};
    int r = def->run(&sc, err);
    if (r < 0) {
        sys_line(ls, "mrun: %s: %s\n", def->name, err->msg);
        return 1;
    }
    return r;
}

int mrun_exec_stage_run(const mrun_exec_stage *st, mrun_exec_log_fn log, void *ctx, const volatile int *cancel,
                        mrun_exec_result *ret, mrun_err *err)
{
    logsink ls = {.log = log, .ctx = ctx};
    for (int i = 1; i <= 3; i++) {
        ls.sinks[i] = (stream_sink){.ls = &ls, .stream = i};
        if (mrun_mask_new(st->secret_values, st->n_secret_values, masked_out, &ls.sinks[i], &ls.mask[i], err) < 0) {
            logsink_fini(&ls);
            return mrun_err_prefix(err, "stage log");
        }
    }
    mrun_exec_result res = {.passed = true, .failed_step = -1, .coverage = -1};
    int64_t start = now_ms();
    int64_t deadline = start + (st->limits->timeout_ms > 0 ? st->limits->timeout_ms : 600000);
    for (size_t i = 0; i < st->n_steps; i++) {
        const mrun_exec_step *step = &st->steps[i];
        if (cancel && *cancel) {
            res.cancelled = true;
            break;
        }
        sys_line(&ls, "==> step %zu/%zu: %s\n", i + 1, st->n_steps, step->name);
        int64_t t0 = now_ms();
        bool timed_out = false, cancelled = false;
        int code = step->run ? run_step(st, step, deadline, &ls, cancel, &timed_out, &cancelled, err)
                             : uses_step(st, step, &ls, &res.coverage, err);
        mrun_mask_flush(ls.mask[1]);
        mrun_mask_flush(ls.mask[2]);
        sys_line(&ls, "<== step %zu/%zu: %s: %s %d after %.1f s\n", i + 1, st->n_steps, step->name,
                 timed_out ? "timed out, status" : cancelled ? "cancelled, status" : "exit", code,
                 (double)(now_ms() - t0) / 1000.0);
        if (cancelled) {
            res.cancelled = true;
            res.passed = false;
            break;
        }
        if (code != 0 && step->continue_on_error) {
            sys_line(&ls, "    (continue-on-error: the stage goes on)\n");
            continue;
        }
        if (code != 0 || timed_out) {
            res.passed = false;
            res.timed_out = timed_out;
            res.failed_step = (int)i;
            res.exit_code = code;
            break;
        }
    }
    if (res.cancelled)
        res.passed = false;
    res.wall_ms = now_ms() - start;
    logsink_fini(&ls);
    *ret = res;
    return 0;
}
