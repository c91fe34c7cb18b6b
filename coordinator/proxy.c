/* proxy.c - the preview proxy's lifecycle (listener, accept thread, connection cap, stop) and its route table.
 * Credentials live in proxy_auth.c, forwarding in proxy_conn.c, wire parsing in proxy_http.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "../common/auto.h"
#include "../common/log.h"
#include "coordinator/proxy_int.h"

enum {
    DEFAULT_MAX_CONNS = 256,
    DEFAULT_IDLE_MS = 60000,
    DEFAULT_CONNECT_MS = 5000,
    ACCEPT_TICK_MS = 1000,
    CONN_STACK = 1024 * 1024
};

bool mrun_proxy_id_valid(const char *id, size_t len)
{
    if (!id || len < MRUN_PROXY_ID_MIN || len > MRUN_PROXY_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= '0' && id[i] <= '9')))
            return false;
    return true;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int mrun_proxy_route_set(mrun_proxy *proxy, const char *id, const char *target_host, int target_port,
                         int64_t expires_ms, bool private_, const char *token_hash, mrun_err *err)
{
    size_t idlen = id ? strlen(id) : 0;
    if (!mrun_proxy_id_valid(id, idlen))
        return mrun_err_setx(err, EINVAL, "preview route: id must match [a-z0-9]{16,64}");
    if (!target_host || !*target_host || strlen(target_host) >= sizeof(((proxy_route *)0)->host) ||
        strpbrk(target_host, "/ \t\r\n") || target_port < 1 || target_port > 65535)
        return mrun_err_setx(err, EINVAL, "preview route '%s': bad target", id);
    proxy_route r = {.port = target_port, .expires_ms = expires_ms, .private_ = private_};
    memcpy(r.id, id, idlen + 1);
    memcpy(r.host, target_host, strlen(target_host) + 1);
    if (token_hash) {
        if (proxy_unhex(token_hash, strlen(token_hash), r.hash, sizeof(r.hash)) < 0)
            return mrun_err_setx(err, EINVAL, "preview route '%s': token hash must be 64 lowercase hex digits", id);
        r.has_hash = true;
    }
    proxy_route *n = malloc(sizeof(*n));
    if (!n)
        return mrun_err_set(err, ENOMEM, "preview route '%s'", id);
    *n = r;
    pthread_mutex_lock(&proxy->mu);
    for (proxy_route **pp = &proxy->routes; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->id, id) == 0) {
            proxy_route *old = *pp;
            n->next = old->next;
            *pp = n;
            pthread_mutex_unlock(&proxy->mu);
            free(old);
            return 0;
        }
    }
    n->next = proxy->routes;
    proxy->routes = n;
    pthread_mutex_unlock(&proxy->mu);
    return 0;
}

int mrun_proxy_route_remove(mrun_proxy *proxy, const char *id)
{
    proxy_route *gone = NULL;
    pthread_mutex_lock(&proxy->mu);
    for (proxy_route **pp = &proxy->routes; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->id, id) == 0) {
            gone = *pp;
            *pp = gone->next;
            break;
        }
    }
    pthread_mutex_unlock(&proxy->mu);
    free(gone);
    return gone ? 0 : -1;
}

int proxy_route_lookup(mrun_proxy *p, const char *id, proxy_route *ret)
{
    int rc = -1;
    int64_t now = now_ms();
    pthread_mutex_lock(&p->mu);
    for (proxy_route *r = p->routes; r; r = r->next) {
        if (strcmp(r->id, id) == 0) {
            if (r->expires_ms == 0 || r->expires_ms > now) {
                *ret = *r;
                ret->next = NULL;
                rc = 0;
            }
            break;
        }
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

/* Splits "host:port" / "[v6]:port" and binds a listening socket. */
static int listen_on(const char *addr, int *ret_fd, int *ret_port, mrun_err *err)
{
    char host[256];
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof(host))
        return mrun_err_setx(err, EINVAL, "preview listen address '%.64s': want host:port", addr);
    size_t hl = (size_t)(colon - addr);
    memcpy(host, addr, hl);
    host[hl] = '\0';
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_NUMERICHOST};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host, colon + 1, &hints, &ai);
    if (gai != 0)
        return mrun_err_setx(err, EINVAL, "preview listen address '%.64s': %s", addr, gai_strerror(gai));
    mrun_autoclose int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
        int e = errno;
        freeaddrinfo(ai);
        return mrun_err_set(err, e, "preview listen on '%.64s'", addr);
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        return mrun_err_set(err, errno, "preview listen: getsockname");
    *ret_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    *ret_fd = mrun_steal_fd(&fd);
    return 0;
}

