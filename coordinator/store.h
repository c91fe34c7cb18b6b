/* store.h - the coordinator's durable state: one SQLite database (WAL, synchronous=FULL) plus a content-addressed
 * blob store, both under one data directory (see docs/store.md for the schema and the durability argument).
 *
 * Threads: a mrun_store owns one SQLite connection and may be used by one thread at a time; open one store per
 * thread that needs one (SQLite serialises writers across connections, waiting up to the busy timeout).
 * Every function blocks on disk I/O (fsync on every commit). Times are milliseconds passed in by the caller
 * (now_ms), so the store never reads a clock.
 * Errors: -1 with *err filled. sys_errno is ENOENT (no such row or blob), ESTALE (a compare-and-set lost, or a
 * lease is expired, replaced or finished differently), EPERM (bad token), EINVAL (bad argument), ETIMEDOUT (the
 * database stayed locked past the busy timeout), or EIO / a real errno for storage failures. */
#ifndef MRUN_STORE_H
#define MRUN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "pipeline.h"

typedef struct mrun_store mrun_store;
typedef struct mrun_store_blob_writer mrun_store_blob_writer;

#define MRUN_STORE_ID_LEN        32 /* pipeline and lease ids: 128 random bits in lowercase hex */
#define MRUN_STORE_DIGEST_LEN    64 /* sha256, lowercase hex */
#define MRUN_STORE_TOKEN_LEN     64 /* API tokens: 256 random bits in lowercase hex */
#define MRUN_STORE_LOG_CHUNK_MAX (1u << 20)
#define MRUN_STORE_INFRA_RETRIES 3 /* requeues after a lost runner before the stage fails */

typedef enum mrun_store_pipeline_state {
    MRUN_STORE_PIPELINE_QUEUED,
    MRUN_STORE_PIPELINE_RUNNING,
    MRUN_STORE_PIPELINE_PASSED,
    MRUN_STORE_PIPELINE_FAILED,
    MRUN_STORE_PIPELINE_CANCELLED,
} mrun_store_pipeline_state;

typedef enum mrun_store_stage_state {
    MRUN_STORE_STAGE_WAITING,
    MRUN_STORE_STAGE_READY,
    MRUN_STORE_STAGE_RUNNING,
    MRUN_STORE_STAGE_PASSED,
    MRUN_STORE_STAGE_FAILED,
    MRUN_STORE_STAGE_SKIPPED,
    MRUN_STORE_STAGE_CANCELLED,
} mrun_store_stage_state;

/* The names used in the database and the API ("queued", "waiting", ...); NULL for an out-of-range value. */
static inline const char *mrun_store_pipeline_state_name(mrun_store_pipeline_state s)
{
    static const char *const n[] = {"queued", "running", "passed", "failed", "cancelled"};
    return (unsigned)s < sizeof(n) / sizeof(n[0]) ? n[s] : NULL;
}
static inline const char *mrun_store_stage_state_name(mrun_store_stage_state s)
{
    static const char *const n[] = {"waiting", "ready", "running", "passed", "failed", "skipped", "cancelled"};
    return (unsigned)s < sizeof(n) / sizeof(n[0]) ? n[s] : NULL;
}

/* Opens (creating if needed, mode 0700) data_dir, its database data_dir/mrun.db and data_dir/blobs/, and applies
 * any missing schema migrations in one transaction. Fails with EPROTO if the database is newer than this build. */
int mrun_store_open(const char *data_dir, mrun_store **ret_st, mrun_err *err);
/* Accepts NULL. */
void mrun_store_close(mrun_store *st);

/* For a connection that only appends logs: commits no longer fsync (WAL, synchronous=NORMAL). What it writes
 * survives a crash of the process, not necessarily a power loss; everything else keeps synchronous=FULL. */
int mrun_store_relax_durability(mrun_store *st, mrun_err *err);
static inline void mrun_store_closep(mrun_store **st)
{
    mrun_store_close(*st);
}

/* ---- coverage baselines (store_coverage.c) ---- */

