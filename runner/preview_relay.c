/* preview_relay.c - the relay: a host TCP listener whose connections are forwarded to 127.0.0.1:port inside the
 * sandbox's network namespace, with bounded buffers and half-close in both directions.
 *
 * How it reaches the sandbox without giving it anything: the listener is bound while the relay thread is still in
 * the host's namespace; then the thread setns()es into the sandbox's network namespace (a thread's netns is its
 * own), so every socket it creates afterwards - one per client, towards the app - lives there. A socket keeps the
 * namespace it was made in, so the listener and accepted sockets stay host sockets. The sandbox gets no fd, route
 * or interface from the host; it only sees connections arrive from its own loopback. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/auto.h"
#include "preview_int.h"

#define RELAY_MAX_CONNS 128
#define RELAY_BUF       (64 * 1024)
#define RELAY_BACKLOG   64
#define RELAY_IDLE_MS   (10 * 60 * 1000) /* a connection with no traffic this long is closed: slots are few */

/* One direction of a connection: bytes read from one side, not yet written to the other. */
typedef struct half {
    char *buf;
    size_t off, len;
    bool eof;  /* the source sent FIN */
    bool shut; /* FIN passed on to the destination */
} half;

/* Owned by the relay thread. up: client -> app; down: app -> client. */
typedef struct conn {
    int cfd, afd;
    bool connecting;
    int64_t active_ms; /* last time either side had an event */
    half up, down;
} conn;

int pv_relay_listen(mrun_preview *pv, const char *host, unsigned port, mrun_err *err)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t sl;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        sl = sizeof(*a4);
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        sl = sizeof(*a6);
    } else {
        return mrun_err_setx(err, EINVAL, "listen address '%.64s' is not a numeric IPv4 or IPv6 address", host);
    }
    mrun_autoclose int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return mrun_err_set(err, errno, "socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
        return mrun_err_set(err, errno, "bind %s:%u", host, port);
    if (listen(fd, RELAY_BACKLOG) < 0)
        return mrun_err_set(err, errno, "listen");
    sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return mrun_err_set(err, errno, "getsockname");
    pv->listen_port = ntohs(ss.ss_family == AF_INET ? a4->sin_port : a6->sin6_port);
    pv->listen_fd = mrun_steal_fd(&fd);
    return 0;
}

static void conn_free(conn *c)
{
    if (!c)
        return;
    if (c->cfd >= 0)
        close(c->cfd);
    if (c->afd >= 0)
        close(c->afd);
    free(c->up.buf);
    free(c->down.buf);
    free(c);
}

/* A socket in the sandbox's namespace (this thread is in it), connecting to the app without blocking. */
static int connect_app(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Accepts what is pending. Connections beyond the limit, or once the app has died, are closed at once. */
static void accept_all(mrun_preview *pv, int lfd, conn **conns, size_t *n, bool app_up)
{
    for (;;) {
        int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0)
            return; /* EAGAIN, or a transient error: poll tells us again */
        conn *c = NULL;
        if (app_up && *n < RELAY_MAX_CONNS && (c = calloc(1, sizeof(*c))) != NULL) {
            c->cfd = cfd;
            c->up.buf = malloc(RELAY_BUF);
            c->down.buf = malloc(RELAY_BUF);
            c->afd = connect_app(pv->port);
            c->connecting = true;
            c->active_ms = pv_now_ms();
        }
        if (!c || !c->up.buf || !c->down.buf || c->afd < 0) {
            if (c)
                conn_free(c);
            else
                close(cfd);
            continue;
        }
        conns[(*n)++] = c;
        pthread_mutex_lock(&pv->mu);
        pv->connections++;
        pthread_mutex_unlock(&pv->mu);
    }
}

/* Moves what it can from src through h to dst. Returns -1 when the connection is broken, 1 on progress. */
static int pump(int src, int dst, half *h)
{
    int progress = 0;
    if (!h->eof && h->len < RELAY_BUF) {
        ssize_t n = recv(src, h->buf + h->len, RELAY_BUF - h->len, 0);
        if (n > 0) {
            h->len += (size_t)n;
            progress = 1;
        } else if (n == 0) {
            h->eof = true;
            progress = 1;
        } else if (errno != EAGAIN && errno != EINTR) {
            return -1;
        }
    }
    if (h->off < h->len) {
        ssize_t n = send(dst, h->buf + h->off, h->len - h->off, MSG_NOSIGNAL);
        if (n > 0) {
            h->off += (size_t)n;
            progress = 1;
            if (h->off == h->len)
                h->off = h->len = 0;
        } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
            return -1;
        }
    }
    if (h->eof && h->off == h->len && !h->shut) {
        shutdown(dst, SHUT_WR); /* half-close: the other direction goes on */
        h->shut = true;
        progress = 1;
    }
    return progress;
}

