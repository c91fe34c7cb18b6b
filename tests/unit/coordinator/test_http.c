/* test_http.c - the HTTP API layer against a real nng server on 127.0.0.1:0 with libcurl as the client: routing and
 * params, 404/405/411/413/414/431, roles 401/403/200, JSON bodies and errors, /healthz, /metrics text, concurrency,
 * an aborted body, and a clean stop (ASan). Plus the pure helpers: query lookup, JSON parsing, the metrics builder. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "common/auto.h"
#include "common/log.h"
#include "coordinator/http.h"

/* ---- client ---- */

typedef struct resp {
    long status;
    char body[1 << 16];
    size_t len;
    char hdrs[8192];
    size_t hlen;
} resp;

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    resp *r = arg;
    size_t k = sz * n;
    if (k > sizeof(r->body) - 1 - r->len)
        return 0;
    memcpy(r->body + r->len, p, k);
    r->len += k;
    r->body[r->len] = '\0';
    return k;
}

static size_t on_hdr(char *p, size_t sz, size_t n, void *arg)
{
    resp *r = arg;
    size_t k = sz * n;
    if (k <= sizeof(r->hdrs) - 1 - r->hlen) {
        memcpy(r->hdrs + r->hlen, p, k);
        r->hlen += k;
        r->hdrs[r->hlen] = '\0';
    }
    return k;
}

/* One request on curl handle c (NULL: a fresh one). Returns the status, 0 on a transport error. */
static long req_on(CURL *c, int port, const char *method, const char *target, const char *token, const char *body,
                   size_t blen, resp *r)
{
    int own = c == NULL;
    if (own)
        c = curl_easy_init();
    memset(r, 0, sizeof(*r));
    char url[8192];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, target);
    struct curl_slist *hl = NULL;
    char auth[16384];
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        hl = curl_slist_append(hl, auth);
    }
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_hdr);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)blen);
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L); /* no body; CUSTOMREQUEST still names the method */
        curl_easy_setopt(c, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hl);
    if (own)
        curl_easy_cleanup(c);
    return rc == CURLE_OK ? r->status : 0;
}

static long req(int port, const char *method, const char *target, const char *token, const char *body, resp *r)
{
    return req_on(NULL, port, method, target, token, body, body ? strlen(body) : 0, r);
}

/* The "error" object of a JSON error body, checked for shape; returns the code (static storage per call). */
static const char *err_code(const resp *r)
{
    static char code[64];
    json_error_t je;
    json_t *j = json_loads(r->body, 0, &je);
    assert_non_null(j);
    const char *c = NULL, *m = NULL;
    assert_int_equal(json_unpack(j, "{s:{s:s, s:s}}", "error", "code", &c, "message", &m), 0);
    snprintf(code, sizeof(code), "%s", c);
    json_decref(j);
    return code;
}

/* ---- handlers ---- */

typedef struct app {
    atomic_int hits;
    atomic_int value; /* what the long-poll route serves */
} app;

static int h_echo(void *ctx, const mrun_http_req *rq, mrun_http_resp *rs, mrun_err *err)
{
    app *a = ctx;
    (void)err;
    atomic_fetch_add(&a->hits, 1);
    json_t *params = json_array();
    for (unsigned i = 0; i < rq->n_params; i++)
        json_array_append_new(params, json_string(rq->params[i]));
    char from[32] = "";
    mrun_http_query(rq, "from", from, sizeof(from));
    return mrun_http_json(rs, 200,
                          json_pack("{s:s, s:s, s:o, s:s, s:s?, s:s}", "method", rq->method, "path", rq->path,
                                    "params", params, "query", rq->query, "role", rq->token_role, "from", from));
}

static int h_create(void *ctx, const mrun_http_req *rq, mrun_http_resp *rs, mrun_err *err)
{
    (void)ctx;
    (void)err;
    json_int_t x = -1;
    if (json_unpack(rq->json, "{s:I}", "x", &x) < 0)
        return mrun_http_error(rs, 422, "invalid", "field 'x' (integer) is required");
    return mrun_http_json(rs, 201, json_pack("{s:I}", "got", x * 2));
}

static int h_fail(void *ctx, const mrun_http_req *rq, mrun_http_resp *rs, mrun_err *err)
{
    (void)ctx;
    (void)rq;
    (void)rs;
    return mrun_err_setx(err, EIO, "database is locked (secret detail)");
}

