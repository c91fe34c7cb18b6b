/* store.c - opening the coordinator's store (pragmas, schema migrations), the shared SQLite helpers, and the
 * small tables: artifacts, runners, tokens, secrets. Pipelines/stages/leases/logs are in store_pipeline.c,
 * blobs in store_blob.c. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "../common/auto.h"
#include "store_int.h"

#define BUSY_TIMEOUT_MS 5000

/* Migration i takes the schema from version i to i + 1. Append only: never edit a released entry. */
static const char *const migrations[] = {
    /* 1: the initial schema. STRICT tables check column types; CHECKs pin every state to the API's names. */
    "CREATE TABLE pipelines("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL, tier INTEGER NOT NULL,"
    " event TEXT NOT NULL, ref TEXT NOT NULL, branch TEXT NOT NULL, submitter TEXT NOT NULL, agent TEXT NOT NULL,"
    " source_digest TEXT NOT NULL, pipeline_yaml TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK(state IN ('queued','running','passed','failed','cancelled')),"
    " created_ms INTEGER NOT NULL, finished_ms INTEGER) STRICT;"
    "CREATE INDEX pipelines_created ON pipelines(created_ms);"
    "CREATE TABLE stages("
    " pipeline_id TEXT NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE, name TEXT NOT NULL,"
    " idx INTEGER NOT NULL,"
    " state TEXT NOT NULL CHECK(state IN ('waiting','ready','running','passed','failed','skipped','cancelled')),"
    " attempt INTEGER NOT NULL DEFAULT 0, retry INTEGER NOT NULL, retries_used INTEGER NOT NULL DEFAULT 0,"
    " infra_retries INTEGER NOT NULL DEFAULT 0, runs_on TEXT NOT NULL, if_text TEXT,"
    " started_ms INTEGER, finished_ms INTEGER, exit_code INTEGER,"
    " PRIMARY KEY(pipeline_id, name), UNIQUE(pipeline_id, idx)) STRICT;"
    "CREATE INDEX stages_state ON stages(state);"
    "CREATE TABLE stage_needs("
    " pipeline_id TEXT NOT NULL, stage TEXT NOT NULL, need TEXT NOT NULL,"
    " PRIMARY KEY(pipeline_id, stage, need),"
    " FOREIGN KEY(pipeline_id, stage) REFERENCES stages(pipeline_id, name) ON DELETE CASCADE,"
    " FOREIGN KEY(pipeline_id, need) REFERENCES stages(pipeline_id, name) ON DELETE CASCADE) STRICT;"
    "CREATE TABLE leases("
    " id TEXT PRIMARY KEY, pipeline_id TEXT NOT NULL, stage TEXT NOT NULL, attempt INTEGER NOT NULL,"
    " runner_id TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK(state IN ('active','finished','expired','revoked')),"
    " created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, finished_ms INTEGER,"
    " result TEXT CHECK(result IN ('passed','failed')), exit_code INTEGER,"
    " UNIQUE(pipeline_id, stage, attempt),"
    " FOREIGN KEY(pipeline_id, stage) REFERENCES stages(pipeline_id, name) ON DELETE CASCADE) STRICT;"
    "CREATE INDEX leases_active ON leases(state, expires_ms);"
    "CREATE TABLE log_chunks("
    " lease_id TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE, seq INTEGER NOT NULL,"
    " stream INTEGER NOT NULL CHECK(stream IN (1, 2, 3)), data BLOB NOT NULL,"
    " PRIMARY KEY(lease_id, seq)) STRICT;"
    "CREATE TABLE artifacts("
    " pipeline_id TEXT NOT NULL, stage TEXT NOT NULL, path TEXT NOT NULL, digest TEXT NOT NULL,"
    " size INTEGER NOT NULL, created_ms INTEGER NOT NULL,"
    " PRIMARY KEY(pipeline_id, stage, path),"
    " FOREIGN KEY(pipeline_id, stage) REFERENCES stages(pipeline_id, name) ON DELETE CASCADE) STRICT;"
    "CREATE TABLE runners("
    " id TEXT PRIMARY KEY, name TEXT NOT NULL, labels TEXT NOT NULL, slots INTEGER NOT NULL,"
    " last_seen_ms INTEGER NOT NULL, state TEXT NOT NULL CHECK(state IN ('online','gone'))) STRICT;"
    "CREATE TABLE tokens("
    " id TEXT PRIMARY KEY, hash BLOB NOT NULL UNIQUE, role TEXT NOT NULL, created_ms INTEGER NOT NULL) STRICT;"
    /* Values are plaintext for now: see docs/store.md, "Secrets". */
    "CREATE TABLE secrets(name TEXT PRIMARY KEY, value TEXT NOT NULL, updated_ms INTEGER NOT NULL) STRICT;",
    /* 2: coverage measured by a stage's coverage-gate, and the baseline per app (pipeline name) and branch. */
    "ALTER TABLE stages ADD COLUMN coverage REAL;"
    "CREATE TABLE coverage_baselines("
    " app TEXT NOT NULL, branch TEXT NOT NULL, coverage REAL NOT NULL, pipeline_id TEXT NOT NULL,"
    " updated_ms INTEGER NOT NULL, PRIMARY KEY(app, branch)) STRICT;",
    /* 3: retention. A pipeline whose artifacts expired keeps its row and logs; pins keep blobs that a live
     * preview or a production deploy still uses; indexes for the collector's "is this blob referenced". */
    "ALTER TABLE pipelines ADD COLUMN expired_ms INTEGER;"
    "CREATE TABLE pins(digest TEXT NOT NULL, reason TEXT NOT NULL, created_ms INTEGER NOT NULL,"
    " PRIMARY KEY(digest, reason)) STRICT;"
    "CREATE INDEX artifacts_digest ON artifacts(digest);"
    "CREATE INDEX pipelines_source ON pipelines(source_digest);",
    /* 4: previews: a long-running sandbox on a runner, reached through the coordinator's proxy until it expires. */
    "CREATE TABLE previews("
    " id TEXT PRIMARY KEY, pipeline_id TEXT NOT NULL, stage TEXT NOT NULL, app TEXT NOT NULL, ref TEXT NOT NULL,"
    " runner_id TEXT NOT NULL, addr TEXT NOT NULL DEFAULT '', private INTEGER NOT NULL DEFAULT 0,"
    " state TEXT NOT NULL CHECK(state IN ('starting','live','stopped','expired','failed')),"
    " created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, stopped_ms INTEGER,"
    " sandbox_ms INTEGER NOT NULL DEFAULT 0, peak_mem INTEGER NOT NULL DEFAULT 0) STRICT;"
    "CREATE INDEX previews_app ON previews(app, ref, state);",
};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* ---- helpers shared by store*.c ---- */

