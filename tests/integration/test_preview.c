/* test_preview.c - previews with real sandboxes and real sockets on 127.0.0.1: a python app served through the
 * relay (pages, concurrent clients, 1 MiB both ways with half-close), no way out of the sandbox, readiness
 * failures that leave nothing behind, TTL and extend, an app that dies, stop twice, and orphan reaping (a crashed
 * owner; a reused pid is spared). Needs user namespaces and root (the relay setns()es into the sandbox's netns);
 * exit 77 without. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "runner/preview.h"

#define BIG_LEN (1u << 20)

static const char app_py[] =
    "import os, socket, sys, time\n"
    "from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer\n"
    "PORT = int(os.environ.get('PORT', '8080'))\n"
    "HEALTH = int(os.environ.get('HEALTH_STATUS', '200'))\n"
    "BIG = bytes((i * 7 + 13) % 251 for i in range(1 << 20))\n"
    "def attempt(host, port):\n"
    "    try:\n"
    "        socket.create_connection((host, port), timeout=2).close()\n"
    "        return 'ok'\n"
    "    except ConnectionRefusedError:\n"
    "        return 'refused'\n"
    "    except OSError as e:\n"
    "        return 'errno%d' % (e.errno or 0)\n"
    "class H(BaseHTTPRequestHandler):\n"
    "    def log_message(self, *a):\n"
    "        pass\n"
    "    def reply(self, code, body):\n"
    "        self.send_response(code)\n"
    "        self.send_header('Content-Length', str(len(body)))\n"
    "        self.end_headers()\n"
    "        self.wfile.write(body)\n"
    "    def do_GET(self):\n"
    "        p = self.path\n"
    "        if p == '/healthz': self.reply(HEALTH, b'health\\n')\n"
    "        elif p == '/': self.reply(200, b'hello from the preview\\n')\n"
    "        elif p == '/big': self.reply(200, BIG)\n"
    "        elif p == '/slow':\n"
    "            time.sleep(0.3)\n"
    "            self.reply(200, b'slow\\n')\n"
    "        elif p.startswith('/probe/'):\n"
    "            _, _, port, ip = p.split('/')\n"
    "            port = int(port)\n"
    "            r = 'loop=%s host=%s inet=%s\\n' % (attempt('127.0.0.1', port), attempt(ip, port),\n"
    "                                             attempt('1.1.1.1', 80))\n"
    "            self.reply(200, r.encode())\n"
    "        elif p == '/exit':\n"
    "            self.reply(200, b'bye\\n')\n"
    "            self.wfile.flush()\n"
    "            os._exit(5)\n"
    "        else: self.reply(404, b'no\\n')\n"
    "    def do_POST(self):\n"
    "        n = int(self.headers.get('Content-Length', '0'))\n"
    "        self.reply(200, self.rfile.read(n))\n"
    "ThreadingHTTPServer.daemon_threads = True\n"
    "srv = ThreadingHTTPServer(('127.0.0.1', PORT), H)\n"
    "print('app: listening on %d' % PORT, flush=True)\n"
    "if HEALTH != 200:\n"
    "    print('app: health will answer %d %s' % (HEALTH, ' '.join(sys.argv[1:])), flush=True)\n"
    "srv.serve_forever()\n";

static char ws[64];
static char state_dir[64];
static pid_t strays[4]; /* forked helpers a failed assertion may have left; killed by the teardown */

static int setup(void **state)
{
    (void)state;
    snprintf(ws, sizeof(ws), "/tmp/mrun-preview-ws.XXXXXX");
    snprintf(state_dir, sizeof(state_dir), "/tmp/mrun-preview-state.XXXXXX");
    if (!mkdtemp(ws) || !mkdtemp(state_dir))
        return -1;
    char p[128];
    snprintf(p, sizeof(p), "%s/app.py", ws);
    FILE *f = fopen(p, "w");
    if (!f)
        return -1;
    fputs(app_py, f);
    return fclose(f);
}

