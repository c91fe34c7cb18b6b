/* store_pipeline.c - pipelines, stages, leases and logs: the state machine the scheduler drives. Every change
 * that touches more than one row is one IMMEDIATE transaction (goto out rolls it back). */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/auto.h"
#include "store_int.h"

static const char *const pl_states[] = {"queued", "running", "passed", "failed", "cancelled"};
static const char *const st_states[] = {"waiting", "ready", "running", "passed", "failed", "skipped", "cancelled"};
#define N(a) (sizeof(a) / sizeof((a)[0]))

static int state_index(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    assert(!"state outside the schema's CHECK");
    return 0;
}

static bool stage_terminal(mrun_store_stage_state s)
{
    return s == MRUN_STORE_STAGE_PASSED || s == MRUN_STORE_STAGE_FAILED || s == MRUN_STORE_STAGE_SKIPPED ||
           s == MRUN_STORE_STAGE_CANCELLED;
}

/* When no stage of the pipeline can still run, the pipeline finishes: failed if a stage failed, else cancelled if
 * one was cancelled, else passed. Called inside the transaction that finished a stage. */
static int rollup(mrun_store *st, const char *pipeline_id, int64_t now_ms, mrun_err *err)
{
    return store_exec(st, err,
                      "UPDATE pipelines SET finished_ms=?2, state=CASE"
                      " WHEN EXISTS(SELECT 1 FROM stages WHERE pipeline_id=?1 AND state='failed') THEN 'failed'"
                      " WHEN EXISTS(SELECT 1 FROM stages WHERE pipeline_id=?1 AND state='cancelled') THEN 'cancelled'"
                      " ELSE 'passed' END"
                      " WHERE id=?1 AND state IN ('queued','running') AND NOT EXISTS(SELECT 1 FROM stages"
                      " WHERE pipeline_id=?1 AND state IN ('waiting','ready','running'))",
                      "sI", pipeline_id, now_ms) < 0
               ? -1
               : 0;
}

/* ---- pipelines ---- */

static char *join_labels(const char *const *v, size_t n)
{
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(v[i]) + 1;
    char *s = malloc(len), *p = s;
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(v[i]);
        if (i)
            *p++ = ' ';
        memcpy(p, v[i], l);
        p += l;
    }
    *p = '\0';
    return s;
}

static int insert_stage(mrun_store *st, const char *id, const mrun_pipeline *pl, size_t i, mrun_err *err)
{
    const mrun_pipeline_stage *sg = mrun_pipeline_stage_at(pl, i);
    mrun_autofree char *runs_on = join_labels(sg->runs_on, sg->n_runs_on);
    if (!runs_on)
        return mrun_err_set(err, ENOMEM, "stage '%s'", sg->name);
    if (store_exec(st, err,
                   "INSERT INTO stages(pipeline_id, name, idx, state, retry, runs_on, if_text) VALUES (?,?,?,?,?,?,?)",
                   "ssIsiss", id, sg->name, (int64_t)i, sg->n_needs ? "waiting" : "ready", sg->retry, runs_on,
                   sg->if_text) < 0)
        return mrun_err_prefix(err, "stage '%s'", sg->name);
    for (size_t k = 0; k < sg->n_needs; k++) {
        const mrun_pipeline_stage *need = mrun_pipeline_stage_at(pl, sg->needs[k]);
        if (store_exec(st, err, "INSERT INTO stage_needs(pipeline_id, stage, need) VALUES (?,?,?)", "sss", id, sg->name,
                       need->name) < 0)
            return mrun_err_prefix(err, "needs of stage '%s'", sg->name);
    }
    return 0;
}

static int insert_pipeline(mrun_store *st, const char *id, const mrun_pipeline *pl, const mrun_store_submit *sub,
                           mrun_err *err)
{
#define S(x) ((x) ? (x) : "")
    if (store_exec(st, err,
                   "INSERT INTO pipelines(id, name, tier, event, ref, branch, submitter, agent, source_digest,"
                   " pipeline_yaml, state, created_ms) VALUES (?,?,?,?,?,?,?,?,?,?,'queued',?)",
                   "ssisssssstI", id, mrun_pipeline_name(pl), mrun_pipeline_tier(pl), S(sub->event), S(sub->ref),
                   S(sub->branch), S(sub->submitter), S(sub->agent), sub->source_digest, S(sub->yaml),
                   sub->yaml ? sub->yaml_len : (size_t)0, sub->now_ms) < 0)
        return -1;
#undef S
    /* Topological order: every stage's needs are inserted before it, so the foreign keys hold row by row. */
    for (size_t i = 0; i < mrun_pipeline_stage_count(pl); i++)
        if (insert_stage(st, id, pl, i, err) < 0)
            return -1;
    return 0;
}