static int h_empty(void *ctx, const mrun_http_req *rq, mrun_http_resp *rs, mrun_err *err)
{
    (void)ctx;
    (void)err;
    char v[8] = "";
    mrun_http_query(rq, "status", v, sizeof(v));
    rs->status = v[0] ? (int)strtol(v, NULL, 10) : 204;
    return 0;
}

/* Long poll: answers when value > from, else parks on the topic; after the wait, answers with expired. */
static int h_follow(void *ctx, const mrun_http_req *rq, mrun_http_resp *rs, mrun_err *err)
{
    app *a = ctx;
    char from[16] = "0", wait[16] = "5000";
    mrun_http_query(rq, "from", from, sizeof(from));
    mrun_http_query(rq, "wait", wait, sizeof(wait));
    int v = atomic_load(&a->value);
    if (v > (int)strtol(from, NULL, 10) || rq->wait_expired)
        return mrun_http_json(rs, 200, json_pack("{s:i, s:b}", "value", v, "expired", rq->wait_expired));
    if (mrun_http_park(rq, rq->params[0], (unsigned)strtoul(wait, NULL, 10), err) < 0) {
        if (err->sys_errno != EAGAIN)
            return -1;
        return mrun_http_error(rs, 503, "busy", "too many waiting requests");
    }
    return 0;
}

static int check_token(void *ctx, const char *token, const char **ret_role)
{
    (void)ctx;
    static const char *const map[][2] = {
        {"tv", "viewer"}, {"ts", "submitter"}, {"tp", "approver"}, {"ta", "admin"}, {"tx", "superuser"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(token, map[i][0]) == 0) {
            *ret_role = map[i][1];
            return 0;
        }
    return -1;
}

static int fill_metrics(void *ctx, mrun_metrics *m, mrun_err *err)
{
    (void)ctx;
    static const char *const l1[] = {"stage", "build", "result", "ok", NULL};
    static const char *const l2[] = {"stage", "we\"ird\\na\nme", "result", "fail", NULL};
    static const double bounds[] = {0.1, 1, 5};
    static const uint64_t counts[] = {3, 2, 0, 1};
    if (mrun_metrics_counter(m, "mrun_stages_total", "Stages finished.", l1, 7, err) < 0 ||
        mrun_metrics_counter(m, "mrun_stages_total", "Stages finished.", l2, 1, err) < 0 ||
        mrun_metrics_gauge(m, "mrun_queue_depth", "Ready stages\nwaiting \\ queued.", NULL, 4, err) < 0 ||
        mrun_metrics_histogram(m, "mrun_dispatch_seconds", "Dispatch latency.", NULL, bounds, counts, 3, 7.25, err) <
            0)
        return -1;
    return 0;
}

/* ---- fixture ---- */

typedef struct fx {
    mrun_http *h;
    app a;
    int port;
} fx;

static fx *start(const mrun_http_limits *lim, int with_auth)
{
    fx *f = calloc(1, sizeof(*f));
    mrun_err err = MRUN_ERR_INIT;
    if (mrun_http_new("127.0.0.1:0", lim, &f->h, &err) < 0)
        fail_msg("new: %s", err.msg);
    struct {
        const char *m, *p, *role;
        unsigned flags;
        mrun_http_fn fn;
    } rt[] = {
        {"GET", "/api/v1/pipelines/{id}/logs/{stage}", NULL, 0, h_echo},
        {"GET", "/api/v1/pipelines/{id}", "viewer", 0, h_echo},
        {"DELETE", "/api/v1/pipelines/{id}", "admin", 0, h_echo},
        {"POST", "/api/v1/pipelines/{id}/approve", "approver", 0, h_echo},
        {"POST", "/api/v1/things", "submitter", MRUN_HTTP_JSON, h_create},
        {"POST", "/api/v1/raw", NULL, 0, h_echo},
        {"GET", "/api/v1/fail", NULL, 0, h_fail},
        {"GET", "/api/v1/empty", NULL, 0, h_empty},
        {"GET", "/", NULL, 0, h_echo},
        {"GET", "/api/v1/follow/{topic}", NULL, 0, h_follow},
    };
    for (size_t i = 0; i < sizeof(rt) / sizeof(rt[0]); i++)
        if (mrun_http_route(f->h, rt[i].m, rt[i].p, rt[i].role, rt[i].flags, rt[i].fn, &f->a, &err) < 0)
            fail_msg("route %s: %s", rt[i].p, err.msg);
    if (mrun_http_set_metrics(f->h, NULL, fill_metrics, NULL, &err) < 0)
        fail_msg("metrics: %s", err.msg);
    if (with_auth)
        mrun_http_set_auth(f->h, check_token, NULL);
    assert_int_equal(mrun_http_port(f->h), -1);
    if (mrun_http_start(f->h, &err) < 0)
        fail_msg("start: %s", err.msg);
    f->port = mrun_http_port(f->h);
    assert_true(f->port > 0);
    return f;
}

static void stop(fx *f)
{
    mrun_http_free(f->h);
    free(f);
}

static int setup_auth(void **state)
{
    *state = start(NULL, 1);
    return 0;
}

static int setup_open(void **state)
{
    *state = start(NULL, 0);
    return 0;
}

static int teardown(void **state)
{
    stop(*state);
    return 0;
}

/* ---- tests ---- */

static void test_routing_params(void **state)
{
    fx *f = *state;
    resp r;
    assert_int_equal(req(f->port, "GET", "/api/v1/pipelines/42/logs/build%20x?from=10&wait=25s", NULL, NULL, &r), 200);
    json_error_t je;
    json_t *j = json_loads(r.body, 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/api/v1/pipelines/42/logs/build%20x");
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "params"), 0)), "42");
    assert_string_equal(json_string_value(json_array_get(json_object_get(j, "params"), 1)), "build x");
    assert_string_equal(json_string_value(json_object_get(j, "query")), "from=10&wait=25s");
    assert_string_equal(json_string_value(json_object_get(j, "from")), "10");
    assert_string_equal(json_string_value(json_object_get(j, "role")), "admin"); /* embedded: no auth callback */
    json_decref(j);
    assert_true(strstr(r.hdrs, "Content-Type: application/json") != NULL);

    assert_int_equal(req(f->port, "GET", "/", NULL, NULL, &r), 200);
    assert_int_equal(req(f->port, "HEAD", "/api/v1/pipelines/1/logs/x", NULL, NULL, &r), 200);
    assert_int_equal(r.len, 0);
    assert_int_equal(req(f->port, "GET", "/api/v1/empty", NULL, NULL, &r), 204);
    assert_int_equal(r.len, 0);
    assert_int_equal(req(f->port, "GET", "/api/v1/empty?status=200", NULL, NULL, &r), 200); /* no body: length 0 */
    assert_int_equal(r.len, 0);
    assert_true(strstr(r.hdrs, "Content-Length: 0\r\n") != NULL);
}

