/* test_proxy.c - the preview proxy over real sockets on 127.0.0.1: a small C HTTP backend thread plays the
 * preview app, raw requests play the browser. Also the pure head parser, chunked scanner and rewrites. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "coordinator/proxy.h"
#include "coordinator/proxy_int.h"

#define ID      "abcdef0123456789"
#define PRIV_ID "privprivprivpriv0001"
#define OLD_ID  "expiredexpired0001"
#define DOWN_ID "downdowndowndown0001"

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the backend: one connection at a time, answers by path, records the last request ---- */

typedef struct backend {
    int fd, port;
    pthread_t thread;
    atomic_int stop;
    pthread_mutex_t mu;
    char last_head[8192];
    char last_body[8192];
} backend;

static ssize_t read_until(int fd, char *buf, size_t cap, size_t *len, const char *marker)
{
    while (!memmem(buf, *len, marker, strlen(marker))) {
        if (*len + 1 >= cap)
            return -1;
        ssize_t n = recv(fd, buf + *len, cap - 1 - *len, 0);
        if (n <= 0)
            return -1;
        *len += (size_t)n;
        buf[*len] = '\0';
    }
    return 0;
}

static void send_str(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void sendf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sendf(int fd, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    send_str(fd, buf);
}

/* Reads the request body (Content-Length or chunked, decoded) after the head. */
static void read_body(int fd, char *buf, size_t len, size_t head_len, char *out, size_t cap)
{
    const char *cl = strcasestr(buf, "\r\ncontent-length:");
    size_t have = len - head_len;
    char *body = buf + head_len;
    out[0] = '\0';
    if (cl && cl < buf + head_len) {
        size_t want = strtoul(cl + 17, NULL, 10);
        while (have < want && len + 1 < 65536) {
            ssize_t n = recv(fd, buf + len, 65535 - len, 0);
            if (n <= 0)
                break;
            len += (size_t)n;
            have += (size_t)n;
        }
        snprintf(out, cap, "%.*s", (int)(have < want ? have : want), body);
    } else if (strcasestr(buf, "\r\ntransfer-encoding: chunked")) {
        size_t blen = len;
        for (;;) { /* the last chunk "\r\n0\r\n", then trailers up to an empty line */
            char *z = memmem(buf + head_len - 2, blen - head_len + 2, "\r\n0\r\n", 5);
            if (z && memmem(z + 3, (size_t)(buf + blen - z - 3), "\r\n\r\n", 4))
                break;
            ssize_t n = blen + 1 < 65536 ? recv(fd, buf + blen, 65535 - blen, 0) : -1;
            if (n <= 0)
                break;
            blen += (size_t)n;
        }
        size_t o = 0;
        char *p = buf + head_len;
        for (;;) {
            unsigned long n = strtoul(p, &p, 16);
            p = strstr(p, "\r\n");
            if (!n || !p)
                break;
            p += 2;
            if (o + n < cap) {
                memcpy(out + o, p, n);
                o += n;
            }
            p += n + 2;
        }
        out[o] = '\0';
    }
}

static void answer(backend *b, int fd, const char *head, const char *path)
{
    if (strncmp(path, "/redirect-abs", 13) == 0)
        sendf(fd, "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:%d/abs?x=1\r\nContent-Length: 0\r\n\r\n", b->port);
    else if (strncmp(path, "/redirect-ext", 13) == 0)
        send_str(fd, "HTTP/1.1 302 Found\r\nLocation: https://example.org/x\r\nContent-Length: 0\r\n\r\n");
    else if (strncmp(path, "/redirect", 9) == 0)
        send_str(fd, "HTTP/1.1 302 Found\r\nLocation: /login?next=1\r\nContent-Length: 0\r\n\r\n");
    else if (strncmp(path, "/cookie", 7) == 0)
        send_str(fd, "HTTP/1.1 200 OK\r\nSet-Cookie: sid=42; Path=/app; HttpOnly\r\nSet-Cookie: t=1\r\n"
                     "Keep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok");
    else if (strncmp(path, "/echo", 5) == 0)
        sendf(fd, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(b->last_body), b->last_body);
    else if (strncmp(path, "/stream", 7) == 0) {
        send_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
        const char *parts[] = {"data: one\n\n", "data: two\n\n", "data: three\n\n"};
        for (int i = 0; i < 3; i++) {
            if (i)
                poll(NULL, 0, 300);
            sendf(fd, "%zx\r\n%s\r\n", strlen(parts[i]), parts[i]);
        }
        send_str(fd, "0\r\n\r\n");
    } else if (strncmp(path, "/ws", 3) == 0 && strcasestr(head, "upgrade: websocket")) {
        send_str(fd, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
        char buf[4096];
        ssize_t n;
        while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
            send(fd, buf, (size_t)n, MSG_NOSIGNAL);
    } else if (strncmp(path, "/close", 6) == 0)
        send_str(fd, "HTTP/1.1 200 OK\r\n\r\nuntil-close body");
    else
        sendf(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n\r\npath=%s", strlen(path) + 5,
              path);
}

static void serve_one(backend *b, int fd)
{
    static char buf[65536];
    size_t len = 0;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (read_until(fd, buf, sizeof(buf), &len, "\r\n\r\n") < 0)
        return;
    size_t head_len = (size_t)((char *)memmem(buf, len, "\r\n\r\n", 4) - buf) + 4;
    pthread_mutex_lock(&b->mu);
    snprintf(b->last_head, sizeof(b->last_head), "%.*s", (int)head_len, buf);
    pthread_mutex_unlock(&b->mu);
    char path[2048];
    if (sscanf(buf, "%*s %2047s", path) != 1)
        return;
    char body[8192];
    read_body(fd, buf, len, head_len, body, sizeof(body));
    pthread_mutex_lock(&b->mu);
    snprintf(b->last_body, sizeof(b->last_body), "%s", body);
    pthread_mutex_unlock(&b->mu);
    answer(b, fd, b->last_head, path);
}

static void *backend_main(void *arg)
{
    backend *b = arg;
    while (!b->stop) {
        struct pollfd pf = {b->fd, POLLIN, 0};
        if (poll(&pf, 1, 100) <= 0)
            continue;
        int c = accept(b->fd, NULL, NULL);
        if (c < 0)
            continue;
        serve_one(b, c);
        close(c);
    }
    return NULL;
}

static int listen_local(int *ret_port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 16), 0);
    getsockname(fd, (struct sockaddr *)&a, &l);
    *ret_port = ntohs(a.sin_port);
    return fd;
}

