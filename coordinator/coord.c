/* coord.c - the coordinator service: nng REP contexts feed one worker thread that owns the store connection, the
 * runner table and the parked long polls. The aio callbacks only move messages between nng and the worker's
 * queue (they never block); everything that touches SQLite happens on the worker. */
#include "coord.h"

#include <errno.h>
#include <fcntl.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/supplemental/tls/tls.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "../common/auto.h"
#include "../common/log.h"
#include "../common/proto.h"
#include "../stages/stages.h"
#include "../stages/attest.h"
#include "coord_int.h"

/* ---- replies ---------------------------------------------------------------------------------------------- */

/* Encodes msg and sends it on w's context; the aio callback starts the next receive when the send is done. */
void coord_reply(work *w, const mrun_msg *msg)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_autofree uint8_t *buf = NULL;
    size_t len = 0;
    nng_msg *m = NULL;
    if (mrun_msg_encode(msg, &buf, &len, &err) < 0) {
        mrun_log(MRUN_LOG_ERROR, "coordinator", "encode %s: %s", mrun_msg_type_name(msg->type), err.msg);
        mrun_msg e;
        mrun_msg_init(&e, MRUN_MSG_ERROR);
        e.error.code = (char *)MRUN_PERR_INTERNAL;
        e.error.message = (char *)"internal error";
        free(buf);
        buf = NULL;
        if (mrun_msg_encode(&e, &buf, &len, &err) < 0)
            return;
    }
    if (nng_msg_alloc(&m, 0) != 0 || nng_msg_append(m, buf, len) != 0) {
        nng_msg_free(m);
        mrun_log(MRUN_LOG_ERROR, "coordinator", "out of memory for a reply");
        w->state = W_RECV;
        nng_ctx_recv(w->ctx, w->aio);
        return;
    }
    w->state = W_SEND;
    nng_aio_set_msg(w->aio, m);
    nng_ctx_send(w->ctx, w->aio);
}

void coord_reply_error(work *w, const char *code, const char *message)
{
    mrun_msg e;
    mrun_msg_init(&e, MRUN_MSG_ERROR);
    e.error.code = (char *)code;
    e.error.message = (char *)message;
    coord_reply(w, &e);
}

/* ---- the nng side: runs on nng's threads, never blocks ------------------------------------------------------ */

static void enqueue(mrun_coord *c, work *w)
{
    pthread_mutex_lock(&c->mu);
    w->next = NULL;
    if (c->qtail)
        c->qtail->next = w;
    else
        c->qhead = w;
    c->qtail = w;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static void on_aio(void *arg)
{
    work *w = arg;
    int rv = nng_aio_result(w->aio);
    switch (w->state) {
    case W_RECV:
        if (rv != 0)
            return; /* the socket is closing */
        w->req = nng_aio_get_msg(w->aio);
        w->state = W_QUEUED;
        enqueue(w->c, w);
        break;
    case W_SEND:
        if (rv != 0)
            nng_msg_free(nng_aio_get_msg(w->aio)); /* a failed send leaves the message ours */
        if (rv == NNG_ECLOSED)
            return;
        w->state = W_RECV;
        nng_ctx_recv(w->ctx, w->aio);
        break;
    default:
        break;
    }
}

/* ---- the worker thread -------------------------------------------------------------------------------------- */

static void handle(mrun_coord *c, work *w)
{
    mrun_msg req;
    mrun_err err = MRUN_ERR_INIT;
    const uint8_t *body = nng_msg_body(w->req);
    size_t len = nng_msg_len(w->req);
    w->pipe = nng_msg_get_pipe(w->req);
    int r = mrun_msg_decode(body, len, NULL, &req, &err);
    nng_msg_free(w->req);
    w->req = NULL;
    if (r < 0) {
        mrun_log(MRUN_LOG_WARN, "coordinator", "bad request: %s", err.msg);
        coord_reply_error(w, strstr(err.msg, "version") ? MRUN_PERR_VERSION : MRUN_PERR_BAD_REQUEST, err.msg);
        return;
    }
    coord_dispatch(c, w, &req);
    mrun_msg_fini(&req);
}

static void *worker_main(void *arg)
{
    mrun_coord *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stopping) {
        while (!c->qhead && !c->stopping && !c->kicked && !c->n_pending && !c->reconcile_all) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 200 * 1000000L; /* the tick: parked deadlines and lease expiry */
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT)
                break;
        }
        work *w = c->qhead;
        if (w) {
            c->qhead = w->next;
            if (!c->qhead)
                c->qtail = NULL;
        }
        c->kicked = false;
        bool all = c->reconcile_all;
        c->reconcile_all = false;
        char ids[16][MRUN_STORE_ID_LEN + 1];
        size_t n_ids = 0;
        while (!all && c->n_pending > 0 && n_ids < 16) {
            c->n_pending--;
            memcpy(ids[n_ids++], c->pending[c->n_pending], sizeof(ids[0]));
        }
        pthread_mutex_unlock(&c->mu);
        if (w)
            handle(c, w);
        /* only what changed: reconciling every open pipeline on each event made throughput fall as queues grew */
        if (all)
            coord_reconcile_all(c);
        for (size_t i = 0; i < n_ids; i++)
            coord_reconcile(c, ids[i]);
        coord_tick(c, coord_wall_ms());
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