int mrun_store_pipeline_create(mrun_store *st, const mrun_pipeline *pl, const mrun_store_submit *sub,
                               char ret_id[MRUN_STORE_ID_LEN + 1], mrun_err *err)
{
    assert(st && pl && sub);
    char id[MRUN_STORE_ID_LEN + 1];
    bool has = false;
    if (store_random_hex(id, MRUN_STORE_ID_LEN / 2, err) < 0)
        return mrun_err_prefix(err, "pipeline");
    if (store_begin(st, err) < 0)
        goto out;
    /* inside the transaction: the garbage collector deletes blobs under the same write lock */
    if (mrun_store_blob_has(st, sub->source_digest, &has, err) < 0)
        goto out;
    if (!has) {
        mrun_err_setx(err, ENOENT, "source blob %s is not stored", sub->source_digest);
        goto out;
    }
    if (insert_pipeline(st, id, pl, sub, err) < 0)
        goto out;
    if (store_commit(st, err) < 0)
        goto out;
    memcpy(ret_id, id, sizeof(id));
    return 0;
out:
    store_rollback(st);
    return mrun_err_prefix(err, "pipeline '%s'", mrun_pipeline_name(pl));
}

static int each_pipeline(sqlite3_stmt *s, mrun_store *st, bool with_yaml, mrun_store_pipeline_cb cb, void *ud,
                         size_t *ret_n, mrun_err *err)
{
    int rc;
    size_t n = 0;
    while ((rc = store_step(st, s, err)) == SQLITE_ROW) {
        mrun_store_pipeline_info p = {
            .id = store_col(s, 0),
            .name = store_col(s, 1),
            .tier = sqlite3_column_int(s, 2),
            .event = store_col(s, 3),
            .ref = store_col(s, 4),
            .branch = store_col(s, 5),
            .submitter = store_col(s, 6),
            .agent = store_col(s, 7),
            .source_digest = store_col(s, 8),
            .state = (mrun_store_pipeline_state)state_index(pl_states, N(pl_states), store_col(s, 9)),
            .created_ms = sqlite3_column_int64(s, 10),
            .finished_ms = sqlite3_column_int64(s, 11),
            .yaml = with_yaml ? store_col(s, 12) : NULL,
        };
        n++;
        if (cb(&p, ud) != 0)
            break;
    }
    *ret_n = n;
    return rc < 0 ? -1 : 0;
}

#define PIPELINE_COLS                                                                                                  \
    "id, name, tier, event, ref, branch, submitter, agent, source_digest, state, created_ms, finished_ms"

int mrun_store_pipeline_get(mrun_store *st, const char *id, mrun_store_pipeline_cb cb, void *ud, mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    size_t n = 0;
    if (store_prep(st, &s, err, "SELECT " PIPELINE_COLS ", pipeline_yaml FROM pipelines WHERE id=?", "s", id) < 0 ||
        each_pipeline(s, st, true, cb, ud, &n, err) < 0)
        return mrun_err_prefix(err, "pipeline '%s'", id);
    if (n == 0)
        return mrun_err_setx(err, ENOENT, "no pipeline '%s'", id);
    return 0;
}

int mrun_store_pipeline_list(mrun_store *st, int state, size_t limit, mrun_store_pipeline_cb cb, void *ud,
                             mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    const char *want = state >= 0 ? mrun_store_pipeline_state_name((mrun_store_pipeline_state)state) : NULL;
    size_t n = 0;
    if (state >= 0 && !want)
        return mrun_err_setx(err, EINVAL, "pipelines: bad state %d", state);
    if (store_prep(st, &s, err,
                   "SELECT " PIPELINE_COLS " FROM pipelines WHERE ?1 IS NULL OR state=?1"
                   " ORDER BY created_ms DESC, rowid DESC LIMIT ?2",
                   "sI", want, (int64_t)(limit > INT64_MAX ? INT64_MAX : limit)) < 0 ||
        each_pipeline(s, st, false, cb, ud, &n, err) < 0)
        return mrun_err_prefix(err, "pipelines");
    return 0;
}

int mrun_store_pipeline_set_state(mrun_store *st, const char *id, mrun_store_pipeline_state expected,
                                  mrun_store_pipeline_state state, int64_t now_ms, mrun_err *err)
{
    const char *from = mrun_store_pipeline_state_name(expected), *to = mrun_store_pipeline_state_name(state);
    if (!from || !to)
        return mrun_err_setx(err, EINVAL, "pipeline '%s': bad state", id);
    bool done = state != MRUN_STORE_PIPELINE_QUEUED && state != MRUN_STORE_PIPELINE_RUNNING;
    int n = store_exec(st, err,
                       "UPDATE pipelines SET state=?1, finished_ms=CASE WHEN ?2 THEN ?3 ELSE finished_ms END"
                       " WHERE id=?4 AND state=?5",
                       "siIss", to, (int)done, now_ms, id, from);
    if (n < 0)
        return mrun_err_prefix(err, "pipeline '%s'", id);
    if (n == 0)
        return mrun_err_setx(err, ESTALE, "pipeline '%s' is not %s (or does not exist)", id, from);
    return 0;
}