/* Records the line coverage (percent) a stage's coverage-gate measured, for the attempt that holds lease_id. */
int mrun_store_coverage_set(mrun_store *st, const char *lease_id, double coverage, mrun_err *err);
/* The baseline of app (a pipeline name) on branch, or -1 in *ret when there is none. */
int mrun_store_coverage_baseline(mrun_store *st, const char *app, const char *branch, double *ret, mrun_err *err);
/* When pipeline_id has passed on branch default_branch and a stage of it measured coverage, makes the lowest such
 * figure the app's baseline for that branch (in one transaction) and returns it in *ret (-1 when nothing changed). */
int mrun_store_coverage_promote(mrun_store *st, const char *pipeline_id, const char *default_branch, int64_t now_ms,
                                double *ret, mrun_err *err);

/* ---- retention (store_gc.c) ---- */

typedef struct mrun_store_retention {
    int keep_per_branch;   /* artifacts of the newest N pipelines of each app and branch are kept (0: 10) */
    int64_t pr_ttl_ms;     /* pull_request pipelines' artifacts expire this long after they finished (0: 7 days) */
    int64_t grace_ms;      /* blobs written or reused more recently are never deleted (0: 1 hour) */
} mrun_store_retention;

typedef struct mrun_store_gc_report {
    size_t pipelines, artifacts, blobs; /* expired pipelines, artifact rows and blob files deleted */
    uint64_t bytes;                     /* blob bytes freed */
} mrun_store_gc_report;

/* Told about each thing the collector deletes (or would, on a dry run): kind is "artifact" (pipeline_id, stage,
 * path, digest set), "source" (pipeline_id, digest) or "blob" (digest, size). Borrowed strings. */
typedef void (*mrun_store_gc_fn)(void *ud, const char *kind, const char *pipeline_id, const char *stage,
                                 const char *path, const char *digest, uint64_t size);

/* Applies the retention rules at now_ms: the artifacts of finished pipelines past them are forgotten (rows
 * deleted, the pipeline marked expired; its logs stay), then every blob that no artifact, no unexpired pipeline
 * (its source) and no pin references, and that is older than the grace period, is deleted, each under the write
 * lock so that a concurrent submit either sees it or fails cleanly. Pinned digests are never forgotten. With
 * dry_run nothing changes and cb hears what would go. r and cb may be NULL. */
int mrun_store_gc(mrun_store *st, const mrun_store_retention *r, bool dry_run, int64_t now_ms, mrun_store_gc_fn cb,
                  void *ud, mrun_store_gc_report *ret, mrun_err *err);
/* Pins keep a digest's blob and artifact rows (a live preview, a production deploy): reason says which. */
int mrun_store_pin(mrun_store *st, const char *digest, const char *reason, int64_t now_ms, mrun_err *err);
int mrun_store_unpin(mrun_store *st, const char *digest, const char *reason, mrun_err *err);

/* ---- previews (store_preview.c) ---- */

typedef enum mrun_store_preview_state {
    MRUN_STORE_PREVIEW_STARTING = 0, /* leased to a runner, not healthy yet */
    MRUN_STORE_PREVIEW_LIVE,
    MRUN_STORE_PREVIEW_STOPPED, /* by `mrun preview rm`, a newer preview of the same app and ref, or its stage failing */
    MRUN_STORE_PREVIEW_EXPIRED, /* its TTL passed */
    MRUN_STORE_PREVIEW_FAILED,  /* never became healthy */
} mrun_store_preview_state;

typedef struct mrun_store_preview_info {
    const char *id, *pipeline_id, *stage, *app, *ref, *runner_id;
    const char *addr; /* host:port of the runner's relay, "" until live */
    bool private_;
    mrun_store_preview_state state;
    int64_t created_ms, expires_ms, stopped_ms; /* stopped_ms 0 while starting or live */
    int64_t sandbox_ms, peak_mem;               /* as the runner last reported */
} mrun_store_preview_info;
typedef int (*mrun_store_preview_cb)(const mrun_store_preview_info *p, void *ud);