int store_db_err(mrun_store *st, int rc, const char *what, mrun_err *err)
{
    int e = EIO;
    if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        e = ETIMEDOUT;
    else if ((rc & 0xff) == SQLITE_FULL)
        e = ENOSPC;
    return mrun_err_setx(err, e, "%s: %s", what, st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
}

static int vprep(mrun_store *st, sqlite3_stmt **ret_stmt, mrun_err *err, const char *sql, const char *types, va_list ap)
{
    store_autostmt sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK)
        return store_db_err(st, rc, "prepare", err);
    for (int i = 1; types && types[i - 1]; i++) {
        switch (types[i - 1]) {
        case 's': {
            const char *v = va_arg(ap, const char *);
            rc = v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
            break;
        }
        case 't': {
            const char *v = va_arg(ap, const char *);
            size_t n = va_arg(ap, size_t);
            rc = sqlite3_bind_text64(s, i, v, n, SQLITE_STATIC, SQLITE_UTF8);
            break;
        }
        case 'b': {
            const void *v = va_arg(ap, const void *);
            size_t n = va_arg(ap, size_t);
            rc = sqlite3_bind_blob64(s, i, n ? v : "", n, SQLITE_STATIC); /* "" keeps a zero-length blob non-NULL */
            break;
        }
        case 'i':
            rc = sqlite3_bind_int(s, i, va_arg(ap, int));
            break;
        case 'I':
            rc = sqlite3_bind_int64(s, i, va_arg(ap, int64_t));
            break;
        case 'd':
            rc = sqlite3_bind_double(s, i, va_arg(ap, double));
            break;
        default:
            assert(!"bad bind type");
        }
        if (rc != SQLITE_OK)
            return store_db_err(st, rc, "bind", err);
    }
    *ret_stmt = mrun_steal_ptr(&s);
    return 0;
}

