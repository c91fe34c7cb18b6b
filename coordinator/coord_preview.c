/* coord_preview.c - previews on the coordinator: a preview row when a stage with `uses: preview` is leased (a newer
 * one replaces the older preview of the same app and ref), the proxy route once its runner says it is healthy, the
 * TTL sweep, and the heartbeat exchange that stops or extends previews on their runners. Worker thread only,
 * except the proxy's route table, which is thread-safe (the HTTP API changes it too). Docs: docs/previews.md. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nng/nng.h>
#include <sys/random.h>
#include <unistd.h>

#include "../common/codec.h"
#include "../common/log.h"
#include "../common/parse.h"
#include "../stages/attest.h"
#include "coord_int.h"
#include "proxy.h"

#define LOG "coordinator"

static void route(mrun_coord *c, const mrun_store_preview_info *p);
#define DEFAULT_TTL_MS (2ll * 3600 * 1000)

/* The `uses: preview` step of a stage, or NULL. */
static const mrun_pipeline_step *preview_step(const mrun_pipeline_stage *st)
{
    for (size_t i = 0; i < st->n_steps; i++)
        if (st->steps[i].uses && strcmp(st->steps[i].uses, "preview") == 0)
            return &st->steps[i];
    return NULL;
}

static const char *with_get(const mrun_pipeline_step *s, const char *key)
{
    for (size_t i = 0; i < s->n_with; i++)
        if (strcmp(s->with[i].key, key) == 0)
            return s->with[i].value;
    return NULL;
}

/* "host:port" or "[v6]:port" -> host and port. */
static int split_addr(const char *addr, char *host, size_t n, int *port)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr)
        return -1;
    const char *h = addr, *e = colon;
    if (*h == '[' && e[-1] == ']')
        h++, e--;
    if ((size_t)(e - h) >= n)
        return -1;
    memcpy(host, h, (size_t)(e - h));
    host[e - h] = '\0';
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 1 || p > 65535)
        return -1;
    *port = (int)p;
    return 0;
}

void coord_preview_reroute(mrun_coord *c, const char *id, const char *addr, int64_t expires_ms, bool private_)
{
    mrun_store_preview_info p = {.id = id, .addr = addr, .expires_ms = expires_ms, .private_ = private_};
    route(c, &p);
}

static void route(mrun_coord *c, const mrun_store_preview_info *p)
{
    char host[256];
    int port;
    mrun_err err = MRUN_ERR_INIT;
    if (!c->proxy)
        return;
    if (split_addr(p->addr, host, sizeof(host), &port) < 0 ||
        mrun_proxy_route_set(c->proxy, p->id, host, port, p->expires_ms, p->private_, NULL, &err) < 0)
        mrun_log(MRUN_LOG_ERROR, LOG, "preview %s: no route to '%s': %s", p->id, p->addr, err.msg);
}

static int on_restore(const mrun_store_preview_info *p, void *ud)
{
    if (p->state == MRUN_STORE_PREVIEW_LIVE)
        route(ud, p);
    return 0;
}

int64_t coord_preview_cap(const mrun_coord *c, int tier)
{
    int64_t cap = tier >= 0 && tier < 4 ? c->cfg.preview_ttl_max_ms[tier] : 0;
    return cap > 0 ? cap : 7ll * 24 * 3600 * 1000;
}

int coord_preview_start(mrun_coord *c, mrun_err *err)
{
    if (!c->cfg.preview_listen)
        return 0;
    mrun_proxy_config pc = {.listen = c->cfg.preview_listen, .preview_domain = c->cfg.preview_domain};
    if (mrun_proxy_start(&pc, &c->proxy, err) < 0)
        return mrun_err_prefix(err, "preview proxy");
    if (c->cfg.preview_url && *c->cfg.preview_url) {
        snprintf(c->preview_base, sizeof(c->preview_base), "%s", c->cfg.preview_url);
    } else {
        /* the listen host, unless it is a wildcard; then this host's name */
        char host[256] = "127.0.0.1";
        const char *colon = strrchr(c->cfg.preview_listen, ':');
        size_t hl = colon ? (size_t)(colon - c->cfg.preview_listen) : 0;
        if (hl && hl < sizeof(host))
            snprintf(host, sizeof(host), "%.*s", (int)hl, c->cfg.preview_listen);
        if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "[::]") == 0)
            gethostname(host, sizeof(host) - 1);
        snprintf(c->preview_base, sizeof(c->preview_base), "http://%s:%d", host, mrun_proxy_port(c->proxy));
    }
    /* a restarted coordinator routes the previews that are still live again */
    if (mrun_store_preview_list(c->st, true, 1000, on_restore, c, err) < 0)
        return -1;
    mrun_log(MRUN_LOG_INFO, LOG, "previews at %s/preview/ID/", c->preview_base);
    return 0;
}

