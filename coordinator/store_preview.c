/* store_preview.c - previews: one row per long-running preview sandbox, from leased to ended. The coordinator's
 * proxy routes by these rows; the TTL sweep and `mrun preview rm` end them; a newer preview of the same app and
 * ref replaces an older one in the transaction that records it. */
#include <errno.h>
#include <string.h>

#include "../common/auto.h"
#include "store_int.h"

static const char *const state_names[] = {"starting", "live", "stopped", "expired", "failed", NULL};

const char *mrun_store_preview_state_name(mrun_store_preview_state s)
{
    return (unsigned)s < 5 ? state_names[s] : "?";
}

static mrun_store_preview_state state_of(const char *s)
{
    for (int i = 0; state_names[i]; i++)
        if (strcmp(s, state_names[i]) == 0)
            return (mrun_store_preview_state)i;
    return MRUN_STORE_PREVIEW_FAILED;
}

#define COLS                                                                                                           \
    "id, pipeline_id, stage, app, ref, runner_id, addr, private, state, created_ms, expires_ms, stopped_ms,"            \
    " sandbox_ms, peak_mem"

/* Calls cb for each row of s (selected with COLS); a non-zero return stops. */
static int each_row(mrun_store *st, sqlite3_stmt *s, mrun_store_preview_cb cb, void *ud, mrun_err *err)
{
    int rc;
    while ((rc = store_step(st, s, err)) == SQLITE_ROW) {
        mrun_store_preview_info p = {
            .id = store_col(s, 0),
            .pipeline_id = store_col(s, 1),
            .stage = store_col(s, 2),
            .app = store_col(s, 3),
            .ref = store_col(s, 4),
            .runner_id = store_col(s, 5),
            .addr = store_col(s, 6),
            .private_ = sqlite3_column_int(s, 7) != 0,
            .state = state_of(store_col(s, 8)),
            .created_ms = sqlite3_column_int64(s, 9),
            .expires_ms = sqlite3_column_int64(s, 10),
            .stopped_ms = sqlite3_column_int64(s, 11),
            .sandbox_ms = sqlite3_column_int64(s, 12),
            .peak_mem = sqlite3_column_int64(s, 13),
        };
        if (cb && cb(&p, ud))
            break;
    }
    return rc < 0 ? -1 : 0;
}

static int create_locked(mrun_store *st, const mrun_store_preview_info *p, mrun_store_preview_cb replaced, void *ud,
                         mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err,
                   "UPDATE previews SET state='stopped', stopped_ms=?1 WHERE app=?2 AND ref=?3"
                   " AND state IN ('starting','live') RETURNING " COLS,
                   "Iss", p->created_ms, p->app, p->ref) < 0 ||
        each_row(st, s, replaced, ud, err) < 0)
        return -1;
    return store_exec(st, err,
                      "INSERT INTO previews(id, pipeline_id, stage, app, ref, runner_id, private, state, created_ms,"
                      " expires_ms) VALUES (?, ?, ?, ?, ?, ?, ?, 'starting', ?, ?)",
                      "ssssssiII", p->id, p->pipeline_id, p->stage, p->app, p->ref, p->runner_id, p->private_ ? 1 : 0,
                      p->created_ms, p->expires_ms) < 0
               ? -1
               : 0;
}

int mrun_store_preview_create(mrun_store *st, const mrun_store_preview_info *p, mrun_store_preview_cb replaced,
                              void *ud, mrun_err *err)
{
    if (strlen(p->id) != MRUN_STORE_ID_LEN || strspn(p->id, "0123456789abcdef") != MRUN_STORE_ID_LEN)
        return mrun_err_setx(err, EINVAL, "preview id '%.64s' is not an id", p->id);
    if (store_begin(st, err) < 0)
        goto out;
    if (create_locked(st, p, replaced, ud, err) < 0)
        goto out;
    if (store_commit(st, err) < 0)
        goto out;
    return 0;
out:
    store_rollback(st);
    return mrun_err_prefix(err, "preview");
}

/* One UPDATE that must change exactly one row; ESTALE otherwise (the preview is in another state or unknown). */
static int update_one(const char *id, const char *what, int n, mrun_err *err)
{
    if (n < 0)
        return mrun_err_prefix(err, "preview %.64s", id);
    if (n == 0)
        return mrun_err_setx(err, ESTALE, "preview %.64s: %s", id, what);
    return 0;
}

