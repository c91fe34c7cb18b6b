/* runner.c - the runner service: one REQ socket, one context per thread (the heartbeat thread and one per slot).
 * Requests are synchronous on their own context, so a slot blocked on a long poll or a stage never delays the
 * heartbeat. A runner whose coordinator forgot it (restart) registers again. */
#include "runner.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/supplemental/tls/tls.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/archive.h"
#include "../common/auto.h"
#include "../common/digest.h"
#include "../common/log.h"
#include "../common/proto.h"
#include "preview_host.h"
#include "exec.h"

#define LOG "runner"
#define MAX_SLOTS 64
#define LEASE_WAIT_MS 20000

typedef struct slot {
    struct mrun_runner *r;
    int index;
    pthread_t thread;
    nng_ctx ctx;
    nng_ctx log_ctx; /* the stage's log sender uses its own context, so it runs beside the slot's requests */
    /* the last source this slot fetched: stages of one pipeline (and pipelines of one commit) share it */
    char src_digest[65];
    uint8_t *src;
    size_t src_len;
    /* shared with the heartbeat thread, under r->mu */
    char lease_id[MRUN_PROTO_MAX_NAME + 1];
    volatile int cancel;
} slot;

struct mrun_runner {
    mrun_runner_config cfg;
    char name[128];
    char *labels[32];
    size_t n_labels;
    nng_socket sock;
    bool sock_open;
    pthread_mutex_t mu; /* guards runner_id, slots[].lease_id, stopping */
    pthread_cond_t cv;
    char runner_id[MRUN_PROTO_MAX_NAME + 1];
    uint32_t heartbeat_ms;
    bool stopping;
    pthread_t hb_thread;
    bool hb_started;
    nng_ctx hb_ctx;
    slot slots[MAX_SLOTS];
    int n_started;
    pv_host pv; /* previews kept alive after their stages (preview_host.c) */
    bool pv_ready;
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One request and its reply on ctx. *ret is the decoded reply (mrun_msg_fini it). */
static int call(nng_ctx ctx, const mrun_msg *req, int timeout_ms, mrun_msg *ret, mrun_err *err)
{
    mrun_autofree uint8_t *buf = NULL;
    size_t len = 0;
    if (mrun_msg_encode(req, &buf, &len, err) < 0)
        return -1;
    /* nng 1.5 has no synchronous context calls: an aio per call, waited on. */
    nng_aio *aio = NULL;
    nng_msg *m = NULL;
    int rv = nng_aio_alloc(&aio, NULL, NULL);
    if (rv == 0)
        rv = nng_msg_alloc(&m, 0);
    if (rv == 0 && (rv = nng_msg_append(m, buf, len)) == 0) {
        nng_aio_set_msg(aio, m);
        nng_aio_set_timeout(aio, 10000);
        nng_ctx_send(ctx, aio);
        nng_aio_wait(aio);
        rv = nng_aio_result(aio);
    }
    if (rv != 0) {
        nng_msg_free(m); /* a failed send leaves the message ours */
        nng_aio_free(aio);
        return mrun_err_setx(err, EIO, "send %s: %s", mrun_msg_type_name(req->type), nng_strerror(rv));
    }
    nng_aio_set_timeout(aio, timeout_ms);
    nng_ctx_recv(ctx, aio);
    nng_aio_wait(aio);
    rv = nng_aio_result(aio);
    nng_msg *reply = rv == 0 ? nng_aio_get_msg(aio) : NULL;
    nng_aio_free(aio);
    if (rv != 0)
        return mrun_err_setx(err, rv == NNG_ETIMEDOUT ? ETIMEDOUT : EIO, "%s: %s", mrun_msg_type_name(req->type),
                             nng_strerror(rv));
    int r = mrun_msg_decode(nng_msg_body(reply), nng_msg_len(reply), NULL, ret, err);
    nng_msg_free(reply);
    if (r < 0)
        return mrun_err_prefix(err, "reply to %s", mrun_msg_type_name(req->type));
    if (ret->type == MRUN_MSG_ERROR) {
        int e = strcmp(ret->error.code, MRUN_PERR_UNKNOWN_RUNNER) == 0 ? ENOENT
                : strcmp(ret->error.code, MRUN_PERR_UNKNOWN_LEASE) == 0 ? ESTALE
                                                                       : EPROTO;
        mrun_err_setx(err, e, "coordinator: %s: %s", ret->error.code, ret->error.message);
        mrun_msg_fini(ret);
        return -1;
    }
    return 0;
}

/* (Re-)registers; the id goes to r->runner_id. */
static int register_runner(mrun_runner *r, nng_ctx ctx, mrun_err *err)
{
    mrun_msg req, rep;
    mrun_msg_init(&req, MRUN_MSG_REGISTER);
    req.reg.runner_name = r->name;
    req.reg.token = (char *)(r->cfg.token ? r->cfg.token : "");
    req.reg.labels = (mrun_strv){.v = r->labels, .n = r->n_labels};
    req.reg.slots = (uint32_t)r->cfg.slots;
    req.reg.mrun_version = (char *)MRUN_VERSION;
    if (call(ctx, &req, 10000, &rep, err) < 0)
        return -1;
    if (rep.type != MRUN_MSG_REGISTER_OK) {
        mrun_msg_fini(&rep);
        return mrun_err_setx(err, EPROTO, "register: unexpected reply");
    }
    pthread_mutex_lock(&r->mu);
    snprintf(r->runner_id, sizeof(r->runner_id), "%s", rep.reg_ok.runner_id);
    r->heartbeat_ms = rep.reg_ok.heartbeat_ms ? rep.reg_ok.heartbeat_ms : 1000;
    pthread_mutex_unlock(&r->mu);
    mrun_log(MRUN_LOG_INFO, LOG, "registered as %s", rep.reg_ok.runner_id);
    mrun_msg_fini(&rep);
    return 0;
}

static void current_id(mrun_runner *r, char *out, size_t n)
{
    pthread_mutex_lock(&r->mu);
    snprintf(out, n, "%s", r->runner_id);
    pthread_mutex_unlock(&r->mu);
}

static bool stopping(mrun_runner *r)
{
    pthread_mutex_lock(&r->mu);
    bool s = r->stopping;
    pthread_mutex_unlock(&r->mu);
    return s;
}

/* ---- heartbeat thread ---- */

static void *heartbeat_main(void *arg)
{
    mrun_runner *r = arg;
    while (!stopping(r)) {
        char *ids[MAX_SLOTS];
        char idbuf[MAX_SLOTS][MRUN_PROTO_MAX_NAME + 1];
        size_t n = 0;
        char rid[MRUN_PROTO_MAX_NAME + 1];
        pthread_mutex_lock(&r->mu);
        for (int i = 0; i < r->cfg.slots; i++)
            if (r->slots[i].lease_id[0]) {
                snprintf(idbuf[n], sizeof(idbuf[n]), "%s", r->slots[i].lease_id);
                ids[n] = idbuf[n];
                n++;
            }
        snprintf(rid, sizeof(rid), "%s", r->runner_id);
        uint32_t every = r->heartbeat_ms;
        pthread_mutex_unlock(&r->mu);
        if (rid[0]) {
            mrun_msg req, rep;
            mrun_err err = MRUN_ERR_INIT;
            mrun_msg_init(&req, MRUN_MSG_HEARTBEAT);
            req.heartbeat.runner_id = rid;
            req.heartbeat.lease_ids = (mrun_strv){.v = ids, .n = n};
            char pv_ids[PV_HOST_MAX][MRUN_PROTO_MAX_NAME + 1], pv_vals[PV_HOST_MAX][48];
            mrun_kv pv_kv[PV_HOST_MAX];
            size_t npv = r->pv_ready ? pv_host_report(&r->pv, pv_ids, pv_vals, PV_HOST_MAX) : 0;
            for (size_t k = 0; k < npv; k++)
                pv_kv[k] = (mrun_kv){.key = pv_ids[k], .value = pv_vals[k]};
            req.heartbeat.previews = (mrun_kvv){.v = pv_kv, .n = npv};
            if (call(r->hb_ctx, &req, 5000, &rep, &err) == 0) {
                pthread_mutex_lock(&r->mu);
                for (size_t k = 0; k < rep.heartbeat_ok.cancel_lease_ids.n; k++)
                    for (int i = 0; i < r->cfg.slots; i++)
                        if (strcmp(r->slots[i].lease_id, rep.heartbeat_ok.cancel_lease_ids.v[k]) == 0) {
                            r->slots[i].cancel = 1;
                            mrun_log(MRUN_LOG_INFO, LOG, "lease %s cancelled by the coordinator", r->slots[i].lease_id);
                        }
                pthread_mutex_unlock(&r->mu);
                if (r->pv_ready)
                    pv_host_apply(&r->pv, &rep.heartbeat_ok.stop_preview_ids, &rep.heartbeat_ok.preview_expiry);
                mrun_msg_fini(&rep);
            } else if (err.sys_errno == ENOENT) {
                register_runner(r, r->hb_ctx, &err);
            } else {
                mrun_log(MRUN_LOG_WARN, LOG, "heartbeat: %s, retrying", err.msg);
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += every / 1000;
        ts.tv_nsec += (long)(every % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&r->mu);
        if (!r->stopping)
            pthread_cond_timedwait(&r->cv, &r->mu, &ts);
        pthread_mutex_unlock(&r->mu);
    }
    return NULL;
}

/* ---- one stage ---- */

/* A stage's log leaves through a queue and a sender thread with its own nng context: the stage never waits for
 * a round trip (a synchronous send before each step put one on the path to starting the sandbox), and the
 * order is kept by the sequence numbers given at enqueue. The queue is bounded: a job that outruns the network
 * is slowed by its own pipe, not by our memory. */
#define LOG_QUEUE_MAX (8u << 20)

typedef struct log_item {
    struct log_item *next;
    uint64_t seq;
    int stream;
    size_t len;
    char data[];
} log_item;

typedef struct log_ctx {
    slot *s;
    const char *lease_id;
    uint64_t seq;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    log_item *head, *tail; /* mu */
    size_t queued;         /* mu: bytes waiting */
    bool done;             /* mu: no more items will come */
    pthread_t thread;
    bool started;
} log_ctx;

/* Sends one chunk, resending a few times (the coordinator drops duplicates by seq) before giving it up. */
static void send_chunk(log_ctx *lc, const log_item *it)
{
    mrun_msg req, rep;
    mrun_err err = MRUN_ERR_INIT;
    mrun_msg_init(&req, MRUN_MSG_LOG);
    req.log.lease_id = (char *)lc->lease_id;
    req.log.seq = it->seq;
    req.log.stream = it->stream == MRUN_EXEC_STDERR   ? MRUN_STREAM_STDERR
                     : it->stream == MRUN_EXEC_SYSTEM ? MRUN_STREAM_SYSTEM
                                                      : MRUN_STREAM_STDOUT;
    req.log.data = (mrun_bytes){.data = (uint8_t *)it->data, .len = it->len};
    for (int tries = 0; tries < 5; tries++) {
        if (call(lc->s->log_ctx, &req, 10000, &rep, &err) == 0) {
            mrun_msg_fini(&rep);
            return;
        }
        if (err.sys_errno == ESTALE || err.sys_errno == ENOENT)
            break;
        usleep(100 * 1000 * (useconds_t)(tries + 1));
    }
    mrun_log(MRUN_LOG_WARN, LOG, "log chunk %llu lost: %s", (unsigned long long)it->seq, err.msg);
}

static void *log_sender(void *arg)
{
    log_ctx *lc = arg;
    pthread_mutex_lock(&lc->mu);
    for (;;) {
        while (!lc->head && !lc->done)
            pthread_cond_wait(&lc->cv, &lc->mu);
        log_item *it = lc->head;
        if (!it)
            break; /* done and drained */
        lc->head = it->next;
        if (!lc->head)
            lc->tail = NULL;
        pthread_mutex_unlock(&lc->mu);
        send_chunk(lc, it);
        pthread_mutex_lock(&lc->mu);
        lc->queued -= it->len;
        pthread_cond_broadcast(&lc->cv); /* room for a waiting producer */
        free(it);
    }
    pthread_mutex_unlock(&lc->mu);
    return NULL;
}

static void log_start(log_ctx *lc, slot *s, const char *lease_id)
{
    memset(lc, 0, sizeof(*lc));
    lc->s = s;
    lc->lease_id = lease_id;
    pthread_mutex_init(&lc->mu, NULL);
    pthread_cond_init(&lc->cv, NULL);
    lc->started = pthread_create(&lc->thread, NULL, log_sender, lc) == 0;
}

/* Waits until everything queued is sent (before the result, so logs arrive first). */
static void log_finish(log_ctx *lc)
{
    pthread_mutex_lock(&lc->mu);
    lc->done = true;
    pthread_cond_broadcast(&lc->cv);
    pthread_mutex_unlock(&lc->mu);
    if (lc->started)
        pthread_join(lc->thread, NULL);
    for (log_item *it = lc->head, *next; it; it = next) {
        next = it->next;
        free(it);
    }
    pthread_cond_destroy(&lc->cv);
    pthread_mutex_destroy(&lc->mu);
}

/* The stage's output callback: queue it in protocol-sized chunks. */
static void send_log(void *ctx, int stream, const char *data, size_t len)
{
    log_ctx *lc = ctx;
    while (len > 0) {
        size_t n = len < MRUN_PROTO_MAX_LOG_DATA ? len : MRUN_PROTO_MAX_LOG_DATA;
        log_item *it = malloc(sizeof(*it) + n);
        if (!it)
            return;
        it->next = NULL;
        it->stream = stream;
        it->len = n;
        memcpy(it->data, data, n);
        pthread_mutex_lock(&lc->mu);
        while (lc->started && lc->queued + n > LOG_QUEUE_MAX && !lc->done)
            pthread_cond_wait(&lc->cv, &lc->mu);
        it->seq = lc->seq++;
        if (lc->tail)
            lc->tail->next = it;
        else
            lc->head = it;
        lc->tail = it;
        lc->queued += n;
        pthread_cond_broadcast(&lc->cv);
        pthread_mutex_unlock(&lc->mu);
        if (!lc->started) { /* no thread could be made: send it here */
            pthread_mutex_lock(&lc->mu);
            lc->head = lc->tail = NULL;
            lc->queued = 0;
            pthread_mutex_unlock(&lc->mu);
            send_chunk(lc, it);
            free(it);
        }
        data += n;
        len -= n;
    }
}

/* Fetches a blob (the source archive, an input artifact) into memory, bounded, by chunks. */
static int fetch_blob(slot *s, const char *digest, int64_t max, uint8_t **ret_buf, size_t *ret_len, mrun_err *err)
{
    size_t cap = 0, len = 0;
    uint8_t *buf = NULL;
    for (;;) {
        mrun_msg req, rep;
        mrun_msg_init(&req, MRUN_MSG_BLOB_GET);
        snprintf(req.blob_get.digest, sizeof(req.blob_get.digest), "%s", digest);
        req.blob_get.offset = len;
        req.blob_get.max = MRUN_PROTO_MAX_CHUNK;
        if (call(s->ctx, &req, 30000, &rep, err) < 0) {
            free(buf);
            return mrun_err_prefix(err, "fetch blob");
        }
        if (rep.type != MRUN_MSG_BLOB || rep.blob.total_size > (uint64_t)max) {
            mrun_msg_fini(&rep);
            free(buf);
            return mrun_err_setx(err, E2BIG, "blob larger than %lld bytes", (long long)max);
        }
        if (cap < rep.blob.total_size) {
            uint8_t *nb = realloc(buf, rep.blob.total_size);
            if (!nb) {
                mrun_msg_fini(&rep);
                free(buf);
                return mrun_err_set(err, ENOMEM, "fetch source");
            }
            buf = nb;
            cap = rep.blob.total_size;
        }
        if (rep.blob.data.len > cap - len) {
            mrun_msg_fini(&rep);
            free(buf);
            return mrun_err_setx(err, EPROTO, "fetch source: chunk past the end");
        }
        if (rep.blob.data.len)
            memcpy(buf + len, rep.blob.data.data, rep.blob.data.len);
        len += rep.blob.data.len;
        bool eof = rep.blob.eof || len >= rep.blob.total_size;
        mrun_msg_fini(&rep);
        if (eof)
            break;
    }
    *ret_buf = buf;
    *ret_len = len;
    return 0;
}

/* The sha256 of what fd holds, as 64 lowercase hex digits. */
/* A percentage the coordinator sent ("81.25"), or -1 when absent or not one. */
static double parse_percent(const char *s)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    return errno == 0 && *end == '\0' && v >= 0 && v <= 100 ? v : -1;
}

/* Uploads one regular file of the workspace as an artifact, in chunks, with its sha256 on the last one. */
static int upload_fd(slot *s, const char *lease_id, int fd, const char *path, mrun_err *err);

static int upload_file(slot *s, const char *lease_id, int ws_fd, const char *path, mrun_err *err)
{
    mrun_autoclose int fd = openat(ws_fd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    return upload_fd(s, lease_id, fd, path, err);
}

/* The stage's artifacts again as one reproducible tar.gz (the release unit provenance names): entries in byte
 * order, mtime 0, owners 0, modes 0644/0755, no gzip timestamp, so the same files give the same digest in any
 * run. Uploaded as STAGE.tar.gz unless the stage publishes a file of that name itself. */
static int upload_bundle(slot *s, const mrun_msg_lease *l, int ws_fd, mrun_err *err)
{
    char name[MRUN_PROTO_MAX_NAME + 16];
    snprintf(name, sizeof(name), "%s.tar.gz", l->stage_name);
    for (size_t i = 0; i < l->artifacts.n; i++)
        if (strcmp(l->artifacts.v[i], name) == 0)
            return 0;
    mrun_autoclose int fd = open(s->r->cfg.work_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        return mrun_err_set(err, errno, "artifact bundle");
    mrun_pack_opts o = {.no_ignore_files = true, .only = (const char *const *)l->artifacts.v,
                        .n_only = l->artifacts.n};
    mrun_pack_stats st;
    if (mrun_archive_pack_dir(ws_fd, &o, fd, &st, err) < 0)
        return mrun_err_prefix(err, "artifact bundle");
    return upload_fd(s, l->lease_id, fd, name, err);
}

static int upload_fd(slot *s, const char *lease_id, int fd, const char *path, mrun_err *err)
{
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return mrun_err_setx(err, ENOENT, "artifact '%s' is not a regular file in the workspace", path);
    mrun_autofree uint8_t *chunk = malloc(MRUN_PROTO_MAX_CHUNK);
    if (!chunk)
        return mrun_err_set(err, ENOMEM, "artifact");
    /* sha256 of the whole file first (it is hashed again by the coordinator, which checks it) */
    char hex[65] = "";
    if (mrun_sha256_fd(fd, hex, err) < 0)
        return -1;
    uint64_t off = 0, total = (uint64_t)st.st_size;
    do {
        ssize_t n = pread(fd, chunk, MRUN_PROTO_MAX_CHUNK, (off_t)off);
        if (n < 0)
            return mrun_err_set(err, errno, "artifact '%s'", path);
        mrun_msg req, rep;
        mrun_msg_init(&req, MRUN_MSG_ARTIFACT_PUT);
        req.artifact_put.lease_id = (char *)lease_id;
        req.artifact_put.path = (char *)path;
        req.artifact_put.offset = off;
        req.artifact_put.data = (mrun_bytes){.data = n ? chunk : NULL, .len = (size_t)n};
        req.artifact_put.total_size = total;
        req.artifact_put.final = off + (uint64_t)n >= total;
        if (req.artifact_put.final)
            memcpy(req.artifact_put.sha256, hex, sizeof(hex));
        if (call(s->ctx, &req, 30000, &rep, err) < 0)
            return mrun_err_prefix(err, "upload '%s'", path);
        mrun_msg_fini(&rep);
        off += (uint64_t)n;
        if (n == 0)
            break;
    } while (off < total);
    return 0;
}

static void remove_tree(int dir_fd, const char *name, int depth);

/* Opens (creating) the parent directories of rel beneath ws_fd, never through a symlink; returns the parent's fd
 * and points *ret_base at the last component. */
static int open_parent(int ws_fd, char *rel, const char **ret_base, mrun_err *err)
{
    int dfd = dup(ws_fd);
    char *p = rel;
    for (char *slash; (slash = strchr(p, '/')) != NULL; p = slash + 1) {
        *slash = '\0';
        if (*p && mkdirat(dfd, p, 0755) < 0 && errno != EEXIST) {
            close(dfd);
            return mrun_err_set(err, errno, "input '%s'", rel);
        }
        int next = *p ? openat(dfd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : dup(dfd);
        close(dfd);
        if (next < 0)
            return mrun_err_set(err, errno, "input '%s': not a plain directory", rel);
        dfd = next;
        *slash = '/';
    }
    *ret_base = p;
    return dfd;
}

/* The source archive by digest: from this slot's cache when it is the same as last time, else fetched (and then
 * cached). The cached copy stays owned by the slot; *ret_buf is borrowed until the next call. */
static int fetch_source(slot *s, const char *digest, const uint8_t **ret_buf, size_t *ret_len, mrun_err *err)
{
    if (!s->src || strcmp(s->src_digest, digest) != 0) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if (fetch_blob(s, digest, s->r->cfg.max_source_bytes, &buf, &len, err) < 0)
            return -1;
        free(s->src);
        s->src = buf;
        s->src_len = len;
        snprintf(s->src_digest, sizeof(s->src_digest), "%s", digest);
    }
    *ret_buf = s->src;
    *ret_len = s->src_len;
    return 0;
}

/* The artifacts of the stages this one needs, written into its workspace at their paths. */
static int fetch_inputs(slot *s, const mrun_msg_lease *l, int ws_fd, mrun_err *err)
{
    for (size_t i = 0; i < l->inputs.n; i++) {
        const mrun_input *in = &l->inputs.v[i];
        uint8_t *data = NULL;
        size_t len = 0;
        if (fetch_blob(s, in->digest, s->r->cfg.max_source_bytes, &data, &len, err) < 0)
            return mrun_err_prefix(err, "input '%s' from stage '%s'", in->path, in->stage);
        char rel[MRUN_PROTO_MAX_PATH + 1];
        snprintf(rel, sizeof(rel), "%s", in->path);
        const char *base = NULL;
        int dfd = open_parent(ws_fd, rel, &base, err);
        int fd = dfd < 0 ? -1 : openat(dfd, base, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        bool ok = fd >= 0 && write(fd, data, len) == (ssize_t)len;
        int e = errno;
        if (fd >= 0)
            close(fd);
        if (dfd >= 0)
            close(dfd);
        free(data);
        if (!ok)
            return dfd < 0 ? -1 : mrun_err_set(err, e, "input '%s'", in->path);
    }
    return 0;
}

static int upload_file(slot *s, const char *lease_id, int ws_fd, const char *path, mrun_err *err);

/* An artifact path: a regular file, or a directory (trailing '/' or not) whose regular files are uploaded one by
 * one under their relative paths. Symlinks are never followed. */
static int upload_path(slot *s, const char *lease_id, int ws_fd, const char *path, int depth, mrun_err *err)
{
    char clean[MRUN_PROTO_MAX_PATH + 1];
    snprintf(clean, sizeof(clean), "%s", path);
    size_t n = strlen(clean);
    while (n > 1 && clean[n - 1] == '/')
        clean[--n] = '\0';
    struct stat st;
    if (fstatat(ws_fd, clean, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return mrun_err_set(err, errno, "artifact '%s'", clean);
    if (S_ISREG(st.st_mode))
        return upload_file(s, lease_id, ws_fd, clean, err);
    if (!S_ISDIR(st.st_mode) || depth > 16)
        return mrun_err_setx(err, EINVAL, "artifact '%s' is neither a file nor a directory", clean);
    int dfd = openat(ws_fd, clean, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return mrun_err_set(err, errno, "artifact '%s'", clean);
    }
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char sub[MRUN_PROTO_MAX_PATH + 1];
        if (snprintf(sub, sizeof(sub), "%s/%s", clean, e->d_name) >= (int)sizeof(sub))
            continue;
        struct stat es;
        if (fstatat(ws_fd, sub, &es, AT_SYMLINK_NOFOLLOW) < 0 || !(S_ISREG(es.st_mode) || S_ISDIR(es.st_mode)))
            continue;
        rc = upload_path(s, lease_id, ws_fd, sub, depth + 1, err);
    }
    closedir(d);
    return rc;
}

static void run_lease(slot *s, const mrun_msg_lease *l)
{
    mrun_runner *r = s->r;
    mrun_err err = MRUN_ERR_INIT;
    int64_t started = wall_ms();
    mrun_exec_result res = {.failed_step = -1, .exit_code = -1, .coverage = -1};
    mrun_result_status status = MRUN_RESULT_ERROR;
    char error_text[512] = "";
    pv_request pv = {0};
    log_ctx lc;
    log_start(&lc, s, l->lease_id);
    char ws[1024];
    snprintf(ws, sizeof(ws), "%s/%s", r->cfg.work_dir, l->lease_id);
    mrun_autoclose int work_fd = open(r->cfg.work_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const uint8_t *src = NULL; /* the slot's cached source, borrowed */
    size_t src_len = 0;
    if (work_fd < 0 || mkdirat(work_fd, l->lease_id, 0755) < 0) {
        snprintf(error_text, sizeof(error_text), "workspace: %s", strerror(errno));
        goto report;
    }
    {
        mrun_autoclose int ws_fd = openat(work_fd, l->lease_id, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        mrun_unpack_limits lim = {.max_bytes = r->cfg.max_source_bytes};
        mrun_unpack_stats ust;
        if (ws_fd < 0 || fetch_source(s, l->source_digest, &src, &src_len, &err) < 0 ||
            mrun_archive_unpack(src, src_len, ws_fd, &lim, &ust, &err) < 0) {
            snprintf(error_text, sizeof(error_text), "source: %s", ws_fd < 0 ? strerror(errno) : err.msg);
            send_log(&lc, MRUN_EXEC_SYSTEM, error_text, strlen(error_text));
            goto report;
        }
        if (fetch_inputs(s, l, ws_fd, &err) < 0) {
            snprintf(error_text, sizeof(error_text), "%s", err.msg);
            send_log(&lc, MRUN_EXEC_SYSTEM, error_text, strlen(error_text));
            goto report;
        }
        /* the stage, as the pipeline says, in sandboxes */
        mrun_exec_step steps[256];
        size_t ns = l->steps.n < 256 ? l->steps.n : 256;
        const char *wk[256][32], *wv[256][32];
        for (size_t i = 0; i < ns; i++) {
            const mrun_step *ps = &l->steps.v[i];
            size_t nw = ps->with.n < 32 ? ps->with.n : 32;
            for (size_t k = 0; k < nw; k++) {
                wk[i][k] = ps->with.v[k].key;
                wv[i][k] = ps->with.v[k].value;
            }
            steps[i] = (mrun_exec_step){.name = ps->name, .run = ps->run, .uses = ps->uses,
                                        .with_keys = wk[i], .with_values = wv[i], .n_with = nw,
                                        .continue_on_error = ps->continue_on_error};
        }
        char *env[300];
        const char *secrets[64];
        size_t ne = 0, nsec = 0;
        char ctxvars[3][256];
        snprintf(ctxvars[0], sizeof(ctxvars[0]), "CI=true");
        snprintf(ctxvars[1], sizeof(ctxvars[1]), "MRUN_PIPELINE_ID=%s", l->pipeline_id);
        snprintf(ctxvars[2], sizeof(ctxvars[2]), "MRUN_STAGE=%s", l->stage_name);
        for (int i = 0; i < 3; i++)
            env[ne++] = ctxvars[i];
        for (size_t i = 0; i < l->env.n && ne < 300; i++) {
            size_t kl = strlen(l->env.v[i].name), vl = strlen(l->env.v[i].value);
            char *kv = malloc(kl + vl + 2);
            if (!kv)
                continue;
            memcpy(kv, l->env.v[i].name, kl);
            kv[kl] = '=';
            memcpy(kv + kl + 1, l->env.v[i].value, vl + 1);
            env[ne++] = kv;
            if (l->env.v[i].secret && nsec < 64)
                secrets[nsec++] = l->env.v[i].value;
        }
        mrun_sandbox_opts lim_opts;
        mrun_sandbox_opts_init(&lim_opts);
        if (l->limits.mem_bytes)
            lim_opts.mem_bytes = (int64_t)l->limits.mem_bytes;
        if (l->limits.pids)
            lim_opts.pids = l->limits.pids;
        if (l->limits.cpu_milli)
            lim_opts.cpu_milli = l->limits.cpu_milli;
        if (l->limits.timeout_ms)
            lim_opts.timeout_ms = (int64_t)l->limits.timeout_ms;
        if (l->limits.disk_bytes)
            lim_opts.disk_bytes = (int64_t)l->limits.disk_bytes;
        char ws_abs[PATH_MAX];
        const char *ws_path = realpath(ws, ws_abs) ? ws_abs : ws;
        pv = (pv_request){.host = &r->pv, .id = l->preview_id, .lease_dir = l->lease_id, .workspace = ws_path,
                          .env = (const char *const *)env, .n_env = ne,
                          .artifact_sha256 = l->preview_artifact_sha256,
                          .artifact_error = l->preview_artifact_error,
                          .require_signed = l->preview_require_signed};
        mrun_exec_stage st = {.workspace = ws_path, .steps = steps, .n_steps = ns,
                              .env = (const char *const *)env, .n_env = ne, .secret_values = secrets,
                              .n_secret_values = nsec, .limits = &lim_opts,
                              .coverage_baseline = parse_percent(l->coverage_baseline),
                              .preview = r->pv_ready ? pv_host_start : NULL, .preview_ctx = &pv};
        int er = mrun_exec_stage_run(&st, send_log, &lc, &s->cancel, &res, &err);
        for (size_t i = 3; i < ne; i++)
            free(env[i]);
        if (er < 0) {
            snprintf(error_text, sizeof(error_text), "%s", err.msg);
            goto report;
        }
        status = res.cancelled ? MRUN_RESULT_CANCELLED : res.passed ? MRUN_RESULT_PASSED : MRUN_RESULT_FAILED;
        if (status == MRUN_RESULT_PASSED) {
            for (size_t i = 0; i < l->artifacts.n; i++) {
                if (upload_path(s, l->lease_id, ws_fd, l->artifacts.v[i], 0, &err) < 0) {
                    char line[512];
                    int n = snprintf(line, sizeof(line), "mrun: artifact: %s\n", err.msg);
                    send_log(&lc, MRUN_EXEC_SYSTEM, line, n > 0 ? (size_t)n : 0);
                    status = MRUN_RESULT_FAILED;
                }
            }
            if (status == MRUN_RESULT_PASSED && l->artifacts.n && upload_bundle(s, l, ws_fd, &err) < 0) {
                char line[512];
                int n = snprintf(line, sizeof(line), "mrun: %s\n", err.msg);
                send_log(&lc, MRUN_EXEC_SYSTEM, line, n > 0 ? (size_t)n : 0);
                status = MRUN_RESULT_FAILED;
            }
        }
    }
report:
    log_finish(&lc);
    bool serving = pv.started && status == MRUN_RESULT_PASSED;
    if (pv.started && !serving)
        pv_host_stop(&r->pv, pv.id); /* a later step or the artifacts failed: no preview of a failed stage */
    if (work_fd >= 0 && !serving)
        remove_tree(work_fd, l->lease_id, 0); /* a preview's workspace goes when the preview does */
    mrun_msg req, rep;
    mrun_msg_init(&req, MRUN_MSG_RESULT);
    req.result.lease_id = l->lease_id;
    req.result.attempt = l->attempt;
    req.result.status = status;
    req.result.exit_code = status == MRUN_RESULT_PASSED ? 0 : res.failed_step >= 0 ? res.exit_code : -1;
    req.result.started_ms = started;
    req.result.finished_ms = wall_ms();
    req.result.error_text = error_text[0] ? error_text : NULL;
    if (serving) {
        req.result.preview_addr = pv.addr;
        req.result.preview_expires_ms = pv.expires_ms;
    }
    char coverage[32];
    if (res.coverage >= 0) {
        snprintf(coverage, sizeof(coverage), "%.4f", res.coverage);
        req.result.coverage = coverage;
    }
    /* the result must arrive: retry while the coordinator is away (a repeat changes nothing there) */
    for (int attempt = 0; attempt < 60 && !stopping(r); attempt++) {
        if (call(s->ctx, &req, 10000, &rep, &err) == 0) {
            mrun_msg_fini(&rep);
            break;
        }
        if (err.sys_errno == ESTALE)
            break; /* the lease was taken back; our result no longer counts */
        mrun_log(MRUN_LOG_WARN, LOG, "result for lease %s: %s, retrying", l->lease_id, err.msg);
        sleep(1);
    }
    mrun_log(MRUN_LOG_INFO, LOG, "stage '%s' of %s: %s", l->stage_name, l->pipeline_id,
             mrun_result_status_name(status));
}

/* Removes name under dir_fd recursively without following symlinks. */
void mrun_runner_remove_tree(int dir_fd, const char *name)
{
    remove_tree(dir_fd, name, 0);
}

static void remove_tree(int dir_fd, const char *name, int depth)
{
    if (depth > 256)
        return;
    if (unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT)
        return;
    int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        remove_tree(dirfd(d), e->d_name, depth + 1);
    }
    closedir(d);
    unlinkat(dir_fd, name, AT_REMOVEDIR);
}

/* ---- slot threads ---- */

static void *slot_main(void *arg)
{
    slot *s = arg;
    mrun_runner *r = s->r;
    while (!stopping(r)) {
        char rid[MRUN_PROTO_MAX_NAME + 1];
        current_id(r, rid, sizeof(rid));
        mrun_err err = MRUN_ERR_INIT;
        if (!rid[0]) {
            if (s->index == 0 && register_runner(r, s->ctx, &err) < 0) {
                mrun_log(MRUN_LOG_WARN, LOG, "register: %s, retrying", err.msg);
                sleep(1);
            } else if (s->index != 0) {
                usleep(100 * 1000);
            }
            continue;
        }
        mrun_msg req, rep;
        mrun_msg_init(&req, MRUN_MSG_LEASE_REQ);
        req.lease_req.runner_id = rid;
        req.lease_req.free_slots = 1;
        req.lease_req.wait_ms = LEASE_WAIT_MS;
        if (call(s->ctx, &req, LEASE_WAIT_MS + 10000, &rep, &err) < 0) {
            if (err.sys_errno == ENOENT) {
                pthread_mutex_lock(&r->mu);
                if (strcmp(r->runner_id, rid) == 0)
                    r->runner_id[0] = '\0'; /* the coordinator forgot us: register again */
                pthread_mutex_unlock(&r->mu);
            } else if (!stopping(r)) {
                mrun_log(MRUN_LOG_WARN, LOG, "lease request: %s, retrying", err.msg);
                sleep(1);
            }
            continue;
        }
        if (rep.type == MRUN_MSG_LEASE) {
            pthread_mutex_lock(&r->mu);
            snprintf(s->lease_id, sizeof(s->lease_id), "%s", rep.lease.lease_id);
            s->cancel = 0;
            pthread_mutex_unlock(&r->mu);
            mrun_log(MRUN_LOG_INFO, LOG, "running stage '%s' of %s (attempt %u)", rep.lease.stage_name,
                     rep.lease.pipeline_id, rep.lease.attempt);
            run_lease(s, &rep.lease);
            pthread_mutex_lock(&r->mu);
            s->lease_id[0] = '\0';
            pthread_mutex_unlock(&r->mu);
        }
        mrun_msg_fini(&rep);
    }
    return NULL;
}

/* Dials the coordinator (nng reconnects by itself); tls+tcp:// verifies its certificate against tls_ca. Returns 0,
 * an nng error, or -1 with err set. */
static int dial(mrun_runner *r, const mrun_runner_config *cfg, mrun_err *err)
{
    if (strncmp(cfg->coordinator, "tls+", 4) != 0)
        return nng_dial(r->sock, cfg->coordinator, NULL, NNG_FLAG_NONBLOCK);
    if (!cfg->tls_ca)
        return mrun_err_setx(err, EINVAL, "'%s' is TLS: --tls-ca is needed to verify the coordinator",
                             cfg->coordinator);
    nng_dialer d;
    nng_tls_config *tc = NULL;
    int rv = nng_dialer_create(&d, r->sock, cfg->coordinator);
    if (rv == 0 && (rv = nng_tls_config_alloc(&tc, NNG_TLS_MODE_CLIENT)) == 0 &&
        (rv = nng_tls_config_ca_file(tc, cfg->tls_ca)) == 0 &&
        (rv = nng_tls_config_auth_mode(tc, NNG_TLS_AUTH_MODE_REQUIRED)) == 0 &&
        (!cfg->tls_server_name || (rv = nng_tls_config_server_name(tc, cfg->tls_server_name)) == 0) &&
        (rv = nng_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, tc)) == 0)
        rv = nng_dialer_start(d, NNG_FLAG_NONBLOCK);
    if (tc)
        nng_tls_config_free(tc);
    if (rv != 0)
        return mrun_err_setx(err, EIO, "connect to '%s' with TLS (CA %s): %s", cfg->coordinator, cfg->tls_ca,
                             nng_strerror(rv));
    return 0;
}

int mrun_runner_start(const mrun_runner_config *cfg, mrun_runner **ret_runner, mrun_err *err)
{
    mrun_runner *r = calloc(1, sizeof(*r));
    if (!r)
        return mrun_err_set(err, ENOMEM, "runner");
    r->cfg = *cfg;
    if (r->cfg.slots <= 0)
        r->cfg.slots = 1;
    if (r->cfg.slots > MAX_SLOTS)
        r->cfg.slots = MAX_SLOTS;
    if (r->cfg.max_source_bytes <= 0)
        r->cfg.max_source_bytes = 512ll << 20;
    r->heartbeat_ms = 1000;
    if (cfg->name)
        snprintf(r->name, sizeof(r->name), "%s", cfg->name);
    else if (gethostname(r->name, sizeof(r->name) - 1) < 0)
        snprintf(r->name, sizeof(r->name), "runner");
    for (size_t i = 0; cfg->labels && cfg->labels[i] && i < 32; i++)
        r->labels[r->n_labels++] = (char *)cfg->labels[i];
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    mkdir(cfg->work_dir, 0700);
    mrun_err pv_err = MRUN_ERR_INIT;
    if (pv_host_init(&r->pv, cfg->work_dir, cfg->preview_bind, &pv_err) == 0)
        r->pv_ready = true;
    else
        mrun_log(MRUN_LOG_WARN, LOG, "this runner hosts no previews: %s", pv_err.msg);
    int rv = nng_req0_open(&r->sock);
    if (rv == 0) {
        r->sock_open = true;
        /* long polls must not be re-sent by nng: the coordinator answers them late on purpose */
        nng_socket_set_ms(r->sock, NNG_OPT_REQ_RESENDTIME, NNG_DURATION_INFINITE);
        nng_socket_set_ms(r->sock, NNG_OPT_RECONNMINT, 100);
        nng_socket_set_ms(r->sock, NNG_OPT_RECONNMAXT, 2000);
        rv = dial(r, cfg, err);
    }
    if (rv == 0)
        rv = nng_ctx_open(&r->hb_ctx, r->sock);
    for (int i = 0; rv == 0 && i < r->cfg.slots; i++) {
        r->slots[i].r = r;
        r->slots[i].index = i;
        rv = nng_ctx_open(&r->slots[i].ctx, r->sock);
        if (rv == 0)
            rv = nng_ctx_open(&r->slots[i].log_ctx, r->sock);
    }
    if (rv != 0) {
        if (rv != -1)
            mrun_err_setx(err, EIO, "connect to '%s': %s", cfg->coordinator, nng_strerror(rv));
        mrun_runner_stop(r, 0);
        return -1;
    }
    if (pthread_create(&r->hb_thread, NULL, heartbeat_main, r) == 0)
        r->hb_started = true;
    for (int i = 0; i < r->cfg.slots; i++) {
        if (pthread_create(&r->slots[i].thread, NULL, slot_main, &r->slots[i]) != 0)
            break;
        r->n_started++;
    }
    mrun_log(MRUN_LOG_INFO, LOG, "runner '%s' with %d slot(s) connecting to %s", r->name, r->cfg.slots,
             cfg->coordinator);
    *ret_runner = r;
    return 0;
}

void mrun_runner_stop(mrun_runner *r, int64_t drain_ms)
{
    if (!r)
        return;
    int64_t until = wall_ms() + drain_ms;
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    /* let running stages finish within the drain time, then cancel them */
    for (;;) {
        bool busy = false;
        pthread_mutex_lock(&r->mu);
        for (int i = 0; i < r->n_started; i++)
            busy = busy || r->slots[i].lease_id[0];
        if (busy && wall_ms() >= until)
            for (int i = 0; i < r->n_started; i++)
                r->slots[i].cancel = 1;
        pthread_mutex_unlock(&r->mu);
        if (!busy || wall_ms() >= until + 5000)
            break;
        usleep(50 * 1000);
    }
    if (r->sock_open)
        nng_close(r->sock); /* ends the long polls */
    for (int i = 0; i < r->n_started; i++) {
        pthread_join(r->slots[i].thread, NULL);
        free(r->slots[i].src);
    }
    if (r->pv_ready)
        pv_host_fini(&r->pv); /* previews do not outlive their runner (a restart would reap them anyway) */
    if (r->hb_started)
        pthread_join(r->hb_thread, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