/* Records a preview as starting (id: MRUN_STORE_ID_LEN hex, unguessable) and, in the same transaction, marks every
 * other starting or live preview of the same app and ref stopped: one live preview per app and pull request.
 * The replaced ones are passed to cb (may be NULL) so that their runners can be told. */
int mrun_store_preview_create(mrun_store *st, const mrun_store_preview_info *p, mrun_store_preview_cb replaced,
                              void *ud, mrun_err *err);
/* starting -> live with the relay's address (ESTALE when it is no longer starting: replaced or removed). */
int mrun_store_preview_live(mrun_store *st, const char *id, const char *addr, int64_t expires_ms, mrun_err *err);
/* starting/live -> stopped, expired or failed at now_ms; ESTALE when it had already ended. */
int mrun_store_preview_end(mrun_store *st, const char *id, mrun_store_preview_state state, int64_t now_ms,
                           mrun_err *err);
/* A live preview's new expiry (ESTALE when not live). */
int mrun_store_preview_extend(mrun_store *st, const char *id, int64_t expires_ms, mrun_err *err);
/* The runner's figures for a preview. */
int mrun_store_preview_stats(mrun_store *st, const char *id, int64_t sandbox_ms, int64_t peak_mem, mrun_err *err);
int mrun_store_preview_get(mrun_store *st, const char *id, mrun_store_preview_cb cb, void *ud, mrun_err *err);
/* Newest first; live_only: starting and live ones. */
int mrun_store_preview_list(mrun_store *st, bool live_only, size_t limit, mrun_store_preview_cb cb, void *ud,
                            mrun_err *err);
/* The newest preview a stage of a pipeline started (ENOENT when none). */
int mrun_store_preview_of_stage(mrun_store *st, const char *pipeline_id, const char *stage, mrun_store_preview_cb cb,
                                void *ud, mrun_err *err);
/* Starting or live previews whose expiry is at or before now_ms. */
int mrun_store_preview_due(mrun_store *st, int64_t now_ms, mrun_store_preview_cb cb, void *ud, mrun_err *err);
const char *mrun_store_preview_state_name(mrun_store_preview_state s);

/* ---- pipelines and stages ---- */

/* What came with a submission besides the parsed file. NULL strings are stored as "". */
typedef struct mrun_store_submit {
    const char *event, *ref, *branch, *submitter, *agent;
    const char *source_digest; /* the source archive; must already be in the blob store */
    const char *yaml;          /* the pipeline file as submitted (UTF-8, validated by the parser) */
    size_t yaml_len;
    int64_t now_ms;
} mrun_store_submit;

/* Records pl and all its stages in ONE transaction: stages without needs start ready, the rest waiting (the
 * scheduler evaluates 'if:' before leasing). Writes the new id (MRUN_STORE_ID_LEN hex + NUL) into ret_id.
 * Returns only after the commit is durable. ENOENT if the source blob is missing. */
int mrun_store_pipeline_create(mrun_store *st, const mrun_pipeline *pl, const mrun_store_submit *sub,
                               char ret_id[MRUN_STORE_ID_LEN + 1], mrun_err *err);

/* Rows handed to callbacks; every pointer is borrowed and valid only during the call. A callback returning
 * non-zero stops the iteration (the function still returns 0). */
typedef struct mrun_store_pipeline_info {
    const char *id, *name, *event, *ref, *branch, *submitter, *agent, *source_digest;
    const char *yaml; /* only from mrun_store_pipeline_get; NULL in lists */
    int tier;
    mrun_store_pipeline_state state;
    int64_t created_ms, finished_ms; /* finished_ms is 0 until the pipeline finishes */
} mrun_store_pipeline_info;
typedef int (*mrun_store_pipeline_cb)(const mrun_store_pipeline_info *p, void *ud);

