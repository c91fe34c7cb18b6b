/* preview_host.c - the previews one runner keeps alive (preview_host.h). Each entry owns a preview and the lease
 * workspace it serves; ending an entry stops the sandbox and removes that workspace. */
#include <errno.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/digest.h"
#include "../common/log.h"
#include "preview_host.h"

#define LOG "runner"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int pv_host_init(pv_host *h, const char *work_dir, const char *bind, mrun_err *err)
{
    memset(h, 0, sizeof(*h));
    pthread_mutex_init(&h->mu, NULL);
    h->work_dir = work_dir;
    h->bind = bind && *bind ? bind : "127.0.0.1";
    snprintf(h->state_dir, sizeof(h->state_dir), "%s/previews", work_dir);
    if (mkdir(h->state_dir, 0700) < 0 && errno != EEXIST)
        return mrun_err_set(err, errno, "previews: '%s'", h->state_dir);
    int n = mrun_preview_reap_orphans(h->state_dir, err);
    if (n < 0)
        return mrun_err_prefix(err, "previews");
    if (n > 0)
        mrun_log(MRUN_LOG_WARN, LOG, "stopped %d preview(s) a previous runner process left running", n);
    return 0;
}

/* Stops and frees one entry that is no longer in the table, and removes its workspace. */
static void end_entry(pv_host *h, pv_entry *e)
{
    mrun_preview_info info;
    mrun_preview_stats(e->pv, &info);
    mrun_preview_free(e->pv); /* stops it */
    int wfd = open(h->work_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (wfd >= 0) {
        mrun_runner_remove_tree(wfd, e->lease_dir);
        close(wfd);
    }
    mrun_log(MRUN_LOG_INFO, LOG, "preview %s ended after %.1f s", e->id, info.sandbox_seconds);
}

/* Takes entry i out of the table (under mu) into *out. */
static void take(pv_host *h, size_t i, pv_entry *out)
{
    *out = h->entries[i];
    h->entries[i] = h->entries[--h->n];
}

void pv_host_fini(pv_host *h)
{
    for (;;) {
        pv_entry e;
        pthread_mutex_lock(&h->mu);
        bool any = h->n > 0;
        if (any)
            take(h, 0, &e);
        pthread_mutex_unlock(&h->mu);
        if (!any)
            break;
        end_entry(h, &e);
    }
    pthread_mutex_destroy(&h->mu);
}

/* sha256 of rel beneath the workspace, never through a symlink. */
static int file_sha256(const char *workspace, const char *rel, char hex[65], mrun_err *err)
{
    int ws = open(workspace, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ws < 0)
        return mrun_err_set(err, errno, "workspace");
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
    int fd = (int)syscall(SYS_openat2, ws, rel, &how, sizeof(how));
    int e = errno;
    close(ws);
    if (fd < 0)
        return mrun_err_set(err, e, "artifact '%.200s'", rel);
    int r = mrun_sha256_fd(fd, hex, err);
    close(fd);
    return r < 0 ? mrun_err_prefix(err, "artifact '%.200s'", rel) : 0;
}

/* The step's `artifact:` against the coordinator's verdict: 0 to go on (with a note), -1 when refused. */
static int check_artifact(const pv_request *rq, mrun_stage_preview_req *req, mrun_err *err)
{
    char hex[65];
    if (file_sha256(rq->workspace, req->artifact, hex, err) < 0)
        return mrun_err_prefix(err, "preview");
    const char *why = NULL;
    char mismatch[200];
    if (rq->artifact_sha256 && strcmp(rq->artifact_sha256, hex) == 0) {
        snprintf(req->note, sizeof(req->note), "preview: %s (sha256:%.16s...) matches the provenance the coordinator signed",
                 req->artifact, hex);
        return 0;
    }
    if (rq->artifact_sha256) {
        snprintf(mismatch, sizeof(mismatch), "its sha256:%.16s... is not the signed sha256:%.16s...", hex,
                 rq->artifact_sha256);
        why = mismatch;
    } else {
        why = rq->artifact_error && *rq->artifact_error ? rq->artifact_error : "no signed provenance names it";
    }
    if (rq->require_signed)
        return mrun_err_setx(err, EPERM, "preview: refused %s: %s (this tier runs signed artifacts only)",
                             req->artifact, why);
    snprintf(req->note, sizeof(req->note), "preview: warning: %s is not verified: %s", req->artifact, why);
    return 0;
}

int pv_host_start(void *ctx, mrun_stage_preview_req *req, mrun_err *err)
{
    pv_request *rq = ctx;
    pv_host *h = rq->host;
    if (req->artifact && check_artifact(rq, req, err) < 0)
        return -1;
    if (!rq->id || !*rq->id)
        return mrun_err_setx(err, EINVAL, "preview: the coordinator gave this stage no preview id");
    if (rq->started)
        return mrun_err_setx(err, EINVAL, "preview: one preview per stage");
    pthread_mutex_lock(&h->mu);
    bool full = h->n >= PV_HOST_MAX;
    pthread_mutex_unlock(&h->mu);
    if (full)
        return mrun_err_setx(err, EBUSY, "preview: this runner already hosts %d previews", PV_HOST_MAX);
    mrun_sandbox_opts lim;
    mrun_sandbox_opts_init(&lim);
    lim.mem_bytes = req->memory_bytes;
    mrun_preview_opts o;
    mrun_preview_opts_init(&o);
    o.workspace = rq->workspace;
    o.command = req->command;
    o.port = (unsigned)req->port;
    o.health_path = req->health;
    o.ready_timeout_ms = req->ready_ms;
    o.ttl_ms = req->ttl_ms;
    o.limits = &lim;
    o.env = rq->env;
    o.n_env = rq->n_env;
    o.listen_host = h->bind;
    o.state_dir = h->state_dir;
    pv_entry e = {.pv = NULL};
    snprintf(e.id, sizeof(e.id), "%s", rq->id);
    snprintf(e.lease_dir, sizeof(e.lease_dir), "%s", rq->lease_dir);
    int r = mrun_preview_start(&o, &e.pv, err);
    mrun_sandbox_opts_fini(&lim);
    if (r < 0)
        return mrun_err_prefix(err, "preview");
    const char *host;
    unsigned port;
    mrun_preview_addr(e.pv, &host, &port);
    snprintf(rq->addr, sizeof(rq->addr), strchr(host, ':') ? "[%s]:%u" : "%s:%u", host, port);
    rq->expires_ms = now_ms() + req->ttl_ms;
    rq->started = true;
    pthread_mutex_lock(&h->mu);
    h->entries[h->n++] = e;
    pthread_mutex_unlock(&h->mu);
    mrun_log(MRUN_LOG_INFO, LOG, "preview %s up at %s for %lld s", e.id, rq->addr, (long long)(req->ttl_ms / 1000));
    return 0;
}

void pv_host_stop(pv_host *h, const char *id)
{
    pv_entry e;
    bool found = false;
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n && !found; i++)
        if (strcmp(h->entries[i].id, id) == 0) {
            take(h, i, &e);
            found = true;
        }
    pthread_mutex_unlock(&h->mu);
    if (found)
        end_entry(h, &e);
}