int store_prep(mrun_store *st, sqlite3_stmt **ret_stmt, mrun_err *err, const char *sql, const char *types, ...)
{
    va_list ap;
    va_start(ap, types);
    int r = vprep(st, ret_stmt, err, sql, types, ap);
    va_end(ap);
    return r;
}

int store_step(mrun_store *st, sqlite3_stmt *s, mrun_err *err)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return rc;
    return store_db_err(st, rc, "step", err);
}

int store_exec(mrun_store *st, mrun_err *err, const char *sql, const char *types, ...)
{
    store_autostmt sqlite3_stmt *s = NULL;
    va_list ap;
    va_start(ap, types);
    int r = vprep(st, &s, err, sql, types, ap);
    va_end(ap);
    if (r < 0)
        return -1;
    int rc = store_step(st, s, err);
    if (rc < 0)
        return -1;
    if (rc != SQLITE_DONE)
        return mrun_err_setx(err, EIO, "statement returned rows");
    return sqlite3_changes(st->db);
}

int store_begin(mrun_store *st, mrun_err *err)
{
    int rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : store_db_err(st, rc, "begin", err);
}

int store_commit(mrun_store *st, mrun_err *err)
{
    int rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : store_db_err(st, rc, "commit", err);
}

void store_rollback(mrun_store *st)
{
    if (!sqlite3_get_autocommit(st->db)) /* an error may already have rolled it back */
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

void store_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int store_random_hex(char *out, size_t nbytes, mrun_err *err)
{
    unsigned char buf[64];
    assert(nbytes <= sizeof(buf));
    if (RAND_bytes(buf, (int)nbytes) != 1)
        return mrun_err_setx(err, EIO, "RAND_bytes failed");
    store_hex(buf, nbytes, out);
    OPENSSL_cleanse(buf, sizeof(buf));
    return 0;
}

static bool is_hex(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

bool store_digest_valid(const char *digest)
{
    return is_hex(digest, MRUN_STORE_DIGEST_LEN);
}

const char *store_col(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

/* ---- open / close ---- */

static int pragmas(mrun_store *st, mrun_err *err)
{
    /* WAL: readers never block the writer. synchronous=FULL: every commit fsyncs the WAL, so a commit that
     * returned survives power loss (NORMAL may lose the last commits). foreign_keys is off by default. */
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err, "PRAGMA journal_mode=WAL", NULL) < 0 || store_step(st, s, err) != SQLITE_ROW)
        return mrun_err_prefix(err, "journal_mode");
    if (strcmp(store_col(s, 0), "wal") != 0)
        return mrun_err_setx(err, EIO, "journal_mode: got '%s', expected 'wal'", store_col(s, 0));
    int rc = sqlite3_exec(st->db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return store_db_err(st, rc, "pragmas", err);
    return 0;
}

static int migrate_locked(mrun_store *st, mrun_err *err)
{
    if (store_exec(st, err, "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL)", NULL) < 0)
        return -1;
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err, "SELECT max(version) FROM schema_version", NULL) < 0 ||
        store_step(st, s, err) != SQLITE_ROW)
        return -1;
    int version = sqlite3_column_int(s, 0); /* NULL (empty table) reads as 0 */
    if (version > SCHEMA_VERSION)
        return mrun_err_setx(err, EPROTO, "database schema version %d is newer than this build (%d)", version,
                             SCHEMA_VERSION);
    for (int v = version; v < SCHEMA_VERSION; v++) {
        int rc = sqlite3_exec(st->db, migrations[v], NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            store_db_err(st, rc, "migration", err);
            return mrun_err_prefix(err, "to version %d", v + 1);
        }
    }
    if (version != SCHEMA_VERSION &&
        (store_exec(st, err, "DELETE FROM schema_version", NULL) < 0 ||
         store_exec(st, err, "INSERT INTO schema_version(version) VALUES (?)", "i", SCHEMA_VERSION) < 0))
        return -1;
    return 0;
}

