/* proxy_int.h - private to the preview proxy: the HTTP/1.1 head parser and the chunked-framing scanner
 * (pure, fuzzed by tests/fuzz/fuzz_proxy_head.c), and the rewrite helpers the connection code uses. */
#ifndef MRUN_PROXY_INT_H
#define MRUN_PROXY_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

#define PROXY_HEAD_MAX       (16 * 1024) /* whole head, request or response: 431 / 502 past it */
#define PROXY_LINE_MAX       (8 * 1024)  /* request line: 414 past it */
#define PROXY_HEADERS_MAX    100         /* header fields: 431 past it */
#define PROXY_CHUNK_LINE_MAX 4096        /* chunk-size line with extensions, and each trailer line */

/* One header field; name and value point into the parsed buffer (not NUL-terminated). The value has its
 * surrounding whitespace trimmed. */
typedef struct proxy_hdr {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} proxy_hdr;

/* A parsed head. Pointers borrow the buffer given to proxy_head_parse, which must outlive the struct.
 * Invariant after a successful parse: not both chunked and content_length >= 0. */
typedef struct proxy_head {
    bool response;
    const char *method; /* request: method token */
    size_t method_len;
    const char *target; /* request: request-target */
    size_t target_len;
    int status; /* response: 100..999 */
    int minor;  /* HTTP/1.<minor>, 0 or 1 */
    proxy_hdr hdrs[PROXY_HEADERS_MAX];
    size_t nhdrs;
    int64_t content_length; /* -1: absent */
    bool chunked;           /* Transfer-Encoding is exactly "chunked" */
    bool other_te;          /* Transfer-Encoding present and not just "chunked" */
    const char *host;       /* request: the Host value, NULL if absent */
    size_t host_len;
} proxy_head;

/* Finds the end of a head ("\r\n\r\n") in buf; returns the head length including it, or 0 if not complete. */
size_t proxy_head_end(const char *buf, size_t len);

/* Parses a complete head (as returned by proxy_head_end, CRLF CRLF included). Pure. Errors, with the HTTP
 * status a request gets: E2BIG (431, too large or too many fields), ENAMETOOLONG (414, request line),
 * EPROTO (400: syntax, obs-fold, bare CR or LF, NUL, two Content-Length, Content-Length with
 * Transfer-Encoding, two Host), ENOTSUP (501: a request Transfer-Encoding other than chunked). */
int proxy_head_parse(const char *buf, size_t len, bool response, proxy_head *ret_head, mrun_err *err);

/* Finds a header by case-insensitive name; returns the first match or NULL. */
const proxy_hdr *proxy_head_get(const proxy_head *h, const char *name);

/* True when the comma-separated list value contains token (case-insensitive). */
bool proxy_list_has(const char *value, size_t len, const char *token);

/* Scans chunked framing (RFC 9112 7.1) incrementally so the proxy can forward bytes verbatim and know where
 * the body ends. Zero-initialise; feed bytes in order. */
typedef struct proxy_chunked {
    int state;
    uint64_t remaining; /* data bytes left in the current chunk */
    size_t line_len;    /* bytes of the current size or trailer line */
    int digits;
    bool done;
} proxy_chunked;

/* Consumes up to len bytes; *ret_used says how many belong to the body (less than len only once done).
 * Errors: EPROTO on bad framing, E2BIG on an over-long line or a size past 2^60. */
int proxy_chunked_feed(proxy_chunked *c, const char *buf, size_t len, size_t *ret_used, mrun_err *err);

/* Rewrites a Location value for a path-based preview: "/x" -> "<prefix>/x", and an absolute http(s) URL whose
 * authority is one of the given authorities (backend host:port, the client's Host) -> "<prefix><path>".
 * Other values are copied. Writes at most cap bytes (NUL included); returns -1 if it does not fit. */
