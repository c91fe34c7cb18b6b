/* preview.c - a preview's lifecycle: options, the supervisor thread that owns the sandbox (output ring, TTL,
 * stop), the readiness check through the relay, stats, extend and stop. The relay is preview_relay.c, the state
 * files and orphan reaping preview_state.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../common/auto.h"
#include "preview_int.h"

#define SUPERVISE_TICK_MS 50
#define PEAK_SAMPLE_MS    1000
#define HEALTH_IO_MS      2000
#define ERR_TAIL          150 /* bytes of the app's output quoted in a start error */

int64_t pv_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void pv_wake(mrun_preview *pv)
{
    uint64_t one = 1;
    ssize_t n = write(pv->wake_fd, &one, sizeof(one));
    (void)n; /* a full counter already wakes the relay */
}

void mrun_preview_opts_init(mrun_preview_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->health_path = "/healthz";
    o->ready_timeout_ms = 30000;
    o->listen_host = "127.0.0.1";
}

/* The health path goes into a request line: a plain absolute path of visible ASCII only. */
static bool health_path_ok(const char *p)
{
    if (p[0] != '/' || strlen(p) > 512)
        return false;
    for (; *p; p++)
        if (*p <= ' ' || *p >= 0x7f)
            return false;
    return true;
}

static int check_opts(const mrun_preview_opts *o, mrun_err *err)
{
    if (!o->workspace || o->workspace[0] != '/')
        return mrun_err_setx(err, EINVAL, "preview: workspace must be an absolute path");
    if (!o->command || !o->command[0])
        return mrun_err_setx(err, EINVAL, "preview: no command");
    if (o->port < 1 || o->port > 65535)
        return mrun_err_setx(err, EINVAL, "preview: port must be between 1 and 65535");
    if (o->listen_port > 65535)
        return mrun_err_setx(err, EINVAL, "preview: listen port must be between 0 and 65535");
    if (o->health_path && !health_path_ok(o->health_path))
        return mrun_err_setx(err, EINVAL, "preview: health path must start with '/' and hold no spaces or controls");
    if (o->ready_timeout_ms <= 0 || o->ready_timeout_ms > 3600 * 1000)
        return mrun_err_setx(err, EINVAL, "preview: ready timeout must be between 1 ms and 1 h");
    if (o->ttl_ms <= 0 || o->ttl_ms > MRUN_PREVIEW_MAX_TTL_MS)
        return mrun_err_setx(err, EINVAL, "preview: ttl must be between 1 ms and 30 days");
    if (o->listen_host && strlen(o->listen_host) >= 64)
        return mrun_err_setx(err, EINVAL, "preview: listen host too long");
    return 0;
}

/* The sandbox options: the caller's limits, the workspace and env; loopback-only network; no timeout of its own
 * beyond the longest TTL (the supervisor enforces the real one); all output reaches the ring. */
static int build_sb_opts(mrun_preview *pv, const mrun_preview_opts *o, mrun_err *err)
{
    mrun_sandbox_opts *s = &pv->sb_opts;
    mrun_sandbox_opts_init(s);
    if (o->limits) {
        s->mem_bytes = o->limits->mem_bytes;
        s->pids = o->limits->pids;
        s->cpu_milli = o->limits->cpu_milli;
        s->disk_bytes = o->limits->disk_bytes;
        s->tmpfs_bytes = o->limits->tmpfs_bytes;
        s->fsize_bytes = o->limits->fsize_bytes;
        s->nofile = o->limits->nofile;
    }
    s->net = MRUN_NET_LOOPBACK;
    s->timeout_ms = MRUN_PREVIEW_MAX_TTL_MS + 3600 * 1000;
    s->output_limit = INT64_MAX;
    s->workspace = strdup(o->workspace);
    if (!s->workspace)
        return mrun_err_set(err, ENOMEM, "preview");
    for (size_t i = 0; i < o->n_env; i++)
        if (mrun_sandbox_opts_add_env(s, o->env[i], err) < 0)
            return mrun_err_prefix(err, "preview");
    if (mrun_sandbox_opts_check(s, err) < 0)
        return mrun_err_prefix(err, "preview");
    return 0;
}

/* ---- the supervisor thread -------------------------------------------------------------------------------- */

