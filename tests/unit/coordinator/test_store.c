/* test_store.c - the coordinator store on a real SQLite file in a temp dir: schema and migrations, atomic
 * pipeline creation from a parsed pipeline, compare-and-set, the lease lifecycle, logs, blobs, tokens, recovery,
 * and a SIGKILL crash test in a forked child. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <pthread.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/sha.h>
#include <sqlite3.h>

#include "common/auto.h"
#include "coordinator/store.h"

static const char *const uses[] = {"preview", "echo", NULL};

static const char yaml[] = "name: demo\n"
                           "tier: 2\n"
                           "stages:\n"
                           "  build:\n"
                           "    retry: 1\n"
                           "    steps: [{run: make}]\n"
                           "  test:\n"
                           "    needs: [build]\n"
                           "    runs-on: [linux, x86_64]\n"
                           "    if: event == 'push'\n"
                           "    steps: [{run: make test}]\n"
                           "  deploy:\n"
                           "    needs: [build, test]\n"
                           "    steps: [{uses: preview}]\n";

typedef struct fx {
    char dir[64];
    mrun_store *st;
    mrun_pipeline *pl;
    char src[MRUN_STORE_DIGEST_LEN + 1];
} fx;

#define OK(call)                                                                                                       \
    do {                                                                                                               \
        mrun_err e_ = MRUN_ERR_INIT;                                                                                   \
        mrun_err *err = &e_;                                                                                           \
        if ((call) != 0)                                                                                               \
            fail_msg("%s: %s", #call, e_.msg);                                                                         \
    } while (0)

/* Asserts call fails with errno want and a message containing word. */
#define FAILS(call, want, word)                                                                                        \
    do {                                                                                                               \
        mrun_err e_ = MRUN_ERR_INIT;                                                                                   \
        mrun_err *err = &e_;                                                                                           \
        if ((call) == 0)                                                                                               \
            fail_msg("%s: succeeded", #call);                                                                          \
        if (e_.sys_errno != (want) || !strstr(e_.msg, (word)))                                                         \
            fail_msg("%s: got errno %d '%s', expected %d and '%s'", #call, e_.sys_errno, e_.msg, (want), (word));      \
    } while (0)

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static int put_bytes(mrun_store *st, const void *buf, size_t len, const char *expect, char *ret_digest, mrun_err *err)
{
    mrun_store_blob_writer *w = NULL;
    if (mrun_store_blob_put_init(st, &w, err) < 0)
        return -1;
    size_t half = len / 2;
    if (mrun_store_blob_put_update(w, buf, half, err) < 0 ||
        mrun_store_blob_put_update(w, (const char *)buf + half, len - half, err) < 0) {
        mrun_store_blob_writer_free(w);
        return -1;
    }
    return mrun_store_blob_put_finish(w, expect, ret_digest, err);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_store.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    OK(mrun_store_open(f->dir, &f->st, err));
    mrun_pipeline_limits lim = MRUN_PIPELINE_LIMITS_DEFAULT;
    OK(mrun_pipeline_parse("pipeline.yml", (const uint8_t *)yaml, strlen(yaml), &lim, uses, &f->pl, err));
    OK(put_bytes(f->st, "source archive", 14, NULL, f->src, err));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    mrun_store_close(f->st);
    mrun_pipeline_free(f->pl);
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* One integer from a query on a separate connection, as an operator with sqlite3 would see the file. */
static int64_t q1(const fx *f, const char *sql)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/mrun.db", f->dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    int rc = sqlite3_step(s);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : -1;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static void exec_sql(const fx *f, const char *sql)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/mrun.db", f->dir);
    sqlite3 *db = NULL;
    char *msg = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static void create(fx *f, char id[MRUN_STORE_ID_LEN + 1])
{
    mrun_store_submit sub = {.event = "push",
                             .ref = "refs/heads/main",
                             .branch = "main",
                             .submitter = "ann",
                             .agent = "claude",
                             .source_digest = f->src,
                             .yaml = yaml,
                             .yaml_len = strlen(yaml),
                             .now_ms = 1000};
    OK(mrun_store_pipeline_create(f->st, f->pl, &sub, id, err));
}

/* ---- collectors for the callbacks ---- */

typedef struct stages_seen {
    size_t n;
    char names[8][64];
    char needs[8][64];
    char runs_on[8][64];
    mrun_store_stage_state state[8];
} stages_seen;

static int on_stage(const mrun_store_stage_info *s, void *ud)
{
    stages_seen *v = ud;
    if (v->n < 8) {
        snprintf(v->names[v->n], 64, "%s", s->name);
        snprintf(v->needs[v->n], 64, "%s", s->needs);
        snprintf(v->runs_on[v->n], 64, "%s", s->runs_on);
        v->state[v->n] = s->state;
    }
    v->n++;
    return 0;
}

typedef struct pick_stage {
    const char *want;
    mrun_store_stage_info got;
    int found;
} pick_stage;

static int on_pick(const mrun_store_stage_info *s, void *ud)
{
    pick_stage *p = ud;
    if (strcmp(s->name, p->want) == 0) {
        p->got = *s;
        p->got.name = p->got.pipeline_id = p->got.needs = p->got.runs_on = p->got.if_text = NULL;
        p->found = 1;
    }
    return 0;
}

static mrun_store_stage_info stage(fx *f, const char *id, const char *name)
{
    pick_stage p = {name, {0}, 0};
    OK(mrun_store_stage_list(f->st, id, -1, on_pick, &p, err));
    if (!p.found)
        fail_msg("no stage %s", name);
    return p.got;
}

typedef struct pl_seen {
    size_t n;
    mrun_store_pipeline_state state;
    char name[64], event[32], submitter[32], src[65];
    int tier;
    int64_t finished_ms;
    int has_yaml;
} pl_seen;

static int on_pl(const mrun_store_pipeline_info *p, void *ud)
{
    pl_seen *v = ud;
    v->n++;
    v->state = p->state;
    v->tier = p->tier;
    v->finished_ms = p->finished_ms;
    v->has_yaml = p->yaml && strcmp(p->yaml, yaml) == 0;
    snprintf(v->name, sizeof(v->name), "%s", p->name);
    snprintf(v->event, sizeof(v->event), "%s", p->event);
    snprintf(v->submitter, sizeof(v->submitter), "%s", p->submitter);
    snprintf(v->src, sizeof(v->src), "%s", p->source_digest);
    return 0;
}

static pl_seen pipeline(fx *f, const char *id)
{
    pl_seen v = {0};
    OK(mrun_store_pipeline_get(f->st, id, on_pl, &v, err));
    return v;
}

/* ---- tests ---- */

static void test_schema_reopen(void **state)
{
    fx *f = *state;
    assert_int_equal(q1(f, "SELECT version FROM schema_version"), 4);
    assert_int_equal(q1(f, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode='wal'"), 1);
    mrun_store_close(f->st);
    f->st = NULL;
    OK(mrun_store_open(f->dir, &f->st, err)); /* migrations already applied: a no-op */
    assert_int_equal(q1(f, "SELECT count(*) FROM schema_version"), 1);
    assert_int_equal(q1(f, "SELECT version FROM schema_version"), 4);
    assert_int_equal(q1(f, "SELECT count(*) FROM sqlite_schema WHERE type='table' AND name IN ('pipelines','stages',"
                           "'stage_needs','leases','log_chunks','artifacts','runners','tokens','secrets')"),
                     9);
    mrun_store_close(f->st);
    f->st = NULL;
    exec_sql(f, "UPDATE schema_version SET version=99");
    FAILS(mrun_store_open(f->dir, &f->st, err), EPROTO, "newer than this build");
    assert_null(f->st);
    /* a version-1 database (session 1's schema) is upgraded in place */
    exec_sql(f, "DROP TABLE previews; DROP INDEX artifacts_digest; DROP INDEX pipelines_source; DROP TABLE pins;"
                " ALTER TABLE pipelines DROP COLUMN expired_ms;"
                " ALTER TABLE stages DROP COLUMN coverage; DROP TABLE coverage_baselines;"
                " UPDATE schema_version SET version=1");
    OK(mrun_store_open(f->dir, &f->st, err));
    assert_int_equal(q1(f, "SELECT version FROM schema_version"), 4);
    assert_int_equal(q1(f, "SELECT count(*) FROM pragma_table_info('stages') WHERE name='coverage'"), 1);
}

static void test_pragmas(void **state)
{
    fx *f = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/mrun.db-wal", f->dir);
    assert_int_equal(access(path, F_OK), 0); /* WAL mode is recorded in the file; -wal exists while open */
    /* foreign_keys is per connection: the store's must reject an artifact of a stage that does not exist. */
    char d[65];
    OK(put_bytes(f->st, "x", 1, NULL, d, err));
    FAILS(mrun_store_artifact_add(f->st, "nopipeline", "nostage", "a", d, 1, 1, err), EIO, "FOREIGN KEY");
}

static void test_pipeline_create(void **state)
{
    fx *f = *state;
    char id[MRUN_STORE_ID_LEN + 1];
    create(f, id);
    assert_int_equal(strlen(id), MRUN_STORE_ID_LEN);
    pl_seen p = pipeline(f, id);
    assert_int_equal(p.n, 1);
    assert_string_equal(p.name, "demo");
    assert_int_equal(p.tier, 2);
    assert_string_equal(p.event, "push");
    assert_string_equal(p.submitter, "ann");
    assert_string_equal(p.src, f->src);
    assert_true(p.has_yaml);
    assert_int_equal(p.state, MRUN_STORE_PIPELINE_QUEUED);

    stages_seen v = {0};
    OK(mrun_store_stage_list(f->st, id, -1, on_stage, &v, err));
    assert_int_equal(v.n, 3);
    assert_string_equal(v.names[0], "build");
    assert_string_equal(v.names[1], "test");
    assert_string_equal(v.names[2], "deploy");
    assert_int_equal(v.state[0], MRUN_STORE_STAGE_READY);
    assert_int_equal(v.state[1], MRUN_STORE_STAGE_WAITING);
    assert_int_equal(v.state[2], MRUN_STORE_STAGE_WAITING);
    assert_string_equal(v.needs[0], "");
    assert_string_equal(v.needs[1], "build");
    assert_true(strcmp(v.needs[2], "build test") == 0 || strcmp(v.needs[2], "test build") == 0);
    assert_string_equal(v.runs_on[1], "linux x86_64");
    assert_int_equal(stage(f, id, "build").retry, 1);

    /* The ready list across pipelines is what a scheduler polls. */
    char id2[MRUN_STORE_ID_LEN + 1];
    create(f, id2);
    assert_string_not_equal(id, id2);
    stages_seen ready = {0};
    OK(mrun_store_stage_list(f->st, NULL, MRUN_STORE_STAGE_READY, on_stage, &ready, err));
    assert_int_equal(ready.n, 2);
    pl_seen all = {0};
    OK(mrun_store_pipeline_list(f->st, MRUN_STORE_PIPELINE_QUEUED, 10, on_pl, &all, err));
    assert_int_equal(all.n, 2);
    FAILS(mrun_store_pipeline_get(f->st, "nope", on_pl, &all, err), ENOENT, "no pipeline");

    mrun_store_submit sub = {.source_digest = "0000000000000000000000000000000000000000000000000000000000000000"};
    FAILS(mrun_store_pipeline_create(f->st, f->pl, &sub, id2, err), ENOENT, "not stored");
}

static void test_create_is_atomic(void **state)
{
    fx *f = *state;
    /* A failure midway: the second stage's insert aborts, after the pipeline row and the first stage went in. */
    exec_sql(f, "CREATE TRIGGER boom BEFORE INSERT ON stages WHEN NEW.name='test'"
                " BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
    mrun_store_submit sub = {.source_digest = f->src, .now_ms = 1};
    char id[MRUN_STORE_ID_LEN + 1] = "untouched";
    FAILS(mrun_store_pipeline_create(f->st, f->pl, &sub, id, err), EIO, "injected failure");
    assert_string_equal(id, "untouched");
    assert_int_equal(q1(f, "SELECT count(*) FROM pipelines"), 0);
    assert_int_equal(q1(f, "SELECT count(*) FROM stages"), 0);
    assert_int_equal(q1(f, "SELECT count(*) FROM stage_needs"), 0);
    exec_sql(f, "DROP TRIGGER boom");
    OK(mrun_store_pipeline_create(f->st, f->pl, &sub, id, err)); /* the connection is usable after the rollback */
    assert_int_equal(q1(f, "SELECT count(*) FROM stages"), 3);
}

static void test_stage_cas(void **state)
{
    fx *f = *state;
    char id[MRUN_STORE_ID_LEN + 1];
    create(f, id);
    mrun_store *other = NULL;
    OK(mrun_store_open(f->dir, &other, err)); /* a second connection, as a second thread would have */
    OK(mrun_store_stage_set_state(f->st, id, "test", MRUN_STORE_STAGE_WAITING, MRUN_STORE_STAGE_READY, 5, err));
    FAILS(mrun_store_stage_set_state(other, id, "test", MRUN_STORE_STAGE_WAITING, MRUN_STORE_STAGE_SKIPPED, 5, err),
          ESTALE, "is ready, not waiting");
    assert_int_equal(stage(f, id, "test").state, MRUN_STORE_STAGE_READY);
    FAILS(mrun_store_stage_set_state(f->st, id, "nope", MRUN_STORE_STAGE_WAITING, MRUN_STORE_STAGE_READY, 5, err),
          ENOENT, "no stage");
    FAILS(mrun_store_stage_set_state(f->st, id, "build", MRUN_STORE_STAGE_READY, MRUN_STORE_STAGE_RUNNING, 5, err),
          EINVAL, "only a lease");
    mrun_store_close(other);

    /* Skipping every stage finishes the pipeline as passed. */
    OK(mrun_store_stage_set_state(f->st, id, "build", MRUN_STORE_STAGE_READY, MRUN_STORE_STAGE_SKIPPED, 6, err));
    OK(mrun_store_stage_set_state(f->st, id, "test", MRUN_STORE_STAGE_READY, MRUN_STORE_STAGE_SKIPPED, 6, err));
    assert_int_equal(pipeline(f, id).state, MRUN_STORE_PIPELINE_QUEUED);
    OK(mrun_store_stage_set_state(f->st, id, "deploy", MRUN_STORE_STAGE_WAITING, MRUN_STORE_STAGE_SKIPPED, 7, err));
    pl_seen p = pipeline(f, id);
    assert_int_equal(p.state, MRUN_STORE_PIPELINE_PASSED);
    assert_int_equal(p.finished_ms, 7);
    FAILS(mrun_store_pipeline_set_state(f->st, id, MRUN_STORE_PIPELINE_RUNNING, MRUN_STORE_PIPELINE_CANCELLED, 8, err),
          ESTALE, "is not running");
}

/* Real threads, one connection each, racing to lease the same ready stage: exactly one wins. */
typedef struct racer {
    const char *dir, *pipeline_id;
    pthread_barrier_t *go;
    int won, lost_estale;
    mrun_err err;
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    mrun_store *st = NULL;
    if (mrun_store_open(r->dir, &st, &r->err) < 0)
        return NULL;
    pthread_barrier_wait(r->go);
    mrun_store_lease l;
    if (mrun_store_lease_create(st, r->pipeline_id, "build", "r1", 10, 1000, &l, &r->err) == 0)
        r->won = 1;
    else if (r->err.sys_errno == ESTALE)
        r->lost_estale = 1;
    mrun_store_close(st);
    return NULL;
}

static void test_lease_race(void **state)
{
    fx *f = *state;
    char id[MRUN_STORE_ID_LEN + 1];
    create(f, id);
    mrun_store_runner_info r = {"r1", "one", "", 8, 0, true};
    OK(mrun_store_runner_upsert(f->st, &r, err));
    enum { N_RACERS = 8 };
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, N_RACERS);
    racer rs[N_RACERS];
    pthread_t t[N_RACERS];
    for (int i = 0; i < N_RACERS; i++) {
        rs[i] = (racer){f->dir, id, &go, 0, 0, MRUN_ERR_INIT};
        assert_int_equal(pthread_create(&t[i], NULL, race, &rs[i]), 0);
    }
    int won = 0, lost = 0;
    for (int i = 0; i < N_RACERS; i++) {
        pthread_join(t[i], NULL);
        won += rs[i].won;
        lost += rs[i].lost_estale;
        if (!rs[i].won && !rs[i].lost_estale)
            fail_msg("racer %d: %s", i, rs[i].err.msg);
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(won, 1);
    assert_int_equal(lost, N_RACERS - 1);
    assert_int_equal(q1(f, "SELECT count(*) FROM leases"), 1);
    assert_int_equal(stage(f, id, "build").attempt, 1);
}

static void test_lease_lifecycle(void **state)
{
    fx *f = *state;
    char id[MRUN_STORE_ID_LEN + 1];
    create(f, id);
    mrun_store_runner_info r = {"r1", "runner one", "linux x86_64", 2, 100, true};
    OK(mrun_store_runner_upsert(f->st, &r, err));

    mrun_store_lease l1;
    OK(mrun_store_lease_create(f->st, id, "build", "r1", 100, 1000, &l1, err));
    assert_int_equal(l1.attempt, 1);
    assert_int_equal(strlen(l1.id), MRUN_STORE_ID_LEN);
    assert_int_equal(stage(f, id, "build").state, MRUN_STORE_STAGE_RUNNING);
    assert_int_equal(pipeline(f, id).state, MRUN_STORE_PIPELINE_RUNNING);
    mrun_store_lease dup;
    FAILS(mrun_store_lease_create(f->st, id, "build", "r1", 100, 1000, &dup, err), ESTALE, "is running, not ready");
    FAILS(mrun_store_lease_create(f->st, id, "test", "r1", 100, 1000, &dup, err), ESTALE, "is waiting");
    FAILS(mrun_store_lease_create(f->st, id, "test", "r9", 100, 1000, &dup, err), ENOENT, "not online");
    OK(mrun_store_lease_renew(f->st, l1.id, 900, 1000, err)); /* now expires at 1900 */

    /* Attempt 1 fails; build has retry: 1, so it goes back to ready without a new lease yet. */
    mrun_store_stage_state ns = MRUN_STORE_STAGE_WAITING;
    OK(mrun_store_lease_finish(f->st, l1.id, 1, false, 2, 1500, &ns, err));
    assert_int_equal(ns, MRUN_STORE_STAGE_READY);
    mrun_store_stage_info b = stage(f, id, "build");
    assert_int_equal(b.retries_used, 1);
    assert_int_equal(b.exit_code, 2);
    /* The same report again: 0, and nothing changes. */
    OK(mrun_store_lease_finish(f->st, l1.id, 1, false, 2, 1600, &ns, err));
    assert_int_equal(ns, MRUN_STORE_STAGE_READY);
    assert_int_equal(stage(f, id, "build").retries_used, 1);
    assert_int_equal(q1(f, "SELECT finished_ms FROM leases"), 1500);
    FAILS(mrun_store_lease_finish(f->st, l1.id, 1, true, 0, 1600, &ns, err), ESTALE, "already finished as failed");
    FAILS(mrun_store_lease_finish(f->st, l1.id, 2, false, 2, 1600, &ns, err), ESTALE, "for attempt 1, not 2");
    FAILS(mrun_store_lease_renew(f->st, l1.id, 1600, 1000, err), ESTALE, "is finished");
    FAILS(mrun_store_lease_finish(f->st, "ffff", 1, true, 0, 1600, &ns, err), ENOENT, "no lease");

    /* Attempt 2 is not renewed in time: its finish is refused. */
    mrun_store_lease l2;
    OK(mrun_store_lease_create(f->st, id, "build", "r1", 2000, 100, &l2, err));
    assert_int_equal(l2.attempt, 2);
    FAILS(mrun_store_lease_finish(f->st, l2.id, 2, true, 0, 2100, &ns, err), ESTALE, "expired 0 ms ago");
    FAILS(mrun_store_lease_renew(f->st, l2.id, 2150, 100, err), ESTALE, "expired 50 ms ago");
    OK(mrun_store_lease_renew(f->st, l2.id, 2050, 1000, err));
    OK(mrun_store_lease_finish(f->st, l2.id, 2, true, 0, 2100, &ns, err));
    assert_int_equal(ns, MRUN_STORE_STAGE_PASSED);
    assert_int_equal(stage(f, id, "build").finished_ms, 2100);

    /* Cancelling a running stage revokes its lease; the runner's late report is refused. */
    OK(mrun_store_stage_set_state(f->st, id, "test", MRUN_STORE_STAGE_WAITING, MRUN_STORE_STAGE_READY, 2200, err));
    mrun_store_lease l3;
    OK(mrun_store_lease_create(f->st, id, "test", "r1", 2200, 1000, &l3, err));
    OK(mrun_store_stage_set_state(f->st, id, "test", MRUN_STORE_STAGE_RUNNING, MRUN_STORE_STAGE_CANCELLED, 2300, err));
    FAILS(mrun_store_lease_finish(f->st, l3.id, 1, true, 0, 2400, &ns, err), ESTALE, "is revoked");
    OK(mrun_store_stage_set_state(f->st, id, "deploy", MRUN_STORE_STAGE_WAITING, MRUN_STORE_STAGE_SKIPPED, 2500, err));
    assert_int_equal(pipeline(f, id).state, MRUN_STORE_PIPELINE_CANCELLED);
}

/* Coverage per attempt, and the baseline only a passed default-branch pipeline sets (the lowest stage figure). */
static void test_coverage_baseline(void **state)
{
    fx *f = *state;
    char id[MRUN_STORE_ID_LEN + 1];
    create(f, id);
    mrun_store_runner_info r = {"r1", "runner one", "linux x86_64", 2, 100, true};
    OK(mrun_store_runner_upsert(f->st, &r, err));
    double base = 0;
    OK(mrun_store_coverage_baseline(f->st, "demo", "main", &base, err));
    assert_true(base < 0);

    const char *names[] = {"build", "test", "deploy"};
    const double cov[] = {82.5, 79.25, -1};
    mrun_store_stage_state ns;
    for (int i = 0; i < 3; i++) {
        if (i > 0)
            OK(mrun_store_stage_set_state(f->st, id, names[i], MRUN_STORE_STAGE_WAITING, MRUN_STORE_STAGE_READY,
                                          2000, err));
        mrun_store_lease l;
        OK(mrun_store_lease_create(f->st, id, names[i], "r1", 2000, 1000, &l, err));
        if (cov[i] >= 0)
            OK(mrun_store_coverage_set(f->st, l.id, cov[i], err));
        FAILS(mrun_store_coverage_set(f->st, l.id, 100.5, err), EINVAL, "not a percentage");
        /* before the pipeline passes, nothing is promoted */
        double p = 0;
        OK(mrun_store_coverage_promote(f->st, id, "main", 2100, &p, err));
        assert_true(p < 0);
        OK(mrun_store_lease_finish(f->st, l.id, 1, true, 0, 2100, &ns, err));
    }
    assert_int_equal(pipeline(f, id).state, MRUN_STORE_PIPELINE_PASSED);
    FAILS(mrun_store_coverage_set(f->st, "ffff", 50, err), ENOENT, "no stage holds lease");

    double p = 0;
    OK(mrun_store_coverage_promote(f->st, id, "release", 3000, &p, err)); /* not the default branch */
    assert_true(p < 0);
    OK(mrun_store_coverage_baseline(f->st, "demo", "main", &base, err));
    assert_true(base < 0);
    OK(mrun_store_coverage_promote(f->st, id, "main", 3000, &p, err));
    assert_true(p > 79.24 && p < 79.26);
    OK(mrun_store_coverage_baseline(f->st, "demo", "main", &base, err));
    assert_true(base > 79.24 && base < 79.26);
    OK(mrun_store_coverage_baseline(f->st, "other-app", "main", &base, err));
    assert_true(base < 0);
}

typedef struct gc_seen {
    size_t artifacts, blobs;
    char paths[64][64];
    char blobs_seen[64][65];
} gc_seen;

static void on_gc(void *ud, const char *kind, const char *pipeline_id, const char *stage, const char *path,
                  const char *digest, uint64_t size)
{
    (void)pipeline_id, (void)stage, (void)digest, (void)size;
    gc_seen *g = ud;
    if (strcmp(kind, "artifact") == 0 && g->artifacts < 64)
        snprintf(g->paths[g->artifacts++], sizeof(g->paths[0]), "%s", path);
    else if (strcmp(kind, "blob") == 0 && g->blobs < 64)
        snprintf(g->blobs_seen[g->blobs++], sizeof(g->blobs_seen[0]), "%s", digest);
}

static bool blob_exists(fx *f, const char *digest)
{
    bool has = false;
    OK(mrun_store_blob_has(f->st, digest, &has, err));
    return has;
}

/* Retention: the newest N per app and branch keep their artifacts, old pull requests lose theirs, pinned and
 * shared blobs stay, running pipelines are never touched, a dry run changes nothing. */
static void test_gc(void **state)
{
    fx *f = *state;
    char ids[14][MRUN_STORE_ID_LEN + 1], digest[14][MRUN_STORE_DIGEST_LEN + 1], shared[MRUN_STORE_DIGEST_LEN + 1];
    OK(put_bytes(f->st, "shared", 6, NULL, shared, err));
    int64_t now = (int64_t)time(NULL) * 1000 + 60000; /* past every blob's grace period */
    for (int i = 0; i < 14; i++) {
        create(f, ids[i]);
        char sql[1024], body[32], path[32], recent[64];
        snprintf(recent, sizeof(recent), ", event='pull_request', finished_ms=%lld", (long long)now - 10);
        /* created in order; 0..11 are pushes (0 is still running), 12 an old pull request, 13 a recent one */
        snprintf(sql, sizeof(sql), "UPDATE pipelines SET created_ms=%d, state='%s', finished_ms=%d%s WHERE id='%s'",
                 1000 + i, i == 0 ? "running" : "passed", 2000 + i,
                 i == 12 ? ", event='pull_request', finished_ms=5" : i == 13 ? recent : "", ids[i]);
        exec_sql(f, sql);
        snprintf(body, sizeof(body), "artifact %d", i);
        snprintf(path, sizeof(path), "p%d.bin", i);
        OK(put_bytes(f->st, body, strlen(body), NULL, digest[i], err));
        OK(mrun_store_artifact_add(f->st, ids[i], "build", path, digest[i], strlen(body), 3000, err));
    }
    OK(mrun_store_artifact_add(f->st, ids[1], "build", "shared.bin", shared, 6, 3000, err));
    OK(mrun_store_artifact_add(f->st, ids[11], "build", "shared.bin", shared, 6, 3000, err));
    OK(mrun_store_pin(f->st, digest[2], "deploy:production", 3000, err));
    FAILS(mrun_store_pin(f->st, "nope", "x", 3000, err), EINVAL, "not a sha256");

    /* keep 9 pushes per branch: 0 is running (kept), 1 and 2 are the finished ones beyond the newest 9 */
    mrun_store_retention r = {.keep_per_branch = 9, .pr_ttl_ms = 1000, .grace_ms = 1};
    gc_seen dry = {0}, real = {0};
    mrun_store_gc_report rd, rr;
    OK(mrun_store_gc(f->st, &r, true, now, on_gc, &dry, &rd, err));
    assert_int_equal(q1(f, "SELECT count(*) FROM artifacts"), 16);
    assert_true(blob_exists(f, digest[1]));
    OK(mrun_store_gc(f->st, &r, false, now, on_gc, &real, &rr, err));
    assert_int_equal(rd.pipelines, rr.pipelines);
    assert_int_equal(rd.artifacts, rr.artifacts);
    assert_int_equal(rd.blobs, rr.blobs);
    assert_int_equal(dry.blobs, real.blobs);

    assert_int_equal(rr.pipelines, 3); /* pushes 1 and 2, the old pull request 12 */
    assert_int_equal(rr.artifacts, 3); /* p1.bin, shared.bin of 1, p12.bin; p2.bin is pinned */
    assert_int_equal(rr.blobs, 2);     /* p1's and p12's; shared.bin is still used by 11 */
    assert_false(blob_exists(f, digest[1]));
    assert_false(blob_exists(f, digest[12]));
    assert_true(blob_exists(f, digest[2]));  /* pinned */
    assert_true(blob_exists(f, shared));     /* still referenced */
    assert_true(blob_exists(f, digest[0]));  /* running */
    assert_true(blob_exists(f, digest[13])); /* recent pull request */
    assert_true(blob_exists(f, f->src));     /* sources of kept pipelines */
    assert_int_equal(q1(f, "SELECT count(*) FROM pipelines WHERE expired_ms IS NOT NULL"), 3);
    assert_int_equal(q1(f, "SELECT count(*) FROM artifacts"), 13);

    /* nothing left to do: a second run deletes nothing; unpinning lets the next run take p2.bin */
    OK(mrun_store_gc(f->st, &r, false, now, NULL, NULL, &rr, err));
    assert_int_equal(rr.artifacts + rr.blobs + rr.pipelines, 0);
    OK(mrun_store_unpin(f->st, digest[2], "deploy:production", err));
    /* the pipeline is already expired: its pinned rows stay until a later expiry; blobs follow their rows */
    assert_true(blob_exists(f, digest[2]));
    /* within the grace period nothing is deleted even when unreferenced */
    char fresh[MRUN_STORE_DIGEST_LEN + 1];
    OK(put_bytes(f->st, "fresh upload", 12, NULL, fresh, err));
    r.grace_ms = 3600 * 1000;
    OK(mrun_store_gc(f->st, &r, false, (int64_t)time(NULL) * 1000, NULL, NULL, &rr, err));
    assert_true(blob_exists(f, fresh));
}

typedef struct pv_seen {
    int n;
    char ids[8][MRUN_STORE_ID_LEN + 1];
    mrun_store_preview_state state[8];
    char addr[64];
} pv_seen;

static int on_pv(const mrun_store_preview_info *p, void *ud)
{
    pv_seen *s = ud;
    if (s->n < 8) {
        snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", p->id);
        s->state[s->n++] = p->state;
    }
    snprintf(s->addr, sizeof(s->addr), "%s", p->addr);
    return 0;
}

/* One live preview per app and ref: a newer one replaces the older in the same transaction; states only move
 * forward; the TTL sweep finds what is due. */
static void test_previews(void **state)
{
    fx *f = *state;
    char id[MRUN_STORE_ID_LEN + 1];
    create(f, id);
    const char *a = "0123456789abcdef0123456789abcdef", *b = "fedcba9876543210fedcba9876543210",
               *c = "00000000000000000000000000000001";
    mrun_store_preview_info p = {.id = a, .pipeline_id = id, .stage = "deploy", .app = "demo", .ref = "refs/pull/1",
                                 .runner_id = "r1", .created_ms = 1000, .expires_ms = 5000};
    pv_seen replaced = {0};
    OK(mrun_store_preview_create(f->st, &p, on_pv, &replaced, err));
    assert_int_equal(replaced.n, 0);
    OK(mrun_store_preview_live(f->st, a, "127.0.0.1:4000", 6000, err));
    FAILS(mrun_store_preview_live(f->st, a, "127.0.0.1:4000", 6000, err), ESTALE, "is not starting");
    /* another pull request's preview does not replace it; the same one's does */
    p.id = c, p.ref = "refs/pull/2";
    OK(mrun_store_preview_create(f->st, &p, on_pv, &replaced, err));
    assert_int_equal(replaced.n, 0);
    p.id = b, p.ref = "refs/pull/1", p.created_ms = 2000;
    OK(mrun_store_preview_create(f->st, &p, on_pv, &replaced, err));
    assert_int_equal(replaced.n, 1);
    assert_string_equal(replaced.ids[0], a);
    assert_string_equal(replaced.addr, "127.0.0.1:4000"); /* so that its runner and route can be found */
    pv_seen got = {0};
    OK(mrun_store_preview_get(f->st, a, on_pv, &got, err));
    assert_int_equal(got.state[0], MRUN_STORE_PREVIEW_STOPPED);
    FAILS(mrun_store_preview_end(f->st, a, MRUN_STORE_PREVIEW_EXPIRED, 3000, err), ESTALE, "already ended");
    FAILS(mrun_store_preview_get(f->st, "nope", on_pv, &got, err), ENOENT, "no preview");
    FAILS(mrun_store_preview_extend(f->st, a, 9000, err), ESTALE, "is not live");
    /* due: b (expires 5000) and c (5000) at 5000, not before */
    pv_seen due = {0};
    OK(mrun_store_preview_due(f->st, 4999, on_pv, &due, err));
    assert_int_equal(due.n, 0);
    OK(mrun_store_preview_extend(f->st, c, 8000, err));
    OK(mrun_store_preview_due(f->st, 5000, on_pv, &due, err));
    assert_int_equal(due.n, 1);
    assert_string_equal(due.ids[0], b);
    OK(mrun_store_preview_end(f->st, b, MRUN_STORE_PREVIEW_EXPIRED, 5000, err));
    FAILS(mrun_store_preview_end(f->st, c, MRUN_STORE_PREVIEW_LIVE, 5000, err), EINVAL, "not an end state");
    OK(mrun_store_preview_stats(f->st, c, 1500, 1 << 20, err));
    OK(mrun_store_preview_stats(f->st, c, 1000, 1 << 10, err)); /* figures never go down */
    assert_int_equal(q1(f, "SELECT sandbox_ms FROM previews WHERE id='00000000000000000000000000000001'"), 1500);
    pv_seen live = {0}, all = {0};
    OK(mrun_store_preview_list(f->st, true, 10, on_pv, &live, err));
    OK(mrun_store_preview_list(f->st, false, 10, on_pv, &all, err));
    assert_int_equal(live.n, 1);
    assert_string_equal(live.ids[0], c);
    assert_int_equal(all.n, 3);
    p.id = "short";
    FAILS(mrun_store_preview_create(f->st, &p, NULL, NULL, err), EINVAL, "is not an id");
}

typedef struct log_seen {
    char text[256];
    size_t len;
    int n;
    uint64_t first_offset;
    int seqs[16];
} log_seen;

static int on_log(const mrun_store_log_chunk *c, void *ud)
{
    log_seen *v = ud;
    if (v->n == 0)
        v->first_offset = c->offset;
    assert_true(v->len + c->len < sizeof(v->text));
    memcpy(v->text + v->len, c->data, c->len);
    v->len += c->len;
    v->text[v->len] = '\0';
    if (v->n < 16)
        v->seqs[v->n] = (int)c->seq;
    v->n++;
    return 0;
}

static void test_logs(void **state)
{
    fx *f = *state;
    char id[MRUN_STORE_ID_LEN + 1];
    create(f, id);
    mrun_store_runner_info r = {"r1", "one", "", 1, 0, true};
    OK(mrun_store_runner_upsert(f->st, &r, err));
    mrun_store_lease l;
    OK(mrun_store_lease_create(f->st, id, "build", "r1", 0, 10000, &l, err));
    OK(mrun_store_log_append(f->st, l.id, 1, 1, "bbb", 3, err)); /* arrives before seq 0 */
    OK(mrun_store_log_append(f->st, l.id, 0, 2, "aa", 2, err));
    OK(mrun_store_log_append(f->st, l.id, 0, 1, "XX", 2, err)); /* a resend of seq 0: ignored */
    OK(mrun_store_log_append(f->st, l.id, 2, 1, "cccc", 4, err));
    OK(mrun_store_log_append(f->st, l.id, 4, 1, "ee", 2, err)); /* seq 3 still missing */
    assert_int_equal(q1(f, "SELECT count(*) FROM log_chunks"), 4);

    log_seen v = {0};
    uint64_t next = 0;
    OK(mrun_store_log_read(f->st, id, "build", 0, on_log, &v, &next, err));
    assert_string_equal(v.text, "aabbbcccc"); /* ordered by seq; stops at the gap of an active lease */
    assert_int_equal(next, 9);
    log_seen mid = {0};
    OK(mrun_store_log_read(f->st, id, "build", 3, on_log, &mid, &next, err));
    assert_string_equal(mid.text, "bbcccc");
    assert_int_equal(mid.first_offset, 3);
    OK(mrun_store_log_append(f->st, l.id, 3, 1, "d", 1, err));
    log_seen tail = {0};
    OK(mrun_store_log_read(f->st, id, "build", next, on_log, &tail, &next, err));
    assert_string_equal(tail.text, "dee");
    assert_int_equal(next, 12);

    FAILS(mrun_store_log_append(f->st, "nolease", 0, 1, "x", 1, err), ENOENT, "no lease");
    FAILS(mrun_store_log_append(f->st, l.id, 9, 4, "x", 1, err), EINVAL, "stream");
    OK(mrun_store_log_append(f->st, l.id, 5, 1, "", 0, err)); /* empty chunks are fine and invisible */
    log_seen all = {0};
    OK(mrun_store_log_read(f->st, id, "build", 0, on_log, &all, NULL, err));
    assert_string_equal(all.text, "aabbbcccc"
                                  "dee");
}

static size_t count_entries(int dirfd_)
{
    int fd = dup(dirfd_);
    DIR *d = fdopendir(fd);
    size_t n = 0;
    struct dirent *de;
    rewinddir(d);
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void test_blobs(void **state)
{
    fx *f = *state;
    static const char data[] = "hello, blob store";
    /* sha256("hello, blob store") computed by OpenSSL here, so the test checks naming, not the hash. */
    unsigned char md[SHA256_DIGEST_LENGTH];
    char want[65];
    SHA256((const unsigned char *)data, strlen(data), md);
    for (int i = 0; i < 32; i++)
        snprintf(want + 2 * i, 3, "%02x", md[i]);

    bool has = true;
    OK(mrun_store_blob_has(f->st, want, &has, err));
    assert_false(has);
    char digest[65];
    OK(put_bytes(f->st, data, strlen(data), want, digest, err));
    assert_string_equal(digest, want);
    OK(mrun_store_blob_has(f->st, want, &has, err));
    assert_true(has);

    char path[256];
    snprintf(path, sizeof(path), "%s/blobs/%.2s/%s", f->dir, want, want + 2);
    struct stat before, after;
    assert_int_equal(stat(path, &before), 0);

    int fd = -1;
    uint64_t size = 0;
    OK(mrun_store_blob_get(f->st, want, &fd, &size, err));
    assert_int_equal(size, strlen(data));
    char buf[64] = {0};
    assert_int_equal(read(fd, buf, sizeof(buf)), (ssize_t)strlen(data));
    close(fd);
    assert_string_equal(buf, data);

    /* Same bytes again: the same name, the same file. */
    OK(put_bytes(f->st, data, strlen(data), NULL, digest, err));
    assert_string_equal(digest, want);
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);

    /* Other bytes claiming that digest: refused, and the stored blob is untouched. */
    FAILS(put_bytes(f->st, "evil", 4, want, digest, err), EINVAL, "digest mismatch");
    OK(mrun_store_blob_get(f->st, want, &fd, &size, err));
    close(fd);
    assert_int_equal(size, strlen(data));

    FAILS(mrun_store_blob_get(f->st, "../../etc/passwd", &fd, &size, err), EINVAL, "bad digest");
    FAILS(
        mrun_store_blob_get(f->st, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &fd, &size, err),
        ENOENT, "No such file");
    mrun_store_blob_writer *w = NULL;
    OK(mrun_store_blob_put_init(f->st, &w, err));
    OK(mrun_store_blob_put_update(w, "abandoned", 9, err));
    mrun_store_blob_writer_free(w);

    /* No temp files left behind: blobs/ holds only fan-out directories (the source blob's and this one's). */
    char bdir[128];
    snprintf(bdir, sizeof(bdir), "%s/blobs", f->dir);
    int bfd = open(bdir, O_RDONLY | O_DIRECTORY);
    size_t n = count_entries(bfd);
    close(bfd);
    assert_int_equal(n, want[0] == f->src[0] && want[1] == f->src[1] ? 1 : 2);
}

static void test_tokens(void **state)
{
    fx *f = *state;
    char tok[MRUN_STORE_TOKEN_LEN + 1];
    OK(mrun_store_token_create(f->st, "admin", 1, tok, err));
    assert_int_equal(strlen(tok), 64);
    char tok2[MRUN_STORE_TOKEN_LEN + 1];
    OK(mrun_store_token_create(f->st, "runner", 1, tok2, err));
    assert_string_not_equal(tok, tok2);

    mrun_autofree char *role = NULL;
    OK(mrun_store_token_check(f->st, tok, &role, err));
    assert_string_equal(role, "admin");
    mrun_autofree char *role2 = NULL;
    OK(mrun_store_token_check(f->st, tok2, &role2, err));
    assert_string_equal(role2, "runner");

    char wrong[MRUN_STORE_TOKEN_LEN + 1];
    memcpy(wrong, tok, sizeof(wrong));
    wrong[10] = wrong[10] == 'a' ? 'b' : 'a';
    char *r = NULL;
    FAILS(mrun_store_token_check(f->st, wrong, &r, err), EPERM, "unknown");
    FAILS(mrun_store_token_check(f->st, "short", &r, err), EPERM, "malformed");
    assert_null(r);
    FAILS(mrun_store_token_create(f->st, "Admin!", 1, wrong, err), EINVAL, "bad role");

    /* Only the hash is stored: no column holds the token, and neither does any byte of the files. */
    assert_int_equal(q1(f, "SELECT count(*) FROM tokens WHERE length(hash)=32"), 2);
    char sql[512];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM tokens WHERE id='%s' OR role='%s' OR hash='%s'", tok, tok, tok);
    assert_int_equal(q1(f, sql), 0);
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)tok, 64, md);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02X", md[i]);
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM tokens WHERE hash=x'%s' AND role='admin'", hex);
    assert_int_equal(q1(f, sql), 1);
    const char *files[] = {"mrun.db", "mrun.db-wal"};
    for (size_t i = 0; i < 2; i++) {
        char path[128];
        snprintf(path, sizeof(path), "%s/%s", f->dir, files[i]);
        int fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        static char content[1 << 22];
        ssize_t n = read(fd, content, sizeof(content));
        close(fd);
        assert_true(n >= 0);
        assert_null(memmem(content, (size_t)n, tok, 64));
    }
}

static void test_recover(void **state)
{
    fx *f = *state;
    char id[MRUN_STORE_ID_LEN + 1];
    create(f, id);
    mrun_store_runner_info r1 = {"r1", "one", "linux", 1, 0, true};
    OK(mrun_store_runner_upsert(f->st, &r1, err));

    mrun_store_lease l;
    size_t n = 99;
    for (int round = 1; round <= 3; round++) {
        int64_t t = round * 10000;
        OK(mrun_store_lease_create(f->st, id, "build", "r1", t, 1000, &l, err));
        assert_int_equal(l.attempt, round);
        OK(mrun_store_recover(f->st, t + 500, &n, err)); /* not expired yet */
        assert_int_equal(n, 0);
        if (round == 2) { /* recovery at startup: a fresh connection sees the same state */
            mrun_store_close(f->st);
            f->st = NULL;
            OK(mrun_store_open(f->dir, &f->st, err));
        }
        OK(mrun_store_recover(f->st, t + 1000, &n, err));
        assert_int_equal(n, 1);
        mrun_store_stage_info b = stage(f, id, "build");
        assert_int_equal(b.state, MRUN_STORE_STAGE_READY);
        assert_int_equal(b.infra_retries, round);
        assert_int_equal(b.retries_used, 0); /* the stage's own retries are untouched */
        mrun_store_stage_state ns;
        FAILS(mrun_store_lease_finish(f->st, l.id, round, true, 0, t + 1001, &ns, err), ESTALE, "is expired");
    }
    /* A gone runner loses its lease before expiry; this is the 4th loss, so the stage fails. */
    OK(mrun_store_lease_create(f->st, id, "build", "r1", 50000, 100000, &l, err));
    r1.online = false;
    OK(mrun_store_runner_upsert(f->st, &r1, err));
    OK(mrun_store_recover(f->st, 50001, &n, err));
    assert_int_equal(n, 1);
    mrun_store_stage_info b = stage(f, id, "build");
    assert_int_equal(b.state, MRUN_STORE_STAGE_FAILED);
    assert_int_equal(b.infra_retries, MRUN_STORE_INFRA_RETRIES);
    assert_int_equal(q1(f, "SELECT count(*) FROM leases WHERE state='expired'"), 4);
    OK(mrun_store_recover(f->st, 99999999, &n, err));
    assert_int_equal(n, 0);
}

typedef struct exp_seen {
    int n;
    char id[MRUN_STORE_ID_LEN + 1];
} exp_seen;

static int on_exp(const mrun_store_lease_info *l, void *ud)
{
    exp_seen *v = ud;
    v->n++;
    snprintf(v->id, sizeof(v->id), "%s", l->id);
    return 0;
}

static void test_expired_list_and_misc(void **state)
{
    fx *f = *state;
    char id[MRUN_STORE_ID_LEN + 1];
    create(f, id);
    mrun_store_runner_info r1 = {"r1", "one", "linux", 1, 0, true};
    OK(mrun_store_runner_upsert(f->st, &r1, err));
    mrun_store_lease l;
    OK(mrun_store_lease_create(f->st, id, "build", "r1", 0, 1000, &l, err));
    exp_seen v = {0};
    OK(mrun_store_lease_expired_list(f->st, 999, on_exp, &v, err));
    assert_int_equal(v.n, 0);
    OK(mrun_store_lease_expired_list(f->st, 1000, on_exp, &v, err));
    assert_int_equal(v.n, 1);
    assert_string_equal(v.id, l.id);

    /* Artifacts need their blob, with the right size; the same path cannot change digest. */
    char d[65], d2[65];
    OK(put_bytes(f->st, "artifact", 8, NULL, d, err));
    OK(put_bytes(f->st, "other", 5, NULL, d2, err));
    OK(mrun_store_artifact_add(f->st, id, "build", "dist/app", d, 8, 5, err));
    OK(mrun_store_artifact_add(f->st, id, "build", "dist/app", d, 8, 6, err));
    FAILS(mrun_store_artifact_add(f->st, id, "build", "dist/app", d2, 5, 6, err), ESTALE, "already stored");
    FAILS(mrun_store_artifact_add(f->st, id, "build", "dist/x", d, 9, 6, err), EINVAL, "has 8 bytes");
    assert_int_equal(q1(f, "SELECT count(*) FROM artifacts"), 1);

    /* Secrets round-trip (stored as-is). */
    char *val = NULL;
    FAILS(mrun_store_secret_get(f->st, "PYPI_TOKEN", &val, err), ENOENT, "not set");
    OK(mrun_store_secret_set(f->st, "PYPI_TOKEN", "s3cr3t", 1, err));
    OK(mrun_store_secret_set(f->st, "PYPI_TOKEN", "s3cr3t2", 2, err));
    OK(mrun_store_secret_get(f->st, "PYPI_TOKEN", &val, err));
    assert_string_equal(val, "s3cr3t2");
    free(val);
    FAILS(mrun_store_secret_set(f->st, "bad-name", "x", 1, err), EINVAL, "bad name");
}

/* ---- crash safety ---- */

static uint32_t xorshift(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void child_loop(const char *dir, int wfd)
{
    mrun_store *st = NULL;
    mrun_pipeline *pl = NULL;
    mrun_err e = MRUN_ERR_INIT;
    mrun_pipeline_limits lim = MRUN_PIPELINE_LIMITS_DEFAULT;
    char src[65];
    if (mrun_store_open(dir, &st, &e) < 0 ||
        mrun_pipeline_parse("p.yml", (const uint8_t *)yaml, strlen(yaml), &lim, uses, &pl, &e) < 0 ||
        put_bytes(st, "source archive", 14, NULL, src, &e) < 0)
        _exit(2);
    mrun_store_submit sub = {.event = "push", .source_digest = src, .yaml = yaml, .yaml_len = strlen(yaml)};
    for (int i = 0; i < 100000; i++) {
        char id[MRUN_STORE_ID_LEN + 1];
        sub.now_ms = i;
        if (mrun_store_pipeline_create(st, pl, &sub, id, &e) < 0)
            _exit(3);
        if (write(wfd, id, sizeof(id)) != (ssize_t)sizeof(id)) /* atomic: under PIPE_BUF */
            _exit(4);
    }
    _exit(0);
}

static void test_crash_safety(void **state)
{
    fx *f = *state;
    mrun_store_close(f->st); /* no connection may cross the fork */
    f->st = NULL;
    uint32_t seed = 0x5eed1234u;
    size_t total = 0;
    for (int round = 0; round < 4; round++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(p[0]);
            child_loop(f->dir, p[1]);
        }
        close(p[1]);
        static char ids[200000][MRUN_STORE_ID_LEN + 1];
        size_t n = 0;
        /* Wait for the first commit, then kill at a pseudo-random moment 0-50 ms later. */
        assert_int_equal(read(p[0], ids[n], sizeof(ids[0])), (ssize_t)sizeof(ids[0]));
        n++;
        struct timespec ts = {0, (long)(xorshift(&seed) % 50000) * 1000};
        nanosleep(&ts, NULL);
        assert_int_equal(kill(pid, SIGKILL), 0);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        ssize_t got;
        while (n < 200000 && (got = read(p[0], ids[n], sizeof(ids[0]))) == (ssize_t)sizeof(ids[0]))
            n++;
        close(p[0]);

        OK(mrun_store_open(f->dir, &f->st, err)); /* recovery of the WAL happens here */
        for (size_t i = 0; i < n; i++) {
            char sql[160];
            snprintf(sql, sizeof(sql), "SELECT count(*) FROM stages WHERE pipeline_id='%.*s'", (int)MRUN_STORE_ID_LEN, ids[i]);
            if (q1(f, sql) != 3)
                fail_msg("round %d: pipeline %zu of %zu (%s) is missing or incomplete", round, i, n, ids[i]);
            pl_seen pv = pipeline(f, ids[i]);
            assert_int_equal(pv.n, 1);
        }
        /* And nothing half-done exists: every pipeline row has all its stages and needs. */
        assert_int_equal(q1(f, "SELECT count(*) FROM pipelines p WHERE (SELECT count(*) FROM stages s"
                               " WHERE s.pipeline_id=p.id) != 3 OR (SELECT count(*) FROM stage_needs n"
                               " WHERE n.pipeline_id=p.id) != 3"),
                         0);
        assert_int_equal(q1(f, "SELECT count(*) FROM pipelines") >= (int64_t)(total + n), 1);
        total = (size_t)q1(f, "SELECT count(*) FROM pipelines");
        assert_int_equal(q1(f, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check != 'ok'"), 0);
        mrun_store_close(f->st);
        f->st = NULL;
    }
    print_message("crash test: %zu pipelines committed over 4 kills\n", total);
    OK(mrun_store_open(f->dir, &f->st, err));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pragmas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pipeline_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_is_atomic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stage_cas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_race, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_lifecycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coverage_baseline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_previews, setup, teardown),
        cmocka_unit_test_setup_teardown(test_logs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired_list_and_misc, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_safety, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