int proxy_rewrite_location(const char *v, size_t vlen, const char *prefix, const char *const *authorities, size_t nauth,
                           char *out, size_t cap);

/* Rewrites the Path attribute of a Set-Cookie value: "Path=/x" -> "Path=<prefix>/x". Same contract. */
int proxy_rewrite_cookie_path(const char *v, size_t vlen, const char *prefix, char *out, size_t cap);

/* ---- the server (proxy.c, proxy_conn.c) ---- */
#include <pthread.h>

#include "coordinator/proxy.h"

#define PROXY_AUTH_COOKIE "mrun_preview_auth"

/* One route; copied out under the lock, so connections never hold a pointer into the table. */
typedef struct proxy_route {
    char id[MRUN_PROXY_ID_MAX + 1];
    char host[256];
    int port;
    int64_t expires_ms; /* 0: never */
    bool private_;
    bool has_hash;
    uint8_t hash[32]; /* SHA-256 of the bearer token */
    struct proxy_route *next;
} proxy_route;

/* One client connection and its thread. fd and the thread belong to the connection thread; done is set
 * under proxy->mu when the thread has closed its fds, after which the accept thread joins and frees it. */
typedef struct proxy_conn {
    struct mrun_proxy *proxy;
    pthread_t thread;
    int fd;
    char peer[64]; /* client IP for X-Forwarded-For */
    bool done;
    struct proxy_conn *next;
} proxy_conn;

/* The proxy. cfg strings, secret and the listener are immutable after start; routes and conns are guarded
 * by mu. stop_pipe's read end becomes readable at stop and every poll in every thread includes it. */
struct mrun_proxy {
    char *domain; /* lowercased preview domain or NULL */
    int max_conns, idle_ms, connect_ms;
    uint8_t secret[MRUN_PROXY_SECRET_MAX];
    size_t secret_len;
    int listen_fd;
    int port;
    int stop_pipe[2];
    pthread_t acceptor;
    pthread_mutex_t mu;
    proxy_route *routes;
    proxy_conn *conns;
    int nconns;
};

/* Copies the live route for id into *ret; -1 when there is none or it expired. */
int proxy_route_lookup(mrun_proxy *p, const char *id, proxy_route *ret);

/* Checks a signed-link pair (exp as decimal text, sig as hex) for id; true when valid and unexpired. */
bool proxy_sig_valid(const mrun_proxy *p, const char *id, const char *exp, size_t exp_len, const char *sig,
                     size_t sig_len);

/* Checks a bearer token against the route; constant time in the token hash. */
bool proxy_bearer_valid(const proxy_route *r, const char *token, size_t len);

/* Parses 2*outlen lowercase hex digits; -1 on anything else. */
int proxy_unhex(const char *s, size_t n, uint8_t *out, size_t outlen);

/* What a successful credential check asks of the forwarding. */
typedef struct proxy_auth {
    bool strip_auth;      /* the Authorization field held the proxy's token: do not pass it to the app */
    char set_cookie[256]; /* "Set-Cookie: ...\r\n" to add to the response after a signed link, or "" */
} proxy_auth;

/* Checks the credentials of a request for a private route: a bearer token, the auth cookie, or a signed
 * link in path's query. prefix is "/preview/<id>" or "" (host-based) and scopes the cookie. 0 when allowed
 * (and *ret says what to do), -1 when not. */
int proxy_auth_check(const mrun_proxy *p, const proxy_route *route, const proxy_head *h, const char *prefix,
                     const char *path, proxy_auth *ret);

/* Removes the mrun_exp / mrun_sig query parameters from a request-target in place. */
void proxy_strip_sig_params(char *path);

/* The connection thread's body (proxy_conn.c). */
void *proxy_conn_main(void *arg);

/* Writes a short complete response ("Connection: close") to fd, best effort within the idle timeout. */
void proxy_send_status(mrun_proxy *p, int fd, int status, const char *extra_headers, const char *body);

#endif