/* Runs on the supervisor thread (inside mrun_sandbox_wait). */
static void on_output(void *ctx, int stream, const char *data, size_t len)
{
    (void)stream;
    mrun_preview *pv = ctx;
    pthread_mutex_lock(&pv->mu);
    if (len > PV_LOG_RING) {
        data += len - PV_LOG_RING;
        len = PV_LOG_RING;
    }
    for (size_t i = 0; i < len;) {
        size_t room = PV_LOG_RING - pv->ring_head;
        size_t n = len - i < room ? len - i : room;
        memcpy(pv->ring + pv->ring_head, data + i, n);
        pv->ring_head = (pv->ring_head + n) % PV_LOG_RING;
        i += n;
    }
    pv->ring_len = pv->ring_len + len > PV_LOG_RING ? PV_LOG_RING : pv->ring_len + len;
    pthread_mutex_unlock(&pv->mu);
}

static void report_start(mrun_preview *pv, int status, const mrun_err *err)
{
    pthread_mutex_lock(&pv->mu);
    pv->start_status = status;
    if (err)
        pv->start_err = *err;
    pthread_cond_broadcast(&pv->cv);
    pthread_mutex_unlock(&pv->mu);
}

/* Pumps output until the sandbox ends; kills it on stop or at the expiry (read under mu each tick, so extend
 * takes effect at once). */
static void supervise(mrun_preview *pv, mrun_sandbox *sb, mrun_sandbox_result *ret_res)
{
    bool killed = false;
    int64_t next_sample = 0;
    for (;;) {
        mrun_err err = MRUN_ERR_INIT;
        int r = mrun_sandbox_wait(sb, SUPERVISE_TICK_MS, ret_res, &err);
        if (r == 0)
            return;
        if (r < 0) { /* cannot watch it any more: end it (mrun_sandbox_free kills and reaps) */
            pthread_mutex_lock(&pv->mu);
            if (pv->state == MRUN_PREVIEW_RUNNING)
                pv->state = MRUN_PREVIEW_STOPPED;
            pthread_mutex_unlock(&pv->mu);
            ret_res->exit_code = 128 + SIGKILL;
            ret_res->signal = SIGKILL;
            ret_res->peak_memory_bytes = -1;
            return;
        }
        int64_t now = pv_now_ms();
        pthread_mutex_lock(&pv->mu);
        bool stop = pv->stop_requested, expired = now >= pv->expiry_ms;
        if (!killed && (stop || expired))
            pv->state = stop ? MRUN_PREVIEW_STOPPED : MRUN_PREVIEW_EXPIRED;
        int pid = pv->pid;
        pthread_mutex_unlock(&pv->mu);
        if (!killed && (stop || expired)) {
            mrun_sandbox_kill(sb, SIGKILL, &err);
            killed = true;
            pv_wake(pv); /* the relay closes at once */
        }
        if (now >= next_sample) {
            int64_t peak = pv_cgroup_peak(pid);
            pthread_mutex_lock(&pv->mu);
            if (peak > pv->peak_sampled)
                pv->peak_sampled = peak;
            pthread_mutex_unlock(&pv->mu);
            next_sample = now + PEAK_SAMPLE_MS;
        }
    }
}

static void *supervisor_main(void *arg)
{
    mrun_preview *pv = arg;
    char *argv[] = {"/bin/sh", "-c", pv->command, NULL};
    mrun_sandbox_io io = {.stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1, .on_output = on_output, .ctx = pv};
    mrun_sandbox *sb = NULL;
    mrun_err err = MRUN_ERR_INIT;
    /* Started on this thread, which lives as long as the sandbox: the sandbox's init dies with its starter
     * thread (PR_SET_PDEATHSIG), and with this whole process. */
    if (mrun_sandbox_start(&pv->sb_opts, argv, &io, &sb, &err) < 0) {
        report_start(pv, -1, &err);
        return NULL;
    }
    int netns = fcntl(mrun_sandbox_netns_fd(sb), F_DUPFD_CLOEXEC, 3);
    int dup_errno = errno;
    int pid = mrun_sandbox_pid(sb);
    pthread_mutex_lock(&pv->mu);
    pv->netns_fd = netns;
    pv->pid = pid;
    pv->pid_start = pv_proc_start(pid);
    pv->alive = true;
    pv->start_ms = pv_now_ms();
    pthread_mutex_unlock(&pv->mu);
    if (netns < 0) {
        mrun_err_set(&err, dup_errno, "sandbox network namespace");
        report_start(pv, -1, &err);
    } else {
        report_start(pv, 1, NULL);
    }

    mrun_sandbox_result res;
    memset(&res, 0, sizeof(res));
    supervise(pv, sb, &res);
    mrun_sandbox_free(sb); /* reaped already; removes the cgroup */

    pthread_mutex_lock(&pv->mu);
    pv->res = res;
    if (res.peak_memory_bytes > pv->peak_sampled)
        pv->peak_sampled = res.peak_memory_bytes;
    pv->alive = false;
    pv->pid = 0;
    pv->end_ms = pv_now_ms();
    if (pv->state == MRUN_PREVIEW_RUNNING)
        pv->state = MRUN_PREVIEW_DIED;
    if (pv->state_path[0]) {
        unlink(pv->state_path); /* nothing is left to reap */
        pv->state_path[0] = '\0';
    }
    pthread_mutex_unlock(&pv->mu);
    pv_wake(pv);
    return NULL;
}

