/* coord_work.c - what the coordinator does with each message, on its worker thread: runners, leases under the
 * DAG, logs, source blobs, artifact uploads, results; plus reconciling stage states with `if:` and the tick that
 * answers parked long polls and requeues the stages of silent runners. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "../common/auto.h"
#include "../common/codec.h"
#include "../common/log.h"
#include "../stages/stages.h"
#include "coord_int.h"

#define LOG "coordinator"

static void copy(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src ? src : "");
}

/* ---- runners ---- */

static runner_rec *runner_find(mrun_coord *c, const char *id)
{
    for (size_t i = 0; i < c->n_runners; i++)
        if (strcmp(c->runners[i].id, id) == 0)
            return &c->runners[i];
    return NULL;
}

static void on_register(mrun_coord *c, work *w, const mrun_msg_register *r)
{
    if (!c->cfg.open_registration) {
        mrun_err err = MRUN_ERR_INIT;
        mrun_autofree char *role = NULL;
        if (mrun_store_token_check(c->st, r->token, &role, &err) < 0 ||
            (strcmp(role, "runner") != 0 && strcmp(role, "admin") != 0)) {
            mrun_log(MRUN_LOG_WARN, LOG, "runner '%.64s' refused: bad token", r->runner_name);
            coord_reply_error(w, MRUN_PERR_BAD_TOKEN, "the runner token is not valid");
            return;
        }
    }
    if (c->n_runners >= COORD_MAX_RUNNERS) {
        coord_reply_error(w, MRUN_PERR_INTERNAL, "too many runners");
        return;
    }
    runner_rec *rr = &c->runners[c->n_runners];
    memset(rr, 0, sizeof(*rr));
    uint8_t rnd[12];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        coord_reply_error(w, MRUN_PERR_INTERNAL, "no randomness");
        return;
    }
    mrun_hex_encode(rnd, sizeof(rnd), rr->id);
    copy(rr->name, sizeof(rr->name), r->runner_name);
    char labels[1100] = "";
    size_t off = 0;
    for (size_t i = 0; i < r->labels.n && i < 16; i++) {
        copy(rr->labels[i], sizeof(rr->labels[i]), r->labels.v[i]);
        rr->n_labels++;
        off += (size_t)snprintf(labels + off, sizeof(labels) - off, "%s%s", i ? " " : "", rr->labels[i]);
        if (off >= sizeof(labels))
            break;
    }
    rr->slots = (int)r->slots;
    rr->last_seen_ms = coord_wall_ms();
    mrun_err err = MRUN_ERR_INIT;
    mrun_store_runner_info info = {.id = rr->id, .name = rr->name, .labels = labels, .slots = rr->slots,
                                   .last_seen_ms = rr->last_seen_ms, .online = true};
    if (mrun_store_runner_upsert(c->st, &info, &err) < 0) {
        mrun_log(MRUN_LOG_ERROR, LOG, "register: %s", err.msg);
        coord_reply_error(w, MRUN_PERR_INTERNAL, "could not record the runner");
        return;
    }
    c->n_runners++;
    mrun_log(MRUN_LOG_INFO, LOG, "runner '%s' joined as %s (%d slots, labels '%s')", rr->name, rr->id, rr->slots,
             labels);
    mrun_msg rep;
    mrun_msg_init(&rep, MRUN_MSG_REGISTER_OK);
    rep.reg_ok.runner_id = rr->id;
    rep.reg_ok.heartbeat_ms = (uint32_t)c->cfg.heartbeat_ms;
    rep.reg_ok.lease_timeout_ms = (uint32_t)c->cfg.lease_timeout_ms;
    coord_reply(w, &rep);
}

static void touch_runner(mrun_coord *c, runner_rec *rr)
{
    rr->last_seen_ms = coord_wall_ms();
    mrun_err err = MRUN_ERR_INIT;
    mrun_store_runner_info info = {.id = rr->id, .name = rr->name, .labels = "", .slots = rr->slots,
                                   .last_seen_ms = rr->last_seen_ms, .online = true};
    char labels[1100] = "";
    size_t off = 0;
    for (size_t i = 0; i < rr->n_labels && off < sizeof(labels); i++)
        off += (size_t)snprintf(labels + off, sizeof(labels) - off, "%s%s", i ? " " : "", rr->labels[i]);
    info.labels = labels;
    if (mrun_store_runner_upsert(c->st, &info, &err) < 0)
        mrun_log(MRUN_LOG_WARN, LOG, "runner %s: %s", rr->id, err.msg);
}

/* ---- pipelines ---- */

typedef struct pinfo_copy {
    pl_cached *slot;
    char *yaml;
} pinfo_copy;