static void rm_dir_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            unlinkat(dirfd(d), de->d_name, 0);
    closedir(d);
    rmdir(dir);
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(strays) / sizeof(strays[0]); i++)
        if (strays[i] > 0) {
            kill(strays[i], SIGKILL);
            waitpid(strays[i], NULL, 0);
        }
    rm_dir_files(ws);
    rm_dir_files(state_dir);
    return 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *const base_env[] = {"PORT=8080"};

static void default_opts(mrun_preview_opts *o, const char *command)
{
    mrun_preview_opts_init(o);
    o->workspace = ws;
    o->command = command;
    o->port = 8080;
    o->ttl_ms = 60000;
    o->ready_timeout_ms = 15000;
    o->env = base_env;
    o->n_env = 1;
    o->state_dir = state_dir;
}

static mrun_preview *start_app(int64_t ttl_ms)
{
    int64_t t0 = now_ms();
    mrun_preview_opts o;
    default_opts(&o, "exec python3 app.py");
    o.ttl_ms = ttl_ms;
    mrun_preview *pv = NULL;
    mrun_err err = MRUN_ERR_INIT;
    if (mrun_preview_start(&o, &pv, &err) < 0)
        fail_msg("preview start: %s", err.msg);
    print_message("ready in %lld ms\n", (long long)(now_ms() - t0));
    return pv;
}

static int connect_port(unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct timeval tv = {.tv_sec = 15};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

typedef struct http_resp {
    int status;
    char *body; /* malloc'd, NUL-terminated */
    size_t body_len;
} http_resp;

/* One HTTP/1.0 exchange through the relay; half_close shuts our write side right after the request, so the
 * relay must pass the FIN on and still bring the answer back. Returns the status, or -1. */
static int http(unsigned port, const char *method, const char *path, const char *body, size_t blen, bool half_close,
                http_resp *r)
{
    memset(r, 0, sizeof(*r));
    int fd = connect_port(port);
    if (fd < 0)
        return -1;
    char head[512];
    int n =
        snprintf(head, sizeof(head), "%s %s HTTP/1.0\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", method, path, blen);
    assert_int_equal(send(fd, head, (size_t)n, MSG_NOSIGNAL), n);
    for (size_t off = 0; off < blen;) {
        ssize_t k = send(fd, body + off, blen - off, MSG_NOSIGNAL);
        assert_true(k > 0);
        off += (size_t)k;
    }
    if (half_close)
        shutdown(fd, SHUT_WR);
    size_t cap = 4u << 20, got = 0;
    char *buf = malloc(cap + 1);
    assert_non_null(buf);
    for (;;) {
        ssize_t k = recv(fd, buf + got, cap - got, 0);
        if (k <= 0)
            break;
        got += (size_t)k;
        assert_true(got < cap);
    }
    close(fd);
    buf[got] = '\0';
    char *sep = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1 || !sep) {
        free(buf);
        return -1;
    }
    r->body_len = got - (size_t)(sep + 4 - buf);
    r->body = malloc(r->body_len + 1);
    assert_non_null(r->body);
    memcpy(r->body, sep + 4, r->body_len);
    r->body[r->body_len] = '\0';
    free(buf);
    return r->status;
}

