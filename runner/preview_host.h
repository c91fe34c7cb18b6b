/* preview_host.h - private to runner/: the previews one runner keeps alive after their stages passed, by id. The
 * slot threads start them (through the stage context), the heartbeat thread reports them, applies the
 * coordinator's stops and new expiries, and forgets the ones that ended by themselves (TTL, app exit). */
#ifndef MRUN_PREVIEW_HOST_H
#define MRUN_PREVIEW_HOST_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "../common/proto.h"
#include "../stages/stages.h"
#include "preview.h"

#define PV_HOST_MAX 32

typedef struct pv_entry {
    char id[MRUN_PROTO_MAX_NAME + 1];
    char lease_dir[MRUN_PROTO_MAX_NAME + 1]; /* its workspace, WORK/<lease id>, removed once it ends */
    mrun_preview *pv;
} pv_entry;

typedef struct pv_host {
    pthread_mutex_t mu; /* guards n and entries; start/stop happen outside it */
    pv_entry entries[PV_HOST_MAX];
    size_t n;
    const char *work_dir;
    const char *bind;  /* the relays' listen address (what the coordinator's proxy dials) */
    char state_dir[1100];
} pv_host;

/* What one `uses: preview` step needs from its lease; filled by the slot, read by pv_host_start. */
typedef struct pv_request {
    pv_host *host;
    const char *id;        /* the coordinator's preview id */
    const char *lease_dir; /* name under work_dir */
    const char *workspace; /* absolute path */
    const char *const *env;
    size_t n_env;
    const char *artifact_sha256; /* the lease's verdict on the step's `artifact:` (preview_artifact_*) */
    const char *artifact_error;
    bool require_signed;
    /* out: set when a preview started */
    bool started;
    char addr[300];
    int64_t expires_ms;
} pv_request;

/* Kills what a previous runner process left (their state files are in WORK/previews). */
int pv_host_init(pv_host *h, const char *work_dir, const char *bind, mrun_err *err);
/* Stops every preview and removes their workspaces. */
void pv_host_fini(pv_host *h);
/* The stage context's mrun_stage_preview_fn; ctx is a pv_request. */
int pv_host_start(void *ctx, mrun_stage_preview_req *req, mrun_err *err);
/* Stops one preview (a stage that failed after starting it, or the coordinator's stop). */
void pv_host_stop(pv_host *h, const char *id);
/* Fills ids and values (at most max) for the heartbeat: id -> "SANDBOX_MS PEAK_BYTES"; forgets ended previews
 * first. values[i] points into vbuf[i]. */
size_t pv_host_report(pv_host *h, char (*ids)[MRUN_PROTO_MAX_NAME + 1], char (*vbuf)[48], size_t max);
/* The coordinator's answer: stop these, move those expiries. */
void pv_host_apply(pv_host *h, const mrun_strv *stop, const mrun_kvv *expiry);

/* runner.c: removes name under dir_fd recursively without following symlinks. */
void mrun_runner_remove_tree(int dir_fd, const char *name);

#endif
