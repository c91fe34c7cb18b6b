/* coord_api.c - the coordinator's HTTP API (docs/api.md): blobs, pipelines, their stages, logs and artifacts,
 * cancel and retry, runners. Handlers run on nng's threads; they share one store connection under a mutex (short
 * statements only) and hand submissions to mrun_coord_submit_pipeline. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/auto.h"
#include "../common/log.h"
#include "../common/parse.h"
#include "coord_int.h"
#include "http.h"
#include "proxy.h"

#define MAX_SOURCE (256u << 20)

typedef struct coord_api {
    mrun_coord *c;
    mrun_http *http;
    pthread_mutex_t mu; /* guards st */
    mrun_store *st;
} coord_api;

static const char *const stage_state_names[] = {"waiting", "ready",  "running",  "passed",
                                                "failed",  "skipped", "cancelled"};
static const char *const pipeline_state_names[] = {"queued", "running", "passed", "failed", "cancelled"};

/* ---- auth: the store keeps token hashes and roles ---- */

static int check_token(void *ctx, const char *token, const char **ret_role)
{
    static const char *const roles[] = {"viewer", "submitter", "approver", "admin"};
    coord_api *a = ctx;
    mrun_err err = MRUN_ERR_INIT;
    char *role = NULL;
    pthread_mutex_lock(&a->mu);
    int r = mrun_store_token_check(a->st, token, &role, &err);
    pthread_mutex_unlock(&a->mu);
    if (r < 0)
        return -1;
    int found = -1;
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
        if (strcmp(role, roles[i]) == 0)
            found = (int)i;
    free(role);
    if (found < 0)
        return -1; /* e.g. a runner token: no API access */
    *ret_role = roles[found];
    return 0;
}

/* ---- PUT /api/v1/blobs ---- */

static int put_blob(void *ctx, const mrun_http_req *req, mrun_http_resp *resp, mrun_err *err)
{
    coord_api *a = ctx;
    char digest[MRUN_STORE_DIGEST_LEN + 1];
    mrun_store_blob_writer *w = NULL;
    pthread_mutex_lock(&a->mu);
    int r = mrun_store_blob_put_init(a->st, &w, err);
    if (r == 0 && (r = mrun_store_blob_put_update(w, req->body, req->body_len, err)) < 0)
        mrun_store_blob_writer_free(w);
    if (r == 0)
        r = mrun_store_blob_put_finish(w, NULL, digest, err);
    pthread_mutex_unlock(&a->mu);
    if (r < 0)
        return -1;
    return mrun_http_json(resp, 201, json_pack("{s:s, s:I}", "digest", digest, "size", (json_int_t)req->body_len));
}

/* ---- POST /api/v1/pipelines ---- */

static const char *jstr(json_t *o, const char *key, const char *dflt)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : dflt;
}

static int post_pipeline(void *ctx, const mrun_http_req *req, mrun_http_resp *resp, mrun_err *err)
{
    coord_api *a = ctx;
    const char *yaml = jstr(req->json, "pipeline", NULL), *source = jstr(req->json, "source", NULL);
    if (!yaml || !source)
        return mrun_http_error(resp, 400, "bad_request", "'pipeline' and 'source' are required strings");
    const char *event = jstr(req->json, "event", "push");
    if (strcmp(event, "push") != 0 && strcmp(event, "pull_request") != 0 && strcmp(event, "manual") != 0)
        return mrun_http_error(resp, 400, "bad_request", "'event' must be push, pull_request or manual");
    bool has = false;
    pthread_mutex_lock(&a->mu);
    int r = mrun_store_blob_has(a->st, source, &has, err);
    pthread_mutex_unlock(&a->mu);
    if (r < 0 || !has)
        return mrun_http_error(resp, 400, "unknown_source", "'source' must be the digest of a blob uploaded first");
    const char *ref = jstr(req->json, "ref", "refs/heads/main");
    const char *branch = jstr(req->json, "branch", strncmp(ref, "refs/heads/", 11) == 0 ? ref + 11 : ref);
    mrun_coord_submit sub = {.file = jstr(req->json, "file", ".mrun/pipeline.yml"),
                             .yaml = (const uint8_t *)yaml,
                             .yaml_len = strlen(yaml),
                             .source_digest = source,
                             .event = event,
                             .ref = ref,
                             .branch = branch,
                             .submitter = jstr(req->json, "submitter", req->token_role ? req->token_role : ""),
                             .agent = jstr(req->json, "agent", "")};
    char id[33];
    mrun_err serr = MRUN_ERR_INIT;
    if (mrun_coord_submit_pipeline(a->c, &sub, id, &serr) < 0) {
        if (serr.sys_errno == EINVAL || serr.sys_errno == E2BIG)
            return mrun_http_error(resp, 422, "invalid_pipeline", "%s", serr.msg);
        *err = serr;
        return -1;
    }
    return mrun_http_json(resp, 201, json_pack("{s:s}", "id", id));
}