/* ---- stages ---- */

int mrun_store_stage_list(mrun_store *st, const char *pipeline_id, int state, mrun_store_stage_cb cb, void *ud,
                          mrun_err *err)
{
    const char *want = state >= 0 ? mrun_store_stage_state_name((mrun_store_stage_state)state) : NULL;
    if (state >= 0 && !want)
        return mrun_err_setx(err, EINVAL, "stages: bad state %d", state);
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err,
                   "SELECT g.pipeline_id, g.name, (SELECT coalesce(group_concat(need, ' '), '') FROM stage_needs n"
                   " WHERE n.pipeline_id=g.pipeline_id AND n.stage=g.name), g.runs_on, g.if_text, g.idx, g.state,"
                   " g.attempt, g.retry, g.retries_used, g.infra_retries, g.started_ms, g.finished_ms, g.exit_code"
                   " FROM stages g JOIN pipelines p ON p.id=g.pipeline_id"
                   " WHERE (?1 IS NULL OR g.pipeline_id=?1) AND (?2 IS NULL OR g.state=?2)"
                   " ORDER BY p.created_ms, p.rowid, g.idx",
                   "ss", pipeline_id, want) < 0)
        return mrun_err_prefix(err, "stages");
    int rc;
    while ((rc = store_step(st, s, err)) == SQLITE_ROW) {
        mrun_store_stage_info g = {
            .pipeline_id = store_col(s, 0),
            .name = store_col(s, 1),
            .needs = store_col(s, 2),
            .runs_on = store_col(s, 3),
            .if_text = (const char *)sqlite3_column_text(s, 4),
            .idx = (size_t)sqlite3_column_int64(s, 5),
            .state = (mrun_store_stage_state)state_index(st_states, N(st_states), store_col(s, 6)),
            .attempt = sqlite3_column_int(s, 7),
            .retry = sqlite3_column_int(s, 8),
            .retries_used = sqlite3_column_int(s, 9),
            .infra_retries = sqlite3_column_int(s, 10),
            .started_ms = sqlite3_column_int64(s, 11),
            .finished_ms = sqlite3_column_int64(s, 12),
            .exit_code = sqlite3_column_int(s, 13),
            .has_exit_code = sqlite3_column_type(s, 13) != SQLITE_NULL,
        };
        if (cb(&g, ud) != 0)
            break;
    }
    return rc < 0 ? mrun_err_prefix(err, "stages") : 0;
}

/* Turns "0 rows changed" into ENOENT or ESTALE with the state actually found. */
static int stage_conflict(mrun_store *st, const char *pipeline_id, const char *stage, const char *expected,
                          mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err, "SELECT state FROM stages WHERE pipeline_id=? AND name=?", "ss", pipeline_id, stage) <
        0)
        return -1;
    int rc = store_step(st, s, err);
    if (rc < 0)
        return -1;
    if (rc == SQLITE_DONE)
        return mrun_err_setx(err, ENOENT, "no stage '%s' in pipeline '%s'", stage, pipeline_id);
    return mrun_err_setx(err, ESTALE, "stage '%s' is %s, not %s", stage, store_col(s, 0), expected);
}

static int set_state_locked(mrun_store *st, const char *pipeline_id, const char *stage, mrun_store_stage_state from,
                            mrun_store_stage_state to, int64_t now_ms, mrun_err *err)
{
    const char *f = mrun_store_stage_state_name(from), *t = mrun_store_stage_state_name(to);
    int n = store_exec(st, err,
                       "UPDATE stages SET state=?1, finished_ms=CASE WHEN ?2 THEN ?3 ELSE finished_ms END"
                       " WHERE pipeline_id=?4 AND name=?5 AND state=?6",
                       "siIsss", t, (int)stage_terminal(to), now_ms, pipeline_id, stage, f);
    if (n < 0)
        return -1;
    if (n == 0)
        return stage_conflict(st, pipeline_id, stage, f, err);
    if (from == MRUN_STORE_STAGE_RUNNING &&
        store_exec(st, err,
                   "UPDATE leases SET state='revoked', finished_ms=?1 WHERE pipeline_id=?2 AND stage=?3"
                   " AND state='active'",
                   "Iss", now_ms, pipeline_id, stage) < 0)
        return -1;
    return stage_terminal(to) ? rollup(st, pipeline_id, now_ms, err) : 0;
}

int mrun_store_stage_set_state(mrun_store *st, const char *pipeline_id, const char *stage,
                               mrun_store_stage_state expected, mrun_store_stage_state state, int64_t now_ms,
                               mrun_err *err)
{
    if (!mrun_store_stage_state_name(expected) || !mrun_store_stage_state_name(state))
        return mrun_err_setx(err, EINVAL, "stage '%s': bad state", stage);
    if (state == MRUN_STORE_STAGE_RUNNING)
        return mrun_err_setx(err, EINVAL, "stage '%s': only a lease makes a stage running", stage);
    if (store_begin(st, err) < 0)
        goto out;
    if (set_state_locked(st, pipeline_id, stage, expected, state, now_ms, err) < 0)
        goto out;
    if (store_commit(st, err) < 0)
        goto out;
    return 0;
out:
    store_rollback(st);
    return mrun_err_prefix(err, "pipeline '%s'", pipeline_id);
}

