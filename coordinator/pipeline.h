/* pipeline.h - the parsed, validated form of .mrun/pipeline.yml (see docs/pipeline.md).
 * A mrun_pipeline is immutable once parsed; every pointer a getter returns is borrowed until
 * mrun_pipeline_free. Safe to read from any number of threads; no function here blocks. */
#ifndef MRUN_PIPELINE_H
#define MRUN_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

typedef struct mrun_pipeline mrun_pipeline;

/* Bounds checked before anything is allocated for input. */
typedef struct mrun_pipeline_limits {
    size_t max_bytes;  /* whole file */
    size_t max_stages;
    size_t max_steps;  /* per stage */
    size_t max_string; /* any one scalar, in bytes */
    size_t max_depth;  /* nested mappings and lists */
    size_t max_events; /* libyaml events: bounds total work */
    size_t max_items;  /* entries in any one mapping or list */
} mrun_pipeline_limits;

#define MRUN_PIPELINE_LIMITS_DEFAULT {1u << 20, 256, 256, 64u << 10, 32, 200000, 1024}

/* Resource limits; a field counts only when its *_set flag is true. */
typedef struct mrun_pipeline_res {
    int64_t memory_bytes;
    int64_t pids;
    int64_t cpus_milli; /* thousandths of a CPU */
    int64_t timeout_ms;
    bool memory_set, pids_set, cpus_set, timeout_set;
} mrun_pipeline_res;

typedef struct mrun_pipeline_kv {
    const char *key;
    const char *value;
} mrun_pipeline_kv;

typedef struct mrun_pipeline_step {
    const char *name; /* the 'name' key, else the uses name or the run text */
    const char *run;  /* exactly one of run / uses is non-NULL */
    const char *uses;
    const mrun_pipeline_kv *with; /* file order; only with uses */
    size_t n_with;
    bool continue_on_error;
    unsigned line, col; /* of the step mapping, 1-based */
} mrun_pipeline_step;

typedef struct mrun_pipeline_stage {
    const char *name;
    const size_t *needs; /* indexes into the topological order; each is < this stage's index */
    size_t n_needs;
    const char *const *runs_on; /* labels a runner must have, all of them */
    size_t n_runs_on;
    int retry; /* 0-10 */
    mrun_pipeline_res limits; /* defaults.limits with this stage's limits on top */
    const char *const *secrets;
    size_t n_secrets;
    const mrun_pipeline_kv *env; /* this stage only; overlay it on mrun_pipeline_env */
    size_t n_env;
    const mrun_pipeline_step *steps; /* at least one */
    size_t n_steps;
    const char *const *artifacts; /* relative paths without '..'; a trailing '/' means a directory */
    size_t n_artifacts;
    const char *if_text; /* the 'if:' expression as written (not parsed here), or NULL */
    unsigned if_line, if_col; /* of the expression's scalar, 1-based, for expression errors */
    unsigned line, col; /* of the stage name */
} mrun_pipeline_stage;

/* Parses and validates one pipeline file held in memory. name is used only in messages
 * ("name:line:col: message"); known_uses is the NULL-terminated list of built-in stage names
 * that 'uses' may name. Pure: no I/O, no globals, no logging. On success *ret_pl owns
 * everything (free with mrun_pipeline_free); on error nothing is returned and err holds the
 * first problem: EINVAL (malformed), E2BIG (a limit in lim was hit) or ENOMEM. */
int mrun_pipeline_parse(const char *name, const uint8_t *buf, size_t len, const mrun_pipeline_limits *lim,
                        const char *const *known_uses, mrun_pipeline **ret_pl, mrun_err *err);

void mrun_pipeline_free(mrun_pipeline *pl);
static inline void mrun_pipeline_freep(mrun_pipeline **pl)
{
    mrun_pipeline_free(*pl);
}

/* The 'name' key, else the name passed to mrun_pipeline_parse. */
const char *mrun_pipeline_name(const mrun_pipeline *pl);
/* 0-3, default 0. */
int mrun_pipeline_tier(const mrun_pipeline *pl);
/* Top-level env, file order. */
const mrun_pipeline_kv *mrun_pipeline_env(const mrun_pipeline *pl, size_t *ret_n);
/* defaults.limits as written (already merged into every stage). */
const mrun_pipeline_res *mrun_pipeline_defaults(const mrun_pipeline *pl);
/* Stages in a stable topological order: every stage comes after all it needs, and ties keep file order. */
size_t mrun_pipeline_stage_count(const mrun_pipeline *pl);
const mrun_pipeline_stage *mrun_pipeline_stage_at(const mrun_pipeline *pl, size_t i);
/* Index of the named stage, or -1. */
long mrun_pipeline_stage_find(const mrun_pipeline *pl, const char *name);

#endif