void coord_preview_stop(mrun_coord *c)
{
    mrun_proxy_stop(c->proxy);
    c->proxy = NULL;
}

int coord_preview_url(const mrun_coord *c, const char *id, char *out, size_t n)
{
    if (!c->proxy)
        return -1;
    if (c->cfg.preview_domain && *c->cfg.preview_domain)
        snprintf(out, n, "http://%s.%s/", id, c->cfg.preview_domain);
    else
        snprintf(out, n, "%s/preview/%s/", c->preview_base, id);
    return 0;
}

static int on_replaced(const mrun_store_preview_info *p, void *ud)
{
    mrun_coord *c = ud;
    if (c->proxy)
        mrun_proxy_route_remove(c->proxy, p->id);
    mrun_log(MRUN_LOG_INFO, LOG, "preview %s of %s (%s) replaced by a newer one", p->id, p->app, p->ref);
    return 0; /* its runner hears at its next heartbeat */
}

void coord_preview_lease(mrun_coord *c, const pl_cached *pc, const mrun_pipeline_stage *st, const char *stage,
                         const char *runner_id, char ret_id[MRUN_STORE_ID_LEN + 1])
{
    ret_id[0] = '\0';
    const mrun_pipeline_step *step = preview_step(st);
    if (!step)
        return;
    mrun_err err = MRUN_ERR_INIT;
    int64_t ttl = DEFAULT_TTL_MS;
    const char *t = with_get(step, "ttl");
    if (t && (mrun_parse_duration(t, &ttl, &err) < 0 || ttl <= 0))
        ttl = DEFAULT_TTL_MS; /* the step refuses it on the runner with a clear message */
    int64_t cap = coord_preview_cap(c, mrun_pipeline_tier(pc->pl));
    if (ttl > cap)
        ttl = cap;
    unsigned char rnd[16];
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        return;
    char id[MRUN_STORE_ID_LEN + 1];
    mrun_hex_encode(rnd, sizeof(rnd), id);
    const char *vis = with_get(step, "visibility");
    int64_t now = coord_wall_ms();
    mrun_store_preview_info p = {.id = id,
                                 .pipeline_id = pc->id,
                                 .stage = stage,
                                 .app = mrun_pipeline_name(pc->pl),
                                 .ref = pc->ref,
                                 .runner_id = runner_id,
                                 .private_ = vis && strcmp(vis, "private") == 0,
                                 .created_ms = now,
                                 .expires_ms = now + ttl};
    if (mrun_store_preview_create(c->st, &p, on_replaced, c, &err) < 0) {
        mrun_log(MRUN_LOG_ERROR, LOG, "pipeline %s stage '%s': %s", pc->id, stage, err.msg);
        return;
    }
    snprintf(ret_id, MRUN_STORE_ID_LEN + 1, "%s", id);
}

/* ---- `artifact:` a preview runs, checked against the provenance this coordinator signed ---- */

typedef struct att_find {
    const char *stage;
    char path[256], digest[MRUN_STORE_DIGEST_LEN + 1];
} att_find;

static int on_att(const mrun_store_artifact_info *a, void *ud)
{
    att_find *f = ud;
    if (strcmp(a->stage, f->stage) == 0 && strcmp(a->path, f->path) == 0)
        snprintf(f->digest, sizeof(f->digest), "%s", a->digest);
    return 0;
}