static int copy_pinfo(const mrun_store_pipeline_info *p, void *ud)
{
    pinfo_copy *pc = ud;
    copy(pc->slot->event, sizeof(pc->slot->event), p->event);
    copy(pc->slot->ref, sizeof(pc->slot->ref), p->ref);
    copy(pc->slot->branch, sizeof(pc->slot->branch), p->branch);
    copy(pc->slot->source_digest, sizeof(pc->slot->source_digest), p->source_digest);
    pc->slot->created_ms = p->created_ms;
    pc->yaml = p->yaml ? strdup(p->yaml) : NULL;
    return 0;
}

static void cache_drop(pl_cached *pc)
{
    mrun_sched_free(pc->sched);
    mrun_pipeline_free(pc->pl);
    memset(pc, 0, sizeof(*pc));
}

/* The parsed pipeline with its compiled `if:`s, from the cache or parsed again from the stored file. */
pl_cached *coord_pipeline_load(mrun_coord *c, const char *id)
{
    pl_cached *victim = &c->cache[0];
    for (size_t i = 0; i < COORD_MAX_CACHE; i++) {
        pl_cached *pc = &c->cache[i];
        if (pc->pl && strcmp(pc->id, id) == 0) {
            pc->used = ++c->clock;
            return pc;
        }
        if (!pc->pl || pc->used < victim->used)
            victim = pc;
    }
    cache_drop(victim);
    mrun_err err = MRUN_ERR_INIT;
    pinfo_copy cp = {.slot = victim};
    if (mrun_store_pipeline_get(c->st, id, copy_pinfo, &cp, &err) < 0 || !cp.yaml) {
        mrun_log(MRUN_LOG_ERROR, LOG, "pipeline %s: %s", id, err.msg);
        free(cp.yaml);
        return NULL;
    }
    mrun_pipeline_limits lim = MRUN_PIPELINE_LIMITS_DEFAULT;
    int r = mrun_pipeline_parse("pipeline.yml", (const uint8_t *)cp.yaml, strlen(cp.yaml), &lim, mrun_stages_names(),
                                &victim->pl, &err);
    free(cp.yaml);
    if (r < 0 || mrun_sched_new(victim->pl, "pipeline.yml", &victim->sched, &err) < 0) {
        mrun_log(MRUN_LOG_ERROR, LOG, "pipeline %s no longer parses: %s", id, err.msg);
        cache_drop(victim);
        return NULL;
    }
    copy(victim->id, sizeof(victim->id), id);
    victim->used = ++c->clock;
    return victim;
}

/* ---- reconcile: waiting stages whose needs finished become ready or skipped, by their `if:` ---- */

typedef struct stage_rows {
    char names[256][128];
    mrun_store_stage_state st[256];
    int attempt[256];
    size_t n;
} stage_rows;

static int collect_stage(const mrun_store_stage_info *s, void *ud)
{
    stage_rows *rows = ud;
    if (rows->n >= 256)
        return 1;
    copy(rows->names[rows->n], sizeof(rows->names[0]), s->name);
    rows->st[rows->n] = s->state;
    rows->attempt[rows->n] = s->attempt;
    rows->n++;
    return 0;
}

/* The store and the scheduler name the same states; they are kept in the same order (static checks below). */
_Static_assert((int)MRUN_STORE_STAGE_WAITING == (int)MRUN_STAGE_WAITING, "stage states");
_Static_assert((int)MRUN_STORE_STAGE_READY == (int)MRUN_STAGE_READY, "stage states");
_Static_assert((int)MRUN_STORE_STAGE_RUNNING == (int)MRUN_STAGE_RUNNING, "stage states");
_Static_assert((int)MRUN_STORE_STAGE_PASSED == (int)MRUN_STAGE_PASSED, "stage states");
_Static_assert((int)MRUN_STORE_STAGE_FAILED == (int)MRUN_STAGE_FAILED, "stage states");
_Static_assert((int)MRUN_STORE_STAGE_SKIPPED == (int)MRUN_STAGE_SKIPPED, "stage states");
_Static_assert((int)MRUN_STORE_STAGE_CANCELLED == (int)MRUN_STAGE_CANCELLED, "stage states");