/* ---- retry ---- */

/* The stages reachable downstream (through needs) of the seeds: the named stage, or every failed or cancelled one. */
#define RETRY_DOWNSTREAM                                                                                               \
    "WITH RECURSIVE down(name) AS (SELECT n.stage FROM stage_needs n WHERE n.pipeline_id=?1 AND"                       \
    " (CASE WHEN ?2 IS NULL THEN n.need IN (SELECT name FROM stages WHERE pipeline_id=?1"                              \
    " AND state IN ('failed','cancelled')) ELSE n.need=?2 END)"                                                        \
    " UNION SELECT n.stage FROM stage_needs n JOIN down d ON n.need=d.name WHERE n.pipeline_id=?1)"                    \
    " SELECT name FROM down"

#define RETRY_RESET "retries_used=0, infra_retries=0, started_ms=NULL, finished_ms=NULL, exit_code=NULL"

/* A named stage may be retried when it failed or was cancelled and nothing it needs (transitively) did. */
static int retry_check_stage(mrun_store *st, const char *pipeline_id, const char *stage, mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err, "SELECT state FROM stages WHERE pipeline_id=? AND name=?", "ss", pipeline_id, stage) <
        0)
        return -1;
    int rc = store_step(st, s, err);
    if (rc < 0)
        return -1;
    if (rc == SQLITE_DONE)
        return mrun_err_setx(err, ENOENT, "no stage '%s' in pipeline '%s'", stage, pipeline_id);
    const char *state = store_col(s, 0);
    if (strcmp(state, "failed") != 0 && strcmp(state, "cancelled") != 0)
        return mrun_err_setx(err, ESTALE, "stage '%s' is %s, not failed or cancelled", stage, state);
    store_autostmt sqlite3_stmt *u = NULL;
    if (store_prep(st, &u, err,
                   "WITH RECURSIVE up(name) AS (SELECT need FROM stage_needs WHERE pipeline_id=?1 AND stage=?2"
                   " UNION SELECT n.need FROM stage_needs n JOIN up ON n.stage=up.name WHERE n.pipeline_id=?1)"
                   " SELECT g.name, g.state FROM up JOIN stages g ON g.pipeline_id=?1 AND g.name=up.name"
                   " WHERE g.state IN ('failed','cancelled') LIMIT 1",
                   "ss", pipeline_id, stage) < 0 ||
        (rc = store_step(st, u, err)) < 0)
        return -1;
    if (rc == SQLITE_ROW)
        return mrun_err_setx(err, ESTALE, "stage '%s' needs '%s', which is %s: retry that one", stage, store_col(u, 0),
                             store_col(u, 1));
    return 0;
}

static int retry_locked(mrun_store *st, const char *pipeline_id, const char *stage, size_t *ret_n, mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err, "SELECT state FROM pipelines WHERE id=?", "s", pipeline_id) < 0)
        return -1;
    int rc = store_step(st, s, err);
    if (rc < 0)
        return -1;
    if (rc == SQLITE_DONE)
        return mrun_err_setx(err, ENOENT, "no pipeline '%s'", pipeline_id);
    mrun_store_pipeline_state was = (mrun_store_pipeline_state)state_index(pl_states, N(pl_states), store_col(s, 0));
    if (was == MRUN_STORE_PIPELINE_QUEUED || was == MRUN_STORE_PIPELINE_RUNNING)
        return mrun_err_setx(err, ESTALE, "pipeline '%s' is still %s", pipeline_id, pl_states[was]);
    if (stage && retry_check_stage(st, pipeline_id, stage, err) < 0)
        return -1;
    /* Downstream first: it is found from the failed and cancelled stages, which the second statement changes.
     * Every failed or cancelled stage that is not a root is downstream of one, so afterwards only roots are left. */
    int down = store_exec(st, err,
                          "UPDATE stages SET state='waiting', " RETRY_RESET " WHERE pipeline_id=?1"
                          " AND state IN ('skipped','cancelled','failed') AND name IN (" RETRY_DOWNSTREAM ")",
                          "ss", pipeline_id, stage);
    if (down < 0)
        return -1;
    int roots = store_exec(st, err,
                           "UPDATE stages SET state='ready', " RETRY_RESET " WHERE pipeline_id=?1"
                           " AND state IN ('failed','cancelled') AND (?2 IS NULL OR name=?2)",
                           "ss", pipeline_id, stage);
    if (roots < 0)
        return -1;
    if (roots == 0)
        return mrun_err_setx(err, ESTALE, "pipeline '%s' has no failed or cancelled stage", pipeline_id);
    int n = store_exec(st, err, "UPDATE pipelines SET state='running', finished_ms=NULL WHERE id=?1 AND state=?2", "ss",
                       pipeline_id, pl_states[was]);
    if (n < 0)
        return -1;
    if (n == 0)
        return mrun_err_setx(err, ESTALE, "pipeline '%s' is no longer %s", pipeline_id, pl_states[was]);
    *ret_n = (size_t)down + (size_t)roots;
    return 0;
}

