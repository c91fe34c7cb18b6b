/* http.h - the coordinator's HTTP API layer: a small router on nng's HTTP server (bounded requests, bearer-token
 * roles, JSON bodies and errors), the built-in /healthz and /metrics, and a Prometheus text-format builder.
 * Conventions for API users are in docs/api.md. */
#ifndef MRUN_COORD_HTTP_H
#define MRUN_COORD_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "../common/err.h"

typedef struct mrun_http mrun_http;       /* opaque; one listening server and its route table */
typedef struct mrun_metrics mrun_metrics; /* opaque; a Prometheus text exposition being built */

/* Bounds on one request. A zero field takes the default in brackets. The request head as a whole (request line plus
 * headers) is also bounded by nng's fixed 8 KiB read buffer; nng drops a connection whose head does not fit. */
typedef struct mrun_http_limits {
    size_t max_body;       /* bytes of request body; more is 413 [8 MiB] */
    size_t max_target;     /* bytes of the request target (path + query); more is 414 [2048] */
    size_t max_header;     /* bytes of one header value we read (Authorization, Content-Type); more is 431 [4096] */
    unsigned max_params;   /* path parameters per route pattern [8] */
    unsigned max_routes;   /* routes per server [256] */
    unsigned max_depth;    /* JSON nesting depth of a body [32] */
    unsigned body_timeout; /* milliseconds to receive a declared body; slower peers are dropped [30000] */
    unsigned max_parked;   /* long polls waiting at once; mrun_http_park fails with EAGAIN beyond [1024] */
    unsigned max_wait;     /* milliseconds a long poll may wait; longer requests are clamped [30000] */
} mrun_http_limits;

/* One request, borrowed by the handler for the duration of the call. Strings are NUL-terminated. */
typedef struct mrun_http_req {
    const char *method;
    const char *path;                /* raw path, without the query */
    const char *const *params;       /* percent-decoded values of the pattern's {names}, in pattern order */
    unsigned n_params;
    const char *query;               /* raw query after '?', "" if none; see mrun_http_query */
    const uint8_t *body;             /* NULL when body_len is 0 */
    size_t body_len;
    json_t *json;                    /* routes with MRUN_HTTP_JSON: the parsed body (borrowed, never NULL); else NULL */
    const char *token_role;          /* "viewer".."admin" from the bearer token; NULL if none; "admin" without auth */
    uint64_t id;                     /* request number, for log lines */
    int wait_expired;                /* re-run after a park whose wait ran out: answer with what there is */
} mrun_http_req;

/* What a handler fills. body is malloc'd (or NULL) and freed by the layer; content_type is a static string
 * (NULL: "application/json" when there is a body). */
typedef struct mrun_http_resp {
    int status;
    char *body;
    size_t body_len;
    const char *content_type;
} mrun_http_resp;

/* A handler. Returns 0 with *resp filled (any status), or -1 with *err set: the client then gets a generic 500 and
 * err is logged once with the request id and route pattern (never the body or the Authorization header).
 * Thread: runs on one of nng's worker threads, possibly concurrently with itself; ctx must be thread-safe.
 * It may block briefly (a SQLite statement, a short transaction) but must not wait for other requests or for
 * events (use a long poll that answers within the server's wait bound, see docs/api.md). */
typedef int (*mrun_http_fn)(void *ctx, const mrun_http_req *req, mrun_http_resp *resp, mrun_err *err);

/* Token check: returns 0 and a role name ("viewer", "submitter", "approver", "admin"; a static string) for a valid
 * token, -1 for an unknown one. Called on nng's threads, concurrently; it may block briefly (SQLite). */
typedef int (*mrun_http_auth_fn)(void *ctx, const char *token, const char **ret_role);

/* Fills the exposition for GET /metrics; returns 0, or -1 with *err set (the scrape then gets 500). */
typedef int (*mrun_http_metrics_fn)(void *ctx, mrun_metrics *m, mrun_err *err);

enum {
    MRUN_HTTP_JSON = 1u << 0, /* the body must be a JSON object or array; 400 with line:column when it is not */
};

/* Creates a server for listen ("127.0.0.1:7070", "0.0.0.0:0", "[::1]:0"; port 0 picks a free port, see
 * mrun_http_port). lim may be NULL for defaults. Nothing listens until mrun_http_start. Registers GET /healthz. */
int mrun_http_new(const char *listen, const mrun_http_limits *lim, mrun_http **ret_h, mrun_err *err);

/* Adds a route before mrun_http_start. pattern is "/seg/{name}/seg"; a {name} matches one non-empty segment.
 * min_role NULL is public; otherwise a bearer token of at least that role is needed (401 / 403). flags: MRUN_HTTP_*.
 * Errors: EINVAL (bad pattern, role or method), E2BIG (too many routes or params), EEXIST (same method and pattern). */