/* Verifies digest (the input artifact name of stage) against that stage's signed bundle; -1 with err. */
static int verify_input(mrun_coord *c, const pl_cached *pc, const char *stage, const char *name, const char *digest,
                        mrun_err *err)
{
    if (!c->key)
        return mrun_err_setx(err, ENOKEY, "this coordinator signs nothing (it has no --signing-key)");
    att_find f = {.stage = stage};
    snprintf(f.path, sizeof(f.path), ".mrun/attestations/%s.sigstore.json", stage);
    if (mrun_store_artifact_list(c->st, pc->id, on_att, &f, err) < 0)
        return -1;
    if (!f.digest[0])
        return mrun_err_setx(err, ENOENT, "stage '%s' has no signed provenance", stage);
    int fd = -1;
    uint64_t size = 0;
    if (mrun_store_blob_get(c->st, f.digest, &fd, &size, err) < 0)
        return -1;
    if (size > MRUN_ATTEST_MAX_BYTES) {
        close(fd);
        return mrun_err_setx(err, E2BIG, "provenance of stage '%s' is too large", stage);
    }
    uint8_t *buf = malloc(size + 1);
    ssize_t n = buf ? pread(fd, buf, size, 0) : -1;
    close(fd);
    int r = -1;
    if (n != (ssize_t)size) {
        mrun_err_setx(err, EIO, "provenance of stage '%s': short read", stage);
    } else {
        mrun_verify_expect ex = {.source_sha256 = pc->source_digest, .builder_id = c->cfg.builder_id};
        mrun_verify_check failed;
        r = mrun_attest_verify(digest, name, buf, size, c->key, &ex, &failed, err);
    }
    free(buf);
    return r;
}

void coord_preview_artifact(mrun_coord *c, const pl_cached *pc, const mrun_pipeline_stage *st, const mrun_input *in,
                            size_t n_in, coord_pv_artifact *out)
{
    memset(out, 0, sizeof(*out));
    const mrun_pipeline_step *step = preview_step(st);
    const char *art = step ? with_get(step, "artifact") : NULL;
    if (!art)
        return;
    int from = c->cfg.require_signed_tier ? c->cfg.require_signed_tier - 1 : 2;
    out->require = mrun_pipeline_tier(pc->pl) >= from;
    const mrun_input *found = NULL;
    for (size_t i = 0; i < n_in && !found; i++)
        if (strcmp(in[i].path, art) == 0)
            found = &in[i];
    mrun_err err = MRUN_ERR_INIT;
    if (!found)
        mrun_err_setx(&err, ENOENT, "it is not an artifact of a stage this one needs");
    else if (verify_input(c, pc, found->stage, art, found->digest, &err) == 0)
        snprintf(out->sha256, sizeof(out->sha256), "%s", found->digest);
    if (!out->sha256[0])
        snprintf(out->error, sizeof(out->error), "%s", err.msg);
}

typedef struct stage_pv {
    char id[MRUN_STORE_ID_LEN + 1];
    mrun_store_preview_state state;
    bool found;
} stage_pv;

static int on_stage_pv(const mrun_store_preview_info *p, void *ud)
{
    stage_pv *s = ud;
    snprintf(s->id, sizeof(s->id), "%s", p->id);
    s->state = p->state;
    s->found = true;
    return 0;
}

static int on_live(const mrun_store_preview_info *p, void *ud)
{
    route(ud, p);
    return 0;
}

static bool is_loopback(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 || strcmp(host, "localhost") == 0;
}

/* Whether a runner may send the proxy to host: its own address as the coordinator sees the connection, or
 * loopback for an in-process runner or one on this host. Anything else would let a runner's report point the
 * proxy at another machine the coordinator can reach. */
static bool relay_allowed(nng_pipe pipe, const char *host, char *peer, size_t n)
{
    nng_sockaddr sa;
    snprintf(peer, n, "?");
    if (nng_pipe_get_addr(pipe, NNG_OPT_REMADDR, &sa) != 0 || sa.s_family == NNG_AF_INPROC) {
        snprintf(peer, n, "in-process");
        return is_loopback(host);
    }
    if (sa.s_family == NNG_AF_INET) {
        struct in_addr a = {.s_addr = sa.s_in.sa_addr};
        inet_ntop(AF_INET, &a, peer, (socklen_t)n);
    } else if (sa.s_family == NNG_AF_INET6) {
        inet_ntop(AF_INET6, sa.s_in6.sa_addr, peer, (socklen_t)n);
    } else {
        return false;
    }
    return strcmp(host, peer) == 0 || (is_loopback(peer) && is_loopback(host));
}