void coord_reconcile(mrun_coord *c, const char *pipeline_id)
{
    pl_cached *pc = coord_pipeline_load(c, pipeline_id);
    if (!pc)
        return;
    stage_rows *rows = calloc(1, sizeof(*rows));
    if (!rows)
        return;
    mrun_err err = MRUN_ERR_INIT;
    if (mrun_store_stage_list(c->st, pipeline_id, -1, collect_stage, rows, &err) < 0) {
        mrun_log(MRUN_LOG_ERROR, LOG, "pipeline %s: %s", pipeline_id, err.msg);
        free(rows);
        return;
    }
    size_t n = mrun_pipeline_stage_count(pc->pl);
    mrun_stage_state cur[256], want[256];
    for (size_t i = 0; i < n && i < 256; i++) {
        long k = -1;
        for (size_t j = 0; j < rows->n; j++)
            if (strcmp(rows->names[j], mrun_pipeline_stage_at(pc->pl, i)->name) == 0)
                k = (long)j;
        cur[i] = k < 0 ? MRUN_STAGE_WAITING : (mrun_stage_state)rows->st[k];
        /* a ready stage that was never leased has not had its `if:` looked at yet */
        want[i] = (k >= 0 && cur[i] == MRUN_STAGE_READY && rows->attempt[k] == 0) ? MRUN_STAGE_WAITING : cur[i];
    }
    mrun_sched_event ev = {.event = pc->event, .ref = pc->ref, .branch = pc->branch};
    mrun_sched_advance(pc->sched, &ev, want);
    for (size_t i = 0; i < n && i < 256; i++) {
        if (want[i] == cur[i])
            continue;
        const char *name = mrun_pipeline_stage_at(pc->pl, i)->name;
        if (mrun_store_stage_set_state(c->st, pipeline_id, name, (mrun_store_stage_state)cur[i],
                                       (mrun_store_stage_state)want[i], coord_wall_ms(), &err) < 0)
            mrun_log(MRUN_LOG_WARN, LOG, "pipeline %s stage '%s': %s", pipeline_id, name, err.msg);
        else if (want[i] == MRUN_STAGE_SKIPPED)
            mrun_log(MRUN_LOG_INFO, LOG, "pipeline %s stage '%s' skipped", pipeline_id, name);
    }
    free(rows);
}

typedef struct id_list {
    char ids[256][MRUN_STORE_ID_LEN + 1];
    size_t n;
} id_list;

static int collect_open(const mrun_store_pipeline_info *p, void *ud)
{
    id_list *l = ud;
    if (p->state != MRUN_STORE_PIPELINE_QUEUED && p->state != MRUN_STORE_PIPELINE_RUNNING)
        return 0;
    if (l->n < 256)
        copy(l->ids[l->n++], sizeof(l->ids[0]), p->id);
    return 0;
}

void coord_reconcile_all(mrun_coord *c)
{
    id_list *l = calloc(1, sizeof(*l));
    if (!l)
        return;
    mrun_err err = MRUN_ERR_INIT;
    if (mrun_store_pipeline_list(c->st, -1, 256, collect_open, l, &err) < 0)
        mrun_log(MRUN_LOG_ERROR, LOG, "list pipelines: %s", err.msg);
    for (size_t i = 0; i < l->n; i++)
        coord_reconcile(c, l->ids[i]);
    free(l);
}

/* ---- leases ---- */

typedef struct ready_list {
    char pid[64][MRUN_STORE_ID_LEN + 1];
    char stage[64][128];
    int attempt[64];
    size_t n;
} ready_list;

static int collect_ready(const mrun_store_stage_info *s, void *ud)
{
    ready_list *l = ud;
    if (l->n >= 64)
        return 1;
    copy(l->pid[l->n], sizeof(l->pid[0]), s->pipeline_id);
    copy(l->stage[l->n], sizeof(l->stage[0]), s->name);
    l->attempt[l->n] = s->attempt;
    l->n++;
    return 0;
}

/* A step's name on the wire: its first line, cut at a UTF-8 boundary to fit the protocol's name limit (a step
 * without a name is named by its whole, possibly long, script). */
static void short_name(const char *name, char *out, size_t cap)
{
    size_t n = strcspn(name, "\r\n");
    bool cut = name[n] != '\0';
    if (n > cap - 5) {
        n = cap - 5;
        while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80)
            n--;
        cut = true;
    }
    memcpy(out, name, n);
    if (cut) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    if (n == 0)
        snprintf(out, cap, "step");
}

/* Fills m (borrowing from pc and the arrays given) as the lease for stage st of pc. */
typedef struct lease_build {
    char names[256][MRUN_PROTO_MAX_NAME];
    mrun_input inputs[256];
    char input_strs[256][2][1024];
    size_t n_inputs;
    const mrun_pipeline_stage *stage; /* while collecting inputs */
    const mrun_pipeline *pl;
    mrun_step steps[256];
    mrun_kv with[256][32];
    mrun_env_var env[256];
    char *secret_values[64];
    size_t n_secret_values;
    char coverage_baseline[32];
    char preview_id[MRUN_STORE_ID_LEN + 1];
    coord_pv_artifact pv_art;
} lease_build;

static int collect_input(const mrun_store_artifact_info *a, void *ud)
{
    lease_build *b = ud;
    bool needed = false;
    for (size_t k = 0; k < b->stage->n_needs && !needed; k++)
        needed = strcmp(mrun_pipeline_stage_at(b->pl, b->stage->needs[k])->name, a->stage) == 0;
    size_t sl = strlen(a->stage);
    bool bundle = strncmp(a->path, a->stage, sl) == 0 && strcmp(a->path + sl, ".tar.gz") == 0;
    if (!needed || b->n_inputs >= 256 || strncmp(a->path, ".mrun/", 6) == 0 || bundle)
        return 0; /* .mrun/attestations/ are the coordinator's, STAGE.tar.gz repeats the files: not inputs */
    size_t i = b->n_inputs++;
    snprintf(b->input_strs[i][0], sizeof(b->input_strs[i][0]), "%s", a->stage);
    snprintf(b->input_strs[i][1], sizeof(b->input_strs[i][1]), "%s", a->path);
    b->inputs[i].stage = b->input_strs[i][0];
    b->inputs[i].path = b->input_strs[i][1];
    snprintf(b->inputs[i].digest, sizeof(b->inputs[i].digest), "%s", a->digest);
    return 0;
}