int mrun_http_route(mrun_http *h, const char *method, const char *pattern, const char *min_role, unsigned flags,
                    mrun_http_fn fn, void *ctx, mrun_err *err);

/* Sets the token check before mrun_http_start. Without one (embedded mode) every request is admin. */
void mrun_http_set_auth(mrun_http *h, mrun_http_auth_fn check, void *ctx);

/* Serves GET /metrics through fn before mrun_http_start; min_role NULL keeps it public for scrapers. */
int mrun_http_set_metrics(mrun_http *h, const char *min_role, mrun_http_metrics_fn fn, void *ctx, mrun_err *err);

/* Binds and starts serving; the route table is frozen from here on. Errors: EADDRINUSE, EADDRNOTAVAIL, ... */
/* Serves HTTPS instead of HTTP with this PEM certificate (chain) and key; before mrun_http_start. */
int mrun_http_set_tls(mrun_http *h, const char *cert_pem, const char *key_pem, mrun_err *err);
int mrun_http_start(mrun_http *h, mrun_err *err);

/* The bound TCP port (the real one when listen said :0), or -1 before a successful start. */
int mrun_http_port(const mrun_http *h);

/* Long poll. A handler with nothing to return yet calls mrun_http_park on its own req and returns 0 without a response (anything
 * in resp is discarded). The layer holds the request without holding a thread and runs the handler again, on an nng
 * thread, after mrun_http_wake(topic) or after wait_ms (clamped to lim.max_wait) with req->wait_expired set; it must
 * then answer. A wake that happens while the handler runs is not lost. Errors: EAGAIN (too many parked, or stopping)
 * and ETIMEDOUT (wait_expired): answer now instead. A client that disconnects stays parked until its wait ends.
 * mrun_http_free answers parked requests with 503. mrun_http_wake may be called from any thread, never blocks on
 * handlers, and does nothing when no request waits on topic. */
int mrun_http_park(const mrun_http_req *req, const char *topic, unsigned wait_ms, mrun_err *err);
void mrun_http_wake(mrun_http *h, const char *topic);

/* Stops the server, waiting for running handlers to return, and frees it. NULL does nothing.
 * Must not be called from a handler. */
void mrun_http_free(mrun_http *h);
static inline void mrun_http_freep(mrun_http **h)
{
    mrun_http_free(*h);
}

/* Response helpers for handlers: they fill resp (replacing any earlier body) and return 0, or -1 on ENOMEM or a
 * NULL j; a handler that passes that -1 on gets a 500. mrun_http_json consumes (steals) the reference to j, also
 * on failure. mrun_http_error gives {"error":{"code":CODE,"message":MESSAGE}}; never put secrets in the message. */
int mrun_http_json(mrun_http_resp *resp, int status, json_t *j);
int mrun_http_error(mrun_http_resp *resp, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Parses a request body as JSON (an object or array; duplicate keys and nesting deeper than max_depth rejected).
 * Pure: no I/O, no logging; body need not be NUL-terminated. Errors: EPROTO "body:LINE:COL: cause", E2BIG (depth). */
int mrun_http_parse_json(const uint8_t *body, size_t len, unsigned max_depth, json_t **ret_json, mrun_err *err);

/* Copies the percent-decoded value of query parameter key into buf (NUL-terminated) and returns its length;
 * -1 when absent, too long for buf, or holding a NUL byte. "a&b=" gives a="" and b="". */
int mrun_http_query(const mrun_http_req *req, const char *key, char *buf, size_t bufsz);

/* Prometheus text exposition format 0.0.4. A family (HELP and TYPE) is written the first time its name appears;
 * keep each family's samples together. labels is a NULL-terminated list of name, value pairs (or NULL); values are
 * escaped. Names must match [a-zA-Z_:][a-zA-Z0-9_:]*, else EINVAL. The text is bounded at max bytes (E2BIG).
 * A failed call leaves the text as it was. Not thread-safe: one builder per scrape. */
int mrun_metrics_new(size_t max, mrun_metrics **ret_m, mrun_err *err);
void mrun_metrics_free(mrun_metrics *m);
int mrun_metrics_counter(mrun_metrics *m, const char *name, const char *help, const char *const *labels, double v,
                         mrun_err *err);
int mrun_metrics_gauge(mrun_metrics *m, const char *name, const char *help, const char *const *labels, double v,
                       mrun_err *err);
/* bounds[n] are the upper bounds (ascending, without +Inf); counts[n + 1] are per-bucket (not cumulative) counts,
 * the last one for +Inf. Writes the cumulative _bucket lines, _sum and _count. */
int mrun_metrics_histogram(mrun_metrics *m, const char *name, const char *help, const char *const *labels,
                           const double *bounds, const uint64_t *counts, size_t n, double sum, mrun_err *err);
/* The text so far (borrowed, NUL-terminated) and its length. */
const char *mrun_metrics_text(const mrun_metrics *m, size_t *ret_len);

#endif