/* All missing migrations in one transaction: a crash leaves the old version or the new one, never a mix. */
static int migrate(mrun_store *st, mrun_err *err)
{
    if (store_begin(st, err) < 0)
        goto out;
    if (migrate_locked(st, err) < 0)
        goto out;
    if (store_commit(st, err) < 0)
        goto out;
    return 0;
out:
    store_rollback(st);
    return mrun_err_prefix(err, "schema");
}

static int open_dir_at(int at, const char *path, int *ret_fd, mrun_err *err)
{
    if (mkdirat(at, path, 0700) < 0 && errno != EEXIST)
        return mrun_err_set(err, errno, "mkdir '%s'", path);
    int fd = openat(at, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return mrun_err_set(err, errno, "open '%s'", path);
    *ret_fd = fd;
    return 0;
}

int mrun_store_open(const char *data_dir, mrun_store **ret_st, mrun_err *err)
{
    mrun_cleanup(mrun_store_closep) mrun_store *st = calloc(1, sizeof(*st));
    if (!st)
        return mrun_err_set(err, ENOMEM, "store");
    st->dir_fd = st->blobs_fd = -1;
    if (open_dir_at(AT_FDCWD, data_dir, &st->dir_fd, err) < 0 ||
        open_dir_at(st->dir_fd, "blobs", &st->blobs_fd, err) < 0)
        return mrun_err_prefix(err, "store '%s'", data_dir);
    size_t n = strlen(data_dir) + sizeof("/mrun.db");
    mrun_autofree char *path = malloc(n);
    if (!path)
        return mrun_err_set(err, ENOMEM, "store");
    snprintf(path, n, "%s/mrun.db", data_dir);
    int rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        store_db_err(st, rc, "open", err);
        return mrun_err_prefix(err, "store '%s'", path);
    }
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
    if (pragmas(st, err) < 0 || migrate(st, err) < 0)
        return mrun_err_prefix(err, "store '%s'", path);
    *ret_st = mrun_steal_ptr(&st);
    return 0;
}

void mrun_store_close(mrun_store *st)
{
    if (!st)
        return;
    sqlite3_close_v2(st->db); /* every statement is finalized by its function, so this closes now */
    if (st->dir_fd >= 0)
        close(st->dir_fd);
    if (st->blobs_fd >= 0)
        close(st->blobs_fd);
    free(st);
}

/* ---- artifacts ---- */

int mrun_store_artifact_add(mrun_store *st, const char *pipeline_id, const char *stage, const char *path,
                            const char *digest, uint64_t size, int64_t now_ms, mrun_err *err)
{
    int fd = -1;
    uint64_t have = 0;
    if (mrun_store_blob_get(st, digest, &fd, &have, err) < 0)
        return mrun_err_prefix(err, "artifact '%s'", path);
    close(fd);
    if (have != size)
        return mrun_err_setx(err, EINVAL, "artifact '%s': blob %s has %llu bytes, not %llu", path, digest,
                             (unsigned long long)have, (unsigned long long)size);
    int n = store_exec(st, err,
                       "INSERT INTO artifacts(pipeline_id, stage, path, digest, size, created_ms) VALUES (?,?,?,?,?,?)"
                       " ON CONFLICT DO NOTHING",
                       "ssssII", pipeline_id, stage, path, digest, (int64_t)size, now_ms);
    if (n < 0)
        return mrun_err_prefix(err, "artifact '%s'", path);
    if (n == 1)
        return 0;
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err, "SELECT digest FROM artifacts WHERE pipeline_id=? AND stage=? AND path=?", "sss",
                   pipeline_id, stage, path) < 0 ||
        store_step(st, s, err) != SQLITE_ROW)
        return mrun_err_prefix(err, "artifact '%s'", path);
    if (strcmp(store_col(s, 0), digest) != 0)
        return mrun_err_setx(err, ESTALE, "artifact '%s' of stage '%s' is already stored with digest %s", path, stage,
                             store_col(s, 0));
    return 0;
}

