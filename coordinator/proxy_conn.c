/* proxy_conn.c - one client connection of the preview proxy: read and check the request head, route it,
 * check credentials, connect to the preview, forward the rewritten head and the body as a stream, rewrite the
 * response head, and stream the response (or relay a websocket). One request per connection: every response
 * says "Connection: close", which keeps framing simple and correct. All I/O is non-blocking behind poll with
 * the idle timeout and the proxy's stop pipe, so mrun_proxy_stop never waits on a stuck peer. */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../common/auto.h"
#include "../common/log.h"
#include "coordinator/proxy_int.h"

enum {
    IO_BUF = 16384,
    OUT_HEAD_MAX = 64 * 1024,
    RELAY_BUF = 16384,
    LINGER_MS = 500,
    MAX_INTERIM = 16,
    LINGER_MAX = 256 * 1024
};

/* The request being served. Owned by the connection thread. */
typedef struct req {
    mrun_proxy *p;
    proxy_conn *conn;
    int cfd, bfd;
    char in[PROXY_HEAD_MAX + 1]; /* client bytes: head, then the start of the body */
    size_t in_len, head_len;
    proxy_head h;
    char id[MRUN_PROXY_ID_MAX + 1];
    char prefix[16 + MRUN_PROXY_ID_MAX]; /* "/preview/<id>", or "" when host-based */
    char path[PROXY_LINE_MAX + 1];       /* the backend request-target */
    proxy_route route;
    bool ws, head_method;
    bool need_slash; /* "/preview/<id>" without the slash: 301 once the id is known to exist */
    proxy_auth auth;
    char out[PROXY_HEAD_MAX + 1]; /* backend bytes: response head, then the start of the body */
    size_t out_len, out_head_len;
    proxy_head rh;
} req;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd; 1 ready, 0 timeout, -1 stop or poll failure. */
static int wait_fd(mrun_proxy *p, int fd, short events, int timeout_ms)
{
    struct pollfd pf[2] = {{fd, events, 0}, {p->stop_pipe[0], POLLIN, 0}};
    int n;
    do
        n = poll(pf, 2, timeout_ms);
    while (n < 0 && errno == EINTR);
    if (n < 0 || pf[1].revents)
        return -1;
    return n == 0 ? 0 : 1;
}

/* Reads what is there, waiting up to timeout_ms; >0 bytes, 0 EOF, -1 error, timeout or stop. */
static ssize_t rd(mrun_proxy *p, int fd, char *buf, size_t n, int timeout_ms)
{
    for (;;) {
        ssize_t r = recv(fd, buf, n, 0);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        int w = wait_fd(p, fd, POLLIN, timeout_ms);
        if (w <= 0) {
            errno = w == 0 ? ETIMEDOUT : ECANCELED;
            return -1;
        }
    }
}

static int wr_all(mrun_proxy *p, int fd, const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
        if (w > 0) {
            buf += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        if (wait_fd(p, fd, POLLOUT, p->idle_ms) <= 0)
            return -1;
    }
    return 0;
}

static const char *reason(int status)
{
    switch (status) {
    case 301:
        return "Moved Permanently";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 408:
        return "Request Timeout";
    case 414:
        return "URI Too Long";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Error";
    }
}

void proxy_send_status(mrun_proxy *p, int fd, int status, const char *extra_headers, const char *body)
{
    char buf[PROXY_LINE_MAX + 2048];
    int n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nConnection: close\r\n%s\r\n%s",
                     status, reason(status), strlen(body), extra_headers ? extra_headers : "", body);
    if (n > 0 && (size_t)n < sizeof(buf))
        wr_all(p, fd, buf, (size_t)n);
}

/* ---- reading and checking the request ---- */