/* Calls cb once for pipeline id; ENOENT if there is none. */
int mrun_store_pipeline_get(mrun_store *st, const char *id, mrun_store_pipeline_cb cb, void *ud, mrun_err *err);
/* Newest first, at most limit rows; state < 0 means any state. */
int mrun_store_pipeline_list(mrun_store *st, int state, size_t limit, mrun_store_pipeline_cb cb, void *ud,
                             mrun_err *err);
/* Compare-and-set of the pipeline state (e.g. queued/running -> cancelled); ESTALE if it was not `expected`.
 * Does not touch stages or leases. The store itself moves a pipeline to running at its first lease and to
 * passed/failed/cancelled when its last stage finishes. */
int mrun_store_pipeline_set_state(mrun_store *st, const char *id, mrun_store_pipeline_state expected,
                                  mrun_store_pipeline_state state, int64_t now_ms, mrun_err *err);

/* Retry, in ONE transaction, of a finished pipeline (failed, cancelled or passed; ESTALE while queued or running).
 * With stage NULL: every failed or cancelled stage that no other failed or cancelled stage is upstream of goes
 * back to ready. With a stage: that stage, which must be failed or cancelled (else ESTALE) and have no failed or
 * cancelled stage upstream of it (ESTALE: retry that one). Every skipped, cancelled or failed stage downstream
 * (transitively, through needs) goes back to waiting. The stages moved start over: retries_used, infra_retries,
 * started_ms, finished_ms and exit_code are reset; attempt keeps counting. The pipeline goes back to running by a
 * compare-and-set. ENOENT for an unknown pipeline or stage; ESTALE also when nothing is failed or cancelled.
 * ret_n (may be NULL) receives how many stages moved. The caller wakes the scheduler. */
int mrun_store_pipeline_retry(mrun_store *st, const char *pipeline_id, const char *stage, size_t *ret_n, mrun_err *err);

typedef struct mrun_store_stage_info {
    const char *pipeline_id, *name;
    const char *needs;   /* space-separated stage names, "" for none */
    const char *runs_on; /* space-separated labels, "" for none */
    const char *if_text; /* NULL when the stage has no 'if:' */
    size_t idx;          /* position in the pipeline's topological order */
    mrun_store_stage_state state;
    int attempt;                     /* leases handed out so far */
    int retry;                       /* retries allowed by the pipeline file */
    int retries_used;                /* failed attempts retried so far */
    int infra_retries;               /* requeues after a lost runner (not counted against retry) */
    int64_t started_ms, finished_ms; /* 0 when not yet */
    int exit_code;                   /* of the last finished attempt; valid when has_exit_code */
    bool has_exit_code;
} mrun_store_stage_info;
typedef int (*mrun_store_stage_cb)(const mrun_store_stage_info *s, void *ud);

/* Stages of pipeline_id in topological order, or, with pipeline_id NULL, of every pipeline oldest first (what a
 * scheduler wants with state MRUN_STORE_STAGE_READY). state < 0 means any state. */
int mrun_store_stage_list(mrun_store *st, const char *pipeline_id, int state, mrun_store_stage_cb cb, void *ud,
                          mrun_err *err);
/* Compare-and-set: moves the stage from `expected` to `state`, or fails with ESTALE (ENOENT if there is no such
 * stage), so two threads cannot both move it. Moving to running is refused (use mrun_store_lease_create). Moving a
 * running stage elsewhere (cancel) revokes its active lease in the same transaction. */
int mrun_store_stage_set_state(mrun_store *st, const char *pipeline_id, const char *stage,
                               mrun_store_stage_state expected, mrun_store_stage_state state, int64_t now_ms,
                               mrun_err *err);

/* ---- leases ---- */

typedef struct mrun_store_lease {
    char id[MRUN_STORE_ID_LEN + 1];
    int attempt;
} mrun_store_lease;

/* For a ready stage, in one transaction: marks it running, increments its attempt and creates a lease for
 * runner_id expiring at now_ms + ttl_ms. ESTALE if the stage is not ready (someone else leased it); ENOENT if
 * runner_id is not an online runner (mrun_store_runner_upsert it first). */