static void test_not_found_and_method(void **state)
{
    fx *f = *state;
    resp r;
    assert_int_equal(req(f->port, "GET", "/api/v1/nope", NULL, NULL, &r), 404);
    assert_string_equal(err_code(&r), "not_found");
    assert_int_equal(req(f->port, "GET", "/api/v1/pipelines/42/logs/", NULL, NULL, &r), 404); /* empty param */
    assert_int_equal(req(f->port, "GET", "/api/v1/pipelines/42/logs/a/b", NULL, NULL, &r), 404);
    assert_int_equal(req(f->port, "GET", "/api/v1/pipelines/a%00b/logs/x", NULL, NULL, &r), 400);
    assert_int_equal(req(f->port, "PUT", "/api/v1/pipelines/42", "ta", NULL, &r), 405);
    assert_string_equal(err_code(&r), "method_not_allowed");
    assert_true(strstr(r.hdrs, "Allow: GET, DELETE\r\n") != NULL);
    assert_int_equal(req(f->port, "POST", "/healthz", NULL, "x", &r), 405);
    assert_true(strstr(r.hdrs, "Allow: GET\r\n") != NULL);
}

static void test_limits(void **state)
{
    (void)state;
    mrun_http_limits lim = {.max_body = 1000, .max_target = 300, .max_header = 512};
    fx *f = start(&lim, 0);
    resp r;
    char big[2001];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(req_on(NULL, f->port, "POST", "/api/v1/raw", NULL, big, 1000, &r), 200);
    assert_int_equal(req_on(NULL, f->port, "POST", "/api/v1/raw", NULL, big, 1001, &r), 413);
    assert_string_equal(err_code(&r), "payload_too_large");
    assert_true(strstr(r.hdrs, "Connection: close") != NULL);

    char target[400] = "/api/v1/pipelines/1/logs/";
    size_t n = strlen(target);
    memset(target + n, 'x', sizeof(target) - n - 1);
    target[sizeof(target) - 1] = '\0';
    assert_int_equal(req(f->port, "GET", target, NULL, NULL, &r), 414);
    assert_string_equal(err_code(&r), "uri_too_long");
    target[300] = '\0';
    assert_int_equal(req(f->port, "GET", target, NULL, NULL, &r), 200);

    char tok[700];
    memset(tok, 't', sizeof(tok) - 1);
    tok[sizeof(tok) - 1] = '\0';
    assert_int_equal(req(f->port, "GET", "/healthz", tok, NULL, &r), 431);

    /* A request head past nng's 8 KiB buffer: nng drops the connection without a reply; the server lives on. */
    char *huge = malloc(9001);
    memset(huge, 'h', 9000);
    huge[9000] = '\0';
    assert_int_equal(req(f->port, "GET", "/healthz", huge, NULL, &r), 0);
    free(huge);
    assert_int_equal(req(f->port, "GET", "/healthz", NULL, NULL, &r), 200);

    /* A chunked body is refused: nng's server cannot read one. */
    CURL *c = curl_easy_init();
    struct curl_slist *hl = curl_slist_append(NULL, "Transfer-Encoding: chunked");
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/raw", f->port);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "abc");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    memset(&r, 0, sizeof(r));
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long st = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
    assert_int_equal(st, 411);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    stop(f);
}