int mrun_store_pipeline_retry(mrun_store *st, const char *pipeline_id, const char *stage, size_t *ret_n, mrun_err *err)
{
    size_t n = 0;
    if (store_begin(st, err) < 0)
        goto out;
    if (retry_locked(st, pipeline_id, stage, &n, err) < 0)
        goto out;
    if (store_commit(st, err) < 0)
        goto out;
    if (ret_n)
        *ret_n = n;
    return 0;
out:
    store_rollback(st);
    return mrun_err_prefix(err, "retry");
}

/* ---- leases ---- */

static int lease_create_locked(mrun_store *st, const char *pipeline_id, const char *stage, const char *runner_id,
                               int64_t now_ms, int64_t ttl_ms, mrun_store_lease *lease, mrun_err *err)
{
    /* A lease for a runner the store does not know as online would be taken back by the next recover. */
    store_autostmt sqlite3_stmt *r = NULL;
    if (store_prep(st, &r, err, "SELECT 1 FROM runners WHERE id=? AND state='online'", "s", runner_id) < 0)
        return -1;
    int rc = store_step(st, r, err);
    if (rc < 0)
        return -1;
    if (rc == SQLITE_DONE)
        return mrun_err_setx(err, ENOENT, "runner '%s' is not online", runner_id);
    int n = store_exec(st, err,
                       "UPDATE stages SET state='running', attempt=attempt+1, started_ms=coalesce(started_ms, ?1)"
                       " WHERE pipeline_id=?2 AND name=?3 AND state='ready'",
                       "Iss", now_ms, pipeline_id, stage);
    if (n < 0)
        return -1;
    if (n == 0)
        return stage_conflict(st, pipeline_id, stage, "ready", err);
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err, "SELECT attempt FROM stages WHERE pipeline_id=? AND name=?", "ss", pipeline_id, stage) <
            0 ||
        store_step(st, s, err) != SQLITE_ROW)
        return -1;
    lease->attempt = sqlite3_column_int(s, 0);
    if (store_random_hex(lease->id, MRUN_STORE_ID_LEN / 2, err) < 0)
        return -1;
    if (store_exec(st, err,
                   "INSERT INTO leases(id, pipeline_id, stage, attempt, runner_id, state, created_ms, expires_ms)"
                   " VALUES (?,?,?,?,?,'active',?,?)",
                   "sssisII", lease->id, pipeline_id, stage, lease->attempt, runner_id, now_ms, now_ms + ttl_ms) < 0)
        return -1;
    return store_exec(st, err, "UPDATE pipelines SET state='running' WHERE id=? AND state='queued'", "s", pipeline_id) <
                   0
               ? -1
               : 0;
}

int mrun_store_lease_create(mrun_store *st, const char *pipeline_id, const char *stage, const char *runner_id,
                            int64_t now_ms, int64_t ttl_ms, mrun_store_lease *ret_lease, mrun_err *err)
{
    mrun_store_lease lease = {{0}, 0};
    if (ttl_ms <= 0)
        return mrun_err_setx(err, EINVAL, "lease: ttl must be > 0");
    if (store_begin(st, err) < 0)
        goto out;
    if (lease_create_locked(st, pipeline_id, stage, runner_id, now_ms, ttl_ms, &lease, err) < 0)
        goto out;
    if (store_commit(st, err) < 0)
        goto out;
    *ret_lease = lease;
    return 0;
out:
    store_rollback(st);
    return mrun_err_prefix(err, "lease for stage '%s'", stage);
}

/* Explains why an active, unexpired lease was not found. */
static int lease_refused(mrun_store *st, const char *lease_id, int64_t now_ms, mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err, "SELECT state, expires_ms FROM leases WHERE id=?", "s", lease_id) < 0)
        return -1;
    int rc = store_step(st, s, err);
    if (rc < 0)
        return -1;
    if (rc == SQLITE_DONE)
        return mrun_err_setx(err, ENOENT, "no lease '%s'", lease_id);
    const char *state = store_col(s, 0);
    if (strcmp(state, "active") == 0)
        return mrun_err_setx(err, ESTALE, "lease '%s' expired %lld ms ago", lease_id,
                             (long long)(now_ms - sqlite3_column_int64(s, 1)));
    return mrun_err_setx(err, ESTALE, "lease '%s' is %s", lease_id, state);
}

