/* store_gc.c - retention: which pipelines' artifacts expire, and deleting the blobs nothing references any more.
 * Rows and blobs are separate steps: rows first (one transaction), then each unreferenced blob under the write
 * lock, so a submit or an upload racing the collector either finds its blob or fails with a clear error. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/auto.h"
#include "store_int.h"

#define DEFAULT_KEEP     10
#define DEFAULT_PR_TTL   (7ll * 24 * 3600 * 1000)
#define DEFAULT_GRACE    (3600ll * 1000)

typedef struct gc {
    mrun_store *st;
    mrun_store_retention r;
    bool dry_run;
    int64_t now_ms;
    mrun_store_gc_fn cb;
    void *ud;
    mrun_store_gc_report rep;
    bool in_txn; /* a dry run: one transaction around everything, rolled back */
} gc;

static void say(gc *g, const char *kind, const char *pipeline_id, const char *stage, const char *path,
                const char *digest, uint64_t size)
{
    if (g->cb)
        g->cb(g->ud, kind, pipeline_id, stage, path, digest, size);
}

/* Finished pipelines past the rules, not yet expired: beyond the newest keep_per_branch of their app and branch
 * (pull requests aside), or pull requests finished more than pr_ttl ago. */
static const char expired_sql[] =
    "WITH ranked AS (SELECT id, state, expired_ms,"
    "  row_number() OVER (PARTITION BY name, branch ORDER BY created_ms DESC, id) AS rn"
    "  FROM pipelines WHERE event != 'pull_request')"
    " SELECT id FROM ranked WHERE rn > ?1 AND expired_ms IS NULL AND state IN ('passed','failed','cancelled')"
    " UNION SELECT id FROM pipelines WHERE event = 'pull_request' AND expired_ms IS NULL"
    "  AND state IN ('passed','failed','cancelled') AND finished_ms < ?2";

static int expire_one(gc *g, const char *id, mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(g->st, &s, err,
                   "SELECT stage, path, digest, size FROM artifacts WHERE pipeline_id=?"
                   " AND digest NOT IN (SELECT digest FROM pins) ORDER BY stage, path",
                   "s", id) < 0)
        return -1;
    int rc;
    while ((rc = store_step(g->st, s, err)) == SQLITE_ROW) {
        say(g, "artifact", id, store_col(s, 0), store_col(s, 1), store_col(s, 2),
            (uint64_t)sqlite3_column_int64(s, 3));
        g->rep.artifacts++;
    }
    if (rc < 0)
        return -1;
    g->rep.pipelines++;
    /* a dry run deletes too, in a transaction that is rolled back */
    if (store_exec(g->st, err, "DELETE FROM artifacts WHERE pipeline_id=? AND digest NOT IN (SELECT digest FROM pins)",
                   "s", id) < 0 ||
        store_exec(g->st, err, "UPDATE pipelines SET expired_ms=? WHERE id=?", "Is", g->now_ms, id) < 0)
        return -1;
    return 0;
}

static int expire_rows_locked(gc *g, mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(g->st, &s, err, expired_sql, "iI", g->r.keep_per_branch, g->now_ms - g->r.pr_ttl_ms) < 0)
        return -1;
    /* collect first: expire_one writes to the tables the select reads */
    char (*ids)[MRUN_STORE_ID_LEN + 1] = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = store_step(g->st, s, err)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            void *p = realloc(ids, cap * sizeof(*ids));
            if (!p) {
                free(ids);
                return mrun_err_set(err, ENOMEM, "retention");
            }
            ids = p;
        }
        snprintf(ids[n++], sizeof(ids[0]), "%s", store_col(s, 0));
    }
    for (size_t i = 0; rc >= 0 && i < n; i++)
        if (expire_one(g, ids[i], err) < 0)
            rc = -1;
    free(ids);
    return rc < 0 ? -1 : 0;
}

static int expire_rows(gc *g, mrun_err *err)
{
    if (store_begin(g->st, err) < 0)
        goto out;
    if (expire_rows_locked(g, err) < 0)
        goto out;
    if (store_commit(g->st, err) < 0)
        goto out;
    return 0;
out:
    store_rollback(g->st);
    return mrun_err_prefix(err, "retention");
}

/* Whether anything still needs the blob; under the caller's transaction. */
static int referenced(gc *g, const char *digest, bool *ret, mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(g->st, &s, err,
                   "SELECT EXISTS(SELECT 1 FROM artifacts WHERE digest=?1)"
                   " OR EXISTS(SELECT 1 FROM pipelines WHERE source_digest=?1 AND expired_ms IS NULL)"
                   " OR EXISTS(SELECT 1 FROM pins WHERE digest=?1)",
                   "s", digest) < 0 ||
        store_step(g->st, s, err) != SQLITE_ROW)
        return -1;
    *ret = sqlite3_column_int(s, 0) != 0;
    return 0;
}