static void test_auth_roles(void **state)
{
    fx *f = *state;
    resp r;
    /* GET needs viewer, POST approve needs approver, DELETE needs admin. */
    assert_int_equal(req(f->port, "GET", "/api/v1/pipelines/7", NULL, NULL, &r), 401);
    assert_string_equal(err_code(&r), "unauthorized");
    assert_true(strstr(r.hdrs, "WWW-Authenticate: Bearer") != NULL);
    assert_int_equal(req(f->port, "GET", "/api/v1/pipelines/7", "nope", NULL, &r), 401);
    assert_int_equal(req(f->port, "GET", "/api/v1/pipelines/7", "tx", NULL, &r), 401); /* unknown role */
    assert_int_equal(req(f->port, "GET", "/api/v1/pipelines/7", "tv", NULL, &r), 200);
    assert_true(strstr(r.body, "\"role\":\"viewer\"") != NULL);

    static const struct {
        const char *tok;
        long approve, del;
    } rows[] = {{"tv", 403, 403}, {"ts", 403, 403}, {"tp", 200, 403}, {"ta", 200, 200}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        assert_int_equal(req(f->port, "POST", "/api/v1/pipelines/7/approve", rows[i].tok, "", &r), rows[i].approve);
        if (rows[i].approve == 403)
            assert_string_equal(err_code(&r), "forbidden");
        assert_int_equal(req(f->port, "DELETE", "/api/v1/pipelines/7", rows[i].tok, NULL, &r), rows[i].del);
    }
    /* Public routes: no token is fine, a token's role is passed on, a bad token is ignored. */
    assert_int_equal(req(f->port, "GET", "/api/v1/pipelines/7/logs/b", "ts", NULL, &r), 200);
    assert_true(strstr(r.body, "\"role\":\"submitter\"") != NULL);
    assert_int_equal(req(f->port, "GET", "/api/v1/pipelines/7/logs/b", "bad", NULL, &r), 200);
    assert_int_equal(req(f->port, "GET", "/healthz", NULL, NULL, &r), 200);
    /* An unauthorized body is not read: 401 before 413. */
    assert_int_equal(req(f->port, "POST", "/api/v1/things", NULL, "{\"x\":1}", &r), 401);
}

static void test_embedded_is_admin(void **state)
{
    fx *f = *state;
    resp r;
    assert_int_equal(req(f->port, "DELETE", "/api/v1/pipelines/7", NULL, NULL, &r), 200);
    assert_true(strstr(r.body, "\"role\":\"admin\"") != NULL);
}