int mrun_store_lease_renew(mrun_store *st, const char *lease_id, int64_t now_ms, int64_t ttl_ms, mrun_err *err)
{
    int n = store_exec(st, err, "UPDATE leases SET expires_ms=?1 WHERE id=?2 AND state='active' AND expires_ms>?3",
                       "IsI", now_ms + ttl_ms, lease_id, now_ms);
    if (n < 0)
        return mrun_err_prefix(err, "renew lease '%s'", lease_id);
    if (n == 0) {
        lease_refused(st, lease_id, now_ms, err);
        return mrun_err_prefix(err, "renew");
    }
    return 0;
}

/* A lease row selected as "id, pipeline_id, stage, runner_id, attempt, created_ms, expires_ms"; borrowed strings. */
static mrun_store_lease_info lease_row(sqlite3_stmt *s, const char *state)
{
    return (mrun_store_lease_info){.id = store_col(s, 0),
                                   .pipeline_id = store_col(s, 1),
                                   .stage = store_col(s, 2),
                                   .runner_id = store_col(s, 3),
                                   .state = state,
                                   .attempt = sqlite3_column_int(s, 4),
                                   .created_ms = sqlite3_column_int64(s, 5),
                                   .expires_ms = sqlite3_column_int64(s, 6)};
}

int mrun_store_lease_expired_list(mrun_store *st, int64_t now_ms, mrun_store_lease_cb cb, void *ud, mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err,
                   "SELECT id, pipeline_id, stage, runner_id, attempt, created_ms, expires_ms FROM leases"
                   " WHERE state='active' AND expires_ms<=? ORDER BY expires_ms",
                   "I", now_ms) < 0)
        return mrun_err_prefix(err, "expired leases");
    int rc;
    while ((rc = store_step(st, s, err)) == SQLITE_ROW) {
        mrun_store_lease_info l = lease_row(s, NULL);
        if (cb(&l, ud) != 0)
            break;
    }
    return rc < 0 ? mrun_err_prefix(err, "expired leases") : 0;
}

static int stage_state_now(mrun_store *st, const char *pipeline_id, const char *stage, mrun_store_stage_state *ret,
                           mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err, "SELECT state FROM stages WHERE pipeline_id=? AND name=?", "ss", pipeline_id, stage) <
            0 ||
        store_step(st, s, err) != SQLITE_ROW)
        return -1;
    *ret = (mrun_store_stage_state)state_index(st_states, N(st_states), store_col(s, 0));
    return 0;
}

/* The stage moves on from its running attempt: passed, back to ready while retries remain, or failed. */
static int finish_stage(mrun_store *st, const char *pipeline_id, const char *stage, int attempt, bool passed,
                        int exit_code, int64_t now_ms, mrun_store_stage_state *ret_state, mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err, "SELECT retry, retries_used FROM stages WHERE pipeline_id=? AND name=?", "ss",
                   pipeline_id, stage) < 0 ||
        store_step(st, s, err) != SQLITE_ROW)
        return -1;
    bool retry = !passed && sqlite3_column_int(s, 1) < sqlite3_column_int(s, 0);
    mrun_store_stage_state to = passed  ? MRUN_STORE_STAGE_PASSED
                                : retry ? MRUN_STORE_STAGE_READY
                                        : MRUN_STORE_STAGE_FAILED;
    int n = store_exec(st, err,
                       "UPDATE stages SET state=?1, exit_code=?2, retries_used=retries_used+?3,"
                       " finished_ms=CASE WHEN ?4 THEN ?5 ELSE finished_ms END"
                       " WHERE pipeline_id=?6 AND name=?7 AND state='running' AND attempt=?8",
                       "siiiIssi", mrun_store_stage_state_name(to), exit_code, (int)retry, (int)stage_terminal(to),
                       now_ms, pipeline_id, stage, attempt);
    if (n < 0)
        return -1;
    if (n == 0)
        return mrun_err_setx(err, ESTALE, "stage '%s' is no longer running attempt %d", stage, attempt);
    if (stage_terminal(to) && rollup(st, pipeline_id, now_ms, err) < 0)
        return -1;
    *ret_state = to;
    return 0;
}

