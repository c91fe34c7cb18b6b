/* coord_int.h - private to the coordinator service (coord.c: nng plumbing and lifecycle; coord_work.c: what
 * each message does, scheduling and leases). */
#ifndef MRUN_COORD_INT_H
#define MRUN_COORD_INT_H

#include <nng/nng.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "../common/proto.h"
#include "coord.h"
#include "pipeline.h"
#include "sched.h"
#include "store.h"

#define COORD_CONTEXTS 32     /* concurrent requests: long polls park one each */
#define COORD_MAX_RUNNERS 256
#define COORD_MAX_CACHE 64    /* parsed pipelines kept */
#define COORD_MAX_UPLOADS 64  /* artifact uploads in progress */

typedef enum { W_IDLE = 0, W_RECV, W_QUEUED, W_PARKED, W_SEND } work_state;

/* One REP context. state and req move between nng's callback and the worker under the queue's handover. */
typedef struct work {
    struct mrun_coord *c;
    nng_ctx ctx;
    nng_aio *aio;
    work_state state;
    nng_msg *req;
    nng_pipe pipe;            /* the connection the request came on (its peer's address) */
    struct work *next;        /* queue link (mu) */
    char runner_id[64];       /* W_PARKED: who waits */
    int64_t park_deadline_ms; /* W_PARKED: answer no_work then */
} work;

typedef struct runner_rec {
    char id[64];
    char name[128];
    char labels[16][64];
    size_t n_labels;
    int slots;
    int64_t last_seen_ms;
} runner_rec;

typedef struct pl_cached {
    char id[MRUN_STORE_ID_LEN + 1];
    mrun_pipeline *pl;
    mrun_sched *sched;
    char event[32], ref[256], branch[256];
    char source_digest[MRUN_STORE_DIGEST_LEN + 1];
    int64_t created_ms;
    uint64_t used; /* LRU clock */
} pl_cached;

/* A histogram the worker fills and the API reads, under its own lock. */
#define COORD_HIST_BUCKETS 10
typedef struct coord_hist {
    const double *bounds; /* COORD_HIST_BUCKETS upper bounds, seconds */
    uint64_t counts[COORD_HIST_BUCKETS + 1];
    double sum;
} coord_hist;

typedef struct upload {
    char lease_id[64];
    char path[1024];
    char pipeline_id[MRUN_STORE_ID_LEN + 1];
    char stage[128];
    uint64_t next_offset;
    mrun_store_blob_writer *w;
} upload;

struct mrun_coord {
    mrun_coord_config cfg;
    nng_socket sock;
    bool sock_open;
    work works[COORD_CONTEXTS];
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu; /* guards qhead, qtail, stopping, kicked, pending, n_pending, reconcile_all */
    pthread_cond_t cv;
    work *qhead, *qtail;
    bool stopping, kicked;
    char pending[256][MRUN_STORE_ID_LEN + 1]; /* pipelines whose stages may have become ready */
    size_t n_pending;
    bool reconcile_all; /* at start, or when pending overflowed */
    /* the submit side: any thread, under submit_mu */
    pthread_mutex_t submit_mu;
    mrun_store *submit_st;
    /* the worker thread's own */
    mrun_store *st;
    mrun_store *log_st; /* log appends only, without an fsync per chunk */
    runner_rec runners[COORD_MAX_RUNNERS];
    size_t n_runners;
    pl_cached cache[COORD_MAX_CACHE];
    uint64_t clock;
    upload uploads[COORD_MAX_UPLOADS];
    int64_t next_recover_ms;
    int64_t next_gc_ms; /* the next retention sweep */
    struct coord_api *api; /* the HTTP API, if any (coord_api.c) */
    struct mrun_key *key;  /* signs provenance (coord_attest.c); NULL: nothing is signed */
    char builder_id[320];  /* cfg.builder_id points here when it was not given */
    struct mrun_proxy *proxy; /* the preview proxy (coord_preview.c), NULL without cfg.preview_listen */
    char preview_base[300];   /* "http://host:port" of the proxy, for preview URLs */
    pthread_mutex_t hist_mu; /* guards the histograms */
    coord_hist dispatch;     /* stage ready -> leased, first attempts */
    coord_hist duration;     /* a stage attempt's run time as the runner reports it */
};