static void test_json_bodies(void **state)
{
    fx *f = *state;
    resp r;
    assert_int_equal(req(f->port, "POST", "/api/v1/things", "ts", "{\"x\": 21}", &r), 201);
    assert_string_equal(r.body, "{\"got\":42}");
    assert_int_equal(req(f->port, "POST", "/api/v1/things", "ts", "{\"y\": 1}", &r), 422);
    assert_string_equal(r.body, "{\"error\":{\"code\":\"invalid\",\"message\":\"field 'x' (integer) is required\"}}");

    assert_int_equal(req(f->port, "POST", "/api/v1/things", "ts", "{\n  \"x\": 1,\n  \"y\" 2\n}", &r), 400);
    assert_string_equal(err_code(&r), "bad_json");
    assert_true(strstr(r.body, "\"message\":\"body:3:") != NULL);
    assert_int_equal(req(f->port, "POST", "/api/v1/things", "ts", "", &r), 400);
    assert_int_equal(req(f->port, "POST", "/api/v1/things", "ts", "{\"x\":1,\"x\":2}", &r), 400);
    char deep[100];
    memset(deep, '[', 40);
    memset(deep + 40, ']', 40);
    deep[80] = '\0';
    assert_int_equal(req(f->port, "POST", "/api/v1/things", "ts", deep, &r), 400);
    assert_true(strstr(r.body, "nesting deeper than 32") != NULL);
}

static void test_handler_error(void **state)
{
    fx *f = *state;
    resp r;
    assert_int_equal(req(f->port, "GET", "/api/v1/fail", NULL, NULL, &r), 500);
    assert_string_equal(err_code(&r), "internal");
    assert_null(strstr(r.body, "secret"));
}

static void test_healthz(void **state)
{
    fx *f = *state;
    resp r;
    assert_int_equal(req(f->port, "GET", "/healthz", NULL, NULL, &r), 200);
    assert_string_equal(r.body, "ok\n");
    assert_true(strstr(r.hdrs, "Content-Type: text/plain") != NULL);
}

static void test_metrics_endpoint(void **state)
{
    fx *f = *state;
    resp r;
    assert_int_equal(req(f->port, "GET", "/metrics", NULL, NULL, &r), 200);
    assert_true(strstr(r.hdrs, "Content-Type: text/plain; version=0.0.4") != NULL);
    static const char want[] = "# HELP mrun_stages_total Stages finished.\n"
                               "# TYPE mrun_stages_total counter\n"
                               "mrun_stages_total{stage=\"build\",result=\"ok\"} 7\n"
                               "mrun_stages_total{stage=\"we\\\"ird\\\\na\\nme\",result=\"fail\"} 1\n"
                               "# HELP mrun_queue_depth Ready stages\\nwaiting \\\\ queued.\n"
                               "# TYPE mrun_queue_depth gauge\n"
                               "mrun_queue_depth 4\n"
                               "# HELP mrun_dispatch_seconds Dispatch latency.\n"
                               "# TYPE mrun_dispatch_seconds histogram\n"
                               "mrun_dispatch_seconds_bucket{le=\"0.1\"} 3\n"
                               "mrun_dispatch_seconds_bucket{le=\"1.0\"} 5\n"
                               "mrun_dispatch_seconds_bucket{le=\"5.0\"} 5\n"
                               "mrun_dispatch_seconds_bucket{le=\"+Inf\"} 6\n"
                               "mrun_dispatch_seconds_sum 7.25\n"
                               "mrun_dispatch_seconds_count 6\n";
    assert_string_equal(r.body, want);
}

typedef struct worker {
    int port;
    int ok;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    CURL *c = curl_easy_init();
    resp *r = malloc(sizeof(*r));
    for (int i = 0; i < 50; i++) {
        char target[64];
        snprintf(target, sizeof(target), "/api/v1/pipelines/%d/logs/s", i);
        /* Alternate keep-alive reuse with fresh connections. */
        if (req_on(i % 2 ? c : NULL, w->port, "GET", target, NULL, NULL, 0, r) == 200 && strstr(r->body, target))
            w->ok++;
    }
    free(r);
    curl_easy_cleanup(c);
    return NULL;
}

static void test_concurrent(void **state)
{
    fx *f = *state;
    pthread_t t[8];
    worker w[8];
    int before = atomic_load(&f->a.hits);
    for (int i = 0; i < 8; i++) {
        w[i] = (worker){f->port, 0};
        assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        ok += w[i].ok;
    }
    assert_int_equal(ok, 400);
    assert_int_equal(atomic_load(&f->a.hits) - before, 400);
}

/* A client that declares a body and disconnects half-way, and one that stalls: the server drops both, and stopping
 * with a body read pending does not leak (ASan) or hang. */