/* Joins and frees the connections whose threads have finished. With all, waits for every one (at stop). */
static void reap(mrun_proxy *p, bool all)
{
    for (;;) {
        proxy_conn *c = NULL;
        pthread_mutex_lock(&p->mu);
        for (proxy_conn **pp = &p->conns; *pp; pp = &(*pp)->next) {
            if ((*pp)->done || all) {
                c = *pp;
                *pp = c->next;
                break;
            }
        }
        pthread_mutex_unlock(&p->mu);
        if (!c)
            return;
        pthread_join(c->thread, NULL);
        pthread_mutex_lock(&p->mu);
        p->nconns--;
        pthread_mutex_unlock(&p->mu);
        free(c);
    }
}

static void peer_name(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    const void *a = ss->ss_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
                                              : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
    if (!inet_ntop(ss->ss_family, a, out, (socklen_t)cap))
        snprintf(out, cap, "unknown");
}

static void start_conn(mrun_proxy *p, int fd, const struct sockaddr_storage *ss)
{
    pthread_mutex_lock(&p->mu);
    bool full = p->nconns >= p->max_conns;
    pthread_mutex_unlock(&p->mu);
    proxy_conn *c = full ? NULL : calloc(1, sizeof(*c));
    if (!c) {
        mrun_log(MRUN_LOG_WARN, "proxy", "%s, answering 503", full ? "connection limit reached" : "out of memory");
        proxy_send_status(p, fd, 503, NULL, "too many connections\n");
        close(fd);
        return;
    }
    c->proxy = p;
    c->fd = fd;
    peer_name(ss, c->peer, sizeof(c->peer));
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, CONN_STACK); /* 256 connections x 8 MiB default stacks is wasteful */
    pthread_mutex_lock(&p->mu);
    int rc = pthread_create(&c->thread, &attr, proxy_conn_main, c);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        pthread_mutex_unlock(&p->mu);
        proxy_send_status(p, fd, 503, NULL, "cannot start a connection thread\n");
        close(fd);
        free(c);
        return;
    }
    c->next = p->conns;
    p->conns = c;
    p->nconns++;
    pthread_mutex_unlock(&p->mu);
}

static void *accept_main(void *arg)
{
    mrun_proxy *p = arg;
    for (;;) {
        struct pollfd pf[2] = {{p->listen_fd, POLLIN, 0}, {p->stop_pipe[0], POLLIN, 0}};
        int n = poll(pf, 2, ACCEPT_TICK_MS);
        if (pf[1].revents)
            break;
        reap(p, false);
        if (n <= 0 || !(pf[0].revents & POLLIN))
            continue;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(p->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                mrun_log_errno(MRUN_LOG_WARN, "proxy", "accept failed, continuing");
            if (errno == EMFILE || errno == ENFILE)
                poll(NULL, 0, 100); /* let connections finish instead of spinning */
            continue;
        }
        start_conn(p, fd, &ss);
    }
    return NULL;
}