static int read_request_head(req *r)
{
    int64_t deadline = mono_ms() + r->p->idle_ms; /* the whole head within one idle period: no slowloris */
    for (;;) {
        size_t end = proxy_head_end(r->in, r->in_len);
        if (end) {
            r->head_len = end;
            return 0;
        }
        if (r->in_len > PROXY_HEAD_MAX) {
            proxy_send_status(r->p, r->cfd, 431, NULL, "request head too large\n");
            return -1;
        }
        int64_t left = deadline - mono_ms();
        ssize_t n = left > 0 ? rd(r->p, r->cfd, r->in + r->in_len, sizeof(r->in) - r->in_len, (int)left) : -1;
        if (n <= 0) {
            if (n < 0 && r->in_len > 0 && (left <= 0 || errno == ETIMEDOUT))
                proxy_send_status(r->p, r->cfd, 408, NULL, "request head timed out\n");
            return -1;
        }
        r->in_len += (size_t)n;
    }
}

static int parse_request(req *r)
{
    mrun_err err = MRUN_ERR_INIT;
    if (proxy_head_parse(r->in, r->head_len, false, &r->h, &err) == 0)
        return 0;
    int status = err.sys_errno == E2BIG          ? 431
                 : err.sys_errno == ENAMETOOLONG ? 414
                 : err.sys_errno == ENOTSUP      ? 501
                                                 : 400;
    mrun_log(MRUN_LOG_DEBUG, "proxy", "%s: refusing request (%d): %s", r->conn->peer, status, err.msg);
    char body[300];
    snprintf(body, sizeof(body), "%s\n", err.msg);
    proxy_send_status(r->p, r->cfd, status, NULL, body);
    return -1;
}

