/* stages_int.h - private to stages/: the built-in functions the registry lists. */
#ifndef MRUN_STAGES_INT_H
#define MRUN_STAGES_INT_H

#include "stages.h"

int mrun_stage_require_files(const mrun_stage_ctx *ctx, mrun_err *err);
int mrun_stage_secret_scan(const mrun_stage_ctx *ctx, mrun_err *err);
int mrun_stage_llm_lint(const mrun_stage_ctx *ctx, mrun_err *err);
int mrun_stage_test_presence(const mrun_stage_ctx *ctx, mrun_err *err);
int mrun_stage_preview(const mrun_stage_ctx *ctx, mrun_err *err);
int mrun_stage_license_check(const mrun_stage_ctx *ctx, mrun_err *err);
int mrun_stage_coverage_gate(const mrun_stage_ctx *ctx, mrun_err *err);
int mrun_stage_sbom(const mrun_stage_ctx *ctx, mrun_err *err);

/* Opens rel (relative, no "..") for writing beneath the workspace ws_fd, creating parent directories, never
 * through a symlink: a symlink planted by an earlier step cannot make a trusted stage write outside. */
int mrun_stage_create_file(int ws_fd, const char *rel, mrun_err *err);
/* A check's skip callback (ctx is the mrun_stage_ctx): "skipped PATH (REASON)" on the log's stream 2. */
void mrun_stage_log_skip(void *ctx, const char *path, const char *reason);

/* Marks the findings that o->baseline lists as suppressed (a missing file is fine when o->baseline_optional);
 * the file is read beneath o->baseline_dirfd without following a symlink, at most 16 MiB. */
int mrun_check_apply_baseline(const mrun_check_opts *o, struct mrun_findings *out, mrun_err *err);

/* Looks up a `with:` value; NULL when absent. */
const char *mrun_stage_opt_get(const mrun_stage_ctx *ctx, const char *key);

#endif