static void build_lease(mrun_coord *c, pl_cached *pc, const mrun_pipeline_stage *st, const mrun_store_lease *lease,
                        const char *stage_name, const char *runner_id, lease_build *b, mrun_msg *m)
{
    mrun_msg_init(m, MRUN_MSG_LEASE);
    m->lease.lease_id = (char *)lease->id;
    m->lease.pipeline_id = pc->id;
    m->lease.stage_name = (char *)stage_name;
    m->lease.attempt = (uint32_t)lease->attempt;
    copy(m->lease.source_digest, sizeof(m->lease.source_digest), pc->source_digest);
    size_t ns = st->n_steps < 256 ? st->n_steps : 256;
    for (size_t i = 0; i < ns; i++) {
        const mrun_pipeline_step *ps = &st->steps[i];
        short_name(ps->name, b->names[i], sizeof(b->names[i]));
        b->steps[i] = (mrun_step){.name = b->names[i], .run = (char *)ps->run, .uses = (char *)ps->uses,
                                  .continue_on_error = ps->continue_on_error};
        size_t nw = ps->n_with < 32 ? ps->n_with : 32;
        for (size_t k = 0; k < nw; k++)
            b->with[i][k] = (mrun_kv){.key = (char *)ps->with[k].key, .value = (char *)ps->with[k].value};
        b->steps[i].with = (mrun_kvv){.v = b->with[i], .n = nw};
    }
    m->lease.steps = (mrun_stepv){.v = b->steps, .n = ns};
    /* env: the pipeline's, then the stage's on top, then the secrets the stage asked for */
    size_t ne = 0, n_top = 0;
    const mrun_pipeline_kv *top = mrun_pipeline_env(pc->pl, &n_top);
    for (size_t i = 0; i < n_top && ne < 200; i++)
        b->env[ne++] = (mrun_env_var){.name = (char *)top[i].key, .value = (char *)top[i].value};
    for (size_t i = 0; i < st->n_env && ne < 200; i++) {
        size_t k = 0;
        while (k < ne && strcmp(b->env[k].name, st->env[i].key) != 0)
            k++;
        b->env[k] = (mrun_env_var){.name = (char *)st->env[i].key, .value = (char *)st->env[i].value};
        if (k == ne)
            ne++;
    }
    for (size_t i = 0; i < st->n_secrets && ne < 256 && b->n_secret_values < 64; i++) {
        mrun_err err = MRUN_ERR_INIT;
        char *value = NULL;
        if (mrun_store_secret_get(c->st, st->secrets[i], &value, &err) < 0) {
            mrun_log(MRUN_LOG_WARN, LOG, "stage '%s': secret %s is not set", stage_name, st->secrets[i]);
            continue;
        }
        b->secret_values[b->n_secret_values++] = value;
        b->env[ne++] = (mrun_env_var){.name = (char *)st->secrets[i], .value = value, .secret = true};
    }
    m->lease.env = (mrun_envv){.v = b->env, .n = ne};
    const mrun_pipeline_res *r = &st->limits;
    m->lease.limits = (mrun_stage_limits){
        .mem_bytes = r->memory_set ? (uint64_t)r->memory_bytes : 0,
        .pids = r->pids_set ? (uint32_t)r->pids : 0,
        .cpu_milli = r->cpus_set ? (uint32_t)r->cpus_milli : 0,
        .timeout_ms = r->timeout_set ? (uint64_t)r->timeout_ms : 0,
    };
    m->lease.artifacts = (mrun_strv){.v = (char **)st->artifacts, .n = st->n_artifacts};
    /* the artifacts of the stages this one needs go into its workspace */
    b->stage = st;
    b->pl = pc->pl;
    mrun_err err = MRUN_ERR_INIT;
    if (mrun_store_artifact_list(c->st, pc->id, collect_input, b, &err) < 0)
        mrun_log(MRUN_LOG_WARN, LOG, "stage '%s': artifacts of its needs: %s", stage_name, err.msg);
    m->lease.inputs = (mrun_inputv){.v = b->inputs, .n = b->n_inputs};
    /* coverage-gate's no-drop compares with the app's default-branch baseline */
    double base = -1;
    if (mrun_store_coverage_baseline(c->st, mrun_pipeline_name(pc->pl), c->cfg.default_branch, &base, &err) < 0)
        mrun_log(MRUN_LOG_WARN, LOG, "stage '%s': %s", stage_name, err.msg);
    if (base >= 0) {
        snprintf(b->coverage_baseline, sizeof(b->coverage_baseline), "%.4f", base);
        m->lease.coverage_baseline = b->coverage_baseline;
    }
    coord_preview_lease(c, pc, st, stage_name, runner_id, b->preview_id);
    if (b->preview_id[0]) {
        m->lease.preview_id = b->preview_id;
        coord_preview_artifact(c, pc, st, b->inputs, b->n_inputs, &b->pv_art);
        m->lease.preview_artifact_sha256 = b->pv_art.sha256[0] ? b->pv_art.sha256 : NULL;
        m->lease.preview_artifact_error = b->pv_art.error[0] ? b->pv_art.error : NULL;
        m->lease.preview_require_signed = b->pv_art.require;
    }
}