static bool pid_alive(int pid)
{
    char p[64], buf[512];
    snprintf(p, sizeof(p), "/proc/%d/stat", pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *c = strrchr(buf, ')');
    return c && c[1] == ' ' && c[2] != 'Z' && c[2] != 'X';
}

static int count_state_files(void)
{
    DIR *d = opendir(state_dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += strncmp(de->d_name, "preview-", 8) == 0;
    closedir(d);
    return n;
}

/* Is there any process (host-wide) whose command line holds marker? */
static bool process_with_marker(const char *marker)
{
    DIR *d = opendir("/proc");
    assert_non_null(d);
    bool found = false;
    struct dirent *de;
    while (!found && (de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        char p[300], buf[4096];
        snprintf(p, sizeof(p), "/proc/%s/cmdline", de->d_name);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        for (size_t i = 0; i < n; i++)
            if (buf[i] == '\0')
                buf[i] = ' ';
        buf[n] = '\0';
        found = strstr(buf, marker) != NULL && pid_alive((int)strtol(de->d_name, NULL, 10));
    }
    closedir(d);
    return found;
}

static void test_serves_pages_and_stops(void **state)
{
    (void)state;
    mrun_preview *pv = start_app(60000);
    const char *host;
    unsigned port;
    mrun_preview_addr(pv, &host, &port);
    assert_string_equal(host, "127.0.0.1");
    assert_true(port > 0);
    http_resp r;
    assert_int_equal(http(port, "GET", "/", NULL, 0, false, &r), 200);
    assert_string_equal(r.body, "hello from the preview\n");
    free(r.body);
    assert_int_equal(http(port, "GET", "/nope", NULL, 0, false, &r), 404);
    free(r.body);

    mrun_preview_info in;
    mrun_preview_stats(pv, &in);
    assert_int_equal(in.state, MRUN_PREVIEW_RUNNING);
    assert_true(in.alive);
    assert_true(in.pid > 0 && pid_alive(in.pid));
    assert_true(in.connections >= 3); /* the health check, /, /nope */
    assert_true(in.expires_in_ms > 50000 && in.expires_in_ms <= 60000);
    assert_int_equal(count_state_files(), 1);
    if (geteuid() == 0) /* sampled from the cgroup while it runs */
        assert_true(in.peak_memory_bytes > (1 << 20));
    print_message("running: peak %lld bytes, %.2f sandbox-seconds\n", (long long)in.peak_memory_bytes,
                  in.sandbox_seconds);
    char logs[4096];
    mrun_preview_logs(pv, logs, sizeof(logs));
    assert_non_null(strstr(logs, "app: listening on 8080"));
    int pid = in.pid;
    int open_fd = connect_port(port); /* a client in the middle of nothing: stop must cut it */
    assert_true(open_fd >= 0);
    usleep(100 * 1000);

    int64_t t0 = now_ms();
    mrun_preview_stop(pv);
    print_message("stop took %lld ms\n", (long long)(now_ms() - t0));
    mrun_preview_stop(pv); /* idempotent */
    char c;
    assert_true(recv(open_fd, &c, 1, 0) <= 0);
    assert_true(errno != EAGAIN); /* closed, not timed out */
    close(open_fd);
    mrun_preview_stats(pv, &in);
    assert_int_equal(in.state, MRUN_PREVIEW_STOPPED);
    assert_false(in.alive);
    assert_int_equal(in.pid, 0);
    assert_false(pid_alive(pid));
    assert_true(in.sandbox_seconds > 0.0);
    assert_true(in.uptime_ms > 0);
    if (geteuid() == 0) /* cgroup accounting as root */
        assert_true(in.peak_memory_bytes > (1 << 20));
    assert_int_equal(count_state_files(), 0);
    assert_int_equal(connect_port(port), -1);
    assert_int_equal(errno, ECONNREFUSED);
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_preview_extend(pv, 1000, &err), -1);
    assert_int_equal(err.sys_errno, ESRCH);
    mrun_preview_free(pv);
}

typedef struct client_arg {
    unsigned port;
    int ok;
} client_arg;

static void *client(void *arg)
{
    client_arg *a = arg;
    for (int i = 0; i < 4; i++) {
        http_resp r;
        if (http(a->port, "GET", "/slow", NULL, 0, false, &r) == 200 && strcmp(r.body, "slow\n") == 0)
            a->ok++;
        free(r.body);
    }
    return NULL;
}

static void test_concurrent_clients(void **state)
{
    (void)state;
    mrun_preview *pv = start_app(60000);
    const char *host;
    unsigned port;
    mrun_preview_addr(pv, &host, &port);
    pthread_t t[8];
    client_arg a[8];
    int64_t t0 = now_ms();
    for (int i = 0; i < 8; i++) {
        a[i] = (client_arg){.port = port};
        assert_int_equal(pthread_create(&t[i], NULL, client, &a[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(a[i].ok, 4);
    }
    int64_t took = now_ms() - t0;
    assert_true(took < 32 * 300 / 2); /* served side by side, not one after another (9.6 s) */
    mrun_preview_free(pv);
}

static void test_large_both_ways(void **state)
{
    (void)state;
    mrun_preview *pv = start_app(60000);
    const char *host;
    unsigned port;
    mrun_preview_addr(pv, &host, &port);
    http_resp r;
    int64_t t0 = now_ms();
    assert_int_equal(http(port, "GET", "/big", NULL, 0, false, &r), 200);
    print_message("1 MiB down in %lld ms\n", (long long)(now_ms() - t0));
    assert_int_equal(r.body_len, BIG_LEN);
    for (size_t i = 0; i < BIG_LEN; i++)
        if ((unsigned char)r.body[i] != (i * 7 + 13) % 251)
            fail_msg("byte %zu differs", i);
    free(r.body);
    char *up = malloc(BIG_LEN);
    assert_non_null(up);
    for (size_t i = 0; i < BIG_LEN; i++)
        up[i] = (char)((i * 31 + 5) % 253);
    assert_int_equal(http(port, "POST", "/echo", up, BIG_LEN, true, &r), 200);
    assert_int_equal(r.body_len, BIG_LEN);
    assert_memory_equal(r.body, up, BIG_LEN);
    free(r.body);
    free(up);
    mrun_preview_free(pv);
}

/* The relay holds at most 128 connections: one more is closed at once, and the slots come back when clients go. */
static void test_connection_limit(void **state)
{
    (void)state;
    mrun_preview *pv = start_app(60000);
    const char *host;
    unsigned port;
    mrun_preview_addr(pv, &host, &port);
    int fds[128];
    for (int i = 0; i < 128; i++) {
        fds[i] = connect_port(port);
        assert_true(fds[i] >= 0);
    }
    usleep(300 * 1000);
    int extra = connect_port(port);
    assert_true(extra >= 0);
    char c;
    assert_true(recv(extra, &c, 1, 0) <= 0); /* closed by the relay, not left hanging */
    close(extra);
    for (int i = 0; i < 128; i++)
        close(fds[i]);
    usleep(300 * 1000);
    http_resp r;
    assert_int_equal(http(port, "GET", "/", NULL, 0, false, &r), 200);
    free(r.body);
    mrun_preview_free(pv);
}

/* The log keeps the newest 64 KiB: a chatty app cannot grow it, and the end is what is kept. */
static void test_log_ring_keeps_the_tail(void **state)
{
    (void)state;
    mrun_preview_opts o;
    default_opts(&o, "i=0; while [ $i -lt 20000 ]; do echo \"line-$i ......................\"; i=$((i+1)); done; "
                     "echo LAST-LINE >&2; exec python3 app.py");
    mrun_preview *pv = NULL;
    mrun_err err = MRUN_ERR_INIT;
    if (mrun_preview_start(&o, &pv, &err) < 0)
        fail_msg("%s", err.msg);
    static char logs[256 * 1024];
    size_t n = mrun_preview_logs(pv, logs, sizeof(logs));
    assert_true(n > 60000 && n <= 64 * 1024);
    assert_int_equal(strlen(logs), n);
    assert_null(strstr(logs, "line-0 "));
    assert_non_null(strstr(logs, "line-19999 "));
    assert_non_null(strstr(logs, "LAST-LINE\n"));
    assert_non_null(strstr(logs, "app: listening on 8080\n"));
    char small[16];
    assert_int_equal(mrun_preview_logs(pv, small, sizeof(small)), 15);
    assert_non_null(strstr("app: listening on 8080\n", small));
    mrun_preview_free(pv);
}

/* A host IPv4 address other than loopback, for the probe ("" when the host has none). */
static void host_ip(char *out, size_t len)
{
    snprintf(out, len, "127.0.0.1");
    struct ifaddrs *ifs;
    if (getifaddrs(&ifs) < 0)
        return;
    for (struct ifaddrs *i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
            continue;
        struct sockaddr_in *a = (struct sockaddr_in *)i->ifa_addr;
        if (ntohl(a->sin_addr.s_addr) >> 24 == 127)
            continue;
        inet_ntop(AF_INET, &a->sin_addr, out, (socklen_t)len);
        break;
    }
    freeifaddrs(ifs);
}

static void test_app_cannot_connect_out(void **state)
{
    (void)state;
    /* A host listener on every address: if the sandbox could reach the host at all, it would connect here. */
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(lfd, 8), 0);
    socklen_t al = sizeof(a);
    getsockname(lfd, (struct sockaddr *)&a, &al);
    char ip[64], path[128];
    host_ip(ip, sizeof(ip));
    snprintf(path, sizeof(path), "/probe/%u/%s", ntohs(a.sin_port), ip);

    mrun_preview *pv = start_app(60000);
    const char *host;
    unsigned port;
    mrun_preview_addr(pv, &host, &port);
    http_resp r;
    assert_int_equal(http(port, "GET", path, NULL, 0, false, &r), 200);
    print_message("probe %s: %s", path, r.body);
    assert_non_null(strstr(r.body, "loop=refused")); /* the sandbox's own loopback, not the host's */
    assert_null(strstr(r.body, "host=ok"));
    assert_null(strstr(r.body, "inet=ok"));
    free(r.body);
    assert_int_equal(accept(lfd, NULL, NULL), -1); /* nothing ever arrived */
    assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    close(lfd);
    mrun_preview_free(pv);
}

static void test_never_ready_leaves_nothing(void **state)
{
    (void)state;
    const char *const env[] = {"PORT=8080", "HEALTH_STATUS=503"};
    mrun_preview_opts o;
    default_opts(&o, "exec python3 app.py NEVER_READY_MARKER_7");
    o.env = env;
    o.n_env = 2;
    o.ready_timeout_ms = 1500;
    mrun_preview *pv = NULL;
    mrun_err err = MRUN_ERR_INIT;
    int64_t t0 = now_ms();
    assert_int_equal(mrun_preview_start(&o, &pv, &err), -1);
    int64_t took = now_ms() - t0;
    assert_null(pv);
    print_message("%s (%lld ms)\n", err.msg, (long long)took);
    assert_int_equal(err.sys_errno, ETIMEDOUT);
    assert_true(took >= 1500 && took < 1500 + 3000);
    assert_non_null(strstr(err.msg, "status 503"));
    assert_non_null(strstr(err.msg, "app: health will answer 503 NEVER_READY_MARKER_7")); /* its last line */
    assert_false(process_with_marker("NEVER_READY_MARKER_7"));
    assert_int_equal(count_state_files(), 0);
}

static void test_app_exits_before_ready(void **state)
{
    (void)state;
    mrun_preview_opts o;
    default_opts(&o, "echo starting; echo 'error: cannot bind EARLY_EXIT_MARKER' >&2; exit 3");
    mrun_preview *pv = NULL;
    mrun_err err = MRUN_ERR_INIT;
    int64_t t0 = now_ms();
    assert_int_equal(mrun_preview_start(&o, &pv, &err), -1);
    assert_true(now_ms() - t0 < 5000); /* no need to wait for the ready timeout */
    assert_int_equal(err.sys_errno, ECHILD);
    assert_non_null(strstr(err.msg, "status 3"));
    assert_non_null(strstr(err.msg, "EARLY_EXIT_MARKER"));
    assert_int_equal(count_state_files(), 0);

    o.command = "exec no-such-program-here";
    assert_int_equal(mrun_preview_start(&o, &pv, &err), -1);
    assert_non_null(strstr(err.msg, "not found"));
    o.port = 0;
    assert_int_equal(mrun_preview_start(&o, &pv, &err), -1);
    assert_int_equal(err.sys_errno, EINVAL);
    o.port = 8080;
    o.health_path = "/x\r\nEvil: 1";
    assert_int_equal(mrun_preview_start(&o, &pv, &err), -1);
    assert_int_equal(err.sys_errno, EINVAL);
}

static void test_ttl_expiry_and_extend(void **state)
{
    (void)state;
    mrun_preview *pv = start_app(2000);
    mrun_preview *kept = start_app(2000);
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_preview_extend(kept, 60000, &err), 0);
    const char *host;
    unsigned port;
    mrun_preview_addr(pv, &host, &port);
    mrun_preview_info in;
    mrun_preview_stats(pv, &in);
    int pid = in.pid;
    assert_true(pid_alive(pid));
    http_resp r;
    assert_int_equal(http(port, "GET", "/", NULL, 0, false, &r), 200);
    free(r.body);
    assert_int_equal(count_state_files(), 2);
    int open_fd = connect_port(port);
    assert_true(open_fd >= 0);
    int64_t deadline = now_ms() + 10000;
    do {
        usleep(100 * 1000);
        mrun_preview_stats(pv, &in);
    } while (in.alive && now_ms() < deadline);
    usleep(200 * 1000); /* the relay closes within a tick of the end */
    assert_int_equal(in.state, MRUN_PREVIEW_EXPIRED);
    assert_false(in.alive);
    assert_false(pid_alive(pid));
    assert_true(in.sandbox_seconds >= 1.9 && in.sandbox_seconds < 4.0);
    assert_int_equal(connect_port(port), -1);
    assert_int_equal(errno, ECONNREFUSED);
    char c;
    errno = 0;
    assert_true(recv(open_fd, &c, 1, 0) <= 0); /* the established connection was cut too */
    assert_true(errno != EAGAIN);
    close(open_fd);
    assert_int_equal(count_state_files(), 1); /* only the extended one's */

    mrun_preview_stats(kept, &in);
    assert_int_equal(in.state, MRUN_PREVIEW_RUNNING);
    assert_true(in.expires_in_ms > 50000);
    mrun_preview_addr(kept, &host, &port);
    assert_int_equal(http(port, "GET", "/", NULL, 0, false, &r), 200);
    free(r.body);
    mrun_preview_free(kept);
    mrun_preview_stop(pv);
    mrun_preview_free(pv);
    assert_int_equal(count_state_files(), 0);
}

static void test_app_dies(void **state)
{
    (void)state;
    mrun_preview *pv = start_app(60000);
    const char *host;
    unsigned port;
    mrun_preview_addr(pv, &host, &port);
    http_resp r;
    http(port, "GET", "/exit", NULL, 0, false, &r);
    free(r.body);
    mrun_preview_info in;
    int64_t deadline = now_ms() + 5000;
    do {
        usleep(50 * 1000);
        mrun_preview_stats(pv, &in);
    } while (in.alive && now_ms() < deadline);
    assert_int_equal(in.state, MRUN_PREVIEW_DIED);
    assert_int_equal(in.exit_code, 5);
    assert_int_equal(count_state_files(), 0);
    /* The relay still answers, by closing. */
    int fd = connect_port(port);
    assert_true(fd >= 0);
    char c;
    assert_true(recv(fd, &c, 1, 0) <= 0);
    close(fd);
    mrun_preview_stop(pv);
    mrun_preview_stop(pv);
    mrun_preview_free(pv);
}

/* ---- orphans ---- */

static unsigned long long proc_start(int pid)
{
    char p[64], buf[1024];
    snprintf(p, sizeof(p), "/proc/%d/stat", pid);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *c = strrchr(buf, ')') + 2;
    for (int field = 3; field < 22; field++)
        c = strchr(c, ' ') + 1;
    return strtoull(c, NULL, 10);
}

static void write_state(const char *name, int pid, unsigned long long start, int owner, unsigned long long owner_start)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", state_dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fprintf(f, "mrun-preview 1\npid %d\npid_start %llu\nowner %d\nowner_start %llu\nport 1\nexpires_ms 1\n", pid, start,
            owner, owner_start);
    fclose(f);
}

static bool state_exists(const char *name)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", state_dir, name);
    return access(p, F_OK) == 0;
}

