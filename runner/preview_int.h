/* preview_int.h - private to the preview files: the preview object shared by the supervisor (preview.c), the
 * relay (preview_relay.c) and the state files (preview_state.c). Never included outside runner/. */
#ifndef MRUN_PREVIEW_INT_H
#define MRUN_PREVIEW_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "preview.h"

#define PV_LOG_RING (64u * 1024)

/* Lifecycle: start() fills the immutable part, then the supervisor thread starts the sandbox and reports through
 * start_status; the relay thread enters the sandbox's netns and reports through relay_status. Fields under "mu"
 * are read and written with mu held; the rest is written before the threads start and only read after. */
struct mrun_preview {
    /* immutable after start */
    char *command;
    char *health_path;
    unsigned port;
    int64_t ready_timeout_ms;
    mrun_sandbox_opts sb_opts; /* owned copy: workspace and env strings */
    char host[64];             /* listen host as given */
    unsigned listen_port;      /* bound */
    char state_dir[PATH_MAX];  /* "" without one */
    int wake_fd;               /* eventfd: stop and the supervisor wake the relay */
    pthread_t sup_thread, relay_thread;
    bool sup_started, relay_started; /* owner thread only */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu */
    int start_status; /* 0 pending, 1 running, -1 failed (start_err) */
    int relay_status; /* 0 pending, 1 serving, -1 failed (relay_err) */
    mrun_err start_err, relay_err;
    int listen_fd; /* closed (and -1) by the relay when it ends */
    int netns_fd;  /* the sandbox's netns, dup'ed by the supervisor, consumed by the relay */
    mrun_preview_state state;
    bool alive;
    bool stop_requested;
    int pid;
    unsigned long long pid_start;        /* /proc/<pid>/stat start time, for the state file */
    int64_t start_ms, end_ms, expiry_ms; /* CLOCK_MONOTONIC */
    int64_t peak_sampled;
    char state_path[PATH_MAX]; /* the state file, once written; "" before and after */
    mrun_sandbox_result res;   /* valid once !alive */
    uint64_t connections;
    char ring[PV_LOG_RING];
    size_t ring_head, ring_len; /* next write position; bytes held */
};

int64_t pv_now_ms(void);
void pv_wake(mrun_preview *pv);

/* preview_relay.c: the relay thread's body (arg: the preview). */
void *pv_relay_main(void *arg);
/* Binds the host listener (before the relay enters the sandbox's netns). */
int pv_relay_listen(mrun_preview *pv, const char *host, unsigned port, mrun_err *err);

/* preview_state.c */
/* Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), 0 when the process is gone. */
unsigned long long pv_proc_start(int pid);
/* Writes (or rewrites) the state file atomically and names it in state_path; caller holds mu. */
int pv_state_write(mrun_preview *pv, mrun_err *err);
/* The peak memory of pid's memory cgroup (v2 memory.peak, v1 memory.max_usage_in_bytes); -1 unknown. */
int64_t pv_cgroup_peak(int pid);

#endif