int mrun_store_lease_create(mrun_store *st, const char *pipeline_id, const char *stage, const char *runner_id,
                            int64_t now_ms, int64_t ttl_ms, mrun_store_lease *ret_lease, mrun_err *err);
/* Heartbeat: moves the expiry to now_ms + ttl_ms. ESTALE if the lease is no longer active or already expired. */
int mrun_store_lease_renew(mrun_store *st, const char *lease_id, int64_t now_ms, int64_t ttl_ms, mrun_err *err);

typedef struct mrun_store_lease_info {
    const char *id, *pipeline_id, *stage, *runner_id;
    const char *state; /* "active", "finished", "expired", "revoked"; only from mrun_store_lease_get */
    int attempt;
    int64_t created_ms, expires_ms;
} mrun_store_lease_info;
typedef int (*mrun_store_lease_cb)(const mrun_store_lease_info *l, void *ud);

/* Active leases with expires_ms <= now_ms, oldest expiry first. Read-only; mrun_store_recover acts on them. */
int mrun_store_lease_expired_list(mrun_store *st, int64_t now_ms, mrun_store_lease_cb cb, void *ud, mrun_err *err);

/* Records the result of one attempt. Passed: the stage passes. Failed: the stage goes back to ready if it has
 * retries left (retries_used + 1), else fails. Idempotent: repeating the same report for the same lease and attempt
 * returns 0 and changes nothing. Refused with ESTALE: another attempt, an expired/revoked lease, or a different
 * result for an already finished lease. ret_state (may be NULL) receives the stage's new state. */
int mrun_store_lease_finish(mrun_store *st, const char *lease_id, int attempt, bool passed, int exit_code,
                            int64_t now_ms, mrun_store_stage_state *ret_state, mrun_err *err);

/* Calls cb once with the lease (active or not); ENOENT for an unknown lease. */
int mrun_store_lease_get(mrun_store *st, const char *lease_id, mrun_store_lease_cb cb, void *ud, mrun_err *err);
/* The pipeline and stage a lease (active or not) belongs to. ENOENT for an unknown lease. */
int mrun_store_lease_owner(mrun_store *st, const char *lease_id, char ret_pipeline_id[MRUN_STORE_ID_LEN + 1],
                           char *ret_stage, size_t stage_len, mrun_err *err);

/* At startup (and periodically as the reaper): every active lease that has expired, or whose runner is unknown or
 * marked gone, is expired and its stage goes back to ready without using the stage's own retries; its
 * infra_retries grows, and after MRUN_STORE_INFRA_RETRIES requeues the stage fails instead. One transaction.
 * ret_requeued (may be NULL) receives how many leases were taken back. */
int mrun_store_recover(mrun_store *st, int64_t now_ms, size_t *ret_requeued, mrun_err *err);

/* ---- logs ---- */

/* Stores one chunk (stream 1 = stdout, 2 = stderr, 3 = mrun's own lines; seq counts from 0 per lease; at most MRUN_STORE_LOG_CHUNK_MAX
 * bytes). A chunk whose (lease_id, seq) is already stored is ignored, so resends are harmless. Accepted for any
 * known lease, also after it finished or expired (late output of that attempt); ENOENT for an unknown lease. */
int mrun_store_log_append(mrun_store *st, const char *lease_id, int64_t seq, int stream, const void *data, size_t len,
                          mrun_err *err);

typedef struct mrun_store_log_chunk {
    int attempt;
    int64_t seq;
    int stream;
    const void *data; /* borrowed; already trimmed to start at `offset` */
    size_t len;
    uint64_t offset; /* byte offset of data in the stage's whole log */
} mrun_store_log_chunk;
typedef int (*mrun_store_log_cb)(const mrun_store_log_chunk *c, void *ud);

/* The stage's log from byte from_offset: every attempt in order, chunks by seq. For an active lease it stops at
 * the first missing seq (the gap may still arrive); gaps of finished or expired leases are skipped.
 * ret_next_offset (may be NULL) receives the offset to continue from. */