static void test_aborted_body(void **state)
{
    (void)state;
    mrun_http_limits lim = {.body_timeout = 200};
    fx *f = start(&lim, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)f->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static const char head[] = "POST /api/v1/raw HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789";
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(write(fd, head, sizeof(head) - 1), (ssize_t)(sizeof(head) - 1));
    usleep(50000);
    close(fd);
    /* The stalled one times out after body_timeout: the server closes the connection (read returns 0). */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(write(fd, head, sizeof(head) - 1), (ssize_t)(sizeof(head) - 1));
    char b[64];
    assert_true(read(fd, b, sizeof(b)) <= 0);
    close(fd);
    /* A third stays pending while we stop. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(write(fd, head, sizeof(head) - 1), (ssize_t)(sizeof(head) - 1));
    usleep(50000);
    resp r;
    assert_int_equal(req(f->port, "GET", "/healthz", NULL, NULL, &r), 200);
    stop(f);
    close(fd);
}

static void test_two_servers_port0(void **state)
{
    (void)state;
    fx *a = start(NULL, 0), *b = start(NULL, 1);
    assert_int_not_equal(a->port, b->port);
    resp r;
    assert_int_equal(req(a->port, "DELETE", "/api/v1/pipelines/1", NULL, NULL, &r), 200);
    assert_int_equal(req(b->port, "DELETE", "/api/v1/pipelines/1", NULL, NULL, &r), 401);
    stop(a);
    stop(b);
}

static void test_route_errors(void **state)
{
    (void)state;
    mrun_err err = MRUN_ERR_INIT;
    mrun_cleanup(mrun_http_freep) mrun_http *h = NULL;
    mrun_http_limits lim = {.max_params = 2, .max_routes = 4};
    assert_int_equal(mrun_http_new("127.0.0.1:0", &lim, &h, &err), 0);
    assert_int_equal(mrun_http_route(h, "GET", "/a/{x}", NULL, 0, h_echo, NULL, &err), 0);
    assert_int_equal(mrun_http_route(h, "GET", "/a/{x}", NULL, 0, h_echo, NULL, &err), -1);
    assert_int_equal(err.sys_errno, EEXIST);
    assert_int_equal(mrun_http_route(h, "get", "/b", NULL, 0, h_echo, NULL, &err), -1);
    assert_int_equal(err.sys_errno, EINVAL);
    assert_int_equal(mrun_http_route(h, "GET", "b", NULL, 0, h_echo, NULL, &err), -1);
    assert_int_equal(mrun_http_route(h, "GET", "/b//c", NULL, 0, h_echo, NULL, &err), -1);
    assert_int_equal(mrun_http_route(h, "GET", "/b", "root", 0, h_echo, NULL, &err), -1);
    assert_int_equal(err.sys_errno, EINVAL);
    assert_int_equal(mrun_http_route(h, "GET", "/{a}/{b}/{c}", NULL, 0, h_echo, NULL, &err), -1);
    assert_int_equal(err.sys_errno, E2BIG);
    assert_int_equal(mrun_http_route(h, "GET", "/c", NULL, 0, h_echo, NULL, &err), 0);
    assert_int_equal(mrun_http_route(h, "GET", "/d", NULL, 0, h_echo, NULL, &err), 0); /* with /healthz: 4 */
    assert_int_equal(mrun_http_route(h, "GET", "/e", NULL, 0, h_echo, NULL, &err), -1);
    assert_int_equal(err.sys_errno, E2BIG);
    mrun_http *bad = NULL;
    assert_int_equal(mrun_http_new("nope", NULL, &bad, &err), -1);
    assert_null(bad);
}