/* ---- readiness ------------------------------------------------------------------------------------------- */

/* One GET through the relay: returns the HTTP status, 0 when there was no status line (the app is not
 * listening yet, the relay closed), -1 on a local error. */
static int health_get(const mrun_preview *pv, int64_t deadline)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, pv->host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)pv->listen_port);
        if (a4->sin_addr.s_addr == htonl(INADDR_ANY))
            a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof(*a4);
    } else {
        if (inet_pton(AF_INET6, pv->host, &a6->sin6_addr) != 1)
            return -1;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)pv->listen_port);
        if (IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr))
            a6->sin6_addr = in6addr_loopback;
        sl = sizeof(*a6);
    }
    mrun_autoclose int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int64_t left = deadline - pv_now_ms();
    int io_ms = left < HEALTH_IO_MS ? (int)(left > 1 ? left : 1) : HEALTH_IO_MS;
    struct timeval tv = {.tv_sec = io_ms / 1000, .tv_usec = (io_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&ss, sl) < 0)
        return 0;
    char req[640];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: localhost\r\nUser-Agent: mrun-preview\r\n\r\n",
                     pv->health_path);
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n)
        return 0;
    char resp[64];
    size_t got = 0;
    while (got < sizeof(resp) - 1) {
        ssize_t k = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    resp[got] = '\0';
    int major, minor, status;
    if (sscanf(resp, "HTTP/%1d.%1d %3d", &major, &minor, &status) != 3 || status < 100 || status > 599)
        return 0;
    return status;
}

/* The end of the app's output on one line, for an error message: the last ERR_TAIL bytes from a line start,
 * newlines shown as " | ". */
static void log_tail_line(mrun_preview *pv, char *out, size_t len)
{
    char tail[ERR_TAIL + 1];
    size_t n = mrun_preview_logs(pv, tail, sizeof(tail));
    while (n > 0 && (tail[n - 1] == '\n' || tail[n - 1] == '\r'))
        tail[--n] = '\0';
    const char *s = tail;
    const char *nl = memchr(tail, '\n', n);
    if (n == ERR_TAIL && nl && nl + 1 < tail + n)
        s = nl + 1; /* start at a whole line */
    size_t o = 0;
    for (; *s && o + 4 < len; s++) {
        if (*s == '\n') {
            memcpy(out + o, " | ", 3);
            o += 3;
        } else {
            out[o++] = (*s >= ' ' && *s < 0x7f) ? *s : '?';
        }
    }
    out[o] = '\0';
    if (o == 0)
        snprintf(out, len, "(no output)");
}

/* Retries GET health with backoff until 2xx, the app's end, or the ready timeout. */
static int await_ready(mrun_preview *pv, mrun_err *err)
{
    int64_t deadline = pv_now_ms() + pv->ready_timeout_ms;
    int delay = 20, last = 0;
    for (;;) {
        pthread_mutex_lock(&pv->mu);
        bool alive = pv->alive;
        int code = pv->res.exit_code;
        pthread_mutex_unlock(&pv->mu);
        char tail[ERR_TAIL + 64];
        if (!alive) {
            log_tail_line(pv, tail, sizeof(tail));
            return mrun_err_setx(
                err, ECHILD, "preview: the app exited (status %d) before it was ready; last output: %s", code, tail);
        }
        last = health_get(pv, deadline);
        if (last >= 200 && last < 300)
            return 0;
        int64_t left = deadline - pv_now_ms();
        if (left <= 0) {
            log_tail_line(pv, tail, sizeof(tail));
            char got[32] = "no answer";
            if (last > 0)
                snprintf(got, sizeof(got), "status %d", last);
            return mrun_err_setx(err, ETIMEDOUT, "preview: GET %.64s gave %s for %lld ms; last output: %s",
                                 pv->health_path, got, (long long)pv->ready_timeout_ms, tail);
        }
        usleep((useconds_t)(delay < left ? delay : left) * 1000);
        delay = delay * 3 / 2 > 500 ? 500 : delay * 3 / 2;
    }
}