typedef struct need_times {
    const mrun_pipeline_stage *st;
    const mrun_pipeline *pl;
    int64_t ready_ms;
} need_times;

static int max_need_finish(const mrun_store_stage_info *s, void *ud)
{
    need_times *nt = ud;
    for (size_t k = 0; k < nt->st->n_needs; k++)
        if (strcmp(mrun_pipeline_stage_at(nt->pl, nt->st->needs[k])->name, s->name) == 0 &&
            s->finished_ms > nt->ready_ms)
            nt->ready_ms = s->finished_ms;
    return 0;
}

/* Dispatch latency of a first attempt: from when the stage became ready (its pipeline was accepted, or its last
 * need finished) until now, when it was leased. */
static void observe_dispatch(mrun_coord *c, pl_cached *pc, const mrun_pipeline_stage *st)
{
    need_times nt = {.st = st, .pl = pc->pl, .ready_ms = pc->created_ms};
    mrun_err err = MRUN_ERR_INIT;
    if (st->n_needs && mrun_store_stage_list(c->st, pc->id, -1, max_need_finish, &nt, &err) < 0)
        return;
    int64_t d = coord_wall_ms() - nt.ready_ms;
    coord_hist_observe(c, &c->dispatch, d > 0 ? (double)d / 1000.0 : 0.0);
}

/* Leases the oldest ready stage this runner may run; 1 when it replied with a lease, 0 when there was none. */
static int try_assign(mrun_coord *c, work *w, runner_rec *rr)
{
    ready_list *l = calloc(1, sizeof(*l));
    if (!l)
        return 0;
    mrun_err err = MRUN_ERR_INIT;
    if (mrun_store_stage_list(c->st, NULL, MRUN_STORE_STAGE_READY, collect_ready, l, &err) < 0)
        mrun_log(MRUN_LOG_ERROR, LOG, "ready stages: %s", err.msg);
    int done = 0;
    for (size_t i = 0; i < l->n && !done; i++) {
        pl_cached *pc = coord_pipeline_load(c, l->pid[i]);
        if (!pc)
            continue;
        long idx = mrun_pipeline_stage_find(pc->pl, l->stage[i]);
        if (idx < 0)
            continue;
        const mrun_pipeline_stage *st = mrun_pipeline_stage_at(pc->pl, (size_t)idx);
        const char *labels[16];
        for (size_t k = 0; k < rr->n_labels; k++)
            labels[k] = rr->labels[k];
        if (!mrun_sched_labels_match(st, labels, rr->n_labels))
            continue;
        if (l->attempt[i] == 0) {
            /* never leased: make sure its `if:` was evaluated (reconcile may not have run since the submit) */
            coord_reconcile(c, l->pid[i]);
        }
        mrun_store_lease lease;
        if (mrun_store_lease_create(c->st, l->pid[i], l->stage[i], rr->id, coord_wall_ms(), c->cfg.lease_timeout_ms, &lease,
                                    &err) < 0)
            continue; /* skipped by reconcile, or leased meanwhile */
        lease_build *b = calloc(1, sizeof(*b));
        if (!b)
            break;
        mrun_msg m;
        build_lease(c, pc, st, &lease, l->stage[i], rr->id, b, &m);
        mrun_log(MRUN_LOG_INFO, LOG, "pipeline %s stage '%s' attempt %d leased to runner '%s'", l->pid[i],
                 l->stage[i], lease.attempt, rr->name);
        if (lease.attempt == 1)
            observe_dispatch(c, pc, st);
        coord_reply(w, &m);
        for (size_t k = 0; k < b->n_secret_values; k++)
            free(b->secret_values[k]);
        free(b);
        done = 1;
    }
    free(l);
    return done;
}