/* ---- GET /api/v1/pipelines/{id} and the list ---- */

static int add_stage(const mrun_store_stage_info *s, void *ud)
{
    json_t *arr = ud;
    json_t *o = json_pack("{s:s, s:s, s:i, s:I, s:I}", "name", s->name, "state",
                          (unsigned)s->state < 7 ? stage_state_names[s->state] : "?", "attempt", s->attempt,
                          "started_ms", (json_int_t)s->started_ms, "finished_ms", (json_int_t)s->finished_ms);
    if (o) {
        json_object_set_new(o, "exit_code", s->has_exit_code ? json_integer(s->exit_code) : json_null());
        json_array_append_new(arr, o);
    }
    return 0;
}

static json_t *pipeline_json(const mrun_store_pipeline_info *p)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I}", "id", p->id, "name", p->name, "state",
                     (unsigned)p->state < 5 ? pipeline_state_names[p->state] : "?", "event", p->event, "ref", p->ref,
                     "agent", p->agent ? p->agent : "", "created_ms", (json_int_t)p->created_ms, "finished_ms",
                     (json_int_t)p->finished_ms);
}

static int keep_pipeline(const mrun_store_pipeline_info *p, void *ud)
{
    json_t **out = ud;
    *out = pipeline_json(p);
    return 0;
}

static int get_pipeline(void *ctx, const mrun_http_req *req, mrun_http_resp *resp, mrun_err *err)
{
    coord_api *a = ctx;
    json_t *p = NULL;
    json_t *stages = json_array();
    pthread_mutex_lock(&a->mu);
    int r = mrun_store_pipeline_get(a->st, req->params[0], keep_pipeline, &p, err);
    if (r == 0)
        r = mrun_store_stage_list(a->st, req->params[0], -1, add_stage, stages, err);
    pthread_mutex_unlock(&a->mu);
    if (r < 0 || !p) {
        json_decref(p);
        json_decref(stages);
        if (err->sys_errno == ENOENT)
            return mrun_http_error(resp, 404, "not_found", "no pipeline '%.64s'", req->params[0]);
        return -1;
    }
    json_object_set_new(p, "stages", stages);
    return mrun_http_json(resp, 200, p);
}

static int list_one(const mrun_store_pipeline_info *p, void *ud)
{
    json_array_append_new(ud, pipeline_json(p));
    return 0;
}

static int list_pipelines(void *ctx, const mrun_http_req *req, mrun_http_resp *resp, mrun_err *err)
{
    coord_api *a = ctx;
    char buf[16];
    long limit = 50;
    if (mrun_http_query(req, "limit", buf, sizeof(buf)) > 0) {
        limit = strtol(buf, NULL, 10);
        if (limit < 1 || limit > 1000)
            return mrun_http_error(resp, 400, "bad_request", "limit must be 1-1000");
    }
    json_t *arr = json_array();
    pthread_mutex_lock(&a->mu);
    int r = mrun_store_pipeline_list(a->st, -1, (size_t)limit, list_one, arr, err);
    pthread_mutex_unlock(&a->mu);
    if (r < 0) {
        json_decref(arr);
        return -1;
    }
    return mrun_http_json(resp, 200, json_pack("{s:o}", "pipelines", arr));
}

/* ---- GET /api/v1/pipelines/{id}/logs/{stage}?from=N&wait=MS ---- */

typedef struct log_acc {
    char *buf;
    size_t len, cap;
} log_acc;