/* Host-based: "<id>.<domain>[:port]". Returns true and fills r->id on a match. */
static bool route_by_host(req *r)
{
    if (!r->p->domain || !r->h.host)
        return false;
    size_t n = r->h.host_len;
    const char *colon = memchr(r->h.host, ':', n);
    if (colon)
        n = (size_t)(colon - r->h.host);
    size_t dl = strlen(r->p->domain);
    if (n < dl + 2 || r->h.host[n - dl - 1] != '.' || strncasecmp(r->h.host + n - dl, r->p->domain, dl) != 0)
        return false;
    size_t idl = n - dl - 1;
    if (idl > MRUN_PROXY_ID_MAX)
        return false;
    for (size_t i = 0; i < idl; i++) {
        char c = r->h.host[i];
        r->id[i] = (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c; /* host names are case-insensitive */
    }
    r->id[idl] = '\0';
    return mrun_proxy_id_valid(r->id, idl);
}

/* Sets r->id, r->prefix and r->path; answers 301/404 itself and returns -1 then. */
static int route_request(req *r)
{
    const char *t = r->h.target;
    size_t tl = r->h.target_len;
    if (route_by_host(r)) {
        if (t[0] != '/') { /* absolute-form or "*": we are no forward proxy */
            proxy_send_status(r->p, r->cfd, 400, NULL, "request target must be a path\n");
            return -1;
        }
        r->prefix[0] = '\0';
        memcpy(r->path, t, tl);
        r->path[tl] = '\0';
        return 0;
    }
    static const char pre[] = "/preview/";
    size_t pl = sizeof(pre) - 1, i = pl;
    if (tl <= pl || memcmp(t, pre, pl) != 0) {
        proxy_send_status(r->p, r->cfd, 404, NULL, "no such preview\n");
        return -1;
    }
    while (i < tl && t[i] != '/' && t[i] != '?')
        i++;
    size_t idl = i - pl;
    if (!mrun_proxy_id_valid(t + pl, idl)) {
        proxy_send_status(r->p, r->cfd, 404, NULL, "no such preview\n");
        return -1;
    }
    memcpy(r->id, t + pl, idl);
    r->id[idl] = '\0';
    snprintf(r->prefix, sizeof(r->prefix), "/preview/%s", r->id);
    r->need_slash = i == tl || t[i] == '?';
    memcpy(r->path, t + i, tl - i);
    r->path[tl - i] = '\0';
    return 0;
}

/* Public routes pass; private ones need credentials (proxy_auth.c), else 401. */
static int check_credentials(req *r)
{
    if (!r->route.private_ || proxy_auth_check(r->p, &r->route, &r->h, r->prefix, r->path, &r->auth) == 0)
        return 0;
    proxy_send_status(r->p, r->cfd, 401, "WWW-Authenticate: Bearer realm=\"mrun-preview\"\r\n",
                      "this preview is private: use a token or a signed link\n");
    return -1;
}

/* ---- the backend ---- */

static int connect_backend(req *r)
{
    char port[8];
    snprintf(port, sizeof(port), "%d", r->route.port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    if (getaddrinfo(r->route.host, port, &hints, &ai) != 0) {
        proxy_send_status(r->p, r->cfd, 502, NULL, "preview backend: unknown host\n");
        return -1;
    }
    int status = 502;
    for (struct addrinfo *a = ai; a && r->bfd < 0; a = a->ai_next) {
        int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            continue;
        int rc = connect(fd, a->ai_addr, a->ai_addrlen);
        if (rc < 0 && errno == EINPROGRESS) {
            int w = wait_fd(r->p, fd, POLLOUT, r->p->connect_ms);
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (w == 0)
                status = 504;
            rc = (w > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) ? 0 : -1;
        }
        if (rc == 0)
            r->bfd = fd;
        else
            close(fd);
    }
    freeaddrinfo(ai);
    if (r->bfd >= 0)
        return 0;
    mrun_log(MRUN_LOG_DEBUG, "proxy", "preview %s: backend %s:%d unreachable (%d)", r->id, r->route.host, r->route.port,
             status);
    proxy_send_status(r->p, r->cfd, status, NULL,
                      status == 504 ? "preview backend did not answer in time\n" : "preview backend unreachable\n");
    return -1;
}

/* A bounded, growing output buffer for rewritten heads. */
typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool bad;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->bad)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *np = cap <= OUT_HEAD_MAX ? realloc(b->p, cap) : NULL;
        if (!np) {
            b->bad = true;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    char tmp[PROXY_LINE_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        b->bad = true;
    else
        sb_put(b, tmp, (size_t)n);
}

static void sb_line(sbuf *b, const char *name, size_t nlen, const char *value, size_t vlen)
{
    sb_put(b, name, nlen);
    sb_put(b, ": ", 2);
    sb_put(b, value, vlen);
    sb_put(b, "\r\n", 2);
}

static void sb_field(sbuf *b, const proxy_hdr *f)
{
    sb_line(b, f->name, f->name_len, f->value, f->value_len);
}

static bool name_is(const proxy_hdr *f, const char *name)
{
    return strlen(name) == f->name_len && strncasecmp(f->name, name, f->name_len) == 0;
}

/* Hop-by-hop fields (RFC 9110 7.6.1) plus any the Connection field names. */
static bool hop_by_hop(const proxy_head *h, const proxy_hdr *f, bool keep_upgrade)
{
    static const char *const names[] = {"connection", "keep-alive", "te", "trailer", "proxy-connection"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (name_is(f, names[i]))
            return true;
    if (f->name_len >= 6 && strncasecmp(f->name, "proxy-", 6) == 0)
        return true;
    if (name_is(f, "upgrade"))
        return !keep_upgrade;
    if (f->name_len > 64)
        return false;
    char nm[65];
    memcpy(nm, f->name, f->name_len);
    nm[f->name_len] = '\0';
    for (size_t i = 0; i < h->nhdrs; i++)
        if (name_is(&h->hdrs[i], "connection") && proxy_list_has(h->hdrs[i].value, h->hdrs[i].value_len, nm) &&
            !(keep_upgrade && name_is(f, "upgrade")))
            return true;
    return false;
}

/* Cookie without the proxy's own auth cookie; nothing when that was the only one. */
static void put_cookie(sbuf *b, const proxy_hdr *f)
{
    static const char name[] = PROXY_AUTH_COOKIE "=";
    sbuf tmp = {0};
    const char *v = f->value, *end = f->value + f->value_len;
    while (v < end) {
        while (v < end && (*v == ' ' || *v == ';'))
            v++;
        const char *e = v;
        while (e < end && *e != ';')
            e++;
        if (e > v && !((size_t)(e - v) >= sizeof(name) - 1 && strncmp(v, name, sizeof(name) - 1) == 0)) {
            if (tmp.len)
                sb_put(&tmp, "; ", 2);
            sb_put(&tmp, v, (size_t)(e - v));
        }
        v = e;
    }
    if (tmp.bad)
        b->bad = true;
    else if (tmp.len)
        sb_line(b, "Cookie", 6, tmp.p, tmp.len);
    free(tmp.p);
}

/* Existing X-Forwarded-For values, comma-joined, then the client. */
static void put_xff(sbuf *b, req *r)
{
    sb_put(b, "X-Forwarded-For: ", 17);
    for (size_t i = 0; i < r->h.nhdrs; i++) {
        if (name_is(&r->h.hdrs[i], "x-forwarded-for") && r->h.hdrs[i].value_len) {
            sb_put(b, r->h.hdrs[i].value, r->h.hdrs[i].value_len);
            sb_put(b, ", ", 2);
        }
    }
    sb_printf(b, "%s\r\n", r->conn->peer);
}

static bool is_ws_upgrade(const proxy_head *h)
{
    const proxy_hdr *u = proxy_head_get(h, "upgrade");
    const proxy_hdr *c = proxy_head_get(h, "connection");
    return u && c && proxy_list_has(u->value, u->value_len, "websocket") &&
           proxy_list_has(c->value, c->value_len, "upgrade");
}

static int send_backend_head(req *r)
{
    static const char *const drop[] = {"x-forwarded-for",    "x-forwarded-host", "x-forwarded-proto",
                                       "x-forwarded-prefix", "expect",           "cookie"};
    mrun_autofree char *mem = NULL;
    sbuf b = {0};
    /* the client's version: an HTTP/1.0 client must not get chunked framing, which we pass through verbatim */
    sb_printf(&b, "%.*s %s HTTP/1.%d\r\n", (int)r->h.method_len, r->h.method, r->path, r->h.minor);
    for (size_t i = 0; i < r->h.nhdrs; i++) {
        const proxy_hdr *f = &r->h.hdrs[i];
        bool skip = hop_by_hop(&r->h, f, r->ws) || (r->auth.strip_auth && name_is(f, "authorization"));
        for (size_t k = 0; k < sizeof(drop) / sizeof(drop[0]) && !skip; k++)
            skip = name_is(f, drop[k]);
        if (name_is(f, "cookie"))
            put_cookie(&b, f);
        if (!skip)
            sb_field(&b, f);
    }
    put_xff(&b, r);
    if (r->h.host)
        sb_printf(&b, "X-Forwarded-Host: %.*s\r\n", (int)r->h.host_len, r->h.host);
    sb_put(&b, "X-Forwarded-Proto: http\r\n", 25);
    if (r->prefix[0])
        sb_printf(&b, "X-Forwarded-Prefix: %s\r\n", r->prefix);
    sb_printf(&b, "Connection: %s\r\n\r\n", r->ws ? "Upgrade" : "close");
    mem = b.p;
    if (b.bad) {
        proxy_send_status(r->p, r->cfd, 431, NULL, "request head too large after rewriting\n");
        return -1;
    }
    return wr_all(r->p, r->bfd, b.p, b.len);
}

/* ---- bodies ---- */

enum body_kind { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_CLOSE };

/* Forwards one body from src to dst as it arrives: pre (already read) first, then src until the framing
 * ends. Returns 0, or -1 on an I/O error, timeout or bad framing. */
static int copy_body(mrun_proxy *p, int src, int dst, const char *pre, size_t pre_len, enum body_kind kind,
                     int64_t length)
{
    if (kind == BODY_NONE)
        return 0;
    proxy_chunked ch = {0};
    uint64_t left = kind == BODY_LENGTH ? (uint64_t)length : 0;
    char buf[IO_BUF];
    const char *data = pre;
    size_t n = pre_len;
    for (;;) {
        size_t use = n;
        if (kind == BODY_LENGTH && use > left)
            use = (size_t)left;
        if (kind == BODY_CHUNKED) {
            mrun_err err = MRUN_ERR_INIT;
            if (proxy_chunked_feed(&ch, data, n, &use, &err) < 0)
                return -1;
        }
        if (use && wr_all(p, dst, data, use) < 0)
            return -1;
        left -= kind == BODY_LENGTH ? use : 0;
        if ((kind == BODY_LENGTH && left == 0) || (kind == BODY_CHUNKED && ch.done))
            return 0;
        ssize_t got = rd(p, src, buf, sizeof(buf), p->idle_ms);
        if (got < 0)
            return -1;
        if (got == 0)
            return kind == BODY_CLOSE ? 0 : -1;
        data = buf;
        n = (size_t)got;
    }
}

static enum body_kind request_body(const proxy_head *h, int64_t *ret_len)
{
    *ret_len = h->content_length;
    if (h->chunked)
        return BODY_CHUNKED;
    return h->content_length > 0 ? BODY_LENGTH : BODY_NONE;
}

static enum body_kind response_body(const req *r, int64_t *ret_len)
{
    const proxy_head *h = &r->rh;
    *ret_len = h->content_length;
    if (r->head_method || h->status < 200 || h->status == 204 || h->status == 304)
        return BODY_NONE;
    if (h->chunked)
        return BODY_CHUNKED;
    if (h->other_te)
        return BODY_CLOSE;
    if (h->content_length >= 0)
        return h->content_length ? BODY_LENGTH : BODY_NONE;
    return BODY_CLOSE;
}

/* ---- the response ---- */

/* Reads the backend's final response head (skipping 1xx other than 101) into r->out. */
static int read_response_head(req *r)
{
    for (int interim = 0; interim <= MAX_INTERIM;) {
        size_t end = proxy_head_end(r->out, r->out_len);
        if (end) {
            mrun_err err = MRUN_ERR_INIT;
            if (proxy_head_parse(r->out, end, true, &r->rh, &err) < 0) {
                mrun_log(MRUN_LOG_DEBUG, "proxy", "preview %s: bad response head: %s", r->id, err.msg);
                return -1;
            }
            if (r->rh.status >= 200 || r->rh.status == 101) {
                r->out_head_len = end;
                return 0;
            }
            memmove(r->out, r->out + end, r->out_len - end); /* interim response: we answered 100 ourselves */
            r->out_len -= end;
            interim++;
            continue;
        }
        if (r->out_len > PROXY_HEAD_MAX)
            return -1;
        ssize_t n = rd(r->p, r->bfd, r->out + r->out_len, sizeof(r->out) - r->out_len, r->p->idle_ms);
        if (n <= 0)
            return -1;
        r->out_len += (size_t)n;
    }
    return -1; /* an endless stream of 1xx is no response */
}

static void put_response_field(sbuf *b, req *r, const proxy_hdr *f)
{
    char v[PROXY_HEAD_MAX + 128];
    char auth[300];
    snprintf(auth, sizeof(auth), "%s:%d", r->route.host, r->route.port);
    char host[300] = "";
    if (r->h.host)
        snprintf(host, sizeof(host), "%.*s", (int)r->h.host_len, r->h.host);
    const char *const auths[] = {auth, host[0] ? host : NULL};
    if (name_is(f, "location") &&
        proxy_rewrite_location(f->value, f->value_len, r->prefix, auths, 2, v, sizeof(v)) == 0) {
        sb_line(b, "Location", 8, v, strlen(v));
        return;
    }
    if (r->prefix[0] && name_is(f, "set-cookie") &&
        proxy_rewrite_cookie_path(f->value, f->value_len, r->prefix, v, sizeof(v)) == 0) {
        sb_line(b, "Set-Cookie", 10, v, strlen(v));
        return;
    }
    sb_field(b, f);
}

static int send_response_head(req *r, bool upgraded)
{
    mrun_autofree char *mem = NULL;
    sbuf b = {0};
    const char *line_end = memchr(r->out, '\r', r->out_head_len);
    sb_printf(&b, "HTTP/1.1 %.*s\r\n", (int)(line_end - r->out - 9), r->out + 9);
    for (size_t i = 0; i < r->rh.nhdrs; i++)
        if (!hop_by_hop(&r->rh, &r->rh.hdrs[i], upgraded))
            put_response_field(&b, r, &r->rh.hdrs[i]);
    sb_put(&b, r->auth.set_cookie, strlen(r->auth.set_cookie));
    sb_printf(&b, "Connection: %s\r\n\r\n", upgraded ? "Upgrade" : "close");
    mem = b.p;
    if (b.bad)
        return -1;
    return wr_all(r->p, r->cfd, b.p, b.len);
}

/* Bidirectional copy after a websocket upgrade, until both sides close or the idle timeout. */
static void relay(mrun_proxy *p, int a, int b)
{
    struct dir {
        int from, to;
        char buf[RELAY_BUF];
        size_t off, len;
        bool eof;
    } d[2] = {{.from = a, .to = b}, {.from = b, .to = a}};
    while (!(d[0].eof && d[0].len == 0 && d[1].eof && d[1].len == 0)) {
        struct pollfd pf[3] = {{a, 0, 0}, {b, 0, 0}, {p->stop_pipe[0], POLLIN, 0}};
        for (int i = 0; i < 2; i++) {
            if (d[i].len)
                pf[i == 0 ? 1 : 0].events |= POLLOUT;
            else if (!d[i].eof)
                pf[i].events |= POLLIN;
        }
        int n = poll(pf, 3, p->idle_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || pf[2].revents || (pf[0].revents | pf[1].revents) & POLLERR)
            return;
        if (((pf[0].revents & POLLHUP) && d[0].eof) || ((pf[1].revents & POLLHUP) && d[1].eof))
            return; /* a side hung up completely: nothing more can reach it */
        for (int i = 0; i < 2; i++) {
            struct pollfd *in = &pf[i], *out = &pf[1 - i];
            if (!d[i].len && !d[i].eof && (in->revents & (POLLIN | POLLHUP | POLLERR))) {
                ssize_t got = recv(d[i].from, d[i].buf, sizeof(d[i].buf), 0);
                if (got < 0 && errno != EAGAIN && errno != EINTR)
                    return;
                if (got == 0) {
                    d[i].eof = true;
                    shutdown(d[i].to, SHUT_WR);
                }
                if (got > 0)
                    d[i].len = (size_t)got, d[i].off = 0;
            }
            if (d[i].len && (out->revents & (POLLOUT | POLLERR | POLLHUP))) {
                ssize_t w = send(d[i].to, d[i].buf + d[i].off, d[i].len, MSG_NOSIGNAL);
                if (w < 0 && errno != EAGAIN && errno != EINTR)
                    return;
                if (w > 0)
                    d[i].off += (size_t)w, d[i].len -= (size_t)w;
            }
        }
    }
}

static void forward(req *r)
{
    if (send_backend_head(r) < 0)
        return;
    int64_t len;
    enum body_kind kind = request_body(&r->h, &len);
    const char *pre = r->in + r->head_len;
    size_t pre_len = r->in_len - r->head_len;
    if (kind != BODY_NONE && copy_body(r->p, r->cfd, r->bfd, pre, pre_len, kind, len) < 0) {
        proxy_send_status(r->p, r->cfd, 502, NULL, "request body could not be forwarded\n");
        return;
    }
    if (read_response_head(r) < 0) {
        proxy_send_status(r->p, r->cfd, 502, NULL, "preview backend sent no valid response\n");
        return;
    }
    bool upgraded = r->rh.status == 101 && r->ws && is_ws_upgrade(&r->rh);
    if (r->rh.status == 101 && !upgraded) {
        proxy_send_status(r->p, r->cfd, 502, NULL, "unexpected protocol switch from the preview\n");
        return;
    }
    if (send_response_head(r, upgraded) < 0)
        return;
    const char *bpre = r->out + r->out_head_len;
    size_t bpre_len = r->out_len - r->out_head_len;
    if (upgraded) {
        if ((pre_len && kind == BODY_NONE && wr_all(r->p, r->bfd, pre, pre_len) < 0) ||
            (bpre_len && wr_all(r->p, r->cfd, bpre, bpre_len) < 0))
            return;
        relay(r->p, r->cfd, r->bfd);
        return;
    }
    kind = response_body(r, &len);
    copy_body(r->p, r->bfd, r->cfd, bpre, bpre_len, kind, len);
}

static void serve(req *r)
{
    if (read_request_head(r) < 0 || parse_request(r) < 0 || route_request(r) < 0)
        return;
    if (proxy_route_lookup(r->p, r->id, &r->route) < 0) {
        proxy_send_status(r->p, r->cfd, 404, NULL, "no such preview\n");
        return;
    }
    if (r->need_slash) { /* "/preview/<id>" -> "/preview/<id>/": the app's relative links need the slash */
        char loc[sizeof(r->path) + sizeof(r->prefix) + 16];
        snprintf(loc, sizeof(loc), "Location: %s/%s\r\n", r->prefix, r->path);
        proxy_send_status(r->p, r->cfd, 301, loc, "moved\n");
        return;
    }
    if (check_credentials(r) < 0)
        return;
    proxy_strip_sig_params(r->path);
    r->ws = is_ws_upgrade(&r->h);
    r->head_method = r->h.method_len == 4 && memcmp(r->h.method, "HEAD", 4) == 0;
    const proxy_hdr *expect = proxy_head_get(&r->h, "expect");
    if (connect_backend(r) < 0)
        return;
    if (expect && proxy_list_has(expect->value, expect->value_len, "100-continue") &&
        wr_all(r->p, r->cfd, "HTTP/1.1 100 Continue\r\n\r\n", 25) < 0)
        return;
    forward(r);
}

/* Sends FIN, then drains what the client still sends for a moment: closing with unread input makes the
 * kernel send RST, which can destroy a response (a 431, say) before the client has read it. */
static void linger_close(mrun_proxy *p, int fd)
{
    shutdown(fd, SHUT_WR);
    char buf[4096];
    int64_t deadline = mono_ms() + LINGER_MS;
    for (size_t total = 0; total < LINGER_MAX;) {
        int64_t left = deadline - mono_ms();
        ssize_t n = left > 0 ? rd(p, fd, buf, sizeof(buf), (int)left) : -1;
        if (n <= 0)
            break;
        total += (size_t)n;
    }
    close(fd);
}

void *proxy_conn_main(void *arg)
{
    proxy_conn *c = arg;
    mrun_proxy *p = c->proxy;
    req *r = malloc(sizeof(*r));
    if (r) {
        r->p = p;
        r->conn = c;
        r->cfd = c->fd;
        r->bfd = -1;
        r->in_len = r->head_len = r->out_len = r->out_head_len = 0;
        r->ws = r->auth.strip_auth = r->head_method = r->need_slash = false;
        r->auth.set_cookie[0] = r->prefix[0] = '\0';
        serve(r);
        if (r->bfd >= 0)
            close(r->bfd);
        free(r);
    }
    linger_close(p, c->fd);
    pthread_mutex_lock(&p->mu);
    c->done = true;
    c->fd = -1;
    pthread_mutex_unlock(&p->mu);
    return NULL;
}