static void on_lease_req(mrun_coord *c, work *w, const mrun_msg_lease_req *r)
{
    runner_rec *rr = runner_find(c, r->runner_id);
    if (!rr) {
        coord_reply_error(w, MRUN_PERR_UNKNOWN_RUNNER, "register again");
        return;
    }
    rr->last_seen_ms = coord_wall_ms();
    if (r->free_slots > 0 && try_assign(c, w, rr))
        return;
    /* nothing now: park the request until work exists or its wait runs out (the long poll) */
    uint32_t wait = r->wait_ms > 30000 ? 30000 : r->wait_ms;
    w->state = W_PARKED;
    copy(w->runner_id, sizeof(w->runner_id), rr->id);
    w->park_deadline_ms = coord_wall_ms() + wait;
}

static void reply_simple(work *w, mrun_msg_type t)
{
    mrun_msg m;
    mrun_msg_init(&m, t);
    coord_reply(w, &m);
}

static void on_heartbeat(mrun_coord *c, work *w, const mrun_msg_heartbeat *h)
{
    runner_rec *rr = runner_find(c, h->runner_id);
    if (!rr) {
        coord_reply_error(w, MRUN_PERR_UNKNOWN_RUNNER, "register again");
        return;
    }
    touch_runner(c, rr);
    char *cancel[256];
    size_t n_cancel = 0;
    for (size_t i = 0; i < h->lease_ids.n; i++) {
        mrun_err err = MRUN_ERR_INIT;
        if (mrun_store_lease_renew(c->st, h->lease_ids.v[i], coord_wall_ms(), c->cfg.lease_timeout_ms, &err) < 0 &&
            n_cancel < 256)
            cancel[n_cancel++] = h->lease_ids.v[i]; /* revoked (cancel) or taken back: stop working on it */
    }
    coord_pv_reply pv = {.n_stop = 0};
    coord_preview_heartbeat(c, h, &pv);
    mrun_msg m;
    mrun_msg_init(&m, MRUN_MSG_HEARTBEAT_OK);
    m.heartbeat_ok.cancel_lease_ids = (mrun_strv){.v = cancel, .n = n_cancel};
    m.heartbeat_ok.stop_preview_ids = (mrun_strv){.v = pv.stop, .n = pv.n_stop};
    m.heartbeat_ok.preview_expiry = (mrun_kvv){.v = pv.exp, .n = pv.n_exp};
    coord_reply(w, &m);
}

static void on_log(mrun_coord *c, work *w, const mrun_msg_log *l)
{
    mrun_err err = MRUN_ERR_INIT;
    /* logs go through the connection that does not fsync each commit: a chunk per line of output would
     * otherwise cost an fsync each on the worker thread (measured: it dominated dispatch) */
    if (mrun_store_log_append(c->log_st, l->lease_id, (int64_t)l->seq, (int)l->stream + 1, l->data.data, l->data.len,
                              &err) < 0) {
        coord_reply_error(w, err.sys_errno == ENOENT ? MRUN_PERR_UNKNOWN_LEASE : MRUN_PERR_BAD_REQUEST, err.msg);
        return;
    }
    reply_simple(w, MRUN_MSG_ACK);
}

static void on_blob_get(mrun_coord *c, work *w, const mrun_msg_blob_get *g)
{
    mrun_err err = MRUN_ERR_INIT;
    int fd = -1;
    uint64_t size = 0;
    if (mrun_store_blob_get(c->st, g->digest, &fd, &size, &err) < 0) {
        coord_reply_error(w, MRUN_PERR_BAD_REQUEST, err.msg);
        return;
    }
    mrun_autoclose int own = fd;
    size_t want = g->max < MRUN_PROTO_MAX_CHUNK ? g->max : MRUN_PROTO_MAX_CHUNK;
    if (g->offset > size)
        want = 0;
    else if (size - g->offset < want)
        want = (size_t)(size - g->offset);
    mrun_autofree uint8_t *buf = malloc(want ? want : 1);
    ssize_t n = buf ? pread(own, buf, want, (off_t)g->offset) : -1;
    if (n < 0 || (size_t)n != want) {
        coord_reply_error(w, MRUN_PERR_INTERNAL, "blob read failed");
        return;
    }
    mrun_msg m;
    mrun_msg_init(&m, MRUN_MSG_BLOB);
    copy(m.blob.digest, sizeof(m.blob.digest), g->digest);
    m.blob.offset = g->offset;
    m.blob.data = (mrun_bytes){.data = want ? buf : NULL, .len = want};
    m.blob.total_size = size;
    m.blob.eof = g->offset + want >= size;
    coord_reply(w, &m);
}

typedef struct lease_lookup {
    char pipeline_id[MRUN_STORE_ID_LEN + 1];
    char stage[128];
    bool found;
} lease_lookup;

