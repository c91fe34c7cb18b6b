/* coord.h - the coordinator service: accepts pipelines, keeps them in the store, schedules their stages over the
 * DAG and hands them to runners over nng (REQ/REP, docs/protocol.md) under leases, with long-polled lease
 * requests, heartbeats, lease expiry and requeue. The same code serves a fleet (tcp://) and `mrun run`
 * (inproc://). One worker thread owns the protocol side and its store connection; submit may be called from
 * any thread. */
#ifndef MRUN_COORD_H
#define MRUN_COORD_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "store.h"

typedef struct mrun_coord mrun_coord;

typedef struct mrun_coord_config {
    const char *data_dir;     /* SQLite database and blobs */
    const char *listen;       /* nng URL: "tcp://0.0.0.0:7700", "inproc://mrun" */
    int64_t lease_timeout_ms; /* a runner silent this long loses its leases (default 4000) */
    int64_t heartbeat_ms;     /* what runners are told to use (default 1000) */
    int open_registration;    /* 1: any runner may register without a token (embedded mode) */
    const char *http;         /* HTTP API address "127.0.0.1:7070", or NULL for none */
    int open_api;             /* 1: the HTTP API needs no token (every request is admin) */
    const char *tls_cert;     /* with tls_key: PEM files for a tls+tcp:// listen URL */
    const char *tls_key;
    const char *http_tls_cert; /* with http_tls_key: the HTTP API serves HTTPS */
    const char *http_tls_key;
    const char *default_branch; /* whose passing pipelines set coverage baselines (default "main") */
    const char *signing_key;    /* PEM private key that signs provenance; NULL: nothing is signed */
    const char *signing_passphrase; /* for an encrypted signing_key, or NULL */
    const char *builder_id;     /* the builder.id in provenance (default "mrun://HOSTNAME/coordinator") */
    mrun_store_retention retention; /* which artifacts are kept (zeros: the defaults of store.h) */
    int64_t gc_interval_ms;         /* how often the retention sweep runs (0: hourly, < 0: never) */
    const char *preview_listen;     /* the preview proxy's address ("0.0.0.0:7080"); NULL: no previews */
    const char *preview_domain;     /* host-based routing: ID.DOMAIN (optional) */
    const char *preview_url;        /* how users reach the proxy, for printed URLs (default http://LISTEN) */
    int require_signed_tier;        /* previews of pipelines of this tier and above run only an `artifact:` that
                                       matches signed provenance; stored as tier + 1 (0: the default, tier 2;
                                       5: never) */
    int64_t preview_ttl_max_ms[4];  /* per pipeline tier 0-3: previews live at most this long whatever the step
                                       asks (0: 7 days) */
} mrun_coord_config;

typedef struct mrun_coord_submit {
    const char *file;             /* name for messages, e.g. ".mrun/pipeline.yml" */
    const uint8_t *yaml;
    size_t yaml_len;
    const uint8_t *archive;       /* the source tree as a tar.gz */
    size_t archive_len;
    const char *source_digest;    /* instead of archive: a blob already in the store */
    const char *event, *ref, *branch, *submitter, *agent;
} mrun_coord_submit;

/* The URL of preview id through the coordinator's proxy; -1 when previews are off. Any thread. */
int mrun_coord_preview_url(const mrun_coord *c, const char *id, char *out, size_t n);

/* Opens the store, recovers what a previous run left (expired leases go back to the queue) and starts listening.
 * Blocks only for that. */
int mrun_coord_start(const mrun_coord_config *cfg, mrun_coord **ret_coord, mrun_err *err);

/* Validates (pipeline file, `if:` expressions, `uses:` names), stores the archive and the pipeline durably, and
 * returns its id (33 bytes with the NUL). Errors: EINVAL with "file:line:col: ..." for a bad pipeline. Thread-safe;
 * blocks for the fsyncs. */
int mrun_coord_submit_pipeline(mrun_coord *c, const mrun_coord_submit *sub, char ret_id[33], mrun_err *err);

/* Stops listening, ends the worker thread, closes the store. NULL is fine. */
void mrun_coord_stop(mrun_coord *c);

#endif