static void test_reap_after_owner_crash(void **state)
{
    (void)state;
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    pid_t owner = fork();
    assert_true(owner >= 0);
    if (owner == 0) {
        close(pfd[0]);
        mrun_preview_opts o;
        default_opts(&o, "exec python3 app.py CRASHED_OWNER_MARKER");
        mrun_preview *pv = NULL;
        mrun_err err = MRUN_ERR_INIT;
        int pid = 0;
        if (mrun_preview_start(&o, &pv, &err) == 0) {
            mrun_preview_info in;
            mrun_preview_stats(pv, &in);
            pid = in.pid;
        }
        ssize_t w = write(pfd[1], &pid, sizeof(pid));
        (void)w;
        for (;;)
            pause(); /* "crashes" here: SIGKILLed by the test, never stopping its preview */
    }
    close(pfd[1]);
    int pid = 0;
    ssize_t got = read(pfd[0], &pid, sizeof(pid));
    close(pfd[0]);
    int files = count_state_files();
    bool running = pid > 0 && process_with_marker("CRASHED_OWNER_MARKER");
    kill(owner, SIGKILL);
    waitpid(owner, NULL, 0);
    assert_int_equal(got, (ssize_t)sizeof(pid));
    assert_true(pid > 0);
    assert_int_equal(files, 1);
    assert_true(running); /* the marker check below can see the app */
    mrun_err err = MRUN_ERR_INIT;
    int n = mrun_preview_reap_orphans(state_dir, &err);
    assert_true(n >= 0); /* 0 when the sandbox already died with its owner (PR_SET_PDEATHSIG), 1 otherwise */
    assert_int_equal(count_state_files(), 0);
    int64_t deadline = now_ms() + 3000;
    while (process_with_marker("CRASHED_OWNER_MARKER") && now_ms() < deadline)
        usleep(50 * 1000);
    assert_false(process_with_marker("CRASHED_OWNER_MARKER"));
    assert_false(pid_alive(pid));
}