static void on_artifact_put(mrun_coord *c, work *w, const mrun_msg_artifact_put *a)
{
    mrun_err err = MRUN_ERR_INIT;
    upload *u = NULL, *free_slot = NULL;
    if (strncmp(a->path, ".mrun/", 6) == 0) {
        /* the coordinator's own namespace (signed attestations): a job must not be able to plant one */
        coord_reply_error(w, MRUN_PERR_BAD_REQUEST, "artifact paths under .mrun/ are reserved for the coordinator");
        return;
    }
    for (size_t i = 0; i < COORD_MAX_UPLOADS; i++) {
        if (c->uploads[i].w && strcmp(c->uploads[i].lease_id, a->lease_id) == 0 &&
            strcmp(c->uploads[i].path, a->path) == 0)
            u = &c->uploads[i];
        else if (!c->uploads[i].w && !free_slot)
            free_slot = &c->uploads[i];
    }
    if (!u && a->offset == 0) {
        if (!free_slot || mrun_store_blob_put_init(c->st, &free_slot->w, &err) < 0) {
            coord_reply_error(w, MRUN_PERR_INTERNAL, "too many uploads at once");
            return;
        }
        u = free_slot;
        copy(u->lease_id, sizeof(u->lease_id), a->lease_id);
        copy(u->path, sizeof(u->path), a->path);
        u->next_offset = 0;
    }
    if (!u || a->offset != u->next_offset) {
        if (u && a->offset < u->next_offset) {
            reply_simple(w, MRUN_MSG_ACK); /* a resend of a chunk we have: harmless */
            return;
        }
        coord_reply_error(w, MRUN_PERR_BAD_REQUEST, "artifact chunk out of order");
        return;
    }
    if (mrun_store_blob_put_update(u->w, a->data.data, a->data.len, &err) < 0) {
        mrun_store_blob_writer_free(u->w);
        memset(u, 0, sizeof(*u));
        coord_reply_error(w, MRUN_PERR_INTERNAL, err.msg);
        return;
    }
    u->next_offset += a->data.len;
    if (!a->final) {
        reply_simple(w, MRUN_MSG_ACK);
        return;
    }
    char digest[MRUN_STORE_DIGEST_LEN + 1];
    int r = mrun_store_blob_put_finish(u->w, a->sha256, digest, &err);
    u->w = NULL;
    char lease_id[64];
    copy(lease_id, sizeof(lease_id), u->lease_id);
    memset(u, 0, sizeof(*u));
    if (r < 0) {
        coord_reply_error(w, MRUN_PERR_BAD_REQUEST, err.msg);
        return;
    }
    /* which pipeline and stage: from the active lease */
    lease_lookup lk = {0};
    if (mrun_store_lease_owner(c->st, lease_id, lk.pipeline_id, lk.stage, sizeof(lk.stage), &err) < 0 ||
        mrun_store_artifact_add(c->st, lk.pipeline_id, lk.stage, a->path, digest, a->total_size, coord_wall_ms(), &err) <
            0) {
        coord_reply_error(w, MRUN_PERR_BAD_REQUEST, err.msg);
        return;
    }
    reply_simple(w, MRUN_MSG_ACK);
}

static void on_result(mrun_coord *c, work *w, const mrun_msg_result *r)
{
    mrun_err err = MRUN_ERR_INIT;
    char pipeline_id[MRUN_STORE_ID_LEN + 1] = "", stage[128] = "";
    mrun_store_lease_owner(c->st, r->lease_id, pipeline_id, stage, sizeof(stage), &err);
    mrun_store_stage_state next;
    bool passed = r->status == MRUN_RESULT_PASSED;
    /* signed before the stage is marked passed: whoever sees the pipeline done sees its provenance too */
    mrun_err aerr = MRUN_ERR_INIT;
    if (passed && coord_attest_stage(c, r, &aerr) < 0)
        mrun_log(MRUN_LOG_ERROR, LOG, "pipeline %s: %s", pipeline_id, aerr.msg);
    double coverage = -1;
    if (r->coverage) {
        char *end;
        coverage = strtod(r->coverage, &end);
        if (*end || mrun_store_coverage_set(c->st, r->lease_id, coverage, &err) < 0)
            mrun_log(MRUN_LOG_WARN, LOG, "lease %s: coverage '%s': %s", r->lease_id, r->coverage,
                     *end ? "not a number" : err.msg);
    }
    if (mrun_store_lease_finish(c->st, r->lease_id, (int)r->attempt, passed, r->exit_code, coord_wall_ms(), &next, &err) <
        0) {
        coord_reply_error(w, err.sys_errno == ESTALE ? MRUN_PERR_UNKNOWN_LEASE : MRUN_PERR_BAD_REQUEST, err.msg);
        return;
    }
    mrun_log(MRUN_LOG_INFO, LOG, "pipeline %s stage '%s' attempt %u %s (exit %d)", pipeline_id, stage, r->attempt,
             mrun_result_status_name(r->status), r->exit_code);
    if (pipeline_id[0])
        coord_preview_result(c, w->pipe, pipeline_id, stage, r);
    coord_hist_observe(c, &c->duration, (double)(r->finished_ms - r->started_ms) / 1000.0);
    if (pipeline_id[0])
        coord_reconcile(c, pipeline_id);
    double promoted = -1;
    if (pipeline_id[0] && mrun_store_coverage_promote(c->st, pipeline_id, c->cfg.default_branch, coord_wall_ms(),
                                                      &promoted, &err) < 0)
        mrun_log(MRUN_LOG_WARN, LOG, "pipeline %s: %s", pipeline_id, err.msg);
    else if (promoted >= 0)
        mrun_log(MRUN_LOG_INFO, LOG, "pipeline %s: coverage baseline of branch %s is now %.2f%%", pipeline_id,
                 c->cfg.default_branch, promoted);
    reply_simple(w, MRUN_MSG_ACK);
    coord_kick(c); /* new ready stages may wake parked runners */
}