/* One blob file blobs/ab/<rest>: deleted when unreferenced and older than the grace period. */
static int sweep_blob(gc *g, int sub_fd, const char *digest, mrun_err *err)
{
    struct stat sb;
    if (fstatat(sub_fd, digest + 2, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode))
        return 0;
    int64_t mtime_ms = (int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000;
    if (g->now_ms - mtime_ms < g->r.grace_ms)
        return 0;
    bool used = true;
    if (g->in_txn) {
        if (referenced(g, digest, &used, err) < 0)
            return -1;
    } else {
        if (store_begin(g->st, err) < 0)
            goto out;
        if (referenced(g, digest, &used, err) < 0)
            goto out;
        if (!used && unlinkat(sub_fd, digest + 2, 0) < 0 && errno != ENOENT) {
            mrun_err_set(err, errno, "delete blob %s", digest);
            goto out;
        }
        if (store_commit(g->st, err) < 0)
            goto out;
    }
    if (!used) {
        say(g, "blob", NULL, NULL, NULL, digest, (uint64_t)sb.st_size);
        g->rep.blobs++;
        g->rep.bytes += (uint64_t)sb.st_size;
    }
    return 0;
out:
    store_rollback(g->st);
    return -1;
}

static int sweep_blobs(gc *g, mrun_err *err)
{
    for (int hi = 0; hi < 256; hi++) {
        char sub[3];
        snprintf(sub, sizeof(sub), "%02x", hi);
        mrun_autoclose int fd = openat(g->st->blobs_fd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            continue; /* no blob starts with these two digits */
        int dfd = dup(fd);
        DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
        if (!d) {
            if (dfd >= 0)
                close(dfd);
            return mrun_err_set(err, errno, "blobs/%s", sub);
        }
        struct dirent *e;
        int rc = 0;
        while (rc == 0 && (e = readdir(d)) != NULL) {
            char digest[MRUN_STORE_DIGEST_LEN + 1];
            if (strlen(e->d_name) != MRUN_STORE_DIGEST_LEN - 2)
                continue;
            snprintf(digest, sizeof(digest), "%.2s%.62s", sub, e->d_name);
            if (store_digest_valid(digest))
                rc = sweep_blob(g, fd, digest, err);
        }
        closedir(d);
        if (rc < 0)
            return mrun_err_prefix(err, "retention");
    }
    return 0;
}

int mrun_store_gc(mrun_store *st, const mrun_store_retention *r, bool dry_run, int64_t now_ms, mrun_store_gc_fn cb,
                  void *ud, mrun_store_gc_report *ret, mrun_err *err)
{
    gc g = {.st = st, .dry_run = dry_run, .now_ms = now_ms, .cb = cb, .ud = ud};
    if (r)
        g.r = *r;
    if (g.r.keep_per_branch <= 0)
        g.r.keep_per_branch = DEFAULT_KEEP;
    if (g.r.pr_ttl_ms <= 0)
        g.r.pr_ttl_ms = DEFAULT_PR_TTL;
    if (g.r.grace_ms <= 0)
        g.r.grace_ms = DEFAULT_GRACE;
    if (dry_run) {
        /* everything in one transaction that is rolled back: the blob sweep sees the rows as they would be */
        g.in_txn = true;
        int rc = store_begin(st, err) < 0 || expire_rows_locked(&g, err) < 0 || sweep_blobs(&g, err) < 0 ? -1 : 0;
        store_rollback(st);
        if (rc < 0)
            return mrun_err_prefix(err, "retention");
    } else if (expire_rows(&g, err) < 0 || sweep_blobs(&g, err) < 0) {
        return -1;
    }
    if (ret)
        *ret = g.rep;
    return 0;
}

int mrun_store_pin(mrun_store *st, const char *digest, const char *reason, int64_t now_ms, mrun_err *err)
{
    if (!store_digest_valid(digest))
        return mrun_err_setx(err, EINVAL, "pin: '%.80s' is not a sha256 digest", digest);
    if (store_exec(st, err, "INSERT OR IGNORE INTO pins(digest, reason, created_ms) VALUES (?, ?, ?)", "ssI", digest,
                   reason, now_ms) < 0)
        return mrun_err_prefix(err, "pin");
    return 0;
}

int mrun_store_unpin(mrun_store *st, const char *digest, const char *reason, mrun_err *err)
{
    if (store_exec(st, err, "DELETE FROM pins WHERE digest=? AND reason=?", "ss", digest, reason) < 0)
        return mrun_err_prefix(err, "unpin");
    return 0;
}
