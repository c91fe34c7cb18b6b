/* sched.c - stage readiness over the DAG, `if:` evaluation, retries, cancel and the pipeline's state. */
#include "sched.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../common/auto.h"
#include "expr.h"

/* Nodes an `if:` may compile to: far more than any real condition needs. */
#define IF_MAX_NODES 512

struct mrun_sched {
    const mrun_pipeline *pl; /* borrowed */
    size_t n;
    mrun_expr **ifs;         /* one per stage, NULL where the stage has no `if:` */
};

static const char *const stage_names[] = {"waiting", "ready", "running", "passed", "failed", "skipped", "cancelled"};
static const char *const pipeline_names[] = {"queued", "running", "passed", "failed", "cancelled"};

void mrun_sched_free(mrun_sched *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->ifs && i < s->n; i++)
        mrun_expr_free(s->ifs[i]);
    free(s->ifs);
    free(s);
}

void mrun_sched_freep(mrun_sched **s)
{
    mrun_sched_free(*s);
    *s = NULL;
}

/* expr errors read "col N: message"; the file position is the scalar's plus N-1 (exact for plain scalars, one
 * column early for quoted ones). */
static int if_error(const char *file, const mrun_pipeline_stage *st, mrun_err *err)
{
    unsigned col = 1;
    const char *msg = err->msg;
    if (strncmp(msg, "col ", 4) == 0) {
        char *end;
        unsigned long c = strtoul(msg + 4, &end, 10);
        if (end != msg + 4 && end[0] == ':' && c > 0 && c < 100000) {
            col = (unsigned)c;
            msg = end[1] == ' ' ? end + 2 : end + 1;
        }
    }
    char cause[sizeof(err->msg)];
    size_t n = strlen(msg);
    if (n >= sizeof(cause))
        n = sizeof(cause) - 1;
    memcpy(cause, msg, n);
    cause[n] = '\0';
    return mrun_err_setx(err, err->sys_errno, "%s:%u:%u: stage '%s': if: %s", file, st->if_line,
                         st->if_col + col - 1, st->name, cause);
}

int mrun_sched_new(const mrun_pipeline *pl, const char *file, mrun_sched **ret_sched, mrun_err *err)
{
    mrun_cleanup(mrun_sched_freep) mrun_sched *s = calloc(1, sizeof(*s));
    if (!s)
        return mrun_err_set(err, ENOMEM, "scheduler");
    s->pl = pl;
    s->n = mrun_pipeline_stage_count(pl);
    s->ifs = calloc(s->n ? s->n : 1, sizeof(*s->ifs));
    if (!s->ifs)
        return mrun_err_set(err, ENOMEM, "scheduler");
    for (size_t i = 0; i < s->n; i++) {
        const mrun_pipeline_stage *st = mrun_pipeline_stage_at(pl, i);
        if (!st->if_text)
            continue;
        if (mrun_expr_parse(st->if_text, strlen(st->if_text), IF_MAX_NODES, &s->ifs[i], err) < 0)
            return if_error(file, st, err);
    }
    *ret_sched = mrun_steal_ptr(&s);
    return 0;
}

/* A waiting stage whose needs have all finished: does it run? */
static mrun_stage_state resolve(const mrun_sched *s, size_t i, const mrun_sched_event *ev,
                                const mrun_stage_state *states)
{
    const mrun_pipeline_stage *st = mrun_pipeline_stage_at(s->pl, i);
    bool needs_ok = true;
    for (size_t k = 0; k < st->n_needs; k++)
        if (states[st->needs[k]] != MRUN_STAGE_PASSED)
            needs_ok = false;
    if (!s->ifs[i])
        return needs_ok ? MRUN_STAGE_READY : MRUN_STAGE_SKIPPED;
    mrun_expr_env env = {.event = ev->event, .ref = ev->ref, .branch = ev->branch,
                         .tier = mrun_pipeline_tier(s->pl), .needs_ok = needs_ok};
    return mrun_expr_eval(s->ifs[i], &env) ? MRUN_STAGE_READY : MRUN_STAGE_SKIPPED;
}