/* ---- start ---------------------------------------------------------------------------------------------- */

static int wait_status(mrun_preview *pv, int *field, mrun_err *src, mrun_err *err)
{
    pthread_mutex_lock(&pv->mu);
    while (*field == 0)
        pthread_cond_wait(&pv->cv, &pv->mu);
    int st = *field;
    if (st < 0)
        *err = *src;
    pthread_mutex_unlock(&pv->mu);
    return st > 0 ? 0 : -1;
}

static mrun_preview *preview_new(const mrun_preview_opts *o, mrun_err *err)
{
    mrun_preview *pv = calloc(1, sizeof(*pv));
    if (!pv) {
        mrun_err_set(err, ENOMEM, "preview");
        return NULL;
    }
    pv->listen_fd = pv->netns_fd = -1;
    pthread_mutex_init(&pv->mu, NULL);
    pthread_cond_init(&pv->cv, NULL);
    pv->peak_sampled = -1;
    pv->res.peak_memory_bytes = -1;
    pv->port = o->port;
    pv->ready_timeout_ms = o->ready_timeout_ms;
    snprintf(pv->host, sizeof(pv->host), "%s", o->listen_host ? o->listen_host : "127.0.0.1");
    pv->command = strdup(o->command);
    pv->health_path = strdup(o->health_path ? o->health_path : "/healthz");
    pv->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (!pv->command || !pv->health_path || pv->wake_fd < 0) {
        mrun_err_set(err, errno ? errno : ENOMEM, "preview");
        mrun_preview_free(pv);
        return NULL;
    }
    if (build_sb_opts(pv, o, err) < 0) {
        mrun_preview_free(pv);
        return NULL;
    }
    if (o->state_dir &&
        snprintf(pv->state_dir, sizeof(pv->state_dir), "%s", o->state_dir) >= (int)sizeof(pv->state_dir) - 32) {
        mrun_err_setx(err, E2BIG, "preview: state dir path too long");
        mrun_preview_free(pv);
        return NULL;
    }
    return pv;
}

/* Threads up: sandbox (supervisor), relay (in the sandbox's netns), then the state file. */
static int start_threads(mrun_preview *pv, int64_t ttl_ms, bool want_state, mrun_err *err)
{
    pv->expiry_ms = pv_now_ms() + ttl_ms;
    int e = pthread_create(&pv->sup_thread, NULL, supervisor_main, pv);
    if (e)
        return mrun_err_set(err, e, "preview: start supervisor thread");
    pv->sup_started = true;
    if (wait_status(pv, &pv->start_status, &pv->start_err, err) < 0)
        return mrun_err_prefix(err, "preview");
    e = pthread_create(&pv->relay_thread, NULL, pv_relay_main, pv);
    if (e)
        return mrun_err_set(err, e, "preview: start relay thread");
    pv->relay_started = true;
    if (wait_status(pv, &pv->relay_status, &pv->relay_err, err) < 0)
        return mrun_err_prefix(err, "preview: relay");
    if (!want_state)
        return 0;
    pthread_mutex_lock(&pv->mu);
    int r = pv->alive ? pv_state_write(pv, err) : 0;
    pthread_mutex_unlock(&pv->mu);
    return r < 0 ? mrun_err_prefix(err, "preview") : 0;
}

int mrun_preview_start(const mrun_preview_opts *o, mrun_preview **ret_pv, mrun_err *err)
{
    if (check_opts(o, err) < 0)
        return -1;
    mrun_cleanup(mrun_preview_freep) mrun_preview *pv = preview_new(o, err);
    if (!pv)
        return -1;
    if (pv_relay_listen(pv, pv->host, o->listen_port, err) < 0)
        return mrun_err_prefix(err, "preview: relay");
    if (start_threads(pv, o->ttl_ms, o->state_dir != NULL, err) < 0 || await_ready(pv, err) < 0)
        return -1; /* the cleanup stops everything */
    *ret_pv = mrun_steal_ptr(&pv);
    return 0;
}

