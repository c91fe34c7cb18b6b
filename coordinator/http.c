/* http.c - the router on nng's HTTP server: one catch-all nng handler, our own route table with {param} segments,
 * bounds (413/414/431), bearer-token roles (401/403), JSON bodies (400 with line:column) and 500s logged once.
 *
 * Request flow, all on nng's threads: on_request (nng's handler callback) checks the head, matches a route and the
 * token; a request with a body then reads it with our own aio (body_done), and finish() runs the route handler and
 * completes nng's aio with the response. A handler that parks (long poll) leaves nng's aio pending and its call on
 * h->parked until mrun_http_wake or the wait's timeout re-runs it (run). We never free nng's aio; our own read and
 * wait aios are released with nng_aio_reap, possibly from their own callbacks. */
#include "http.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nng/nng.h>
#include <nng/supplemental/http/http.h>
#include <nng/supplemental/tls/tls.h>

#include "../common/auto.h"
#include "../common/log.h"
#include "http_int.h"

#define TAG "http"
#define MAX_SEGS 64

static const char *const roles[] = {"viewer", "submitter", "approver", "admin"};
enum { ROLE_PUBLIC = -1, ROLE_NONE = -1, ROLE_INVALID = -2, ROLE_ADMIN = 3 };

/* Immutable after mrun_http_start. segs[i] is a literal, or NULL for a {param}; all point into pat. */
struct route {
    char method[16];
    char *pattern; /* as registered, for logs and 405 */
    char *pat;     /* split copy */
    char *segs[MAX_SEGS];
    unsigned n_segs, n_params;
    int min_role; /* ROLE_PUBLIC or an index into roles */
    unsigned flags;
    mrun_http_fn fn;
    void *ctx;
};

/* Owned by the thread that called mrun_http_new until start; afterwards routes, lim and auth are read-only and
 * shared by nng's threads. mu/cv guard inflight and released, which mrun_http_free waits on. */
struct mrun_http {
    char url[300];
    nng_tls_config *tls; /* HTTPS when set (mrun_http_set_tls); the server holds its own reference */
    mrun_http_limits lim;
    struct route *routes;
    unsigned n_routes;
    mrun_http_auth_fn auth;
    void *auth_ctx;
    mrun_http_metrics_fn metrics;
    void *metrics_ctx;
    nng_http_server *srv;
    nng_http_handler *hh;
    int port;
    atomic_uint_fast64_t next_id;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned inflight; /* requests between on_request and their final nng_aio_finish */
    int released;      /* nng dropped its last reference to hh */
    struct call *parked; /* long polls waiting for mrun_http_wake or their timeout */
    unsigned n_parked;
    uint64_t wake_gen; /* bumped by every wake, so a wake while a handler runs is not lost */
    int stopping;
};

/* One request in flight; freed by finish() or on a failed body read. params and the split path point into buf. */
struct call {
    mrun_http *h;
    nng_aio *cbaio; /* nng's, completed exactly once by us */
    nng_aio *rdaio; /* ours, for the body */
    nng_http_req *nreq;
    const struct route *rt;
    mrun_http_req r;
    uint8_t *body;
    const char **params;
    char *buf; /* 3 * (ulen + 1) */
    size_t ulen;
    /* Long poll; parked, next and pprev are guarded by h->mu. */
    nng_aio *waitaio;
    struct call *next, **pprev;
    int parked;    /* in h->parked with its wait running */
    int want_park; /* the handler called mrun_http_park */
    unsigned wait_ms;
    uint64_t gen; /* h->wake_gen when the handler last began */
    char topic[128];
};

/* ---- responses ---- */

struct out {
    int status;
    const char *ctype;
    const char *body;
    size_t len;
    const char *hname, *hval; /* one extra header (Allow, WWW-Authenticate) or NULL */
    int close;                /* unread request bytes may follow: end the connection after the reply */
};