void coord_hist_observe(mrun_coord *c, coord_hist *h, double seconds)
{
    size_t i = 0;
    while (i < COORD_HIST_BUCKETS && seconds > h->bounds[i])
        i++;
    pthread_mutex_lock(&c->hist_mu);
    h->counts[i]++;
    h->sum += seconds;
    pthread_mutex_unlock(&c->hist_mu);
}

void coord_kick_pipeline(mrun_coord *c, const char *pipeline_id)
{
    pthread_mutex_lock(&c->mu);
    if (c->n_pending < sizeof(c->pending) / sizeof(c->pending[0]))
        snprintf(c->pending[c->n_pending++], sizeof(c->pending[0]), "%s", pipeline_id);
    else
        c->reconcile_all = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

void coord_kick(mrun_coord *c)
{
    pthread_mutex_lock(&c->mu);
    c->kicked = true;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* ---- lifecycle ---------------------------------------------------------------------------------------------- */

/* A PEM file, NUL-terminated, at most 1 MiB. */
int coord_read_pem(const char *path, char **ret, mrun_err *err)
{
    mrun_autoclose int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mrun_err_set(err, errno, "'%s'", path);
    size_t cap = 1u << 20, len = 0;
    mrun_autofree char *buf = malloc(cap + 1);
    if (!buf)
        return mrun_err_set(err, ENOMEM, "'%s'", path);
    ssize_t n;
    while ((n = read(fd, buf + len, cap - len)) > 0)
        len += (size_t)n;
    if (n < 0)
        return mrun_err_set(err, errno, "'%s'", path);
    if (len == cap)
        return mrun_err_setx(err, E2BIG, "'%s': larger than 1 MiB", path);
    buf[len] = '\0';
    *ret = mrun_steal_ptr(&buf);
    return 0;
}

/* Listens on the nng URL; tls+tcp:// needs the certificate and key, which only the listener sees. Returns 0, an
 * nng error, or -1 with err set. */
static int listen_on(mrun_coord *c, const mrun_coord_config *cfg, mrun_err *err)
{
    bool tls = strncmp(cfg->listen, "tls+", 4) == 0;
    if (!tls)
        return nng_listen(c->sock, cfg->listen, NULL, 0);
    if (!cfg->tls_cert || !cfg->tls_key)
        return mrun_err_setx(err, EINVAL, "listen on '%s': a tls+ URL needs --tls-cert and --tls-key", cfg->listen);
    mrun_autofree char *cert = NULL, *key = NULL;
    if (coord_read_pem(cfg->tls_cert, &cert, err) < 0 || coord_read_pem(cfg->tls_key, &key, err) < 0)
        return -1;
    nng_listener l;
    nng_tls_config *tc = NULL;
    int rv = nng_listener_create(&l, c->sock, cfg->listen);
    if (rv == 0 && (rv = nng_tls_config_alloc(&tc, NNG_TLS_MODE_SERVER)) == 0 &&
        (rv = nng_tls_config_own_cert(tc, cert, key, NULL)) == 0 &&
        (rv = nng_listener_set_ptr(l, NNG_OPT_TLS_CONFIG, tc)) == 0)
        rv = nng_listener_start(l, 0);
    if (tc)
        nng_tls_config_free(tc); /* the listener holds its own reference */
    explicit_bzero(key, strlen(key));
    if (rv != 0)
        return mrun_err_setx(err, EIO, "listen on '%s' with TLS (%s, %s): %s", cfg->listen, cfg->tls_cert,
                             cfg->tls_key, nng_strerror(rv));
    return 0;
}

int mrun_coord_start(const mrun_coord_config *cfg, mrun_coord **ret_coord, mrun_err *err)
{
    mrun_coord *c = calloc(1, sizeof(*c));
    if (!c)
        return mrun_err_set(err, ENOMEM, "coordinator");
    c->cfg = *cfg;
    if (c->cfg.lease_timeout_ms <= 0)
        c->cfg.lease_timeout_ms = 4000;
    if (!c->cfg.default_branch || !*c->cfg.default_branch)
        c->cfg.default_branch = "main";
    if (c->cfg.heartbeat_ms <= 0)
        c->cfg.heartbeat_ms = 1000;
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->submit_mu, NULL);
    pthread_mutex_init(&c->hist_mu, NULL);
    static const double dispatch_bounds[COORD_HIST_BUCKETS] = {0.002, 0.005, 0.01, 0.02, 0.05,
                                                               0.1,   0.5,   1,    5,    30};
    static const double duration_bounds[COORD_HIST_BUCKETS] = {0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800};
    c->dispatch.bounds = dispatch_bounds;
    c->duration.bounds = duration_bounds;
    pthread_cond_init(&c->cv, NULL);
    if (!c->cfg.builder_id || !*c->cfg.builder_id) {
        char host[256] = "localhost";
        gethostname(host, sizeof(host) - 1);
        snprintf(c->builder_id, sizeof(c->builder_id), "mrun://%s/coordinator", host);
        c->cfg.builder_id = c->builder_id;
    }
    if (cfg->signing_key && mrun_attest_key_load_private(cfg->signing_key, cfg->signing_passphrase, &c->key, err) < 0) {
        mrun_coord_stop(c);
        return mrun_err_prefix(err, "signing key");
    }
    if (mrun_store_open(cfg->data_dir, &c->st, err) < 0 || mrun_store_open(cfg->data_dir, &c->submit_st, err) < 0 ||
        mrun_store_open(cfg->data_dir, &c->log_st, err) < 0 || mrun_store_relax_durability(c->log_st, err) < 0) {
        mrun_coord_stop(c);
        return mrun_err_prefix(err, "coordinator");
    }
    size_t requeued = 0;
    if (mrun_store_recover(c->st, coord_wall_ms() + c->cfg.lease_timeout_ms * 1000, &requeued, err) < 0) {
        mrun_coord_stop(c);
        return mrun_err_prefix(err, "recover");
    }
    if (coord_preview_start(c, err) < 0) {
        mrun_coord_stop(c);
        return -1;
    }
    if (requeued)
        mrun_log(MRUN_LOG_INFO, "coordinator", "requeued %zu stage(s) left running by a previous run", requeued);
    int rv = nng_rep0_open(&c->sock);
    if (rv == 0)
        c->sock_open = true;
    for (int i = 0; rv == 0 && i < COORD_CONTEXTS; i++) {
        work *w = &c->works[i];
        w->c = c;
        if ((rv = nng_ctx_open(&w->ctx, c->sock)) == 0)
            rv = nng_aio_alloc(&w->aio, on_aio, w);
    }
    if (rv == 0)
        rv = listen_on(c, cfg, err);
    if (rv != 0) {
        if (rv != -1)
            mrun_err_setx(err, EIO, "listen on '%s': %s", cfg->listen, nng_strerror(rv));
        mrun_coord_stop(c);
        return -1;
    }
    if (pthread_create(&c->thread, NULL, worker_main, c) != 0) {
        mrun_coord_stop(c);
        return mrun_err_set(err, EAGAIN, "coordinator thread");
    }
    c->thread_started = true;
    for (int i = 0; i < COORD_CONTEXTS; i++) {
        c->works[i].state = W_RECV;
        nng_ctx_recv(c->works[i].ctx, c->works[i].aio);
    }
    if (cfg->http && coord_api_start(c, cfg->http, err) < 0) {
        mrun_coord_stop(c);
        return mrun_err_prefix(err, "http");
    }
    pthread_mutex_lock(&c->mu);
    c->reconcile_all = true; /* what the store holds from before */
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    mrun_log(MRUN_LOG_INFO, "coordinator", "listening on %s", cfg->listen);
    *ret_coord = c;
    return 0;
}

int mrun_coord_preview_url(const mrun_coord *c, const char *id, char *out, size_t n)
{
    return coord_preview_url(c, id, out, n);
}

void mrun_coord_stop(mrun_coord *c)
{
    if (!c)
        return;
    coord_api_stop(c);
    if (c->thread_started) {
        pthread_mutex_lock(&c->mu);
        c->stopping = true;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thread, NULL);
    }
    for (int i = 0; i < COORD_CONTEXTS; i++)
        if (c->works[i].aio)
            nng_aio_stop(c->works[i].aio);
    if (c->sock_open)
        nng_close(c->sock);
    for (int i = 0; i < COORD_CONTEXTS; i++) {
        nng_aio_free(c->works[i].aio);
        if (c->works[i].req)
            nng_msg_free(c->works[i].req);
    }
    coord_state_fini(c);
    coord_preview_stop(c);
    mrun_attest_key_free(c->key);
    mrun_store_close(c->st);
    mrun_store_close(c->submit_st);
    mrun_store_close(c->log_st);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->submit_mu);
    pthread_mutex_destroy(&c->hist_mu);
    free(c);
}