static int lease_finish_locked(mrun_store *st, const char *lease_id, int attempt, bool passed, int exit_code,
                               int64_t now_ms, mrun_store_stage_state *ret_state, mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err,
                   "SELECT pipeline_id, stage, attempt, state, expires_ms, result, exit_code FROM leases WHERE id=?",
                   "s", lease_id) < 0)
        return -1;
    int rc = store_step(st, s, err);
    if (rc < 0)
        return -1;
    if (rc == SQLITE_DONE)
        return mrun_err_setx(err, ENOENT, "no lease '%s'", lease_id);
    mrun_autofree char *pipeline_id = strdup(store_col(s, 0));
    mrun_autofree char *stage = strdup(store_col(s, 1));
    if (!pipeline_id || !stage)
        return mrun_err_set(err, ENOMEM, "lease '%s'", lease_id);
    const char *state = store_col(s, 3), *result = passed ? "passed" : "failed";
    if (sqlite3_column_int(s, 2) != attempt)
        return mrun_err_setx(err, ESTALE, "lease '%s' is for attempt %d, not %d", lease_id, sqlite3_column_int(s, 2),
                             attempt);
    if (strcmp(state, "finished") == 0) {
        if (strcmp(store_col(s, 5), result) != 0 || sqlite3_column_int(s, 6) != exit_code)
            return mrun_err_setx(err, ESTALE, "lease '%s' already finished as %s with exit code %d", lease_id,
                                 store_col(s, 5), sqlite3_column_int(s, 6));
        return stage_state_now(st, pipeline_id, stage, ret_state, err); /* a repeat: change nothing */
    }
    if (strcmp(state, "active") != 0)
        return mrun_err_setx(err, ESTALE, "lease '%s' is %s; its stage was requeued or cancelled", lease_id, state);
    if (sqlite3_column_int64(s, 4) <= now_ms)
        return mrun_err_setx(err, ESTALE, "lease '%s' expired %lld ms ago", lease_id,
                             (long long)(now_ms - sqlite3_column_int64(s, 4)));
    sqlite3_reset(s);
    if (store_exec(st, err, "UPDATE leases SET state='finished', result=?, exit_code=?, finished_ms=? WHERE id=?",
                   "siIs", result, exit_code, now_ms, lease_id) < 0)
        return -1;
    return finish_stage(st, pipeline_id, stage, attempt, passed, exit_code, now_ms, ret_state, err);
}

int mrun_store_lease_finish(mrun_store *st, const char *lease_id, int attempt, bool passed, int exit_code,
                            int64_t now_ms, mrun_store_stage_state *ret_state, mrun_err *err)
{
    mrun_store_stage_state state = MRUN_STORE_STAGE_WAITING;
    if (store_begin(st, err) < 0)
        goto out;
    if (lease_finish_locked(st, lease_id, attempt, passed, exit_code, now_ms, &state, err) < 0)
        goto out;
    if (store_commit(st, err) < 0)
        goto out;
    if (ret_state)
        *ret_state = state;
    return 0;
out:
    store_rollback(st);
    return mrun_err_prefix(err, "finish");
}

static int recover_locked(mrun_store *st, int64_t now_ms, size_t *ret_n, mrun_err *err)
{
    /* With RETURNING, all changes happen at the first step, so updating stages while reading the rows is safe. */
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err,
                   "UPDATE leases SET state='expired', finished_ms=?1 WHERE state='active' AND (expires_ms<=?1"
                   " OR runner_id NOT IN (SELECT id FROM runners WHERE state='online'))"
                   " RETURNING pipeline_id, stage, attempt",
                   "I", now_ms) < 0)
        return -1;
    size_t n = 0;
    int rc;
    while ((rc = store_step(st, s, err)) == SQLITE_ROW) {
        const char *pipeline_id = store_col(s, 0), *stage = store_col(s, 1);
        /* A lost runner is not the job's fault: requeue without touching retries_used, up to the cap. */
        if (store_exec(st, err,
                       "UPDATE stages SET state=CASE WHEN infra_retries<?1 THEN 'ready' ELSE 'failed' END,"
                       " finished_ms=CASE WHEN infra_retries<?1 THEN finished_ms ELSE ?2 END,"
                       " infra_retries=infra_retries+(infra_retries<?1)"
                       " WHERE pipeline_id=?3 AND name=?4 AND state='running' AND attempt=?5",
                       "iIssi", MRUN_STORE_INFRA_RETRIES, now_ms, pipeline_id, stage, sqlite3_column_int(s, 2)) < 0 ||
            rollup(st, pipeline_id, now_ms, err) < 0)
            return -1;
        n++;
    }
    if (rc < 0)
        return -1;
    *ret_n = n;
    return 0;
}

int mrun_store_recover(mrun_store *st, int64_t now_ms, size_t *ret_requeued, mrun_err *err)
{
    size_t n = 0;
    if (store_begin(st, err) < 0)
        goto out;
    if (recover_locked(st, now_ms, &n, err) < 0)
        goto out;
    if (store_commit(st, err) < 0)
        goto out;
    if (ret_requeued)
        *ret_requeued = n;
    return 0;
out:
    store_rollback(st);
    return mrun_err_prefix(err, "recover");
}

/* ---- logs ---- */