static void leave(mrun_http *h)
{
    pthread_mutex_lock(&h->mu);
    if (--h->inflight == 0)
        pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

/* Completes nng's aio with the response. The last use of h for this request (see leave). */
static void reply(mrun_http *h, nng_aio *cbaio, const struct out *o)
{
    nng_http_res *res = NULL;
    int rv = nng_http_res_alloc(&res);
    if (rv == 0)
        rv = nng_http_res_set_status(res, (uint16_t)o->status);
    if (rv == 0 && o->ctype)
        rv = nng_http_res_set_header(res, "Content-Type", o->ctype);
    if (rv == 0 && o->hname)
        rv = nng_http_res_set_header(res, o->hname, o->hval);
    if (rv == 0 && o->close)
        rv = nng_http_res_set_header(res, "Connection", "close");
    if (rv == 0 && o->len > 0)
        rv = nng_http_res_copy_data(res, o->body, o->len);
    else if (rv == 0 && o->status != 204 && o->status != 304 && o->status >= 200)
        rv = nng_http_res_set_header(res, "Content-Length", "0"); /* nng omits it; clients would read to EOF */
    if (rv != 0) {
        nng_http_res_free(res);
        nng_aio_finish(cbaio, rv); /* nng closes the connection */
    } else {
        nng_aio_set_output(cbaio, 0, res);
        nng_aio_finish(cbaio, 0);
    }
    leave(h);
}

static void reply_error(mrun_http *h, nng_aio *cbaio, int status, const char *code, const char *msg,
                        const char *hname, const char *hval, int close)
{
    mrun_http_resp resp = {0};
    struct out o = {status, NULL, NULL, 0, hname, hval, close};
    if (mrun_http_error(&resp, status, code, "%s", msg) == 0) {
        o.ctype = resp.content_type;
        o.body = resp.body;
        o.len = resp.body_len;
    }
    reply(h, cbaio, &o);
    free(resp.body);
}

static void call_free(struct call *c)
{
    if (!c)
        return;
    if (c->rdaio)
        nng_aio_reap(c->rdaio); /* may be called from rdaio's own callback */
    if (c->waitaio)
        nng_aio_reap(c->waitaio); /* likewise; never parked here */
    json_decref(c->r.json);
    free(c->body);
    free(c->params);
    free(c->buf);
    free(c);
}

/* ---- routing ---- */

/* Splits a path ("/a/b") in place into segments; returns the count or -1 past MAX_SEGS. "/" has none. */
static int split(char *p, char **segs)
{
    int n = 0;
    if (*p == '/')
        p++;
    if (*p == '\0')
        return 0;
    for (;;) {
        if (n == MAX_SEGS)
            return -1;
        segs[n++] = p;
        char *s = strchr(p, '/');
        if (!s)
            return n;
        *s = '\0';
        p = s + 1;
    }
}

static int method_match(const char *route, const char *req)
{
    return strcmp(route, req) == 0 || (strcmp(req, "HEAD") == 0 && strcmp(route, "GET") == 0);
}

/* Finds the route for c->r.path and decodes its params. Returns 0, or an HTTP status (404, 405, 400) with
 * allow filled for 405. */
static int match(struct call *c, char *allow, size_t allow_cap)
{
    mrun_http *h = c->h;
    char *segs[MAX_SEGS];
    size_t plen = strlen(c->r.path);
    char *split_copy = c->buf + c->ulen + 1; /* buf holds target, then the path's split copy, then params */
    memcpy(split_copy, c->r.path, plen + 1);
    int n = split(split_copy, segs);
    if (n < 0)
        return 404;
    size_t aused = 0;
    allow[0] = '\0';
    for (unsigned i = 0; i < h->n_routes; i++) {
        const struct route *rt = &h->routes[i];
        if (rt->n_segs != (unsigned)n)
            continue;
        int ok = 1;
        for (unsigned s = 0; s < rt->n_segs && ok; s++)
            ok = rt->segs[s] ? strcmp(rt->segs[s], segs[s]) == 0 : segs[s][0] != '\0';
        if (!ok)
            continue;
        if (!method_match(rt->method, c->r.method)) {
            int w = snprintf(allow + aused, allow_cap - aused, "%s%s", aused ? ", " : "", rt->method);
            if (w > 0 && (size_t)w < allow_cap - aused)
                aused += (size_t)w;
            continue;
        }
        char *dec = split_copy + c->ulen + 1;
        size_t cap = plen + 1;
        unsigned k = 0;
        for (unsigned s = 0; s < rt->n_segs; s++) {
            if (rt->segs[s])
                continue;
            int d = mrun_http_pct_decode(segs[s], strlen(segs[s]), 0, dec, cap);
            if (d < 0)
                return 400;
            c->params[k++] = dec;
            dec += (size_t)d + 1;
            cap -= (size_t)d + 1;
        }
        c->rt = rt;
        c->r.params = c->params;
        c->r.n_params = k;
        return 0;
    }
    return aused ? 405 : 404;
}

/* Returns the caller's role index, ROLE_NONE without a token, ROLE_INVALID for a bad one. */
static int authenticate(mrun_http *h, const char *hdr)
{
    if (!h->auth)
        return ROLE_ADMIN;
    if (!hdr)
        return ROLE_NONE;
    if (strncasecmp(hdr, "Bearer ", 7) != 0)
        return ROLE_INVALID;
    const char *tok = hdr + 7;
    while (*tok == ' ')
        tok++;
    if (*tok == '\0')
        return ROLE_INVALID;
    const char *role = NULL;
    if (h->auth(h->auth_ctx, tok, &role) < 0 || !role)
        return ROLE_INVALID;
    for (int i = 0; i < (int)(sizeof(roles) / sizeof(roles[0])); i++)
        if (strcmp(role, roles[i]) == 0)
            return i;
    mrun_log(MRUN_LOG_WARN, TAG, "auth callback returned unknown role '%.32s', treating the token as invalid", role);
    return ROLE_INVALID;
}

/* ---- long poll: park, wake, re-run ---- */

static void run(struct call *c);

/* Removes c from the parked list; returns 1 if this caller did (and so must finish c->waitaio). Under h->mu. */
static int unpark_locked(struct call *c)
{
    if (!c->parked)
        return 0;
    *c->pprev = c->next;
    if (c->next)
        c->next->pprev = c->pprev;
    c->parked = 0;
    c->h->n_parked--;
    return 1;
}

/* nng's expire thread on timeout, or nng_aio_reap/stop: whoever unparks finishes the aio. */
static void wait_cancel(nng_aio *aio, void *arg, int rv)
{
    struct call *c = arg;
    pthread_mutex_lock(&c->h->mu);
    int mine = unpark_locked(c);
    pthread_mutex_unlock(&c->h->mu);
    if (mine)
        nng_aio_finish(aio, rv);
}

/* On an nng thread after a wake (0), the wait bound (NNG_ETIMEDOUT) or a stop (NNG_ECLOSED). */
static void wait_done(void *arg)
{
    struct call *c = arg;
    int rv = nng_aio_result(c->waitaio);
    if (rv == NNG_ECLOSED) {
        reply_error(c->h, c->cbaio, 503, "unavailable", "server shutting down", NULL, NULL, 1);
        call_free(c);
        return;
    }
    c->r.wait_expired = rv != 0;
    run(c);
}

/* Starts the wait of a call whose handler parked it, and only now makes it visible to wake(): a wake since the
 * handler began (wake_gen moved) or a stop makes it re-run or answer at once instead. */
static void start_wait(struct call *c)
{
    mrun_http *h = c->h;
    c->want_park = 0;
    if (!c->waitaio && nng_aio_alloc(&c->waitaio, wait_done, c) != 0) {
        c->r.wait_expired = 1;
        run(c); /* answer with what there is */
        return;
    }
    nng_aio_set_timeout(c->waitaio, (nng_duration)c->wait_ms);
    if (!nng_aio_begin(c->waitaio))
        return; /* not reached: the aio is closed only by call_free */
    pthread_mutex_lock(&h->mu);
    int now = h->stopping || c->gen != h->wake_gen;
    if (!now) {
        c->next = h->parked;
        if (c->next)
            c->next->pprev = &c->next;
        c->pprev = &h->parked;
        h->parked = c;
        c->parked = 1;
        h->n_parked++;
        nng_aio_defer(c->waitaio, wait_cancel, c);
    }
    pthread_mutex_unlock(&h->mu);
    if (now)
        nng_aio_finish(c->waitaio, h->stopping ? NNG_ECLOSED : 0);
}

int mrun_http_park(const mrun_http_req *req, const char *topic, unsigned wait_ms, mrun_err *err)
{
    struct call *c = (struct call *)(void *)((char *)(uintptr_t)req - offsetof(struct call, r));
    mrun_http *h = c->h;
    if (req->wait_expired)
        return mrun_err_setx(err, ETIMEDOUT, "park: the wait is over; answer now");
    size_t tl = strlen(topic);
    if (tl >= sizeof(c->topic))
        return mrun_err_setx(err, EINVAL, "park: topic longer than %zu bytes", sizeof(c->topic) - 1);
    pthread_mutex_lock(&h->mu);
    int full = h->stopping || h->n_parked >= h->lim.max_parked;
    pthread_mutex_unlock(&h->mu);
    if (full)
        return mrun_err_setx(err, EAGAIN, "park: stopping, or too many waiting requests");
    memcpy(c->topic, topic, tl + 1);
    c->wait_ms = wait_ms == 0 ? 1 : wait_ms > h->lim.max_wait ? h->lim.max_wait : wait_ms;
    c->want_park = 1;
    return 0;
}

/* Finishes the waits of the parked calls on topic (all of them for NULL) with rv. */
static void wake(mrun_http *h, const char *topic, int rv)
{
    pthread_mutex_lock(&h->mu);
    h->wake_gen++;
    pthread_mutex_unlock(&h->mu);
    for (;;) {
        nng_aio *a = NULL;
        pthread_mutex_lock(&h->mu);
        for (struct call *c = h->parked; c; c = c->next) {
            if (!topic || strcmp(c->topic, topic) == 0) {
                unpark_locked(c);
                a = c->waitaio;
                break;
            }
        }
        pthread_mutex_unlock(&h->mu);
        if (!a)
            return;
        nng_aio_finish(a, rv); /* we unparked it, so nobody else finishes it */
    }
}

void mrun_http_wake(mrun_http *h, const char *topic)
{
    wake(h, topic, 0);
}

/* ---- dispatch ---- */

/* Runs the route handler on the complete request and replies. Consumes c. */
static void finish(struct call *c)
{
    mrun_http *h = c->h;
    if (c->rt->flags & MRUN_HTTP_JSON) {
        mrun_err jerr = MRUN_ERR_INIT;
        if (mrun_http_parse_json(c->r.body, c->r.body_len, h->lim.max_depth, &c->r.json, &jerr) < 0) {
            reply_error(h, c->cbaio, 400, "bad_json", jerr.msg, NULL, NULL, 0);
            call_free(c);
            return;
        }
    }
    run(c);
}

/* Runs the handler (again, after a park); replies, or leaves c parked with its wait started. Consumes c. */
static void run(struct call *c)
{
    mrun_http *h = c->h;
    const struct route *rt = c->rt;
    mrun_http_resp resp = {0};
    mrun_err err = MRUN_ERR_INIT;
    pthread_mutex_lock(&h->mu);
    c->gen = h->wake_gen;
    pthread_mutex_unlock(&h->mu);
    int rv = rt->fn(rt->ctx, &c->r, &resp, &err);
    if (rv == 0 && c->want_park) {
        free(resp.body);
        start_wait(c);
        return;
    }
    if (rv == 0 && (resp.status < 100 || resp.status > 599)) {
        rv = mrun_err_setx(&err, EINVAL, "handler set no valid status (%d)", resp.status);
    } else if (rv == 0 && resp.body_len > 0 && !resp.body) {
        rv = mrun_err_setx(&err, EINVAL, "handler set body_len without a body");
    }
    if (rv < 0) {
        mrun_log(MRUN_LOG_ERROR, TAG, "request %" PRIu64 " %s %s: %s", c->r.id, rt->method, rt->pattern,
                 err.msg[0] ? err.msg : "handler failed");
        reply_error(h, c->cbaio, 500, "internal", "internal error; see the coordinator log", NULL, NULL, 0);
    } else {
        mrun_log(MRUN_LOG_DEBUG, TAG, "request %" PRIu64 " %s %s -> %d", c->r.id, rt->method, rt->pattern,
                 resp.status);
        struct out o = {resp.status, resp.content_type, resp.body, resp.body_len, NULL, NULL, 0};
        if (!o.ctype && resp.body_len > 0)
            o.ctype = "application/json";
        reply(h, c->cbaio, &o);
    }
    free(resp.body);
    call_free(c);
}

static void body_done(void *arg)
{
    struct call *c = arg;
    int rv = nng_aio_result(c->rdaio);
    if (rv != 0) {
        mrun_http *h = c->h;
        nng_aio *cbaio = c->cbaio;
        mrun_log(MRUN_LOG_DEBUG, TAG, "request %" PRIu64 ": body not received: %s", c->r.id, nng_strerror(rv));
        call_free(c);
        nng_aio_finish(cbaio, rv == NNG_ETIMEDOUT ? NNG_ETIMEDOUT : NNG_ECLOSED); /* nng drops the connection */
        leave(h);
        return;
    }
    finish(c);
}

/* Parses Content-Length strictly (digits only). Returns 0, or -1 when malformed. */
static int content_length(const char *s, uint64_t *ret)
{
    uint64_t v = 0;
    if (!*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *ret = v;
    return 0;
}

/* Why a request is refused before its handler runs. */
struct refusal {
    int status;
    const char *code, *msg;
    const char *hname, *hval;
    int close;
};

/* Checks the request head, matches the route and the token, in that order, so that a client without the right
 * token never gets its body read. Returns 0 with *ret_len, or -1 with *no filled. */
static int check_head(struct call *c, uint64_t *ret_len, struct refusal *no, char *allow, size_t allow_cap)
{
    mrun_http *h = c->h;
    const char *auth = nng_http_req_get_header(c->nreq, "Authorization");
    const char *cl = nng_http_req_get_header(c->nreq, "Content-Length");
    uint64_t len = 0;
    *no = (struct refusal){0, NULL, NULL, NULL, NULL, 1};
    if (auth && strlen(auth) > h->lim.max_header)
        *no = (struct refusal){431, "header_too_large", "Authorization header too large", NULL, NULL, 1};
    else if (nng_http_req_get_header(c->nreq, "Transfer-Encoding"))
        *no = (struct refusal){411, "length_required", "send a Content-Length, not a chunked body", NULL, NULL, 1};
    else if (cl && content_length(cl, &len) < 0)
        *no = (struct refusal){400, "bad_request", "invalid Content-Length", NULL, NULL, 1};
    if (no->status)
        return -1;
    int unread = len > 0; /* from here on, a refusal leaves an unread body behind */
    int st = match(c, allow, allow_cap);
    if (st == 404)
        *no = (struct refusal){404, "not_found", "no such endpoint", NULL, NULL, unread};
    else if (st == 405)
        *no = (struct refusal){405, "method_not_allowed", "method not allowed", "Allow", allow, unread};
    else if (st != 0)
        *no = (struct refusal){400, "bad_request", "invalid path encoding", NULL, NULL, unread};
    if (no->status)
        return -1;
    int role = authenticate(h, auth);
    c->r.token_role = role >= 0 ? roles[role] : NULL;
    if (c->rt->min_role != ROLE_PUBLIC && role < 0)
        *no = (struct refusal){401, "unauthorized", role == ROLE_NONE ? "a bearer token is required" : "invalid token",
                               "WWW-Authenticate", "Bearer realm=\"mrun\"", unread};
    else if (c->rt->min_role != ROLE_PUBLIC && role < c->rt->min_role)
        *no = (struct refusal){403, "forbidden", "this needs a higher role", NULL, NULL, unread};
    else if (len > h->lim.max_body)
        *no = (struct refusal){413, "payload_too_large", "body too large", NULL, NULL, 1};
    if (no->status)
        return -1;
    *ret_len = len;
    return 0;
}

/* nng's handler callback for every request; nng has already begun aio for us. Never blocks on the network. */
static void on_request(nng_aio *aio)
{
    nng_http_req *nreq = nng_aio_get_input(aio, 0);
    nng_http_handler *hh = nng_aio_get_input(aio, 1);
    nng_http_conn *conn = nng_aio_get_input(aio, 2);
    mrun_http *h = nng_http_handler_get_data(hh);
    pthread_mutex_lock(&h->mu);
    h->inflight++;
    pthread_mutex_unlock(&h->mu);

    const char *uri = nng_http_req_get_uri(nreq);
    size_t ulen = strlen(uri);
    if (ulen > h->lim.max_target) {
        reply_error(h, aio, 414, "uri_too_long", "request target too long", NULL, NULL, 1);
        return;
    }
    struct call *c = calloc(1, sizeof(*c));
    if (c) {
        c->buf = malloc(3 * (ulen + 1));
        c->params = calloc(h->lim.max_params ? h->lim.max_params : 1, sizeof(*c->params));
    }
    if (!c || !c->buf || !c->params) {
        call_free(c);
        nng_aio_finish(aio, NNG_ENOMEM);
        leave(h);
        return;
    }
    c->h = h;
    c->ulen = ulen;
    c->cbaio = aio;
    c->nreq = nreq;
    c->r.id = atomic_fetch_add(&h->next_id, 1) + 1;
    c->r.method = nng_http_req_get_method(nreq);
    memcpy(c->buf, uri, ulen + 1);
    char *q = strchr(c->buf, '?');
    c->r.query = q ? q + 1 : "";
    if (q)
        *q = '\0';
    c->r.path = c->buf;
    if (c->r.path[0] != '/') {
        reply_error(h, aio, 400, "bad_request", "request target must be a path", NULL, NULL, 1);
        call_free(c);
        return;
    }

    uint64_t len = 0;
    struct refusal no;
    char allow[128];
    if (check_head(c, &len, &no, allow, sizeof(allow)) < 0) {
        reply_error(h, aio, no.status, no.code, no.msg, no.hname, no.hval, no.close);
        call_free(c);
        return;
    }
    if (len == 0) {
        finish(c);
        return;
    }
    nng_iov iov;
    if (!(c->body = malloc((size_t)len)) || nng_aio_alloc(&c->rdaio, body_done, c) != 0) {
        call_free(c);
        nng_aio_finish(aio, NNG_ENOMEM);
        leave(h);
        return;
    }
    c->r.body = c->body;
    c->r.body_len = (size_t)len;
    iov.iov_buf = c->body;
    iov.iov_len = (size_t)len;
    nng_aio_set_iov(c->rdaio, 1, &iov);
    nng_aio_set_timeout(c->rdaio, (nng_duration)h->lim.body_timeout);
    nng_http_conn_read_all(conn, c->rdaio);
}

static void on_handler_free(void *arg)
{
    mrun_http *h = arg;
    pthread_mutex_lock(&h->mu);
    h->released = 1;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

/* ---- built-in routes ---- */

static int healthz(void *ctx, const mrun_http_req *req, mrun_http_resp *resp, mrun_err *err)
{
    (void)ctx;
    (void)req;
    if (!(resp->body = strdup("ok\n")))
        return mrun_err_set(err, ENOMEM, "healthz");
    resp->status = 200;
    resp->body_len = 3;
    resp->content_type = "text/plain; charset=utf-8";
    return 0;
}

static int metrics_route(void *ctx, const mrun_http_req *req, mrun_http_resp *resp, mrun_err *err)
{
    mrun_http *h = ctx;
    (void)req;
    mrun_metrics *m = NULL;
    if (mrun_metrics_new(16u << 20, &m, err) < 0)
        return -1;
    if (h->metrics(h->metrics_ctx, m, err) < 0) {
        mrun_metrics_free(m);
        return mrun_err_prefix(err, "metrics");
    }
    size_t len;
    const char *t = mrun_metrics_text(m, &len);
    resp->body = malloc(len + 1);
    if (!resp->body) {
        mrun_metrics_free(m);
        return mrun_err_set(err, ENOMEM, "metrics");
    }
    memcpy(resp->body, t, len + 1);
    resp->body_len = len;
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    mrun_metrics_free(m);
    return 0;
}

/* ---- lifecycle ---- */

static int parse_role(const char *s)
{
    for (int i = 0; i < (int)(sizeof(roles) / sizeof(roles[0])); i++)
        if (strcmp(s, roles[i]) == 0)
            return i;
    return ROLE_INVALID;
}

int mrun_http_new(const char *listen, const mrun_http_limits *lim, mrun_http **ret_h, mrun_err *err)
{
    mrun_http *h = calloc(1, sizeof(*h));
    if (!h)
        return mrun_err_set(err, errno, "http");
    int n = snprintf(h->url, sizeof(h->url), "http://%s", listen);
    if (n < 0 || (size_t)n >= sizeof(h->url) || !strchr(listen, ':')) {
        free(h);
        return mrun_err_setx(err, EINVAL, "http: invalid listen address '%.64s' (want HOST:PORT)", listen);
    }
    if (lim)
        h->lim = *lim;
    h->lim.max_body = h->lim.max_body ? h->lim.max_body : 8u << 20;
    h->lim.max_target = h->lim.max_target ? h->lim.max_target : 2048;
    h->lim.max_header = h->lim.max_header ? h->lim.max_header : 4096;
    h->lim.max_params = h->lim.max_params ? h->lim.max_params : 8;
    h->lim.max_routes = h->lim.max_routes ? h->lim.max_routes : 256;
    h->lim.max_depth = h->lim.max_depth ? h->lim.max_depth : 32;
    h->lim.body_timeout = h->lim.body_timeout ? h->lim.body_timeout : 30000;
    h->lim.max_parked = h->lim.max_parked ? h->lim.max_parked : 1024;
    h->lim.max_wait = h->lim.max_wait ? h->lim.max_wait : 30000;
    h->port = -1;
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    if (!(h->routes = calloc(h->lim.max_routes, sizeof(*h->routes))) ||
        mrun_http_route(h, "GET", "/healthz", NULL, 0, healthz, NULL, err) < 0) {
        mrun_http_free(h);
        return mrun_err_prefix(err, "http");
    }
    *ret_h = h;
    return 0;
}

static int valid_method(const char *m)
{
    size_t n = strlen(m);
    if (n == 0 || n >= sizeof(((struct route *)0)->method) || strcmp(m, "HEAD") == 0)
        return 0;
    for (; *m; m++)
        if (*m < 'A' || *m > 'Z')
            return 0;
    return 1;
}

int mrun_http_route(mrun_http *h, const char *method, const char *pattern, const char *min_role, unsigned flags,
                    mrun_http_fn fn, void *ctx, mrun_err *err)
{
    if (h->srv)
        return mrun_err_setx(err, EINVAL, "route %s: server already started", pattern);
    if (!valid_method(method))
        return mrun_err_setx(err, EINVAL, "route %s: invalid method '%.16s'", pattern, method);
    if (pattern[0] != '/' || strlen(pattern) > h->lim.max_target)
        return mrun_err_setx(err, EINVAL, "route '%.64s': pattern must start with '/'", pattern);
    if (h->n_routes == h->lim.max_routes)
        return mrun_err_setx(err, E2BIG, "route %s: more than %u routes", pattern, h->lim.max_routes);
    int role = min_role ? parse_role(min_role) : ROLE_PUBLIC;
    if (role == ROLE_INVALID)
        return mrun_err_setx(err, EINVAL, "route %s: unknown role '%.32s'", pattern, min_role);
    struct route *rt = &h->routes[h->n_routes];
    memset(rt, 0, sizeof(*rt));
    if (!(rt->pattern = strdup(pattern)) || !(rt->pat = strdup(pattern))) {
        free(rt->pattern);
        return mrun_err_set(err, ENOMEM, "route %s", pattern);
    }
    int n = split(rt->pat, rt->segs);
    const char *why = n < 0 ? "too many segments" : NULL;
    for (int i = 0; i < n && !why; i++) {
        size_t l = strlen(rt->segs[i]);
        if (l == 0)
            why = "empty segment";
        else if (rt->segs[i][0] == '{' && rt->segs[i][l - 1] == '}' && l > 2) {
            rt->segs[i] = NULL;
            rt->n_params++;
        } else if (strpbrk(rt->segs[i], "{}?%"))
            why = "invalid literal segment";
    }
    if (!why && rt->n_params > h->lim.max_params)
        why = "too many parameters";
    for (unsigned i = 0; i < h->n_routes && !why; i++)
        if (strcmp(h->routes[i].pattern, pattern) == 0 && strcmp(h->routes[i].method, method) == 0)
            why = "already registered";
    if (why) {
        int e = strcmp(why, "already registered") == 0 ? EEXIST : strncmp(why, "too many", 8) == 0 ? E2BIG : EINVAL;
        free(rt->pattern);
        free(rt->pat);
        return mrun_err_setx(err, e, "route %s %s: %s", method, pattern, why);
    }
    rt->n_segs = (unsigned)n;
    memcpy(rt->method, method, strlen(method) + 1);
    rt->min_role = role;
    rt->flags = flags;
    rt->fn = fn;
    rt->ctx = ctx;
    h->n_routes++;
    return 0;
}

void mrun_http_set_auth(mrun_http *h, mrun_http_auth_fn check, void *ctx)
{
    h->auth = check;
    h->auth_ctx = ctx;
}

int mrun_http_set_metrics(mrun_http *h, const char *min_role, mrun_http_metrics_fn fn, void *ctx, mrun_err *err)
{
    h->metrics = fn;
    h->metrics_ctx = ctx;
    return mrun_http_route(h, "GET", "/metrics", min_role, 0, metrics_route, h, err);
}

static void stop_server(mrun_http *h);

static int nng_fail(mrun_err *err, int rv, const char *what)
{
    int e = rv == NNG_EADDRINUSE ? EADDRINUSE : rv == NNG_EADDRINVAL ? EADDRNOTAVAIL : rv == NNG_ENOMEM ? ENOMEM : EIO;
    return mrun_err_setx(err, e, "%s: %s", what, nng_strerror(rv));
}

int mrun_http_set_tls(mrun_http *h, const char *cert_pem, const char *key_pem, mrun_err *err)
{
    assert(!h->srv);
    char url[sizeof(h->url)];
    if (snprintf(url, sizeof(url), "https://%s", h->url + 7) >= (int)sizeof(url))
        return mrun_err_setx(err, E2BIG, "http: address too long for https");
    int rv = nng_tls_config_alloc(&h->tls, NNG_TLS_MODE_SERVER);
    if (rv == 0)
        rv = nng_tls_config_own_cert(h->tls, cert_pem, key_pem, NULL);
    if (rv != 0) {
        if (h->tls)
            nng_tls_config_free(h->tls);
        h->tls = NULL;
        return nng_fail(err, rv, "https certificate");
    }
    memcpy(h->url, url, sizeof(url));
    return 0;
}

int mrun_http_start(mrun_http *h, mrun_err *err)
{
    assert(!h->srv);
    nng_url *url = NULL;
    int rv = nng_url_parse(&url, h->url);
    if (rv != 0)
        return nng_fail(err, rv, h->url);
    rv = nng_http_server_hold(&h->srv, url);
    nng_url_free(url);
    if (rv == 0 && h->tls)
        rv = nng_http_server_set_tls(h->srv, h->tls);
    if (rv != 0) {
        if (h->srv)
            nng_http_server_release(h->srv);
        h->srv = NULL;
        return nng_fail(err, rv, h->url);
    }
    /* One catch-all handler for every method; we read bodies ourselves to answer 413 rather than nng's 400.
     * If another mrun_http holds the same unstarted address, nng returns the same server and this add fails. */
    if ((rv = nng_http_handler_alloc(&h->hh, "/", on_request)) != 0 || (rv = nng_http_handler_set_tree(h->hh)) != 0 ||
        (rv = nng_http_handler_set_method(h->hh, NULL)) != 0 ||
        (rv = nng_http_handler_collect_body(h->hh, false, 0)) != 0 ||
        (rv = nng_http_handler_set_data(h->hh, h, on_handler_free)) != 0 ||
        (rv = nng_http_server_add_handler(h->srv, h->hh)) != 0) {
        if (h->hh)
            nng_http_handler_free(h->hh); /* runs on_handler_free once set_data succeeded */
        h->hh = NULL;
        h->released = 1;
        nng_http_server_release(h->srv);
        h->srv = NULL;
        return nng_fail(err, rv, h->url);
    }
    nng_sockaddr sa;
    if ((rv = nng_http_server_start(h->srv)) != 0 || (rv = nng_http_server_get_addr(h->srv, &sa)) != 0) {
        nng_fail(err, rv, h->url);
        stop_server(h);
        return -1;
    }
    h->port = sa.s_family == NNG_AF_INET6 ? ntohs(sa.s_in6.sa_port) : ntohs(sa.s_in.sa_port);
    mrun_log(MRUN_LOG_INFO, TAG, "listening on %s (port %d), %u routes", h->url, h->port, h->n_routes);
    return 0;
}

int mrun_http_port(const mrun_http *h)
{
    return h->port;
}

/* Stops nng's server and waits until nng has dropped our handler and no request of ours is in flight, so that
 * route contexts can be freed right after mrun_http_free returns. */
static void stop_server(mrun_http *h)
{
    if (!h->srv)
        return;
    pthread_mutex_lock(&h->mu);
    h->stopping = 1;
    pthread_mutex_unlock(&h->mu);
    wake(h, NULL, NNG_ECLOSED); /* parked long polls answer 503 */
    nng_http_server_stop(h->srv);
    nng_http_server_release(h->srv);
    h->srv = NULL;
    pthread_mutex_lock(&h->mu);
    while (!h->released || h->inflight > 0)
        pthread_cond_wait(&h->cv, &h->mu);
    pthread_mutex_unlock(&h->mu);
    h->hh = NULL;
    h->port = -1;
}

void mrun_http_free(mrun_http *h)
{
    if (!h)
        return;
    stop_server(h);
    if (h->tls)
        nng_tls_config_free(h->tls);
    for (unsigned i = 0; h->routes && i < h->n_routes; i++) {
        free(h->routes[i].pattern);
        free(h->routes[i].pat);
    }
    free(h->routes);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
