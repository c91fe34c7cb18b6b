/* stages_int.h - private to stages/: the built-in functions the registry lists. */
#ifndef MRUN_STAGES_INT_H
#define MRUN_STAGES_INT_H

#include "stages.h"

int mrun_stage_require_files(const mrun_stage_ctx *ctx, mrun_err *err);
int mrun_stage_secret_scan(const mrun_stage_ctx *ctx, mrun_err *err);
int mrun_stage_llm_lint(const mrun_stage_ctx *ctx, mrun_err *err);
int mrun_stage_test_presence(const mrun_stage_ctx *ctx, mrun_err *err);

/* Looks up a `with:` value; NULL when absent. */
const char *mrun_stage_opt_get(const mrun_stage_ctx *ctx, const char *key);

#endif
