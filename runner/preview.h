/* preview.h - a stage's built workspace served as a long-running sandboxed app (`uses: preview`).
 *
 * The app runs in a sandbox with a loopback-only network namespace: it can reach nothing, and nothing reaches it
 * except the runner's relay, a host TCP listener whose connections are forwarded into the sandbox's namespace.
 * A preview enforces its own TTL (no coordinator needed), records its sandbox-seconds and peak memory, and leaves
 * a state file per preview so that a restarted runner can kill what a crashed one left (reap_orphans).
 *
 * Threads: each preview owns two threads (the supervisor, which started and owns the sandbox, pumps its output
 * and kills it at the TTL or on stop; and the relay). stats, logs, addr and extend may be called from any
 * thread; stop and free from one owner thread (never from a callback of the preview). */
#ifndef MRUN_PREVIEW_H
#define MRUN_PREVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "../sandbox/sandbox.h"

#define MRUN_PREVIEW_MAX_TTL_MS (30ll * 24 * 3600 * 1000)

/* Borrowed for the call to mrun_preview_start only; the preview keeps copies. mrun_preview_opts_init sets the
 * defaults; workspace, command, port and ttl_ms must be filled. */
typedef struct mrun_preview_opts {
    const char *workspace;           /* host directory, absolute: the app's writable /workspace, as for a step */
    const char *command;             /* run with /bin/sh -c */
    unsigned port;                   /* where the app listens inside the sandbox, 1-65535 */
    const char *health_path;         /* default "/healthz"; ready when GET answers 2xx */
    int64_t ready_timeout_ms;        /* default 30 s */
    int64_t ttl_ms;                  /* > 0, at most MRUN_PREVIEW_MAX_TTL_MS */
    const mrun_sandbox_opts *limits; /* mem, pids, cpus, disk, tmpfs, nofile; NULL = the sandbox defaults.
                                        Its workspace, mounts, env, net, timeout and output limit are ignored */
    const char *const *env;          /* NAME=VALUE */
    size_t n_env;
    const char *listen_host; /* relay listen address (numeric IPv4 or IPv6); default "127.0.0.1" */
    unsigned listen_port;    /* 0 = ephemeral */
    const char *state_dir;   /* NULL = no state file (then reap_orphans cannot help after a crash) */
} mrun_preview_opts;

typedef enum {
    MRUN_PREVIEW_RUNNING = 0,
    MRUN_PREVIEW_DIED = 1,    /* the app exited by itself; the relay closes new connections */
    MRUN_PREVIEW_EXPIRED = 2, /* the TTL ran out: sandbox killed, relay closed */
    MRUN_PREVIEW_STOPPED = 3, /* mrun_preview_stop */
} mrun_preview_state;

typedef struct mrun_preview_info {
    mrun_preview_state state;
    bool alive;                /* the sandbox still runs */
    int pid;                   /* host pid of the sandbox's init while alive, else 0 */
    int64_t uptime_ms;         /* since the sandbox started; frozen when it ended */
    double sandbox_seconds;    /* uptime_ms / 1000: what the preview is billed */
    int64_t peak_memory_bytes; /* the cgroup's peak; sampled while alive, final once ended; -1 unknown */
    int64_t expires_in_ms;     /* until the TTL; 0 once ended */
    int exit_code;             /* once ended: as mrun_sandbox_result (137 when killed) */
    int signal;
    bool oom_killed;
    uint64_t connections; /* relayed connections accepted so far */
} mrun_preview_info;

typedef struct mrun_preview mrun_preview;

void mrun_preview_opts_init(mrun_preview_opts *o);

/* Starts the sandbox and the relay, then waits (bounded by ready_timeout_ms) until GET health_path through the
 * relay answers 2xx. Fails with ETIMEDOUT when it never did (the message ends with the app's last output
 * lines), ECHILD when the app exited first, EINVAL on bad options, or the sandbox's error; on failure nothing
 * is left running. Blocks for up to ready_timeout_ms. */
int mrun_preview_start(const mrun_preview_opts *o, mrun_preview **ret_pv, mrun_err *err);

/* The relay's address: host as given (borrowed until free) and the bound port. */
void mrun_preview_addr(const mrun_preview *pv, const char **ret_host, unsigned *ret_port);

void mrun_preview_stats(mrun_preview *pv, mrun_preview_info *ret_info);

/* Copies the app's last output (stdout and stderr interleaved; at most the last 64 KiB are kept) into buf,
 * NUL-terminated, keeping the newest len-1 bytes. Returns the number of bytes copied. */
size_t mrun_preview_logs(mrun_preview *pv, char *buf, size_t len);

/* Moves the expiry to now + ttl_ms. ESRCH when the preview has ended, EINVAL for a bad ttl. */
int mrun_preview_extend(mrun_preview *pv, int64_t ttl_ms, mrun_err *err);

/* Kills the sandbox tree, closes the relay and all its connections, joins the threads and removes the state
 * file. Idempotent; blocks for about 100 ms. */
void mrun_preview_stop(mrun_preview *pv);

/* Stops (if needed) and frees. NULL is fine. */
void mrun_preview_free(mrun_preview *pv);
void mrun_preview_freep(mrun_preview **pv);

/* For a runner that restarts: kills the sandboxes of previews whose owning process is gone (identity checked by
 * pid and start time, so a reused pid is never signalled) and removes their state files. Returns how many it
 * killed, or -1 when the directory cannot be read. */
int mrun_preview_reap_orphans(const char *state_dir, mrun_err *err);

#endif