int mrun_store_preview_live(mrun_store *st, const char *id, const char *addr, int64_t expires_ms, mrun_err *err)
{
    int n = store_exec(st, err, "UPDATE previews SET state='live', addr=?, expires_ms=? WHERE id=? AND state='starting'",
                       "sIs", addr, expires_ms, id);
    return update_one(id, "is not starting (replaced, removed or unknown)", n, err);
}

int mrun_store_preview_end(mrun_store *st, const char *id, mrun_store_preview_state state, int64_t now_ms,
                           mrun_err *err)
{
    if (state < MRUN_STORE_PREVIEW_STOPPED)
        return mrun_err_setx(err, EINVAL, "preview %.64s: '%s' is not an end state", id,
                             mrun_store_preview_state_name(state));
    int n = store_exec(st, err,
                       "UPDATE previews SET state=?, stopped_ms=? WHERE id=? AND state IN ('starting','live')", "sIs",
                       mrun_store_preview_state_name(state), now_ms, id);
    return update_one(id, "has already ended or is unknown", n, err);
}

int mrun_store_preview_extend(mrun_store *st, const char *id, int64_t expires_ms, mrun_err *err)
{
    int n = store_exec(st, err, "UPDATE previews SET expires_ms=? WHERE id=? AND state IN ('starting','live')", "Is",
                       expires_ms, id);
    return update_one(id, "is not live", n, err);
}

int mrun_store_preview_stats(mrun_store *st, const char *id, int64_t sandbox_ms, int64_t peak_mem, mrun_err *err)
{
    int n = store_exec(st, err, "UPDATE previews SET sandbox_ms=max(sandbox_ms, ?), peak_mem=max(peak_mem, ?) WHERE id=?",
                       "IIs", sandbox_ms, peak_mem, id);
    return update_one(id, "is unknown", n, err);
}

typedef struct one {
    mrun_store_preview_cb cb;
    void *ud;
    bool found;
} one;

static int on_one(const mrun_store_preview_info *p, void *ud)
{
    one *o = ud;
    o->found = true;
    return o->cb ? o->cb(p, o->ud) : 0;
}

int mrun_store_preview_get(mrun_store *st, const char *id, mrun_store_preview_cb cb, void *ud, mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    one o = {cb, ud, false};
    if (store_prep(st, &s, err, "SELECT " COLS " FROM previews WHERE id=?", "s", id) < 0 ||
        each_row(st, s, on_one, &o, err) < 0)
        return mrun_err_prefix(err, "preview");
    return o.found ? 0 : mrun_err_setx(err, ENOENT, "no preview '%.64s'", id);
}

int mrun_store_preview_of_stage(mrun_store *st, const char *pipeline_id, const char *stage, mrun_store_preview_cb cb,
                                void *ud, mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    one o = {cb, ud, false};
    if (store_prep(st, &s, err,
                   "SELECT " COLS " FROM previews WHERE pipeline_id=? AND stage=? ORDER BY created_ms DESC LIMIT 1",
                   "ss", pipeline_id, stage) < 0 ||
        each_row(st, s, on_one, &o, err) < 0)
        return mrun_err_prefix(err, "preview");
    return o.found ? 0 : mrun_err_setx(err, ENOENT, "stage '%s' of %s started no preview", stage, pipeline_id);
}

int mrun_store_preview_list(mrun_store *st, bool live_only, size_t limit, mrun_store_preview_cb cb, void *ud,
                            mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err,
                   live_only ? "SELECT " COLS " FROM previews WHERE state IN ('starting','live')"
                               " ORDER BY created_ms DESC, id LIMIT ?"
                             : "SELECT " COLS " FROM previews ORDER BY created_ms DESC, id LIMIT ?",
                   "I", (int64_t)(limit ? limit : 1000)) < 0)
        return mrun_err_prefix(err, "previews");
    return each_row(st, s, cb, ud, err) < 0 ? mrun_err_prefix(err, "previews") : 0;
}

int mrun_store_preview_due(mrun_store *st, int64_t now_ms, mrun_store_preview_cb cb, void *ud, mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err,
                   "SELECT " COLS " FROM previews WHERE state IN ('starting','live') AND expires_ms<=? ORDER BY expires_ms",
                   "I", now_ms) < 0)
        return mrun_err_prefix(err, "previews");
    return each_row(st, s, cb, ud, err) < 0 ? mrun_err_prefix(err, "previews") : 0;
}