size_t pv_host_report(pv_host *h, char (*ids)[MRUN_PROTO_MAX_NAME + 1], char (*vbuf)[48], size_t max)
{
    /* forget what ended by itself (TTL, the app exited) */
    for (;;) {
        pv_entry e;
        bool ended = false;
        pthread_mutex_lock(&h->mu);
        for (size_t i = 0; i < h->n && !ended; i++) {
            mrun_preview_info info;
            mrun_preview_stats(h->entries[i].pv, &info);
            if (info.state != MRUN_PREVIEW_RUNNING) {
                take(h, i, &e);
                ended = true;
            }
        }
        pthread_mutex_unlock(&h->mu);
        if (!ended)
            break;
        end_entry(h, &e);
    }
    size_t n = 0;
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n && n < max; i++, n++) {
        mrun_preview_info info;
        mrun_preview_stats(h->entries[i].pv, &info);
        snprintf(ids[n], sizeof(ids[n]), "%s", h->entries[i].id);
        snprintf(vbuf[n], sizeof(vbuf[n]), "%lld %lld", (long long)info.uptime_ms,
                 (long long)(info.peak_memory_bytes > 0 ? info.peak_memory_bytes : 0));
    }
    pthread_mutex_unlock(&h->mu);
    return n;
}

void pv_host_apply(pv_host *h, const mrun_strv *stop, const mrun_kvv *expiry)
{
    for (size_t k = 0; stop && k < stop->n; k++) {
        mrun_log(MRUN_LOG_INFO, LOG, "preview %s stopped by the coordinator", stop->v[k]);
        pv_host_stop(h, stop->v[k]);
    }
    int64_t now = now_ms();
    for (size_t k = 0; expiry && k < expiry->n; k++) {
        char *end;
        long long at = strtoll(expiry->v[k].value, &end, 10);
        if (*end || at <= now)
            continue; /* past: the coordinator's stop follows */
        mrun_err err = MRUN_ERR_INIT;
        pthread_mutex_lock(&h->mu);
        for (size_t i = 0; i < h->n; i++)
            if (strcmp(h->entries[i].id, expiry->v[k].key) == 0) {
                mrun_preview_info info;
                mrun_preview_stats(h->entries[i].pv, &info);
                int64_t ttl = at - now;
                /* only a change of more than a second is worth a call */
                if ((info.expires_in_ms > ttl ? info.expires_in_ms - ttl : ttl - info.expires_in_ms) > 1000 &&
                    mrun_preview_extend(h->entries[i].pv, ttl, &err) < 0)
                    mrun_log(MRUN_LOG_WARN, LOG, "preview %s: %s", h->entries[i].id, err.msg);
            }
        pthread_mutex_unlock(&h->mu);
    }
}