int mrun_store_artifact_list(mrun_store *st, const char *pipeline_id, mrun_store_artifact_cb cb, void *ud,
                             mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err,
                   "SELECT a.stage, a.path, a.digest, a.size FROM artifacts a JOIN stages g"
                   " ON g.pipeline_id=a.pipeline_id AND g.name=a.stage WHERE a.pipeline_id=? ORDER BY g.idx, a.path",
                   "s", pipeline_id) < 0)
        return mrun_err_prefix(err, "artifacts");
    int rc;
    while ((rc = store_step(st, s, err)) == SQLITE_ROW) {
        mrun_store_artifact_info a = {store_col(s, 0), store_col(s, 1), store_col(s, 2),
                                      (uint64_t)sqlite3_column_int64(s, 3)};
        if (cb(&a, ud) != 0)
            break;
    }
    return rc < 0 ? mrun_err_prefix(err, "artifacts") : 0;
}

/* ---- runners ---- */

int mrun_store_runner_upsert(mrun_store *st, const mrun_store_runner_info *r, mrun_err *err)
{
    assert(r && r->id);
    if (store_exec(st, err,
                   "INSERT INTO runners(id, name, labels, slots, last_seen_ms, state) VALUES (?1,?2,?3,?4,?5,?6)"
                   " ON CONFLICT(id) DO UPDATE SET name=?2, labels=?3, slots=?4, last_seen_ms=?5, state=?6",
                   "sssiIs", r->id, r->name ? r->name : "", r->labels ? r->labels : "", r->slots, r->last_seen_ms,
                   r->online ? "online" : "gone") < 0)
        return mrun_err_prefix(err, "runner '%s'", r->id);
    return 0;
}

int mrun_store_runner_list(mrun_store *st, mrun_store_runner_cb cb, void *ud, mrun_err *err)
{
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err, "SELECT id, name, labels, slots, last_seen_ms, state FROM runners ORDER BY id", NULL) <
        0)
        return mrun_err_prefix(err, "runners");
    int rc;
    while ((rc = store_step(st, s, err)) == SQLITE_ROW) {
        mrun_store_runner_info r = {store_col(s, 0),
                                    store_col(s, 1),
                                    store_col(s, 2),
                                    sqlite3_column_int(s, 3),
                                    sqlite3_column_int64(s, 4),
                                    strcmp(store_col(s, 5), "online") == 0};
        if (cb(&r, ud) != 0)
            break;
    }
    return rc < 0 ? mrun_err_prefix(err, "runners") : 0;
}

/* ---- tokens ---- */

static bool name_ok(const char *s, const char *first, const char *rest)
{
    if (!s || !*s || !strchr(first, *s) || strlen(s) > 64)
        return false;
    for (s++; *s; s++)
        if (!strchr(rest, *s))
            return false;
    return true;
}

int mrun_store_token_create(mrun_store *st, const char *role, int64_t now_ms, char ret_token[MRUN_STORE_TOKEN_LEN + 1],
                            mrun_err *err)
{
    static const char lower[] = "abcdefghijklmnopqrstuvwxyz_";
    if (!name_ok(role, lower, lower))
        return mrun_err_setx(err, EINVAL, "token: bad role (expected [a-z_]+)");
    char token[MRUN_STORE_TOKEN_LEN + 1], id[17];
    unsigned char hash[SHA256_DIGEST_LENGTH];
    if (store_random_hex(token, MRUN_STORE_TOKEN_LEN / 2, err) < 0 || store_random_hex(id, 8, err) < 0)
        return mrun_err_prefix(err, "token");
    SHA256((const unsigned char *)token, MRUN_STORE_TOKEN_LEN, hash);
    int n = store_exec(st, err, "INSERT INTO tokens(id, hash, role, created_ms) VALUES (?,?,?,?)", "sbsI", id, hash,
                       sizeof(hash), role, now_ms);
    if (n >= 0)
        memcpy(ret_token, token, sizeof(token));
    OPENSSL_cleanse(token, sizeof(token));
    return n < 0 ? mrun_err_prefix(err, "token") : 0;
}