/* ---- the rest of the API -------------------------------------------------------------------------------- */

void mrun_preview_addr(const mrun_preview *pv, const char **ret_host, unsigned *ret_port)
{
    *ret_host = pv->host;
    *ret_port = pv->listen_port;
}

void mrun_preview_stats(mrun_preview *pv, mrun_preview_info *ret_info)
{
    mrun_preview_info in;
    memset(&in, 0, sizeof(in));
    int64_t now = pv_now_ms();
    pthread_mutex_lock(&pv->mu);
    in.state = pv->state;
    in.alive = pv->alive;
    in.pid = pv->pid;
    if (pv->start_ms > 0)
        in.uptime_ms = (pv->alive ? now : pv->end_ms) - pv->start_ms;
    in.sandbox_seconds = (double)in.uptime_ms / 1000.0;
    in.peak_memory_bytes = pv->peak_sampled;
    in.expires_in_ms = pv->alive && pv->expiry_ms > now ? pv->expiry_ms - now : 0;
    if (!pv->alive && pv->start_ms > 0) {
        in.exit_code = pv->res.exit_code;
        in.signal = pv->res.signal;
        in.oom_killed = pv->res.oom_killed;
    }
    in.connections = pv->connections;
    pthread_mutex_unlock(&pv->mu);
    *ret_info = in;
}

size_t mrun_preview_logs(mrun_preview *pv, char *buf, size_t len)
{
    if (len == 0)
        return 0;
    pthread_mutex_lock(&pv->mu);
    size_t n = pv->ring_len < len - 1 ? pv->ring_len : len - 1;
    size_t from = (pv->ring_head + PV_LOG_RING - n) % PV_LOG_RING;
    for (size_t i = 0; i < n; i++)
        buf[i] = pv->ring[(from + i) % PV_LOG_RING];
    pthread_mutex_unlock(&pv->mu);
    buf[n] = '\0';
    return n;
}

int mrun_preview_extend(mrun_preview *pv, int64_t ttl_ms, mrun_err *err)
{
    if (ttl_ms <= 0 || ttl_ms > MRUN_PREVIEW_MAX_TTL_MS)
        return mrun_err_setx(err, EINVAL, "preview: ttl must be between 1 ms and 30 days");
    pthread_mutex_lock(&pv->mu);
    int r = 0;
    if (!pv->alive || pv->state != MRUN_PREVIEW_RUNNING) {
        r = mrun_err_setx(err, ESRCH, "preview: it has ended");
    } else {
        pv->expiry_ms = pv_now_ms() + ttl_ms;
        if (pv->state_dir[0] && pv_state_write(pv, err) < 0)
            r = mrun_err_prefix(err, "preview");
    }
    pthread_mutex_unlock(&pv->mu);
    return r;
}

void mrun_preview_stop(mrun_preview *pv)
{
    if (!pv)
        return;
    pthread_mutex_lock(&pv->mu);
    pv->stop_requested = true;
    pthread_mutex_unlock(&pv->mu);
    if (pv->wake_fd >= 0)
        pv_wake(pv);
    if (pv->relay_started) {
        pthread_join(pv->relay_thread, NULL);
        pv->relay_started = false;
    }
    if (pv->sup_started) {
        pthread_join(pv->sup_thread, NULL);
        pv->sup_started = false;
    }
    pthread_mutex_lock(&pv->mu);
    if (pv->listen_fd >= 0) { /* the relay never ran */
        close(pv->listen_fd);
        pv->listen_fd = -1;
    }
    if (pv->netns_fd >= 0) {
        close(pv->netns_fd);
        pv->netns_fd = -1;
    }
    if (pv->state_path[0]) {
        unlink(pv->state_path);
        pv->state_path[0] = '\0';
    }
    pthread_mutex_unlock(&pv->mu);
}

void mrun_preview_free(mrun_preview *pv)
{
    if (!pv)
        return;
    mrun_preview_stop(pv);
    if (pv->wake_fd >= 0)
        close(pv->wake_fd);
    free(pv->command);
    free(pv->health_path);
    mrun_sandbox_opts_fini(&pv->sb_opts);
    pthread_mutex_destroy(&pv->mu);
    pthread_cond_destroy(&pv->cv);
    free(pv);
}

void mrun_preview_freep(mrun_preview **pv)
{
    mrun_preview_free(*pv);
    *pv = NULL;
}
