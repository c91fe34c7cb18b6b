/* store_coverage.c - line coverage per stage attempt and the per-app baseline that `no-drop` compares with. */
#include <errno.h>

#include "../common/auto.h"
#include "store_int.h"

int mrun_store_coverage_set(mrun_store *st, const char *lease_id, double coverage, mrun_err *err)
{
    if (!(coverage >= 0 && coverage <= 100))
        return mrun_err_setx(err, EINVAL, "coverage %g is not a percentage", coverage);
    int n = store_exec(st, err,
                       "UPDATE stages SET coverage=?1 WHERE (pipeline_id, name, attempt) IN"
                       " (SELECT pipeline_id, stage, attempt FROM leases WHERE id=?2)",
                       "ds", coverage, lease_id);
    if (n < 0)
        return mrun_err_prefix(err, "coverage");
    return n == 0 ? mrun_err_setx(err, ENOENT, "coverage: no stage holds lease %s", lease_id) : 0;
}

int mrun_store_coverage_baseline(mrun_store *st, const char *app, const char *branch, double *ret, mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err, "SELECT coverage FROM coverage_baselines WHERE app=? AND branch=?", "ss", app,
                   branch) < 0)
        return mrun_err_prefix(err, "coverage baseline");
    int rc = store_step(st, s, err);
    if (rc < 0)
        return mrun_err_prefix(err, "coverage baseline");
    *ret = rc == SQLITE_ROW ? sqlite3_column_double(s, 0) : -1;
    return 0;
}

static int promote_locked(mrun_store *st, const char *pipeline_id, const char *default_branch, int64_t now_ms,
                          double *ret, mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err,
                   "SELECT p.name, p.branch, min(s.coverage) FROM pipelines p JOIN stages s ON s.pipeline_id=p.id"
                   " WHERE p.id=? AND p.state='passed' AND p.branch=? AND s.coverage IS NOT NULL",
                   "ss", pipeline_id, default_branch) < 0)
        return -1;
    int rc = store_step(st, s, err);
    if (rc < 0)
        return -1;
    *ret = -1;
    if (rc != SQLITE_ROW || sqlite3_column_type(s, 2) == SQLITE_NULL)
        return 0; /* not passed, another branch, or no coverage measured */
    double cov = sqlite3_column_double(s, 2);
    if (store_exec(st, err,
                   "INSERT INTO coverage_baselines(app, branch, coverage, pipeline_id, updated_ms)"
                   " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(app, branch) DO UPDATE SET coverage=?3,"
                   " pipeline_id=?4, updated_ms=?5",
                   "ssdsI", store_col(s, 0), store_col(s, 1), cov, pipeline_id, now_ms) < 0)
        return -1;
    *ret = cov;
    return 0;
}

int mrun_store_coverage_promote(mrun_store *st, const char *pipeline_id, const char *default_branch, int64_t now_ms,
                                double *ret, mrun_err *err)
{
    if (store_begin(st, err) < 0)
        goto out;
    if (promote_locked(st, pipeline_id, default_branch, now_ms, ret, err) < 0)
        goto out;
    if (store_commit(st, err) < 0)
        goto out;
    return 0;
out:
    store_rollback(st);
    return mrun_err_prefix(err, "coverage baseline");
}