int mrun_store_token_check(mrun_store *st, const char *token, char **ret_role, mrun_err *err)
{
    if (!is_hex(token, MRUN_STORE_TOKEN_LEN))
        return mrun_err_setx(err, EPERM, "token: malformed");
    unsigned char hash[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)token, MRUN_STORE_TOKEN_LEN, hash);
    /* Compare against every row without stopping early, in constant time per row: no index lookup keyed by the
     * secret, so response time says nothing about how close a guess was. Fine for the tens of tokens expected. */
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err, "SELECT hash, role FROM tokens", NULL) < 0)
        return mrun_err_prefix(err, "token");
    mrun_autofree char *role = NULL;
    int rc;
    while ((rc = store_step(st, s, err)) == SQLITE_ROW) {
        const void *h = sqlite3_column_blob(s, 0);
        if (sqlite3_column_bytes(s, 0) == (int)sizeof(hash) && CRYPTO_memcmp(h, hash, sizeof(hash)) == 0 && !role) {
            role = strdup(store_col(s, 1));
            if (!role)
                return mrun_err_set(err, ENOMEM, "token");
        }
    }
    if (rc < 0)
        return mrun_err_prefix(err, "token");
    if (!role)
        return mrun_err_setx(err, EPERM, "token: unknown");
    *ret_role = mrun_steal_ptr(&role);
    return 0;
}

/* ---- secrets (plaintext for now) ---- */

static const char secret_first[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ_";
static const char secret_rest[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789";

int mrun_store_secret_set(mrun_store *st, const char *name, const char *value, int64_t now_ms, mrun_err *err)
{
    if (!name_ok(name, secret_first, secret_rest) || !value)
        return mrun_err_setx(err, EINVAL, "secret: bad name (expected [A-Z_][A-Z0-9_]*) or no value");
    if (store_exec(st, err,
                   "INSERT INTO secrets(name, value, updated_ms) VALUES (?1,?2,?3)"
                   " ON CONFLICT(name) DO UPDATE SET value=?2, updated_ms=?3",
                   "ssI", name, value, now_ms) < 0)
        return mrun_err_prefix(err, "secret '%s'", name);
    return 0;
}

int mrun_store_secret_get(mrun_store *st, const char *name, char **ret_value, mrun_err *err)
{
    if (!name_ok(name, secret_first, secret_rest))
        return mrun_err_setx(err, EINVAL, "secret: bad name (expected [A-Z_][A-Z0-9_]*)");
    store_autostmt sqlite3_stmt *s = NULL;
    if (store_prep(st, &s, err, "SELECT value FROM secrets WHERE name=?", "s", name) < 0)
        return mrun_err_prefix(err, "secret '%s'", name);
    int rc = store_step(st, s, err);
    if (rc < 0)
        return mrun_err_prefix(err, "secret '%s'", name);
    if (rc == SQLITE_DONE)
        return mrun_err_setx(err, ENOENT, "secret '%s' is not set", name);
    char *v = strdup(store_col(s, 0));
    if (!v)
        return mrun_err_set(err, ENOMEM, "secret '%s'", name);
    *ret_value = v;
    return 0;
}

int mrun_store_relax_durability(mrun_store *st, mrun_err *err)
{
    int rc = sqlite3_exec(st->db, "PRAGMA synchronous=NORMAL;", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return store_db_err(st, rc, "synchronous=NORMAL", err);
    return 0;
}