void coord_preview_result(mrun_coord *c, nng_pipe pipe, const char *pipeline_id, const char *stage,
                          const mrun_msg_result *r)
{
    mrun_err err = MRUN_ERR_INIT;
    stage_pv s = {0};
    if (mrun_store_preview_of_stage(c->st, pipeline_id, stage, on_stage_pv, &s, &err) < 0 ||
        s.state != MRUN_STORE_PREVIEW_STARTING)
        return; /* no preview here, or it was replaced or removed meanwhile (its runner stops it) */
    if (r->status != MRUN_RESULT_PASSED || !r->preview_addr) {
        mrun_store_preview_end(c->st, s.id, MRUN_STORE_PREVIEW_FAILED, coord_wall_ms(), &err);
        return;
    }
    char host[256], peer[64];
    int port;
    if (split_addr(r->preview_addr, host, sizeof(host), &port) < 0 || !relay_allowed(pipe, host, peer, sizeof(peer))) {
        mrun_log(MRUN_LOG_ERROR, LOG, "preview %s: refused relay address '%s' from a runner connected from %s "
                 "(its --preview-bind must be the address it connects from)", s.id, r->preview_addr, peer);
        mrun_store_preview_end(c->st, s.id, MRUN_STORE_PREVIEW_FAILED, coord_wall_ms(), &err);
        return; /* its runner is told to stop it at the next heartbeat */
    }
    if (mrun_store_preview_live(c->st, s.id, r->preview_addr, r->preview_expires_ms, &err) < 0 ||
        mrun_store_preview_get(c->st, s.id, on_live, c, &err) < 0) {
        mrun_log(MRUN_LOG_WARN, LOG, "preview %s: %s", s.id, err.msg);
        return;
    }
    char url[512] = "";
    coord_preview_url(c, s.id, url, sizeof(url));
    mrun_log(MRUN_LOG_INFO, LOG, "preview %s live at %s (relay %s)", s.id, url, r->preview_addr);
}

typedef struct hb_pv {
    mrun_store_preview_state state;
    int64_t expires_ms;
    bool found;
} hb_pv;

static int on_hb_pv(const mrun_store_preview_info *p, void *ud)
{
    hb_pv *h = ud;
    h->state = p->state;
    h->expires_ms = p->expires_ms;
    h->found = true;
    return 0;
}

void coord_preview_heartbeat(mrun_coord *c, const mrun_msg_heartbeat *h, coord_pv_reply *out)
{
    for (size_t i = 0; i < h->previews.n && i < COORD_PV_MAX; i++) {
        const char *id = h->previews.v[i].key;
        mrun_err err = MRUN_ERR_INIT;
        long long ms = 0, peak = 0;
        if (sscanf(h->previews.v[i].value, "%lld %lld", &ms, &peak) == 2)
            mrun_store_preview_stats(c->st, id, ms, peak, &err);
        hb_pv p = {0};
        mrun_store_preview_get(c->st, id, on_hb_pv, &p, &err);
        if (!p.found || p.state > MRUN_STORE_PREVIEW_LIVE) {
            snprintf(out->stop_buf[out->n_stop], sizeof(out->stop_buf[0]), "%.64s", id);
            out->stop[out->n_stop] = out->stop_buf[out->n_stop];
            out->n_stop++;
        } else {
            size_t k = out->n_exp++;
            snprintf(out->keys[k], sizeof(out->keys[0]), "%.64s", id);
            snprintf(out->vals[k], sizeof(out->vals[0]), "%lld", (long long)p.expires_ms);
            out->exp[k] = (mrun_kv){.key = out->keys[k], .value = out->vals[k]};
        }
    }
}

static int on_due(const mrun_store_preview_info *p, void *ud)
{
    mrun_coord *c = ud;
    mrun_err err = MRUN_ERR_INIT;
    if (c->proxy)
        mrun_proxy_route_remove(c->proxy, p->id);
    if (mrun_store_preview_end(c->st, p->id, MRUN_STORE_PREVIEW_EXPIRED, coord_wall_ms(), &err) == 0)
        mrun_log(MRUN_LOG_INFO, LOG, "preview %s of %s expired after %.1f s in its sandbox", p->id, p->app,
                 (double)p->sandbox_ms / 1000);
    return 0;
}

void coord_preview_tick(mrun_coord *c, int64_t now_ms)
{
    mrun_err err = MRUN_ERR_INIT;
    if (mrun_store_preview_due(c->st, now_ms, on_due, c, &err) < 0)
        mrun_log(MRUN_LOG_ERROR, LOG, "previews: %s", err.msg);
}