/* Unix time in milliseconds. */
static inline int64_t coord_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void coord_hist_observe(struct mrun_coord *c, coord_hist *h, double seconds);

void coord_reply(work *w, const mrun_msg *msg);
void coord_reply_error(work *w, const char *code, const char *message);
/* Wakes the worker to serve parked long polls. Any thread. */
void coord_kick(struct mrun_coord *c);
/* Asks the worker to reconcile one pipeline (its waiting stages may be ready), then serve parked polls. */
void coord_kick_pipeline(struct mrun_coord *c, const char *pipeline_id);

/* coord_work.c, worker thread only */
/* The parsed pipeline with its compiled `if:`s, from the cache or parsed again from the stored file; NULL (logged)
 * when it cannot be loaded. */
pl_cached *coord_pipeline_load(struct mrun_coord *c, const char *id);
/* coord_preview.c: previews (worker thread, except where said) */
#define COORD_PV_MAX 32
typedef struct coord_pv_reply { /* what a heartbeat answer says about the runner's previews */
    char *stop[COORD_PV_MAX];
    char stop_buf[COORD_PV_MAX][72];
    size_t n_stop;
    mrun_kv exp[COORD_PV_MAX];
    char keys[COORD_PV_MAX][72], vals[COORD_PV_MAX][24];
    size_t n_exp;
} coord_pv_reply;
int coord_preview_start(struct mrun_coord *c, mrun_err *err); /* the proxy, and routes of live previews */
/* The longest a preview of a pipeline of this tier may live (any thread). */
int64_t coord_preview_cap(const struct mrun_coord *c, int tier);
void coord_preview_stop(struct mrun_coord *c);
/* The URL of a preview (any thread); -1 without a proxy. */
int coord_preview_url(const struct mrun_coord *c, const char *id, char *out, size_t n);
void coord_preview_lease(struct mrun_coord *c, const pl_cached *pc, const mrun_pipeline_stage *st, const char *stage,
                         const char *runner_id, char ret_id[MRUN_STORE_ID_LEN + 1]);
typedef struct coord_pv_artifact { /* the lease's verdict on a preview's `artifact:` */
    char sha256[MRUN_STORE_DIGEST_LEN + 1]; /* verified against the provenance we signed, or "" */
    char error[300];                        /* why not */
    bool require;                           /* the pipeline's tier runs signed artifacts only */
} coord_pv_artifact;
void coord_preview_artifact(struct mrun_coord *c, const pl_cached *pc, const mrun_pipeline_stage *st,
                            const mrun_input *in, size_t n_in, coord_pv_artifact *out);
/* pipe: the runner's connection; the relay address it reports must be its own (or loopback for inproc). */
void coord_preview_result(struct mrun_coord *c, nng_pipe pipe, const char *pipeline_id, const char *stage,
                          const mrun_msg_result *r);
void coord_preview_heartbeat(struct mrun_coord *c, const mrun_msg_heartbeat *h, coord_pv_reply *out);
void coord_preview_tick(struct mrun_coord *c, int64_t now_ms);
/* Routes id to addr until expires_ms (any thread: the proxy's table has its own lock). */
void coord_preview_reroute(struct mrun_coord *c, const char *id, const char *addr, int64_t expires_ms, bool private_);
/* coord_attest.c: signs provenance for the stage of r's lease when it has artifacts and a key is configured. */
int coord_attest_stage(struct mrun_coord *c, const mrun_msg_result *r, mrun_err *err);
void coord_dispatch(struct mrun_coord *c, work *w, const mrun_msg *req);
void coord_reconcile_all(struct mrun_coord *c);
void coord_reconcile(struct mrun_coord *c, const char *pipeline_id);
void coord_tick(struct mrun_coord *c, int64_t now_ms);
void coord_state_fini(struct mrun_coord *c);

/* coord.c: reads a PEM file (at most 1 MiB) into a malloc'd NUL-terminated string. */
int coord_read_pem(const char *path, char **ret, mrun_err *err);

/* coord_api.c: the HTTP API (docs/api.md) with its own store connection. */
int coord_api_start(struct mrun_coord *c, const char *listen, mrun_err *err);
void coord_api_stop(struct mrun_coord *c);
/* Port the API listens on (for tests with port 0), 0 without one. */
int coord_api_port(const struct mrun_coord *c);

#endif
