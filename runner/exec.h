/* exec.h - runs one stage's steps in order in one workspace: `run:` steps through /bin/sh -e in a sandbox each,
 * `uses:` steps through the built-in registry on the runner itself. Output goes to a log callback with the
 * stage's secret values masked; mrun's own lines ("==> step ...") are stream 3. Blocks the calling thread for
 * the stage's duration; one stage per call; any number of calls may run in parallel on different threads. */
#ifndef MRUN_EXEC_H
#define MRUN_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "../sandbox/sandbox.h"
#include "../stages/stages.h"

typedef struct mrun_exec_step {
    const char *name;
    const char *run;  /* exactly one of run / uses */
    const char *uses;
    const char *const *with_keys; /* uses only */
    const char *const *with_values;
    size_t n_with;
    bool continue_on_error;
} mrun_exec_step;

typedef struct mrun_exec_stage {
    const char *workspace;          /* host directory, absolute; the steps' changes stay in it */
    const mrun_exec_step *steps;
    size_t n_steps;
    const char *const *env;         /* NAME=VALUE for every step, secrets included */
    size_t n_env;
    const char *const *secret_values; /* masked in the log */
    size_t n_secret_values;
    const mrun_sandbox_opts *limits; /* memory, pids, cpus, disk...; timeout_ms is for the whole stage */
    double coverage_baseline;        /* for `uses: coverage-gate`: percent, or -1 when there is none */
    mrun_stage_preview_fn preview;   /* for `uses: preview`: how to start one (NULL: not here) */
    void *preview_ctx;
} mrun_exec_stage;

enum { MRUN_EXEC_STDOUT = 1, MRUN_EXEC_STDERR = 2, MRUN_EXEC_SYSTEM = 3 };

typedef void (*mrun_exec_log_fn)(void *ctx, int stream, const char *data, size_t len);

typedef struct mrun_exec_result {
    bool passed;
    bool timed_out;
    bool cancelled;
    int failed_step;   /* index of the step that failed the stage, -1 if none */
    int exit_code;     /* of that step */
    int64_t wall_ms;
    double coverage; /* line coverage a coverage-gate step measured (percent), -1 when none ran */
} mrun_exec_result;

/* Runs the stage. *cancel (may be NULL) is polled every 100 ms: when it turns non-zero the running step is killed
 * and the stage ends cancelled. Returns -1 only when the stage could not be run at all (bad workspace, a secret
 * too long to mask); a step that fails, times out or cannot start is a failed stage (0, passed false). */
int mrun_exec_stage_run(const mrun_exec_stage *st, mrun_exec_log_fn log, void *ctx, const volatile int *cancel,
                        mrun_exec_result *ret, mrun_err *err);

#endif