void coord_dispatch(mrun_coord *c, work *w, const mrun_msg *req)
{
    switch (req->type) {
    case MRUN_MSG_REGISTER:
        on_register(c, w, &req->reg);
        break;
    case MRUN_MSG_HEARTBEAT:
        on_heartbeat(c, w, &req->heartbeat);
        break;
    case MRUN_MSG_LEASE_REQ:
        on_lease_req(c, w, &req->lease_req);
        break;
    case MRUN_MSG_LOG:
        on_log(c, w, &req->log);
        break;
    case MRUN_MSG_BLOB_GET:
        on_blob_get(c, w, &req->blob_get);
        break;
    case MRUN_MSG_ARTIFACT_PUT:
        on_artifact_put(c, w, &req->artifact_put);
        break;
    case MRUN_MSG_RESULT:
        on_result(c, w, &req->result);
        break;
    default:
        coord_reply_error(w, MRUN_PERR_BAD_REQUEST, "not a request");
        break;
    }
}

/* Parked long polls: lease what became ready, answer no_work at the deadline; requeue the stages of silent
 * runners. */
static void log_gc(void *ud, const char *kind, const char *pipeline_id, const char *stage, const char *path,
                   const char *digest, uint64_t size)
{
    (void)ud;
    if (strcmp(kind, "artifact") == 0)
        mrun_log(MRUN_LOG_INFO, LOG, "retention: forget artifact %s of pipeline %s stage '%s' (%.12s)", path,
                 pipeline_id, stage, digest);
    else
        mrun_log(MRUN_LOG_INFO, LOG, "retention: delete %s blob %.12s (%llu bytes)", kind, digest,
                 (unsigned long long)size);
}

/* The periodic retention sweep (cfg.gc_interval_ms, default hourly). */
static void sweep(mrun_coord *c, int64_t now_ms)
{
    if (c->cfg.gc_interval_ms < 0 || now_ms < c->next_gc_ms)
        return;
    c->next_gc_ms = now_ms + (c->cfg.gc_interval_ms ? c->cfg.gc_interval_ms : 3600 * 1000);
    mrun_err err = MRUN_ERR_INIT;
    mrun_store_gc_report rep;
    if (mrun_store_gc(c->st, &c->cfg.retention, false, now_ms, log_gc, NULL, &rep, &err) < 0)
        mrun_log(MRUN_LOG_ERROR, LOG, "retention: %s", err.msg);
    else if (rep.pipelines || rep.blobs)
        mrun_log(MRUN_LOG_INFO, LOG, "retention: %zu pipeline(s) expired, %zu artifact(s) and %zu blob(s) deleted, %llu bytes freed",
                 rep.pipelines, rep.artifacts, rep.blobs, (unsigned long long)rep.bytes);
}

void coord_tick(mrun_coord *c, int64_t now_ms)
{
    sweep(c, now_ms);
    if (now_ms >= c->next_recover_ms) {
        c->next_recover_ms = now_ms + 500;
        coord_preview_tick(c, now_ms);
        mrun_err err = MRUN_ERR_INIT;
        size_t requeued = 0;
        if (mrun_store_recover(c->st, now_ms, &requeued, &err) < 0)
            mrun_log(MRUN_LOG_ERROR, LOG, "recover: %s", err.msg);
        else if (requeued)
            mrun_log(MRUN_LOG_WARN, LOG, "requeued %zu stage(s) of runners that went silent", requeued);
    }
    for (int i = 0; i < COORD_CONTEXTS; i++) {
        work *w = &c->works[i];
        if (w->state != W_PARKED)
            continue;
        runner_rec *rr = runner_find(c, w->runner_id);
        if (rr && try_assign(c, w, rr))
            continue;
        if (now_ms >= w->park_deadline_ms || !rr)
            reply_simple(w, MRUN_MSG_NO_WORK);
    }
}

void coord_state_fini(mrun_coord *c)
{
    for (size_t i = 0; i < COORD_MAX_CACHE; i++)
        cache_drop(&c->cache[i]);
    for (size_t i = 0; i < COORD_MAX_UPLOADS; i++)
        mrun_store_blob_writer_free(c->uploads[i].w);
}