static void test_port_in_use(void **state)
{
    fx *f = *state;
    mrun_err err = MRUN_ERR_INIT;
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", f->port);
    mrun_http *h = NULL;
    assert_int_equal(mrun_http_new(addr, NULL, &h, &err), 0);
    assert_int_equal(mrun_http_start(h, &err), -1);
    assert_int_equal(err.sys_errno, EADDRINUSE);
    mrun_http_free(h);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

typedef struct follower {
    int port;
    const char *target;
    long status;
    char body[256];
} follower;

static void *follow(void *arg)
{
    follower *fl = arg;
    resp *r = malloc(sizeof(*r));
    fl->status = req(fl->port, "GET", fl->target, NULL, NULL, r);
    snprintf(fl->body, sizeof(fl->body), "%.255s", r->body);
    free(r);
    return NULL;
}

static void test_long_poll(void **state)
{
    fx *f = *state;
    resp r;
    /* Data already there: immediate. */
    atomic_store(&f->a.value, 1);
    assert_int_equal(req(f->port, "GET", "/api/v1/follow/t?from=0", NULL, NULL, &r), 200);
    assert_string_equal(r.body, "{\"value\":1,\"expired\":false}");
    /* Nothing new: the wait runs out. */
    double t0 = now_ms();
    assert_int_equal(req(f->port, "GET", "/api/v1/follow/t?from=1&wait=200", NULL, NULL, &r), 200);
    assert_true(now_ms() - t0 >= 150);
    assert_string_equal(r.body, "{\"value\":1,\"expired\":true}");

    /* 32 parked followers hold no nng thread: other requests still answer, and one wake answers them all. */
    enum { N = 32 };
    pthread_t t[N];
    follower fl[N];
    for (int i = 0; i < N; i++) {
        fl[i] = (follower){.port = f->port, .target = i % 2 ? "/api/v1/follow/t?from=1&wait=20000"
                                                             : "/api/v1/follow/other?from=1&wait=400"};
        assert_int_equal(pthread_create(&t[i], NULL, follow, &fl[i]), 0);
    }
    usleep(150000);
    t0 = now_ms();
    for (int i = 0; i < 20; i++)
        assert_int_equal(req(f->port, "GET", "/healthz", NULL, NULL, &r), 200);
    assert_true(now_ms() - t0 < 1000);
    atomic_store(&f->a.value, 2);
    t0 = now_ms();
    mrun_http_wake(f->h, "t");
    mrun_http_wake(f->h, "nobody-waits-here");
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(fl[i].status, 200);
        /* "other" followers were not woken: they saw the new value only when their 400 ms ran out. */
        assert_string_equal(fl[i].body, i % 2 ? "{\"value\":2,\"expired\":false}" : "{\"value\":2,\"expired\":true}");
    }
    assert_true(now_ms() - t0 < 5000);
}

/* Stopping with parked requests answers them (503 or a closed connection) and returns promptly. */
static void test_stop_with_parked(void **state)
{
    (void)state;
    fx *f = start(NULL, 0);
    pthread_t t[4];
    follower fl[4];
    for (int i = 0; i < 4; i++) {
        fl[i] = (follower){.port = f->port, .target = "/api/v1/follow/t?from=5&wait=20000"};
        assert_int_equal(pthread_create(&t[i], NULL, follow, &fl[i]), 0);
    }
    usleep(150000);
    double t0 = now_ms();
    stop(f);
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_true(fl[i].status == 503 || fl[i].status == 0);
    }
    assert_true(now_ms() - t0 < 3000);
}

static void test_park_limit(void **state)
{
    (void)state;
    mrun_http_limits lim = {.max_parked = 2, .max_wait = 300};
    fx *f = start(&lim, 0);
    pthread_t t[2];
    follower fl[2];
    for (int i = 0; i < 2; i++) {
        fl[i] = (follower){.port = f->port, .target = "/api/v1/follow/t?from=5&wait=20000"}; /* clamped to 300 */
        assert_int_equal(pthread_create(&t[i], NULL, follow, &fl[i]), 0);
    }
    usleep(100000);
    resp r;
    assert_int_equal(req(f->port, "GET", "/api/v1/follow/t?from=5", NULL, NULL, &r), 503);
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(fl[i].status, 200);
        assert_string_equal(fl[i].body, "{\"value\":0,\"expired\":true}");
    }
    stop(f);
}

/* ---- pure helpers ---- */

static void test_query(void **state)
{
    (void)state;
    mrun_http_req rq = {.query = "from=12&wait=25s&q=a%20b+c&flag&empty=&bad=%00"};
    char b[16];
    assert_int_equal(mrun_http_query(&rq, "from", b, sizeof(b)), 2);
    assert_string_equal(b, "12");
    assert_int_equal(mrun_http_query(&rq, "wait", b, sizeof(b)), 3);
    assert_int_equal(mrun_http_query(&rq, "q", b, sizeof(b)), 5);
    assert_string_equal(b, "a b c");
    assert_int_equal(mrun_http_query(&rq, "flag", b, sizeof(b)), 0);
    assert_int_equal(mrun_http_query(&rq, "empty", b, sizeof(b)), 0);
    assert_int_equal(mrun_http_query(&rq, "bad", b, sizeof(b)), -1);
    assert_int_equal(mrun_http_query(&rq, "missing", b, sizeof(b)), -1);
    assert_int_equal(mrun_http_query(&rq, "wait", b, 3), -1); /* too long for buf */
}