size_t mrun_sched_advance(const mrun_sched *s, const mrun_sched_event *ev, mrun_stage_state *states)
{
    size_t changed = 0;
    /* Stages are in topological order, so one forward pass sees every need resolved before its dependents:
     * a skip cascades within the pass. */
    for (size_t i = 0; i < s->n; i++) {
        if (states[i] != MRUN_STAGE_WAITING)
            continue;
        const mrun_pipeline_stage *st = mrun_pipeline_stage_at(s->pl, i);
        bool all_done = true;
        for (size_t k = 0; k < st->n_needs && all_done; k++)
            all_done = mrun_stage_state_finished(states[st->needs[k]]);
        if (!all_done)
            continue;
        states[i] = resolve(s, i, ev, states);
        changed++;
    }
    return changed;
}

void mrun_sched_init(const mrun_sched *s, const mrun_sched_event *ev, mrun_stage_state *states)
{
    for (size_t i = 0; i < s->n; i++)
        states[i] = MRUN_STAGE_WAITING;
    mrun_sched_advance(s, ev, states);
}

mrun_stage_state mrun_sched_finish(const mrun_sched *s, size_t stage, bool passed, int *retries_used,
                                   mrun_stage_state *states)
{
    const mrun_pipeline_stage *st = mrun_pipeline_stage_at(s->pl, stage);
    mrun_stage_state next = MRUN_STAGE_PASSED;
    if (!passed) {
        next = MRUN_STAGE_FAILED;
        if (*retries_used < st->retry) {
            (*retries_used)++;
            next = MRUN_STAGE_READY;
        }
    }
    states[stage] = next;
    return next;
}

size_t mrun_sched_cancel(mrun_stage_state *states, size_t n)
{
    size_t changed = 0;
    for (size_t i = 0; i < n; i++) {
        if (!mrun_stage_state_finished(states[i])) {
            states[i] = MRUN_STAGE_CANCELLED;
            changed++;
        }
    }
    return changed;
}

mrun_pipeline_state mrun_sched_pipeline_state(const mrun_stage_state *states, size_t n)
{
    bool started = false, open = false, failed = false, cancelled = false;
    for (size_t i = 0; i < n; i++) {
        switch (states[i]) {
        case MRUN_STAGE_WAITING:
        case MRUN_STAGE_READY:
            open = true;
            break;
        case MRUN_STAGE_RUNNING:
            open = started = true;
            break;
        case MRUN_STAGE_FAILED:
            failed = started = true;
            break;
        case MRUN_STAGE_CANCELLED:
            cancelled = true;
            break;
        case MRUN_STAGE_PASSED:
            started = true;
            break;
        case MRUN_STAGE_SKIPPED:
            break;
        }
    }
    if (open)
        return started ? MRUN_PIPELINE_RUNNING : MRUN_PIPELINE_QUEUED;
    if (cancelled)
        return MRUN_PIPELINE_CANCELLED;
    return failed ? MRUN_PIPELINE_FAILED : MRUN_PIPELINE_PASSED;
}

bool mrun_sched_labels_match(const mrun_pipeline_stage *st, const char *const *labels, size_t n_labels)
{
    for (size_t i = 0; i < st->n_runs_on; i++) {
        bool found = false;
        for (size_t j = 0; j < n_labels && !found; j++)
            found = strcmp(st->runs_on[i], labels[j]) == 0;
        if (!found)
            return false;
    }
    return true;
}

bool mrun_stage_state_finished(mrun_stage_state st)
{
    return st == MRUN_STAGE_PASSED || st == MRUN_STAGE_FAILED || st == MRUN_STAGE_SKIPPED ||
           st == MRUN_STAGE_CANCELLED;
}

const char *mrun_stage_state_name(mrun_stage_state st)
{
    return (unsigned)st < sizeof(stage_names) / sizeof(stage_names[0]) ? stage_names[st] : "unknown";
}

const char *mrun_pipeline_state_name(mrun_pipeline_state st)
{
    return (unsigned)st < sizeof(pipeline_names) / sizeof(pipeline_names[0]) ? pipeline_names[st] : "unknown";
}

int mrun_stage_state_parse(const char *name, mrun_stage_state *ret_st)
{
    for (size_t i = 0; i < sizeof(stage_names) / sizeof(stage_names[0]); i++) {
        if (strcmp(name, stage_names[i]) == 0) {
            *ret_st = (mrun_stage_state)i;
            return 0;
        }
    }
    return -1;
}