/* ---- fixture: backend + proxy with routes ---- */

typedef struct fx {
    backend b;
    mrun_proxy *proxy;
    int port;
} fx;

static const uint8_t SECRET[32] = "0123456789abcdef0123456789abcdef";

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    pthread_mutex_init(&f->b.mu, NULL);
    f->b.fd = listen_local(&f->b.port);
    pthread_create(&f->b.thread, NULL, backend_main, &f->b);
    mrun_proxy_config cfg = {.listen = "127.0.0.1:0",
                             .preview_domain = "Preview.Test",
                             .secret = SECRET,
                             .secret_len = sizeof(SECRET),
                             .idle_timeout_ms = 3000,
                             .connect_timeout_ms = 1000};
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_proxy_start(&cfg, &f->proxy, &err), 0);
    f->port = mrun_proxy_port(f->proxy);
    assert_true(f->port > 0);
    char hash[65];
    mrun_proxy_token_hash("s3cret-token", hash);
    assert_int_equal(mrun_proxy_route_set(f->proxy, ID, "127.0.0.1", f->b.port, 0, false, NULL, &err), 0);
    assert_int_equal(mrun_proxy_route_set(f->proxy, PRIV_ID, "127.0.0.1", f->b.port, 0, true, hash, &err), 0);
    assert_int_equal(mrun_proxy_route_set(f->proxy, OLD_ID, "127.0.0.1", f->b.port, 1000, false, NULL, &err), 0);
    int dead_port;
    close(listen_local(&dead_port));
    assert_int_equal(mrun_proxy_route_set(f->proxy, DOWN_ID, "127.0.0.1", dead_port, 0, false, NULL, &err), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    mrun_proxy_stop(f->proxy);
    f->b.stop = 1;
    pthread_join(f->b.thread, NULL);
    close(f->b.fd);
    pthread_mutex_destroy(&f->b.mu);
    free(f);
    return 0;
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Sends raw bytes and reads the whole response until the proxy closes. */
static char *exchange(fx *f, const char *req, size_t req_len)
{
    int fd = dial(f->port);
    size_t off = 0;
    while (off < req_len) {
        ssize_t w = send(fd, req + off, req_len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    size_t cap = 65536, len = 0;
    char *out = malloc(cap);
    ssize_t n;
    while ((n = recv(fd, out + len, cap - 1 - len, 0)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(fd);
    return out;
}

static char *get(fx *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *get(fx *f, const char *fmt, ...)
{
    char req[32768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(req, sizeof(req), fmt, ap);
    va_end(ap);
    return exchange(f, req, strlen(req));
}

static int status_of(const char *resp)
{
    int s = 0;
    return sscanf(resp, "HTTP/1.1 %d", &s) == 1 ? s : -1;
}

static void last_head(fx *f, char *out, size_t cap)
{
    pthread_mutex_lock(&f->b.mu);
    snprintf(out, cap, "%s", f->b.last_head);
    pthread_mutex_unlock(&f->b.mu);
}

/* ---- end-to-end ---- */

static void test_get_strips_prefix(void **state)
{
    fx *f = *state;
    char *r = get(f, "GET /preview/" ID "/hello/world?q=1 HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n"
                     "X-Forwarded-For: 10.1.1.1\r\nKeep-Alive: 5\r\nTE: trailers\r\n\r\n");
    assert_int_equal(status_of(r), 200);
    assert_non_null(strstr(r, "\r\n\r\npath=/hello/world?q=1"));
    assert_non_null(strstr(r, "Connection: close\r\n"));
    char h[8192];
    last_head(f, h, sizeof(h));
    assert_true(strncmp(h, "GET /hello/world?q=1 HTTP/1.1\r\n", 31) == 0);
    assert_non_null(strstr(h, "X-Forwarded-Prefix: /preview/" ID "\r\n"));
    assert_non_null(strstr(h, "X-Forwarded-For: 10.1.1.1, 127.0.0.1\r\n"));
    assert_non_null(strstr(h, "X-Forwarded-Host: localhost\r\n"));
    assert_non_null(strstr(h, "X-Forwarded-Proto: http\r\n"));
    assert_null(strcasestr(h, "keep-alive"));
    assert_null(strstr(h, "TE:"));
    free(r);
}

static void test_redirects(void **state)
{
    fx *f = *state;
    char *r = get(f, "GET /preview/" ID "/redirect HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_int_equal(status_of(r), 302);
    assert_non_null(strstr(r, "\r\nLocation: /preview/" ID "/login?next=1\r\n"));
    free(r);
    r = get(f, "GET /preview/" ID "/redirect-abs HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_non_null(strstr(r, "\r\nLocation: /preview/" ID "/abs?x=1\r\n"));
    free(r);
    r = get(f, "GET /preview/" ID "/redirect-ext HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_non_null(strstr(r, "\r\nLocation: https://example.org/x\r\n"));
    free(r);
    r = get(f, "GET /preview/" ID "?a=b HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_int_equal(status_of(r), 301);
    assert_non_null(strstr(r, "\r\nLocation: /preview/" ID "/?a=b\r\n"));
    free(r);
}

static void test_set_cookie_path(void **state)
{
    fx *f = *state;
    char *r = get(f, "GET /preview/" ID "/cookie HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_int_equal(status_of(r), 200);
    assert_non_null(strstr(r, "\r\nSet-Cookie: sid=42; Path=/preview/" ID "/app; HttpOnly\r\n"));
    assert_non_null(strstr(r, "\r\nSet-Cookie: t=1\r\n"));
    assert_null(strstr(r, "Keep-Alive"));
    free(r);
}

static void test_post_bodies(void **state)
{
    fx *f = *state;
    char *r = get(f, "POST /preview/" ID "/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello=world");
    assert_int_equal(status_of(r), 200);
    assert_non_null(strstr(r, "\r\n\r\nhello=world"));
    free(r);
    r = get(f, "POST /preview/" ID "/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
               "Expect: 100-continue\r\n\r\n5\r\nchunk\r\n7;ext=1\r\ned-body\r\n0\r\nX-T: 1\r\n\r\n");
    assert_true(strncmp(r, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200", 36) == 0);
    assert_non_null(strstr(r, "\r\n\r\nchunked-body"));
    char h[8192];
    last_head(f, h, sizeof(h));
    assert_null(strcasestr(h, "expect:"));
    free(r);
}

static void test_streaming(void **state)
{
    fx *f = *state;
    int fd = dial(f->port);
    const char *req = "GET /preview/" ID "/stream HTTP/1.1\r\nHost: x\r\n\r\n";
    int64_t t0 = mono_ms(), t_one = -1, t_three = -1;
    send_str(fd, req);
    char buf[8192];
    size_t len = 0;
    ssize_t n;
    while ((n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0)) > 0) {
        len += (size_t)n;
        buf[len] = '\0';
        if (t_one < 0 && strstr(buf, "data: one"))
            t_one = mono_ms() - t0;
        if (t_three < 0 && strstr(buf, "data: three"))
            t_three = mono_ms() - t0;
    }
    close(fd);
    assert_true(t_one >= 0 && t_three >= 0);
    assert_true(t_one < 250);    /* the first event before the backend has finished... */
    assert_true(t_three >= 550); /* ...which takes two 300 ms pauses */
    assert_true(strstr(buf, "data: one") < strstr(buf, "data: two"));
    assert_non_null(strstr(buf, "0\r\n\r\n"));
}

static void test_websocket(void **state)
{
    fx *f = *state;
    int fd = dial(f->port);
    send_str(fd, "GET /preview/" ID "/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    char buf[4096];
    size_t len = 0;
    assert_int_equal(read_until(fd, buf, sizeof(buf), &len, "\r\n\r\n"), 0);
    assert_int_equal(status_of(buf), 101);
    assert_non_null(strstr(buf, "\r\nUpgrade: websocket\r\n"));
    assert_non_null(strstr(buf, "\r\nConnection: Upgrade\r\n"));
    for (int i = 0; i < 3; i++) {
        char msg[32];
        snprintf(msg, sizeof(msg), "\x81\x05hello-%d", i); /* frame bytes: the proxy copies them verbatim */
        send_str(fd, msg);
        len = 0;
        assert_int_equal(read_until(fd, buf, sizeof(buf), &len, msg), 0);
    }
    close(fd);
}

static void test_unknown_and_expired(void **state)
{
    fx *f = *state;
    char *r = get(f, "GET /preview/zzzzzzzzzzzzzzzzzzzz/ HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(status_of(r), 404);
    free(r);
    r = get(f, "GET /preview/" OLD_ID "/ HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(status_of(r), 404);
    free(r);
    r = get(f, "GET /preview/SHORT/ HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(status_of(r), 404);
    free(r);
    r = get(f, "GET /other HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(status_of(r), 404);
    free(r);
    assert_int_equal(mrun_proxy_route_remove(f->proxy, ID), 0);
    assert_int_equal(mrun_proxy_route_remove(f->proxy, ID), -1);
    r = get(f, "GET /preview/" ID "/ HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(status_of(r), 404);
    free(r);
}

static void test_private(void **state)
{
    fx *f = *state;
    char *r = get(f, "GET /preview/" PRIV_ID "/ HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(status_of(r), 401);
    free(r);
    r = get(f, "GET /preview/" PRIV_ID "/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n\r\n");
    assert_int_equal(status_of(r), 401);
    free(r);
    r = get(f, "GET /preview/" PRIV_ID "/t HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret-token\r\n\r\n");
    assert_int_equal(status_of(r), 200);
    free(r);
    char h[8192];
    last_head(f, h, sizeof(h));
    assert_null(strcasestr(h, "authorization"));
}

static void test_signed_link(void **state)
{
    fx *f = *state;
    mrun_err err = MRUN_ERR_INIT;
    char *q = NULL;
    assert_int_equal(mrun_proxy_sign_query(f->proxy, PRIV_ID, (int64_t)time(NULL) + 600, &q, &err), 0);
    char *r = get(f, "GET /preview/" PRIV_ID "/page?a=1&%s HTTP/1.1\r\nHost: x\r\n\r\n", q);
    assert_int_equal(status_of(r), 200);
    assert_non_null(strstr(r, "path=/page?a=1")); /* the app never sees the signature */
    assert_null(strstr(r, "mrun_sig"));
    char *c = strstr(r, "\r\nSet-Cookie: mrun_preview_auth=");
    assert_non_null(c);
    assert_non_null(strstr(c, "; Path=/preview/" PRIV_ID "/;"));
    char cookie[256];
    assert_int_equal(sscanf(c, "\r\nSet-Cookie: %255[^;]", cookie), 1);
    free(r);
    r = get(f, "GET /preview/" PRIV_ID "/next HTTP/1.1\r\nHost: x\r\nCookie: a=b; %s; c=d\r\n\r\n", cookie);
    assert_int_equal(status_of(r), 200);
    free(r);
    char h[8192];
    last_head(f, h, sizeof(h));
    assert_non_null(strstr(h, "\r\nCookie: a=b; c=d\r\n"));
    assert_null(strstr(h, "mrun_preview_auth"));
    /* tampered: one hex digit of the signature changed */
    char *sig = strstr(q, "mrun_sig=") + 9;
    sig[5] = sig[5] == '0' ? '1' : '0';
    r = get(f, "GET /preview/" PRIV_ID "/?%s HTTP/1.1\r\nHost: x\r\n\r\n", q);
    assert_int_equal(status_of(r), 401);
    free(r);
    free(q);
    /* validly signed but expired */
    assert_int_equal(mrun_proxy_sign_query(f->proxy, PRIV_ID, (int64_t)time(NULL) - 5, &q, &err), 0);
    r = get(f, "GET /preview/" PRIV_ID "/?%s HTTP/1.1\r\nHost: x\r\n\r\n", q);
    assert_int_equal(status_of(r), 401);
    free(r);
    free(q);
    /* a link for another id does not open this one */
    assert_int_equal(mrun_proxy_sign_query(f->proxy, ID, (int64_t)time(NULL) + 600, &q, &err), 0);
    r = get(f, "GET /preview/" PRIV_ID "/?%s HTTP/1.1\r\nHost: x\r\n\r\n", q);
    assert_int_equal(status_of(r), 401);
    free(r);
    free(q);
}

static void test_host_based(void **state)
{
    fx *f = *state;
    char *r = get(f, "GET /app/x HTTP/1.1\r\nHost: " ID ".preview.TEST:8080\r\n\r\n");
    assert_int_equal(status_of(r), 200);
    assert_non_null(strstr(r, "path=/app/x"));
    free(r);
    char h[8192];
    last_head(f, h, sizeof(h));
    assert_null(strstr(h, "X-Forwarded-Prefix"));
    r = get(f, "GET /redirect HTTP/1.1\r\nHost: " ID ".preview.test\r\n\r\n");
    assert_non_null(strstr(r, "\r\nLocation: /login?next=1\r\n"));
    free(r);
    r = get(f, "GET / HTTP/1.1\r\nHost: nosuchidnosuchid.preview.test\r\n\r\n");
    assert_int_equal(status_of(r), 404);
    free(r);
}

static void test_smuggling(void **state)
{
    fx *f = *state;
    const char *bad[] = {
        "POST /preview/" ID
        "/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST /preview/" ID "/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd",
        "GET /preview/" ID "/ HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n",
        "GET /preview/" ID "/ HTTP/1.1\r\nHost: x\r\nX-A: 1\rX-B: 2\r\n\r\n",
        "GET /preview/" ID "/ HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n",
        "GET /preview/" ID "/ HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        "GET /preview/" ID "/ HTTP/1.1\r\n\r\n",
        "POST /preview/" ID "/echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *r = get(f, "%s", bad[i]);
        if (status_of(r) != 400)
            fail_msg("case %zu: got '%.60s'", i, r);
        free(r);
    }
    char *r = get(f, "POST /preview/" ID "/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
    assert_int_equal(status_of(r), 501);
    free(r);
}

static void test_limits(void **state)
{
    fx *f = *state;
    size_t n = 20000;
    char *req = malloc(n + 200);
    int off = snprintf(req, 200, "GET /preview/" ID "/ HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + off, 'a', n);
    memcpy(req + off + n, "\r\n\r\n", 5);
    char *r = exchange(f, req, strlen(req));
    assert_int_equal(status_of(r), 431);
    free(r);
    off = snprintf(req, 200, "GET /preview/" ID "/");
    memset(req + off, 'a', 9000);
    memcpy(req + off + 9000, " HTTP/1.1\r\nHost: x\r\n\r\n", 23);
    r = exchange(f, req, strlen(req));
    assert_int_equal(status_of(r), 414);
    free(r);
    free(req);
    r = get(f, "GET /preview/" DOWN_ID "/ HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(status_of(r), 502);
    free(r);
}

static void test_until_close_and_head(void **state)
{
    fx *f = *state;
    char *r = get(f, "GET /preview/" ID "/close HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(status_of(r), 200);
    assert_non_null(strstr(r, "\r\n\r\nuntil-close body"));
    free(r);
    r = get(f, "HEAD /preview/" ID "/x HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_int_equal(status_of(r), 200);
    assert_non_null(strstr(r, "Content-Length: 7\r\n"));
    assert_null(strstr(r, "path="));
    free(r);
}

static void test_max_conns(void **state)
{
    (void)state;
    mrun_proxy_config cfg = {.listen = "127.0.0.1:0", .max_conns = 1, .idle_timeout_ms = 2000};
    mrun_proxy *p = NULL;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_proxy_start(&cfg, &p, &err), 0);
    int a = dial(mrun_proxy_port(p));
    send_str(a, "GET /"); /* holds the only slot while its head is incomplete */
    poll(NULL, 0, 100);
    int b = dial(mrun_proxy_port(p));
    char buf[512];
    ssize_t n = recv(b, buf, sizeof(buf) - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_int_equal(status_of(buf), 503);
    close(b);
    int64_t t0 = mono_ms();
    mrun_proxy_stop(p); /* must not wait for the idle client */
    assert_true(mono_ms() - t0 < 1500);
    close(a);
}

/* A backend whose accept queue is full: SYNs are dropped, so connect hangs until the proxy gives up. */
static void test_connect_timeout(void **state)
{
    (void)state;
    int port, lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(lfd, 0), 0);
    getsockname(lfd, (struct sockaddr *)&a, &l);
    port = ntohs(a.sin_port);
    int fill[4];
    for (int i = 0; i < 4; i++) { /* fill the queue; later ones may themselves hang, so non-blocking */
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        connect(fill[i], (struct sockaddr *)&a, sizeof(a));
    }
    poll(NULL, 0, 50);
    mrun_proxy_config cfg = {.listen = "127.0.0.1:0", .connect_timeout_ms = 300, .idle_timeout_ms = 2000};
    mrun_proxy *p = NULL;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_proxy_start(&cfg, &p, &err), 0);
    assert_int_equal(mrun_proxy_route_set(p, ID, "127.0.0.1", port, 0, false, NULL, &err), 0);
    fx f = {.proxy = p, .port = mrun_proxy_port(p)};
    int64_t t0 = mono_ms();
    char *r = get(&f, "GET /preview/" ID "/ HTTP/1.1\r\nHost: x\r\n\r\n");
    int64_t took = mono_ms() - t0;
    assert_int_equal(status_of(r), 504);
    assert_true(took >= 250 && took < 1500);
    free(r);
    mrun_proxy_stop(p);
    for (int i = 0; i < 4; i++)
        close(fill[i]);
    close(lfd);
}

/* A client that never finishes its head gets 408 after the idle timeout (slowloris). */
static void test_head_timeout(void **state)
{
    (void)state;
    mrun_proxy_config cfg = {.listen = "127.0.0.1:0", .idle_timeout_ms = 300};
    mrun_proxy *p = NULL;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_proxy_start(&cfg, &p, &err), 0);
    int fd = dial(mrun_proxy_port(p));
    int64_t t0 = mono_ms();
    for (int i = 0; i < 6; i++) { /* one byte every 100 ms keeps it "active", but the head has a deadline */
        send_str(fd, "X");
        poll(NULL, 0, 100);
    }
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_int_equal(status_of(buf), 408);
    assert_true(mono_ms() - t0 < 1200);
    close(fd);
    mrun_proxy_stop(p);
}

typedef struct flipper {
    fx *f;
    atomic_int stop;
} flipper;

static void *flip_routes(void *arg)
{
    flipper *fl = arg;
    mrun_err err = MRUN_ERR_INIT;
    for (int i = 0; !fl->stop; i++) {
        if (i % 2)
            mrun_proxy_route_remove(fl->f->proxy, ID);
        else
            mrun_proxy_route_set(fl->f->proxy, ID, "127.0.0.1", fl->f->b.port, 0, false, NULL, &err);
    }
    return NULL;
}

/* The coordinator updates routes from its own thread while requests are served. */
static void test_routes_change_while_serving(void **state)
{
    fx *f = *state;
    flipper fl = {f, 0};
    pthread_t t;
    pthread_create(&t, NULL, flip_routes, &fl);
    int ok = 0, gone = 0;
    for (int i = 0; i < 40; i++) {
        char *r = get(f, "GET /preview/" ID "/n HTTP/1.1\r\nHost: x\r\n\r\n");
        int st = status_of(r);
        if (st == 200 && strstr(r, "path=/n"))
            ok++;
        else if (st == 404)
            gone++;
        else
            fail_msg("unexpected answer '%.60s'", r);
        free(r);
    }
    fl.stop = 1;
    pthread_join(t, NULL);
    assert_int_equal(ok + gone, 40);
}

/* ---- API and pure parts ---- */

static void test_api_validation(void **state)
{
    fx *f = *state;
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_proxy_route_set(f->proxy, "short", "127.0.0.1", 80, 0, false, NULL, &err), -1);
    assert_int_equal(mrun_proxy_route_set(f->proxy, "ABCDEF0123456789", "127.0.0.1", 80, 0, false, NULL, &err), -1);
    assert_int_equal(mrun_proxy_route_set(f->proxy, ID, "127.0.0.1", 0, 0, false, NULL, &err), -1);
    assert_int_equal(mrun_proxy_route_set(f->proxy, ID, "127.0.0.1", 80, 0, true, "xyz", &err), -1);
    assert_int_equal(err.sys_errno, EINVAL);
    mrun_proxy *p = NULL;
    mrun_proxy_config bad = {.listen = "nonsense"};
    assert_int_equal(mrun_proxy_start(&bad, &p, &err), -1);
    mrun_proxy_config shortkey = {.listen = "127.0.0.1:0", .secret = SECRET, .secret_len = 4};
    assert_int_equal(mrun_proxy_start(&shortkey, &p, &err), -1);
    char hx[65];
    mrun_proxy_token_hash("abc", hx);
    assert_string_equal(hx, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_parser(void **state)
{
    (void)state;
    proxy_head h;
    mrun_err err = MRUN_ERR_INIT;
    const char *ok = "GET /a?b HTTP/1.1\r\nHost: h\r\nX:  v v \r\nEmpty:\r\n\r\n";
    assert_int_equal(proxy_head_end(ok, strlen(ok)), strlen(ok));
    assert_int_equal(proxy_head_parse(ok, strlen(ok), false, &h, &err), 0);
    assert_int_equal(h.nhdrs, 3);
    assert_int_equal(h.hdrs[1].value_len, 3);
    assert_int_equal(h.hdrs[2].value_len, 0);
    const char *resp = "HTTP/1.1 204 \r\nTransfer-Encoding: gzip\r\n\r\n";
    assert_int_equal(proxy_head_parse(resp, strlen(resp), true, &h, &err), 0);
    assert_int_equal(h.status, 204);
    assert_true(h.other_te);
    const char *nul = "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n";
    assert_int_equal(proxy_head_parse(nul, 29, false, &h, &err), -1);
    assert_int_equal(err.sys_errno, EPROTO);
    const char *v2 = "GET / HTTP/2.0\r\n\r\n";
    assert_int_equal(proxy_head_parse(v2, strlen(v2), false, &h, &err), -1);
    char many[8192];
    int o = snprintf(many, sizeof(many), "GET / HTTP/1.1\r\n");
    for (int i = 0; i <= PROXY_HEADERS_MAX; i++)
        o += snprintf(many + o, sizeof(many) - (size_t)o, "H%d: x\r\n", i);
    o += snprintf(many + o, sizeof(many) - (size_t)o, "\r\n");
    assert_int_equal(proxy_head_parse(many, (size_t)o, false, &h, &err), -1);
    assert_int_equal(err.sys_errno, E2BIG);
    assert_true(proxy_list_has("keep-alive, Upgrade", 19, "upgrade"));
    assert_false(proxy_list_has("upgraded", 8, "upgrade"));
}

static void test_chunked(void **state)
{
    (void)state;
    const char *body = "4;x=y\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nT: 1\r\n\r\nEXTRA";
    size_t len = strlen(body), used = 0;
    mrun_err err = MRUN_ERR_INIT;
    for (size_t step = 1; step <= len; step++) { /* any split of the input gives the same end */
        proxy_chunked c = {0};
        size_t total = 0;
        for (size_t i = 0; i < len && !c.done; i += step) {
            size_t n = len - i < step ? len - i : step;
            assert_int_equal(proxy_chunked_feed(&c, body + i, n, &used, &err), 0);
            total += used;
        }
        assert_true(c.done);
        assert_int_equal(total, len - 5);
    }
    const char *bad[] = {"x\r\n", "4\r\nWikiXX", "4\nWiki", "\r\n", "1234567890123456\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        proxy_chunked c = {0};
        assert_int_equal(proxy_chunked_feed(&c, bad[i], strlen(bad[i]), &used, &err), -1);
    }
}

static void test_rewrites(void **state)
{
    (void)state;
    char out[256];
    const char *auth[] = {"127.0.0.1:9000", "Proxy.Host"};
    assert_int_equal(proxy_rewrite_location("/x", 2, "/preview/i", auth, 2, out, sizeof(out)), 0);
    assert_string_equal(out, "/preview/i/x");
    assert_int_equal(proxy_rewrite_location("//evil.com/x", 12, "/preview/i", auth, 2, out, sizeof(out)), 0);
    assert_string_equal(out, "//evil.com/x");
    assert_int_equal(proxy_rewrite_location("http://proxy.host?a", 19, "/preview/i", auth, 2, out, sizeof(out)), 0);
    assert_string_equal(out, "/preview/i/?a");
    assert_int_equal(proxy_rewrite_location("rel/x", 5, "/preview/i", auth, 2, out, sizeof(out)), 0);
    assert_string_equal(out, "rel/x");
    assert_int_equal(proxy_rewrite_location("/x", 2, "/preview/i", auth, 2, out, 5), -1);
    const char *ck = "a=b; path=/; Secure;Path=/y";
    assert_int_equal(proxy_rewrite_cookie_path(ck, strlen(ck), "/p", out, sizeof(out)), 0);
    assert_string_equal(out, "a=b; path=/p/; Secure;Path=/p/y");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_strips_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_redirects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_cookie_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_streaming, setup, teardown),
        cmocka_unit_test_setup_teardown(test_websocket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_and_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_private, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signed_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_host_based, setup, teardown),
        cmocka_unit_test_setup_teardown(test_smuggling, setup, teardown),
        cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_until_close_and_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routes_change_while_serving, setup, teardown),
        cmocka_unit_test(test_max_conns),
        cmocka_unit_test(test_connect_timeout),
        cmocka_unit_test(test_head_timeout),
        cmocka_unit_test(test_parser),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_rewrites),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