int mrun_store_log_append(mrun_store *st, const char *lease_id, int64_t seq, int stream, const void *data, size_t len,
                          mrun_err *err)
{
    if (stream < 1 || stream > 3)
        return mrun_err_setx(err, EINVAL, "log: stream must be 1 (stdout), 2 (stderr) or 3 (mrun), not %d", stream);
    if (seq < 0)
        return mrun_err_setx(err, EINVAL, "log: negative seq");
    if (len > MRUN_STORE_LOG_CHUNK_MAX)
        return mrun_err_setx(err, E2BIG, "log: chunk of %zu bytes (at most %u)", len, MRUN_STORE_LOG_CHUNK_MAX);
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err, "SELECT 1 FROM leases WHERE id=?", "s", lease_id) < 0)
        return mrun_err_prefix(err, "log");
    int rc = store_step(st, s, err);
    if (rc < 0)
        return mrun_err_prefix(err, "log");
    if (rc == SQLITE_DONE)
        return mrun_err_setx(err, ENOENT, "log: no lease '%s'", lease_id);
    /* End the read before writing: a pending SELECT keeps its read snapshot, and if another connection commits
     * meanwhile the INSERT cannot upgrade to a write lock and fails at once ("database is locked"), without
     * waiting out the busy timeout. Seen with concurrent submits; chunks were lost. */
    sqlite3_reset(s);
    /* One statement is its own transaction; a resent (lease, seq) hits the primary key and is dropped. */
    if (store_exec(st, err,
                   "INSERT INTO log_chunks(lease_id, seq, stream, data) VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
                   "sIib", lease_id, seq, stream, data, len) < 0)
        return mrun_err_prefix(err, "log for lease '%s'", lease_id);
    return 0;
}

int mrun_store_log_read(mrun_store *st, const char *pipeline_id, const char *stage, uint64_t from_offset,
                        mrun_store_log_cb cb, void *ud, uint64_t *ret_next_offset, mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err,
                   "SELECT l.attempt, l.state, c.seq, c.stream, length(c.data), c.data FROM leases l"
                   " JOIN log_chunks c ON c.lease_id=l.id WHERE l.pipeline_id=? AND l.stage=?"
                   " ORDER BY l.attempt, c.seq",
                   "ss", pipeline_id, stage) < 0)
        return mrun_err_prefix(err, "log of stage '%s'", stage);
    uint64_t off = 0, next = from_offset;
    int attempt = -1, rc;
    int64_t expect = 0;
    while ((rc = store_step(st, s, err)) == SQLITE_ROW) {
        if (sqlite3_column_int(s, 0) != attempt) {
            attempt = sqlite3_column_int(s, 0);
            expect = 0;
        }
        int64_t seq = sqlite3_column_int64(s, 2);
        if (seq != expect && strcmp(store_col(s, 1), "active") == 0)
            break; /* the missing chunk may still arrive: do not show anything after it yet */
        expect = seq + 1;
        uint64_t len = (uint64_t)sqlite3_column_int64(s, 4);
        if (len == 0)
            continue;
        if (off + len <= from_offset) {
            off += len;
            continue;
        }
        uint64_t skip = from_offset > off ? from_offset - off : 0;
        const unsigned char *data = sqlite3_column_blob(s, 5);
        mrun_store_log_chunk c = {attempt,   seq, sqlite3_column_int(s, 3), data + skip, (size_t)(len - skip),
                                  off + skip};
        off += len;
        next = off;
        if (cb(&c, ud) != 0)
            break;
    }
    if (rc < 0)
        return mrun_err_prefix(err, "log of stage '%s'", stage);
    if (ret_next_offset)
        *ret_next_offset = next;
    return 0;
}

int mrun_store_lease_get(mrun_store *st, const char *lease_id, mrun_store_lease_cb cb, void *ud, mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err,
                   "SELECT id, pipeline_id, stage, runner_id, attempt, created_ms, expires_ms, state FROM leases"
                   " WHERE id=?",
                   "s", lease_id) < 0)
        return mrun_err_prefix(err, "lease '%.64s'", lease_id);
    int rc = store_step(st, s, err);
    if (rc < 0)
        return mrun_err_prefix(err, "lease '%.64s'", lease_id);
    if (rc != SQLITE_ROW)
        return mrun_err_setx(err, ENOENT, "unknown lease '%.64s'", lease_id);
    mrun_store_lease_info l = lease_row(s, store_col(s, 7));
    cb(&l, ud);
    return 0;
}

int mrun_store_lease_owner(mrun_store *st, const char *lease_id, char ret_pipeline_id[MRUN_STORE_ID_LEN + 1],
                           char *ret_stage, size_t stage_len, mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err, "SELECT pipeline_id, stage FROM leases WHERE id=?", "s", lease_id) < 0)
        return mrun_err_prefix(err, "lease '%.64s'", lease_id);
    int rc = store_step(st, s, err);
    if (rc < 0)
        return mrun_err_prefix(err, "lease '%.64s'", lease_id);
    if (rc != SQLITE_ROW)
        return mrun_err_setx(err, ENOENT, "unknown lease '%.64s'", lease_id);
    snprintf(ret_pipeline_id, MRUN_STORE_ID_LEN + 1, "%s", store_col(s, 0));
    snprintf(ret_stage, stage_len, "%s", store_col(s, 1));
    return 0;
}