int mrun_store_log_read(mrun_store *st, const char *pipeline_id, const char *stage, uint64_t from_offset,
                        mrun_store_log_cb cb, void *ud, uint64_t *ret_next_offset, mrun_err *err);

/* ---- artifacts, runners, tokens, secrets ---- */

/* Records that stage produced path with the given blob, which must already be stored with that size. Re-adding
 * the same (stage, path, digest) is a no-op; a different digest for the same path is refused (ESTALE). */
int mrun_store_artifact_add(mrun_store *st, const char *pipeline_id, const char *stage, const char *path,
                            const char *digest, uint64_t size, int64_t now_ms, mrun_err *err);
typedef struct mrun_store_artifact_info {
    const char *stage, *path, *digest;
    uint64_t size;
} mrun_store_artifact_info;
typedef int (*mrun_store_artifact_cb)(const mrun_store_artifact_info *a, void *ud);
int mrun_store_artifact_list(mrun_store *st, const char *pipeline_id, mrun_store_artifact_cb cb, void *ud,
                             mrun_err *err);

typedef struct mrun_store_runner_info {
    const char *id, *name;
    const char *labels; /* space-separated */
    int slots;
    int64_t last_seen_ms;
    bool online; /* false: gone; its active leases are requeued by mrun_store_recover */
} mrun_store_runner_info;
typedef int (*mrun_store_runner_cb)(const mrun_store_runner_info *r, void *ud);
/* Inserts or replaces the runner row with r->id. */
int mrun_store_runner_upsert(mrun_store *st, const mrun_store_runner_info *r, mrun_err *err);
int mrun_store_runner_list(mrun_store *st, mrun_store_runner_cb cb, void *ud, mrun_err *err);

/* Creates an API token for role ([a-z_]+, e.g. "admin", "submit", "runner"). The token text is written into
 * ret_token once and never stored: the database keeps only its sha256. */
int mrun_store_token_create(mrun_store *st, const char *role, int64_t now_ms, char ret_token[MRUN_STORE_TOKEN_LEN + 1],
                            mrun_err *err);
/* Looks the token up by its hash, comparing every stored hash in constant time. EPERM for an unknown or
 * malformed token. *ret_role is malloc'd; free it. */
int mrun_store_token_check(mrun_store *st, const char *token, char **ret_role, mrun_err *err);

/* Secrets are stored AS-IS (plaintext in the database file); see docs/store.md. name is [A-Z_][A-Z0-9_]*. */
int mrun_store_secret_set(mrun_store *st, const char *name, const char *value, int64_t now_ms, mrun_err *err);
/* *ret_value is malloc'd; free it. ENOENT if unset. */
int mrun_store_secret_get(mrun_store *st, const char *name, char **ret_value, mrun_err *err);

/* ---- blobs: data_dir/blobs/ab/cdef... named by sha256 ---- */

/* Streaming put: init, update any number of times, then finish, which always consumes w. finish fsyncs the data,
 * links it under its digest without ever replacing an existing file (same bytes again: a no-op) and fsyncs the
 * directory. If expected_digest is non-NULL and differs, nothing is stored (EINVAL). */
int mrun_store_blob_put_init(mrun_store *st, mrun_store_blob_writer **ret_w, mrun_err *err);
int mrun_store_blob_put_update(mrun_store_blob_writer *w, const void *buf, size_t len, mrun_err *err);
int mrun_store_blob_put_finish(mrun_store_blob_writer *w, const char *expected_digest,
                               char ret_digest[MRUN_STORE_DIGEST_LEN + 1], mrun_err *err);
/* Abandons an unfinished put; accepts NULL. */
void mrun_store_blob_writer_free(mrun_store_blob_writer *w);
/* Opens the blob read-only; *ret_fd is the caller's to close. ENOENT if absent, EINVAL for a malformed digest. */
int mrun_store_blob_get(mrun_store *st, const char *digest, int *ret_fd, uint64_t *ret_size, mrun_err *err);
int mrun_store_blob_has(mrun_store *st, const char *digest, bool *ret_has, mrun_err *err);

#endif