static int add_log(const mrun_store_log_chunk *ch, void *ud)
{
    log_acc *acc = ud;
    char mark[96];
    int ml = 0;
    /* where a later attempt begins, say so: the earlier attempt's log stays, marked as such */
    if (ch->seq == 0 && ch->attempt > 1)
        ml = snprintf(mark, sizeof(mark), "--- attempt %d (attempt %d was lost or failed) ---\n", ch->attempt,
                      ch->attempt - 1);
    if (ml > 0) {
        mrun_store_log_chunk m = {.attempt = ch->attempt, .seq = 1, .data = mark, .len = (size_t)ml};
        if (add_log(&m, acc))
            return 1;
    }
    if (acc->len + ch->len > (4u << 20))
        return 1; /* the rest comes with the next request */
    if (acc->len + ch->len + 1 > acc->cap) {
        size_t cap = (acc->len + ch->len + 1) * 2;
        char *nb = realloc(acc->buf, cap);
        if (!nb)
            return 1;
        acc->buf = nb;
        acc->cap = cap;
    }
    memcpy(acc->buf + acc->len, ch->data, ch->len);
    acc->len += ch->len;
    return 0;
}

/* JSON strings must be UTF-8: job output need not be, so invalid bytes become U+FFFD. */
static json_t *utf8_string(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    if (j)
        return j;
    char *out = malloc(n * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char ch = (unsigned char)s[i];
        size_t len = ch < 0x80 ? 1 : (ch >> 5) == 6 ? 2 : (ch >> 4) == 14 ? 3 : (ch >> 3) == 30 ? 4 : 0;
        bool ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++)
            ok = ((unsigned char)s[i + k] >> 6) == 2;
        if (ok && len > 1 && json_stringn(s + i, len) == NULL)
            ok = false;
        if (ok && ch != 0) {
            memcpy(out + o, s + i, len);
            o += len;
            i += len;
        } else {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    j = json_stringn(out, o);
    free(out);
    return j;
}

typedef struct stage_done {
    const char *name;
    bool found, done;
} stage_done;

static int find_done(const mrun_store_stage_info *s, void *ud)
{
    stage_done *d = ud;
    if (strcmp(s->name, d->name) == 0)
        d->found = true;
    if (strcmp(s->name, d->name) == 0)
        d->done = s->state == MRUN_STORE_STAGE_PASSED || s->state == MRUN_STORE_STAGE_FAILED ||
                  s->state == MRUN_STORE_STAGE_SKIPPED || s->state == MRUN_STORE_STAGE_CANCELLED;
    return 0;
}

static int get_logs(void *ctx, const mrun_http_req *req, mrun_http_resp *resp, mrun_err *err)
{
    coord_api *a = ctx;
    char buf[32];
    uint64_t from = 0;
    long wait = 0;
    if (mrun_http_query(req, "from", buf, sizeof(buf)) > 0)
        from = strtoull(buf, NULL, 10);
    if (mrun_http_query(req, "wait", buf, sizeof(buf)) > 0)
        wait = strtol(buf, NULL, 10);
    log_acc acc = {0};
    uint64_t next = from;
    stage_done sd = {.name = req->params[1]};
    pthread_mutex_lock(&a->mu);
    int r = mrun_store_stage_list(a->st, req->params[0], -1, find_done, &sd, err);
    if (r == 0)
        r = mrun_store_log_read(a->st, req->params[0], req->params[1], from, add_log, &acc, &next, err);
    pthread_mutex_unlock(&a->mu);
    if (r < 0) {
        free(acc.buf);
        return -1;
    }
    if (!sd.found) {
        free(acc.buf);
        return mrun_http_error(resp, 404, "not_found", "no stage '%.64s' in pipeline '%.64s'", req->params[1],
                               req->params[0]);
    }
    if (acc.len == 0 && !sd.done && wait > 0 && !req->wait_expired) {
        /* nothing new yet: come back when the wait ends (the runner's next chunk does not wake us yet) */
        mrun_err perr = MRUN_ERR_INIT;
        if (mrun_http_park(req, "logs", (unsigned)(wait > 1000 ? 1000 : wait), &perr) == 0)
            return 0;
    }
    json_t *data = utf8_string(acc.buf ? acc.buf : "", acc.len);
    free(acc.buf);
    return mrun_http_json(resp, 200,
                          json_pack("{s:o, s:I, s:b}", "data", data, "next", (json_int_t)next, "done", sd.done));
}

/* ---- POST /api/v1/pipelines/{id}/retry ---- */

static int retry_pipeline(void *ctx, const mrun_http_req *req, mrun_http_resp *resp, mrun_err *err)
{
    coord_api *a = ctx;
    mrun_cleanup(json_decrefp) json_t *body = NULL;
    const char *stage = NULL;
    if (req->body_len > 0) { /* the body is optional: no MRUN_HTTP_JSON on the route */
        mrun_err perr = MRUN_ERR_INIT;
        if (mrun_http_parse_json(req->body, req->body_len, 32, &body, &perr) < 0)
            return mrun_http_error(resp, 400, "bad_json", "%s", perr.msg);
        json_t *js = json_is_object(body) ? json_object_get(body, "stage") : NULL;
        if (!json_is_object(body) || (js && !json_is_null(js) && !json_is_string(js)))
            return mrun_http_error(resp, 400, "bad_request", "the body must be {\"stage\": NAME} or empty");
        stage = json_string_value(js);
    }
    size_t n = 0;
    mrun_err rerr = MRUN_ERR_INIT;
    pthread_mutex_lock(&a->mu);
    int r = mrun_store_pipeline_retry(a->st, req->params[0], stage, &n, &rerr);
    pthread_mutex_unlock(&a->mu);
    if (r < 0) {
        if (rerr.sys_errno == ENOENT)
            return mrun_http_error(resp, 404, "not_found", "%s", rerr.msg);
        if (rerr.sys_errno == ESTALE)
            return mrun_http_error(resp, 409, "conflict", "%s", rerr.msg);
        *err = rerr;
        return -1;
    }
    mrun_log(MRUN_LOG_INFO, "coordinator", "pipeline %s: %zu stage(s) retried%s%.64s%s", req->params[0], n,
             stage ? " from '" : "", stage ? stage : "", stage ? "'" : "");
    coord_kick_pipeline(a->c, req->params[0]); /* the worker reconciles the waiting stages and leases the ready ones to parked runners */
    return mrun_http_json(resp, 200, json_pack("{s:I}", "retried", (json_int_t)n));
}

/* ---- GET /api/v1/pipelines/{id}/artifacts and GET /api/v1/blobs/{digest} ---- */

static int add_artifact(const mrun_store_artifact_info *ai, void *ud)
{
    json_array_append_new(ud, json_pack("{s:s, s:s, s:s, s:I}", "stage", ai->stage, "path", ai->path, "digest",
                                        ai->digest, "size", (json_int_t)ai->size));
    return 0;
}

static int ignore_pipeline(const mrun_store_pipeline_info *p, void *ud)
{
    (void)p;
    (void)ud;
    return 0;
}

static int list_artifacts(void *ctx, const mrun_http_req *req, mrun_http_resp *resp, mrun_err *err)
{
    coord_api *a = ctx;
    json_t *arr = json_array();
    pthread_mutex_lock(&a->mu);
    int r = mrun_store_pipeline_get(a->st, req->params[0], ignore_pipeline, NULL, err);
    if (r == 0)
        r = mrun_store_artifact_list(a->st, req->params[0], add_artifact, arr, err);
    pthread_mutex_unlock(&a->mu);
    if (r < 0) {
        json_decref(arr);
        if (err->sys_errno == ENOENT)
            return mrun_http_error(resp, 404, "not_found", "no pipeline '%.64s'", req->params[0]);
        return -1;
    }
    return mrun_http_json(resp, 200, json_pack("{s:o}", "artifacts", arr));
}

static bool digest_ok(const char *d)
{
    size_t i = 0;
    for (; d[i]; i++)
        if (!((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f')))
            return false;
    return i == MRUN_STORE_DIGEST_LEN;
}

/* nng 1.5.2 builds each response whole, so a blob is read into memory: at most MAX_SOURCE bytes. */
static int get_blob(void *ctx, const mrun_http_req *req, mrun_http_resp *resp, mrun_err *err)
{
    coord_api *a = ctx;
    const char *digest = req->params[0];
    if (!digest_ok(digest))
        return mrun_http_error(resp, 400, "bad_request", "a digest is 64 lowercase hex digits");
    mrun_autoclose int fd = -1;
    uint64_t size = 0;
    pthread_mutex_lock(&a->mu);
    int r = mrun_store_blob_get(a->st, digest, &fd, &size, err);
    pthread_mutex_unlock(&a->mu);
    if (r < 0) {
        if (err->sys_errno == ENOENT)
            return mrun_http_error(resp, 404, "not_found", "no blob %s", digest);
        return -1;
    }
    if (size > MAX_SOURCE)
        return mrun_http_error(resp, 413, "too_large", "blob %s has %llu bytes, more than this server sends (%u)",
                               digest, (unsigned long long)size, MAX_SOURCE);
    mrun_autofree char *buf = malloc(size ? (size_t)size : 1);
    if (!buf)
        return mrun_err_set(err, ENOMEM, "blob %s", digest);
    size_t got = 0;
    while (got < size) {
        ssize_t k = pread(fd, buf + got, (size_t)size - got, (off_t)got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return mrun_err_set(err, errno, "read blob %s", digest);
        if (k == 0)
            return mrun_err_setx(err, EIO, "blob %s: shorter than its %llu bytes", digest, (unsigned long long)size);
        got += (size_t)k;
    }
    free(resp->body);
    resp->status = 200;
    resp->body_len = (size_t)size;
    resp->body = mrun_steal_ptr(&buf);
    resp->content_type = "application/octet-stream";
    return 0;
}

/* ---- cancel, runners ---- */

typedef struct cancel_list {
    char names[256][128];
    int states[256];
    size_t n;
} cancel_list;

static int collect_open_stage(const mrun_store_stage_info *s, void *ud)
{
    cancel_list *l = ud;
    if (l->n < 256 && (s->state == MRUN_STORE_STAGE_WAITING || s->state == MRUN_STORE_STAGE_READY ||
                       s->state == MRUN_STORE_STAGE_RUNNING)) {
        snprintf(l->names[l->n], sizeof(l->names[0]), "%s", s->name);
        l->states[l->n++] = (int)s->state;
    }
    return 0;
}

static int cancel_pipeline(void *ctx, const mrun_http_req *req, mrun_http_resp *resp, mrun_err *err)
{
    coord_api *a = ctx;
    cancel_list *l = calloc(1, sizeof(*l));
    if (!l)
        return mrun_err_set(err, ENOMEM, "cancel");
    int n = 0;
    pthread_mutex_lock(&a->mu);
    int r = mrun_store_stage_list(a->st, req->params[0], -1, collect_open_stage, l, err);
    /* a running stage's lease is revoked with it: the runner hears it at its next heartbeat and kills the step */
    for (size_t i = 0; r == 0 && i < l->n; i++)
        if (mrun_store_stage_set_state(a->st, req->params[0], l->names[i], (mrun_store_stage_state)l->states[i],
                                       MRUN_STORE_STAGE_CANCELLED, coord_wall_ms(), err) == 0)
            n++;
    pthread_mutex_unlock(&a->mu);
    free(l);
    if (r < 0)
        return -1;
    return mrun_http_json(resp, 200, json_pack("{s:i}", "cancelled", n));
}

static int add_runner(const mrun_store_runner_info *ri, void *ud)
{
    json_array_append_new(ud, json_pack("{s:s, s:s, s:s, s:i, s:I, s:b}", "id", ri->id, "name", ri->name, "labels",
                                        ri->labels, "slots", ri->slots, "last_seen_ms", (json_int_t)ri->last_seen_ms,
                                        "online", ri->online));
    return 0;
}

static int list_runners(void *ctx, const mrun_http_req *req, mrun_http_resp *resp, mrun_err *err)
{
    (void)req;
    coord_api *a = ctx;
    json_t *arr = json_array();
    pthread_mutex_lock(&a->mu);
    int r = mrun_store_runner_list(a->st, add_runner, arr, err);
    pthread_mutex_unlock(&a->mu);
    if (r < 0) {
        json_decref(arr);
        return -1;
    }
    return mrun_http_json(resp, 200, json_pack("{s:o}", "runners", arr));
}

/* ---- previews: GET /api/v1/previews, POST /api/v1/previews/{id}/extend, DELETE /api/v1/previews/{id} ---- */

typedef struct pv_list {
    coord_api *a;
    json_t *arr;
} pv_list;

static int add_preview(const mrun_store_preview_info *p, void *ud)
{
    pv_list *l = ud;
    char url[512] = "";
    bool live = p->state <= MRUN_STORE_PREVIEW_LIVE;
    if (live && coord_preview_url(l->a->c, p->id, url, sizeof(url)) == 0 && p->private_ && l->a->c->proxy) {
        /* a private preview's URL is a signed link, valid until the preview expires */
        mrun_err e = MRUN_ERR_INIT;
        char *q = NULL;
        if (mrun_proxy_sign_query(l->a->c->proxy, p->id, p->expires_ms / 1000 + 1, &q, &e) == 0) {
            size_t n = strlen(url);
            snprintf(url + n, sizeof(url) - n, "?%s", q);
        }
        free(q);
    }
    json_t *o = json_pack("{s:s,s:s?,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:I,s:I,s:I,s:f,s:I}", "id", p->id, "url",
                          url[0] ? url : NULL, "pipeline_id", p->pipeline_id, "stage", p->stage, "app", p->app, "ref",
                          p->ref, "runner_id", p->runner_id, "state", mrun_store_preview_state_name(p->state),
                          "private", p->private_, "created_ms", (json_int_t)p->created_ms, "expires_ms",
                          (json_int_t)p->expires_ms, "stopped_ms", (json_int_t)p->stopped_ms, "sandbox_seconds",
                          (double)p->sandbox_ms / 1000.0, "peak_memory_bytes", (json_int_t)p->peak_mem);
    return o ? json_array_append_new(l->arr, o) : -1;
}

static int list_previews(void *ctx, const mrun_http_req *req, mrun_http_resp *resp, mrun_err *err)
{
    coord_api *a = ctx;
    char all[8] = "";
    mrun_http_query(req, "all", all, sizeof(all));
    pv_list l = {a, json_array()};
    pthread_mutex_lock(&a->mu);
    int r = mrun_store_preview_list(a->st, strcmp(all, "1") != 0, 1000, add_preview, &l, err);
    pthread_mutex_unlock(&a->mu);
    if (r < 0) {
        json_decref(l.arr);
        return -1;
    }
    return mrun_http_json(resp, 200, json_pack("{s:o}", "previews", l.arr));
}

typedef struct pv_row {
    char addr[300];
    char pipeline_id[MRUN_STORE_ID_LEN + 1];
    bool private_, found;
    mrun_store_preview_state state;
} pv_row;

static int on_pv_row(const mrun_store_preview_info *p, void *ud)
{
    pv_row *r = ud;
    snprintf(r->addr, sizeof(r->addr), "%s", p->addr);
    snprintf(r->pipeline_id, sizeof(r->pipeline_id), "%s", p->pipeline_id);
    r->private_ = p->private_;
    r->state = p->state;
    r->found = true;
    return 0;
}

static int on_tier(const mrun_store_pipeline_info *p, void *ud)
{
    *(int *)ud = p->tier;
    return 0;
}

static int preview_error(mrun_http_resp *resp, const mrun_err *e, mrun_err *err)
{
    if (e->sys_errno == ENOENT)
        return mrun_http_error(resp, 404, "not_found", "%s", e->msg);
    if (e->sys_errno == ESTALE)
        return mrun_http_error(resp, 409, "conflict", "%s", e->msg);
    *err = *e;
    return -1;
}

static int extend_preview(void *ctx, const mrun_http_req *req, mrun_http_resp *resp, mrun_err *err)
{
    coord_api *a = ctx;
    mrun_cleanup(json_decrefp) json_t *body = NULL;
    mrun_err perr = MRUN_ERR_INIT;
    if (mrun_http_parse_json(req->body, req->body_len, 8, &body, &perr) < 0)
        return mrun_http_error(resp, 400, "bad_json", "%s", perr.msg);
    const char *ttl = json_string_value(json_object_get(body, "ttl"));
    int64_t ms = 0;
    if (!ttl || mrun_parse_duration(ttl, &ms, &perr) < 0 || ms <= 0)
        return mrun_http_error(resp, 400, "bad_request", "the body must be {\"ttl\": DURATION} such as \"1h\"");
    pv_row row = {.found = false};
    mrun_err e = MRUN_ERR_INIT;
    pthread_mutex_lock(&a->mu);
    int r = mrun_store_preview_get(a->st, req->params[0], on_pv_row, &row, &e);
    int tier = 3;
    if (r == 0)
        r = mrun_store_pipeline_get(a->st, row.pipeline_id, on_tier, &tier, &e);
    int64_t cap = coord_preview_cap(a->c, tier);
    if (ms > cap)
        ms = cap; /* the tier's cap counts from now: extending cannot outlive it */
    int64_t expires = coord_wall_ms() + ms;
    if (r == 0)
        r = mrun_store_preview_extend(a->st, req->params[0], expires, &e);
    if (r == 0)
        r = mrun_store_preview_get(a->st, req->params[0], on_pv_row, &row, &e);
    pthread_mutex_unlock(&a->mu);
    if (r < 0)
        return preview_error(resp, &e, err);
    if (a->c->proxy && row.state == MRUN_STORE_PREVIEW_LIVE)
        coord_preview_reroute(a->c, req->params[0], row.addr, expires, row.private_);
    mrun_log(MRUN_LOG_INFO, "coordinator", "preview %.64s extended by %lld s", req->params[0], (long long)(ms / 1000));
    return mrun_http_json(resp, 200, json_pack("{s:s,s:I}", "id", req->params[0], "expires_ms", (json_int_t)expires));
}

static int delete_preview(void *ctx, const mrun_http_req *req, mrun_http_resp *resp, mrun_err *err)
{
    coord_api *a = ctx;
    mrun_err e = MRUN_ERR_INIT;
    pthread_mutex_lock(&a->mu);
    int r = mrun_store_preview_end(a->st, req->params[0], MRUN_STORE_PREVIEW_STOPPED, coord_wall_ms(), &e);
    pthread_mutex_unlock(&a->mu);
    if (r < 0)
        return preview_error(resp, &e, err);
    if (a->c->proxy)
        mrun_proxy_route_remove(a->c->proxy, req->params[0]);
    mrun_log(MRUN_LOG_INFO, "coordinator", "preview %.64s removed", req->params[0]);
    return mrun_http_json(resp, 200, json_pack("{s:s}", "stopped", req->params[0])); /* its runner stops it at its next heartbeat */
}

/* ---- GET /metrics ---- */

static int count_stage(const mrun_store_stage_info *s, void *ud)
{
    (void)s;
    (*(size_t *)ud)++;
    return 0;
}

typedef struct runner_counts {
    size_t online, gone;
} runner_counts;

static int count_runner(const mrun_store_runner_info *ri, void *ud)
{
    runner_counts *rc = ud;
    if (ri->online)
        rc->online++;
    else
        rc->gone++;
    return 0;
}

static int count_pipeline(const mrun_store_pipeline_info *p, void *ud)
{
    size_t *by_state = ud;
    if ((unsigned)p->state < 5)
        by_state[p->state]++;
    return 0;
}

static int metrics(void *ctx, mrun_metrics *m, mrun_err *err)
{
    coord_api *a = ctx;
    size_t ready = 0, running = 0, by_state[5] = {0};
    runner_counts rc = {0};
    pthread_mutex_lock(&a->mu);
    int r = mrun_store_stage_list(a->st, NULL, MRUN_STORE_STAGE_READY, count_stage, &ready, err);
    if (r == 0)
        r = mrun_store_stage_list(a->st, NULL, MRUN_STORE_STAGE_RUNNING, count_stage, &running, err);
    if (r == 0)
        r = mrun_store_runner_list(a->st, count_runner, &rc, err);
    if (r == 0)
        r = mrun_store_pipeline_list(a->st, -1, 100000, count_pipeline, by_state, err);
    pthread_mutex_unlock(&a->mu);
    if (r < 0)
        return -1;
    if (mrun_metrics_gauge(m, "mrun_queue_depth", "Stages ready and waiting for a runner.", NULL, (double)ready, err) <
            0 ||
        mrun_metrics_gauge(m, "mrun_stages_running", "Stages leased to runners.", NULL, (double)running, err) < 0)
        return -1;
    const char *const online[] = {"state", "online", NULL}, *const gone[] = {"state", "gone", NULL};
    if (mrun_metrics_gauge(m, "mrun_runners", "Runners by state.", online, (double)rc.online, err) < 0 ||
        mrun_metrics_gauge(m, "mrun_runners", "Runners by state.", gone, (double)rc.gone, err) < 0)
        return -1;
    coord_hist dispatch, duration;
    pthread_mutex_lock(&a->c->hist_mu);
    dispatch = a->c->dispatch;
    duration = a->c->duration;
    pthread_mutex_unlock(&a->c->hist_mu);
    if (mrun_metrics_histogram(m, "mrun_dispatch_seconds", "Stage ready until leased to a runner (first attempts).",
                               NULL, dispatch.bounds, dispatch.counts, COORD_HIST_BUCKETS, dispatch.sum, err) < 0 ||
        mrun_metrics_histogram(m, "mrun_stage_duration_seconds", "A stage attempt's run time on its runner.", NULL,
                               duration.bounds, duration.counts, COORD_HIST_BUCKETS, duration.sum, err) < 0)
        return -1;
    for (int i = 0; i < 5; i++) {
        const char *const labels[] = {"state", pipeline_state_names[i], NULL};
        if (mrun_metrics_gauge(m, "mrun_pipelines", "Pipelines by state (the last 100000).", labels,
                               (double)by_state[i], err) < 0)
            return -1;
    }
    return 0;
}

/* ---- lifecycle ---- */

int coord_api_start(mrun_coord *c, const char *listen, mrun_err *err)
{
    coord_api *a = calloc(1, sizeof(*a));
    if (!a)
        return mrun_err_set(err, ENOMEM, "api");
    a->c = c;
    pthread_mutex_init(&a->mu, NULL);
    c->api = a;
    if (mrun_store_open(c->cfg.data_dir, &a->st, err) < 0)
        return -1;
    mrun_http_limits lim = {.max_body = MAX_SOURCE};
    if (mrun_http_new(listen, &lim, &a->http, err) < 0)
        return -1;
    if (!c->cfg.open_api)
        mrun_http_set_auth(a->http, check_token, a);
    if (c->cfg.http_tls_cert || c->cfg.http_tls_key) {
        mrun_autofree char *cert = NULL, *key = NULL;
        if (!c->cfg.http_tls_cert || !c->cfg.http_tls_key)
            return mrun_err_setx(err, EINVAL, "HTTPS needs both --http-tls-cert and --http-tls-key");
        if (coord_read_pem(c->cfg.http_tls_cert, &cert, err) < 0 || coord_read_pem(c->cfg.http_tls_key, &key, err) < 0)
            return -1;
        int r = mrun_http_set_tls(a->http, cert, key, err);
        explicit_bzero(key, strlen(key));
        if (r < 0)
            return -1;
    }
    static const struct {
        const char *method, *pattern, *role;
        unsigned flags;
        mrun_http_fn fn;
    } routes[] = {
        {"PUT", "/api/v1/blobs", "submitter", 0, put_blob},
        {"POST", "/api/v1/pipelines", "submitter", MRUN_HTTP_JSON, post_pipeline},
        {"GET", "/api/v1/pipelines", "viewer", 0, list_pipelines},
        {"GET", "/api/v1/pipelines/{id}", "viewer", 0, get_pipeline},
        {"GET", "/api/v1/pipelines/{id}/logs/{stage}", "viewer", 0, get_logs},
        {"POST", "/api/v1/pipelines/{id}/cancel", "submitter", 0, cancel_pipeline},
        {"POST", "/api/v1/pipelines/{id}/retry", "submitter", 0, retry_pipeline},
        {"GET", "/api/v1/pipelines/{id}/artifacts", "viewer", 0, list_artifacts},
        {"GET", "/api/v1/blobs/{digest}", "viewer", 0, get_blob},
        {"GET", "/api/v1/runners", "viewer", 0, list_runners},
        {"GET", "/api/v1/previews", "viewer", 0, list_previews},
        {"POST", "/api/v1/previews/{id}/extend", "submitter", MRUN_HTTP_JSON, extend_preview},
        {"DELETE", "/api/v1/previews/{id}", "submitter", 0, delete_preview},
    };
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (mrun_http_route(a->http, routes[i].method, routes[i].pattern, routes[i].role, routes[i].flags,
                            routes[i].fn, a, err) < 0)
            return -1;
    if (mrun_http_set_metrics(a->http, "viewer", metrics, a, err) < 0 || mrun_http_start(a->http, err) < 0)
        return -1;
    mrun_log(MRUN_LOG_INFO, "coordinator", "HTTP API on port %d", mrun_http_port(a->http));
    return 0;
}

void coord_api_stop(mrun_coord *c)
{
    coord_api *a = c->api;
    if (!a)
        return;
    mrun_http_free(a->http);
    mrun_store_close(a->st);
    pthread_mutex_destroy(&a->mu);
    free(a);
    c->api = NULL;
}

int coord_api_port(const mrun_coord *c)
{
    return c->api && c->api->http ? mrun_http_port(c->api->http) : 0;
}
