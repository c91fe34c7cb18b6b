/* runner.h - the runner service: dials the coordinator over nng (REQ), registers, and on each slot's thread
 * long-polls for a lease, fetches and safely unpacks the source, runs the stage (exec.h) while streaming its log,
 * uploads the declared artifacts and reports the result. A heartbeat thread of its own (outside every job's cgroup)
 * keeps the leases alive and receives cancels. */
#ifndef MRUN_RUNNER_H
#define MRUN_RUNNER_H

#include <stdint.h>

#include "../common/err.h"

typedef struct mrun_runner mrun_runner;

typedef struct mrun_runner_config {
    const char *coordinator;   /* nng URL: "tcp://host:7700", "inproc://mrun" */
    const char *token;         /* runner token; any non-empty text for an open (embedded) coordinator */
    const char *name;          /* shown in `mrun runners`; default: the host name */
    const char *const *labels; /* NULL-terminated */
    int slots;                 /* stages at once (default 1) */
    const char *work_dir;      /* workspaces live in WORK/<lease id>, removed after the stage */
    int64_t max_source_bytes;  /* refuse larger source archives (default 512M) */
    const char *tls_ca;        /* for a tls+tcp:// coordinator: the CA (PEM) its certificate must chain to */
    const char *tls_server_name; /* the name in its certificate (default: the URL's host) */
    const char *preview_bind;  /* where previews' relays listen: an address the coordinator can reach, and only it
                                  (default 127.0.0.1, right for `mrun run` and a one-host fleet) */
} mrun_runner_config;

/* Dials (nng reconnects by itself) and starts the heartbeat and slot threads. Returns at once. */
int mrun_runner_start(const mrun_runner_config *cfg, mrun_runner **ret_runner, mrun_err *err);

/* Drains: asks no new work and waits up to drain_ms for running stages to finish, then cancels what is left,
 * reports it, and stops. NULL is fine. */
void mrun_runner_stop(mrun_runner *r, int64_t drain_ms);

#endif
