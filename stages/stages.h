/* stages.h - the built-in steps a pipeline names with `uses:`, through one registry (name -> function with its
 * options). A built-in is trusted code that runs on the runner over an untrusted workspace: it reads the
 * workspace only through dir fds without following symlinks out of it, and bounds what it reads. */
#ifndef MRUN_STAGES_H
#define MRUN_STAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

typedef struct mrun_stage_opt {
    const char *key;
    const char *value;
} mrun_stage_opt;

/* Where a built-in writes its report (the stage's log): stream 1 for findings, 2 for errors. */
typedef void (*mrun_stage_log_fn)(void *ctx, int stream, const char *data, size_t len);

/* What `uses: preview` asks the runner for (stage_preview.c checks and fills it from `with:`). */
typedef struct mrun_stage_preview_req {
    const char *command;    /* run with /bin/sh -c in the workspace, in a sandbox without network */
    int port;               /* where the app listens inside its sandbox */
    const char *health;     /* path that must answer 2xx before the preview counts as up */
    int64_t ttl_ms;         /* the preview stops by itself after this */
    int64_t ready_ms;       /* how long to wait for health */
    int64_t memory_bytes;   /* the sandbox's memory limit */
    bool private_;          /* visibility: private (the proxy asks for a token or a signed link) */
    const char *artifact;   /* a file of the workspace (from a needed stage) the app is; its signature is checked */
    char note[512];         /* out: what the runner wants said in the log (the artifact's check) */
} mrun_stage_preview_req;

/* Starts a preview of the workspace and keeps it after the step returns; 0 when it is up and healthy, -1 with err
 * (which then carries the app's last log lines). Provided by the runner. */
typedef int (*mrun_stage_preview_fn)(void *ctx, mrun_stage_preview_req *req, mrun_err *err);

typedef struct mrun_stage_ctx {
    int workspace_fd;              /* the stage's workspace, O_DIRECTORY */
    const mrun_stage_opt *with;    /* the step's `with:`, already checked against the option table */
    size_t n_with;
    mrun_stage_log_fn log;
    void *log_ctx;
    /* coverage-gate: the line coverage (percent) stored for the app's default branch, or -1 when there is none;
     * the gate writes the coverage it measured to *ret_coverage (may be NULL), which the coordinator stores as the
     * new baseline when a default-branch pipeline passes. */
    double coverage_baseline;
    double *ret_coverage;
    /* preview: how the runner starts one (NULL: no previews here, e.g. `mrun scan`) */
    mrun_stage_preview_fn preview;
    void *preview_ctx;
} mrun_stage_ctx;

/* Runs the built-in: returns 0 when it passed, 1 when it failed (findings), -1 with err when it could not run. */
typedef int (*mrun_stage_fn)(const mrun_stage_ctx *ctx, mrun_err *err);

typedef struct mrun_stage_option {
    const char *key;
    const char *doc;
    int required;
} mrun_stage_option;

typedef struct mrun_stage_def {
    const char *name;
    const char *summary;
    const mrun_stage_option *options; /* terminated by a NULL key */
    mrun_stage_fn run;
} mrun_stage_def;

/* ---- the checks as functions, for `mrun scan` and the built-in stages ---- */

struct mrun_findings;
struct mrun_scan_stats;
typedef void (*mrun_check_skip_fn)(void *ctx, const char *path, const char *reason);

typedef struct mrun_check_opts {
    uint64_t max_file_bytes;   /* files larger are skipped (0: 1 MiB) */
    int baseline_dirfd;        /* baseline is relative to this (AT_FDCWD or the scanned root) */
    const char *baseline;      /* a baseline file to apply, or NULL */
    int baseline_optional;     /* a missing baseline is fine (the stage's default path) */
    mrun_check_skip_fn skip;   /* told about every skipped file (may be NULL) */
    void *skip_ctx;
    const char *const *test_patterns; /* test presence: extra test-file patterns (testpresence.h) */
    size_t n_test_patterns;
    const char *policy; /* license check (stages through run_stage): the policy file, NULL for .mrun/policy.yml */
} mrun_check_opts;

/* The secret scan over the tree at root_fd: findings (inline mrun:allow and the baseline applied) into out. */
int mrun_check_secrets(int root_fd, const mrun_check_opts *o, struct mrun_findings *out,
                       struct mrun_scan_stats *ret_stats, mrun_err *err);
/* The LLM-output lint over the tree at root_fd, likewise. */
int mrun_check_lint(int root_fd, const mrun_check_opts *o, struct mrun_findings *out, struct mrun_scan_stats *ret_stats,
                    mrun_err *err);
/* Test presence: every public function of a Python or JS/TS source has a test file that names it. */
int mrun_check_tests(int root_fd, const mrun_check_opts *o, struct mrun_findings *out,
                     struct mrun_scan_stats *ret_stats, mrun_err *err);

/* The registry: every built-in, for lookups and --help. */
const mrun_stage_def *mrun_stages_find(const char *name);
/* NULL-terminated names, for the pipeline parser's known_uses. */
const char *const *mrun_stages_names(void);
/* Checks `with:` against the definition's options: unknown keys (with the closest valid one) and missing
 * required ones are EINVAL. */
int mrun_stages_check_options(const mrun_stage_def *def, const mrun_stage_opt *with, size_t n, mrun_err *err);

#endif