/* Returns false when the connection is finished (both FINs passed on) or broken. */
static bool conn_step(conn *c, short crev, short arev)
{
    if (c->connecting) {
        if (!(arev & (POLLOUT | POLLERR | POLLHUP)))
            return !(crev & POLLERR);
        int e = 0;
        socklen_t el = sizeof(e);
        if (getsockopt(c->afd, SOL_SOCKET, SO_ERROR, &e, &el) < 0 || e != 0)
            return false; /* the app is not listening: the client sees its connection closed */
        c->connecting = false;
    }
    int u = pump(c->cfd, c->afd, &c->up);
    int d = pump(c->afd, c->cfd, &c->down);
    if (u < 0 || d < 0 || ((crev | arev) & POLLERR))
        return false;
    if ((crev | arev) & POLLHUP && u == 0 && d == 0)
        return false; /* a hang-up we cannot make progress on */
    return !(c->up.shut && c->down.shut);
}

static short want(const conn *c, bool client)
{
    if (c->connecting)
        return client ? 0 : POLLOUT;
    const half *in = client ? &c->up : &c->down;  /* read from this side into */
    const half *out = client ? &c->down : &c->up; /* write to this side from */
    short ev = 0;
    if (!in->eof && in->len < RELAY_BUF)
        ev |= POLLIN;
    if (out->off < out->len)
        ev |= POLLOUT;
    return ev;
}

static void drain_wake(int fd)
{
    uint64_t v;
    ssize_t n = read(fd, &v, sizeof(v));
    (void)n;
}

/* The loop: ends on stop or when the sandbox was killed (TTL, stop). While the app is merely dead, it keeps
 * listening and closes what it accepts, so clients get a clean close rather than a hang. */
static void relay_loop(mrun_preview *pv, int lfd)
{
    conn *conns[RELAY_MAX_CONNS];
    size_t n = 0;
    struct pollfd pf[2 + 2 * RELAY_MAX_CONNS];
    for (;;) {
        pthread_mutex_lock(&pv->mu);
        bool done = pv->stop_requested || pv->state == MRUN_PREVIEW_EXPIRED || pv->state == MRUN_PREVIEW_STOPPED;
        bool app_up = pv->alive && pv->state == MRUN_PREVIEW_RUNNING;
        pthread_mutex_unlock(&pv->mu);
        if (done)
            break;
        pf[0] = (struct pollfd){.fd = pv->wake_fd, .events = POLLIN};
        pf[1] = (struct pollfd){.fd = lfd, .events = POLLIN};
        for (size_t i = 0; i < n; i++) {
            pf[2 + 2 * i] = (struct pollfd){.fd = conns[i]->cfd, .events = want(conns[i], true)};
            pf[3 + 2 * i] = (struct pollfd){.fd = conns[i]->afd, .events = want(conns[i], false)};
        }
        if (poll(pf, 2 + 2 * n, 1000) < 0 && errno != EINTR)
            break;
        if (pf[0].revents)
            drain_wake(pv->wake_fd);
        size_t kept = 0;
        int64_t now = pv_now_ms();
        for (size_t i = 0; i < n; i++) {
            conn *c = conns[i];
            short cr = pf[2 + 2 * i].revents, ar = pf[3 + 2 * i].revents;
            if (cr | ar)
                c->active_ms = now;
            if (((cr | ar) && !conn_step(c, cr, ar)) || now - c->active_ms > RELAY_IDLE_MS)
                conn_free(c);
            else
                conns[kept++] = c;
        }
        n = kept;
        if (pf[1].revents)
            accept_all(pv, lfd, conns, &n, app_up);
    }
    for (size_t i = 0; i < n; i++)
        conn_free(conns[i]);
}

void *pv_relay_main(void *arg)
{
    mrun_preview *pv = arg;
    pthread_mutex_lock(&pv->mu);
    int netns = pv->netns_fd, lfd = pv->listen_fd;
    pv->netns_fd = -1;
    pthread_mutex_unlock(&pv->mu);
    int r = setns(netns, CLONE_NEWNET);
    int e = errno;
    close(netns);
    pthread_mutex_lock(&pv->mu);
    if (r < 0)
        mrun_err_set(&pv->relay_err, e, "enter the sandbox's network namespace");
    pv->relay_status = r < 0 ? -1 : 1;
    pthread_cond_broadcast(&pv->cv);
    pthread_mutex_unlock(&pv->mu);
    if (r == 0)
        relay_loop(pv, lfd);
    pthread_mutex_lock(&pv->mu);
    close(lfd); /* new clients are refused from here on */
    pv->listen_fd = -1;
    pthread_mutex_unlock(&pv->mu);
    return NULL;
}
