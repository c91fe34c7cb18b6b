/* sched.h - the pipeline's DAG as a state machine: which stages become ready, which are skipped by their `if:`,
 * what a result or a cancel does, and the pipeline's state. Pure: the states live in the caller's array (the
 * store keeps them durable); nothing here does I/O, logs or blocks, so the scheduler can be tested alone and
 * the coordinator can call it inside a transaction. */
#ifndef MRUN_SCHED_H
#define MRUN_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "pipeline.h"

typedef enum mrun_stage_state {
    MRUN_STAGE_WAITING = 0, /* some need has not finished */
    MRUN_STAGE_READY,       /* may be leased to a runner */
    MRUN_STAGE_RUNNING,     /* leased */
    MRUN_STAGE_PASSED,
    MRUN_STAGE_FAILED,
    MRUN_STAGE_SKIPPED,     /* its `if:` was false, or a need failed and it does not ask for failure()/always() */
    MRUN_STAGE_CANCELLED,
} mrun_stage_state;

typedef enum mrun_pipeline_state {
    MRUN_PIPELINE_QUEUED = 0, /* nothing has started yet */
    MRUN_PIPELINE_RUNNING,
    MRUN_PIPELINE_PASSED,
    MRUN_PIPELINE_FAILED,
    MRUN_PIPELINE_CANCELLED,
} mrun_pipeline_state;

/* The event a pipeline runs for: what `if:` expressions see. Strings are borrowed. */
typedef struct mrun_sched_event {
    const char *event; /* "push", "pull_request", "manual" */
    const char *ref;   /* "refs/heads/main" */
    const char *branch;
} mrun_sched_event;

/* A pipeline's compiled `if:` expressions; borrows pl, which must outlive it. Immutable after new. */
typedef struct mrun_sched mrun_sched;

/* Compiles every stage's `if:`. Errors are "file:line:col: if: ..." at the offending token (EINVAL, E2BIG);
 * a pipeline whose expressions do not compile must not run. */
int mrun_sched_new(const mrun_pipeline *pl, const char *file, mrun_sched **ret_sched, mrun_err *err);
void mrun_sched_free(mrun_sched *s);
void mrun_sched_freep(mrun_sched **s);

/* The states a new pipeline starts with: stages without needs are resolved at once (ready or skipped),
 * the others wait. states has one entry per stage, in the pipeline's topological order. */
void mrun_sched_init(const mrun_sched *s, const mrun_sched_event *ev, mrun_stage_state *states);

/* Resolves every waiting stage whose needs have all finished: READY when its `if:` holds (with success()
 * meaning "every need passed"), else SKIPPED; repeats until nothing changes, so skips cascade. Returns the
 * number of stages that changed. */
size_t mrun_sched_advance(const mrun_sched *s, const mrun_sched_event *ev, mrun_stage_state *states);

/* A running stage's attempt ended. On failure with retries left (*retries_used < the stage's retry), the stage is
 * READY again and *retries_used grows; else PASSED or FAILED. Call mrun_sched_advance after. Returns the new
 * state, also written to states[stage]. */
mrun_stage_state mrun_sched_finish(const mrun_sched *s, size_t stage, bool passed, int *retries_used,
                                   mrun_stage_state *states);

/* Every stage that has not finished becomes CANCELLED. Returns how many did. */
size_t mrun_sched_cancel(mrun_stage_state *states, size_t n);

mrun_pipeline_state mrun_sched_pipeline_state(const mrun_stage_state *states, size_t n);

/* True when a runner with these labels may run the stage: it has every label of the stage's runs-on. */
bool mrun_sched_labels_match(const mrun_pipeline_stage *st, const char *const *labels, size_t n_labels);

bool mrun_stage_state_finished(mrun_stage_state st);
const char *mrun_stage_state_name(mrun_stage_state st);
const char *mrun_pipeline_state_name(mrun_pipeline_state st);
/* Parses a name back; -1 for an unknown one. */
int mrun_stage_state_parse(const char *name, mrun_stage_state *ret_st);

#endif