static int copy_config(mrun_proxy *p, const mrun_proxy_config *cfg, mrun_err *err)
{
    p->max_conns = cfg->max_conns > 0 ? cfg->max_conns : DEFAULT_MAX_CONNS;
    p->idle_ms = cfg->idle_timeout_ms > 0 ? cfg->idle_timeout_ms : DEFAULT_IDLE_MS;
    p->connect_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : DEFAULT_CONNECT_MS;
    if (cfg->secret) {
        if (cfg->secret_len < 16 || cfg->secret_len > MRUN_PROXY_SECRET_MAX)
            return mrun_err_setx(err, EINVAL, "preview proxy secret must be 16..%d bytes", MRUN_PROXY_SECRET_MAX);
        memcpy(p->secret, cfg->secret, cfg->secret_len);
        p->secret_len = cfg->secret_len;
    } else {
        if (RAND_bytes(p->secret, 32) != 1)
            return mrun_err_setx(err, EIO, "preview proxy: no random bytes for the link secret");
        p->secret_len = 32;
    }
    if (cfg->preview_domain && *cfg->preview_domain) {
        size_t n = strlen(cfg->preview_domain);
        if (n > 200 || strpbrk(cfg->preview_domain, "/:@ \t\r\n") || cfg->preview_domain[0] == '.')
            return mrun_err_setx(err, EINVAL, "preview domain '%.64s' is not a host name", cfg->preview_domain);
        if (!(p->domain = strdup(cfg->preview_domain)))
            return mrun_err_set(err, ENOMEM, "preview domain");
        for (char *s = p->domain; *s; s++)
            if (*s >= 'A' && *s <= 'Z')
                *s = (char)(*s + 32);
    }
    return 0;
}

static void proxy_free(mrun_proxy *p)
{
    for (proxy_route *r = p->routes, *next; r; r = next) {
        next = r->next;
        free(r);
    }
    if (p->listen_fd >= 0)
        close(p->listen_fd);
    for (int i = 0; i < 2; i++)
        if (p->stop_pipe[i] >= 0)
            close(p->stop_pipe[i]);
    pthread_mutex_destroy(&p->mu);
    OPENSSL_cleanse(p->secret, sizeof(p->secret));
    free(p->domain);
    free(p);
}

int mrun_proxy_start(const mrun_proxy_config *cfg, mrun_proxy **ret_proxy, mrun_err *err)
{
    mrun_proxy *p = calloc(1, sizeof(*p));
    if (!p)
        return mrun_err_set(err, ENOMEM, "preview proxy");
    p->listen_fd = p->stop_pipe[0] = p->stop_pipe[1] = -1;
    pthread_mutex_init(&p->mu, NULL);
    if (copy_config(p, cfg, err) < 0 || listen_on(cfg->listen ? cfg->listen : "", &p->listen_fd, &p->port, err) < 0)
        goto fail;
    if (pipe2(p->stop_pipe, O_CLOEXEC) < 0) {
        mrun_err_set(err, errno, "preview proxy: pipe");
        goto fail;
    }
    int rc = pthread_create(&p->acceptor, NULL, accept_main, p);
    if (rc != 0) {
        mrun_err_set(err, rc, "preview proxy: accept thread");
        goto fail;
    }
    mrun_log(MRUN_LOG_INFO, "proxy", "preview proxy listening on port %d%s%s", p->port, p->domain ? ", domain " : "",
             p->domain ? p->domain : "");
    *ret_proxy = p;
    return 0;
fail:
    proxy_free(p);
    return -1;
}

int mrun_proxy_port(const mrun_proxy *proxy)
{
    return proxy->port;
}

void mrun_proxy_stop(mrun_proxy *proxy)
{
    if (!proxy)
        return;
    ssize_t w;
    do
        w = write(proxy->stop_pipe[1], "x", 1); /* never read: stays readable, so every poll wakes */
    while (w < 0 && errno == EINTR);
    pthread_join(proxy->acceptor, NULL);
    reap(proxy, true);
    proxy_free(proxy);
}