static void test_parse_json(void **state)
{
    (void)state;
    mrun_err err = MRUN_ERR_INIT;
    json_t *j = NULL;
    static const char ok[] = "{\"a\":[1,{\"b\":\"[[[\"}]}";
    assert_int_equal(mrun_http_parse_json((const uint8_t *)ok, sizeof(ok) - 1, 3, &j, &err), 0);
    json_decref(j);
    j = NULL;
    assert_int_equal(mrun_http_parse_json((const uint8_t *)ok, sizeof(ok) - 1, 2, &j, &err), -1);
    assert_int_equal(err.sys_errno, E2BIG);
    assert_string_equal(err.msg, "body:1:9: nesting deeper than 2");
    assert_int_equal(mrun_http_parse_json((const uint8_t *)"{\"a\":}", 6, 8, &j, &err), -1);
    assert_int_equal(err.sys_errno, EPROTO);
    assert_true(strncmp(err.msg, "body:1:6: ", 10) == 0);
    assert_int_equal(mrun_http_parse_json((const uint8_t *)"42", 2, 8, &j, &err), -1); /* not an object/array */
    assert_int_equal(mrun_http_parse_json((const uint8_t *)"[1] x", 5, 8, &j, &err), -1);
    assert_null(j);
}

static void test_metrics_builder(void **state)
{
    (void)state;
    mrun_err err = MRUN_ERR_INIT;
    mrun_metrics *m = NULL;
    assert_int_equal(mrun_metrics_new(4096, &m, &err), 0);
    static const char *const bad_label[] = {"0x", "v", NULL};
    static const char *const le[] = {"le", "v", NULL};
    assert_int_equal(mrun_metrics_counter(m, "bad-name", NULL, NULL, 1, &err), -1);
    assert_int_equal(err.sys_errno, EINVAL);
    assert_int_equal(mrun_metrics_counter(m, "x_total", NULL, bad_label, 1, &err), -1);
    static const double b[] = {1, 0.5};
    static const uint64_t c[] = {1, 1, 1};
    assert_int_equal(mrun_metrics_histogram(m, "h", NULL, NULL, b, c, 2, 0, &err), -1);
    assert_int_equal(mrun_metrics_histogram(m, "h", NULL, le, b, c, 1, 0, &err), -1);
    size_t len = 99;
    assert_string_equal(mrun_metrics_text(m, &len), ""); /* failures leave nothing behind */
    assert_int_equal(len, 0);
    assert_int_equal(mrun_metrics_gauge(m, "g", NULL, NULL, 0.5, &err), 0);
    assert_int_equal(mrun_metrics_gauge(m, "g2", NULL, NULL, -1.0 / 0.0, &err), 0);
    assert_int_equal(mrun_metrics_gauge(m, "g3", NULL, NULL, 1e300, &err), 0);
    assert_string_equal(mrun_metrics_text(m, NULL),
                        "# TYPE g gauge\ng 0.5\n# TYPE g2 gauge\ng2 -Inf\n# TYPE g3 gauge\ng3 1e+300\n");
    int rc = 0;
    for (int i = 0; i < 1000 && rc == 0; i++)
        rc = mrun_metrics_counter(m, "many_total", "help", NULL, i, &err);
    assert_int_equal(rc, -1);
    assert_int_equal(err.sys_errno, E2BIG);
    assert_true(strlen(mrun_metrics_text(m, &len)) == len && len < 4096);
    mrun_metrics_free(m);
    mrun_metrics_free(NULL);
}

int main(void)
{
    mrun_log_set_level(MRUN_LOG_ERROR);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_routing_params, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_not_found_and_method, setup_auth, teardown),
        cmocka_unit_test(test_limits),
        cmocka_unit_test_setup_teardown(test_auth_roles, setup_auth, teardown),
        cmocka_unit_test_setup_teardown(test_embedded_is_admin, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_json_bodies, setup_auth, teardown),
        cmocka_unit_test_setup_teardown(test_handler_error, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_healthz, setup_auth, teardown),
        cmocka_unit_test_setup_teardown(test_metrics_endpoint, setup_auth, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent, setup_open, teardown),
        cmocka_unit_test(test_aborted_body),
        cmocka_unit_test_setup_teardown(test_long_poll, setup_open, teardown),
        cmocka_unit_test(test_stop_with_parked),
        cmocka_unit_test(test_park_limit),
        cmocka_unit_test(test_two_servers_port0),
        cmocka_unit_test(test_route_errors),
        cmocka_unit_test_setup_teardown(test_port_in_use, setup_open, teardown),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_parse_json),
        cmocka_unit_test(test_metrics_builder),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