static void test_reap_spares_reused_pid_and_live_owner(void **state)
{
    (void)state;
    pid_t victim = fork();
    assert_true(victim >= 0);
    if (victim == 0) {
        for (;;)
            pause();
    }
    strays[0] = victim;
    usleep(20 * 1000);
    unsigned long long vstart = proc_start(victim);
    unsigned long long mystart = proc_start(getpid());
    int dead_owner = 0x3ffffff0; /* above any pid_max default: no such process */

    /* The pid was reused by an unrelated process: its start time differs. Spared; the stale file goes. */
    write_state("preview-1.state", victim, vstart + 1, dead_owner, 5);
    /* The owner is alive (this process): not an orphan, left alone. */
    write_state("preview-2.state", victim, vstart, getpid(), mystart);
    /* Garbage is removed, not trusted. */
    write_state("preview-3.state", 0, 0, 0, 0);
    mrun_err err = MRUN_ERR_INIT;
    assert_int_equal(mrun_preview_reap_orphans(state_dir, &err), 0);
    assert_int_equal(waitpid(victim, NULL, WNOHANG), 0);
    assert_false(state_exists("preview-1.state"));
    assert_true(state_exists("preview-2.state"));
    assert_false(state_exists("preview-3.state"));

    /* The same process, owner gone: killed. */
    write_state("preview-2.state", victim, vstart, dead_owner, 5);
    assert_int_equal(mrun_preview_reap_orphans(state_dir, &err), 1);
    int st;
    assert_int_equal(waitpid(victim, &st, 0), victim);
    strays[0] = 0;
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    assert_int_equal(count_state_files(), 0);
    assert_int_equal(mrun_preview_reap_orphans("/nonexistent-mrun-dir", &err), -1);
}

int main(void)
{
    if (access("/proc/self/ns/user", F_OK) != 0) {
        fprintf(stderr, "no user namespaces: skipped\n");
        return 77;
    }
    if (geteuid() != 0) {
        fprintf(stderr, "the relay enters the sandbox's netns with setns, which needs root: skipped\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_serves_pages_and_stops),
        cmocka_unit_test(test_concurrent_clients),
        cmocka_unit_test(test_large_both_ways),
        cmocka_unit_test(test_connection_limit),
        cmocka_unit_test(test_log_ring_keeps_the_tail),
        cmocka_unit_test(test_app_cannot_connect_out),
        cmocka_unit_test(test_never_ready_leaves_nothing),
        cmocka_unit_test(test_app_exits_before_ready),
        cmocka_unit_test(test_ttl_expiry_and_extend),
        cmocka_unit_test(test_app_dies),
        cmocka_unit_test(test_reap_after_owner_crash),
        cmocka_unit_test(test_reap_spares_reused_pid_and_live_owner),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