/* ---- submit (any thread) ------------------------------------------------------------------------------------ */

int mrun_coord_submit_pipeline(mrun_coord *c, const mrun_coord_submit *sub, char ret_id[33], mrun_err *err)
{
    mrun_pipeline_limits lim = MRUN_PIPELINE_LIMITS_DEFAULT;
    mrun_cleanup(mrun_pipeline_freep) mrun_pipeline *pl = NULL;
    if (mrun_pipeline_parse(sub->file, sub->yaml, sub->yaml_len, &lim, mrun_stages_names(), &pl, err) < 0)
        return -1;
    mrun_cleanup(mrun_sched_freep) mrun_sched *s = NULL;
    if (mrun_sched_new(pl, sub->file, &s, err) < 0)
        return -1;
    pthread_mutex_lock(&c->submit_mu);
    int rc = -1;
    char digest[MRUN_STORE_DIGEST_LEN + 1];
    mrun_store_blob_writer *bw = NULL;
    if (sub->source_digest) {
        snprintf(digest, sizeof(digest), "%s", sub->source_digest);
    } else {
        if (mrun_store_blob_put_init(c->submit_st, &bw, err) < 0 ||
            mrun_store_blob_put_update(bw, sub->archive, sub->archive_len, err) < 0)
            goto out;
        int fin = mrun_store_blob_put_finish(bw, NULL, digest, err);
        bw = NULL; /* consumed */
        if (fin < 0)
            goto out;
    }
    mrun_store_submit ss = {.event = sub->event, .ref = sub->ref, .branch = sub->branch,
                            .submitter = sub->submitter, .agent = sub->agent, .source_digest = digest,
                            .yaml = (const char *)sub->yaml, .yaml_len = sub->yaml_len, .now_ms = coord_wall_ms()};
    if (mrun_store_pipeline_create(c->submit_st, pl, &ss, ret_id, err) < 0)
        goto out;
    rc = 0;
    mrun_log(MRUN_LOG_INFO, "coordinator", "pipeline %s '%s' accepted (%zu stages)", ret_id, mrun_pipeline_name(pl),
             mrun_pipeline_stage_count(pl));
out:
    mrun_store_blob_writer_free(bw);
    pthread_mutex_unlock(&c->submit_mu);
    if (rc == 0)
        coord_kick_pipeline(c, ret_id);
    return rc;
}
