/* sandbox.h - run one command under namespaces, pivot_root, seccomp, cgroups and rlimits.
 *
 * The runner is the only library client; `mrun sandbox` is the CLI over the same calls. The sandbox knows
 * nothing of pipelines. Lifecycle: mrun_sandbox_opts_init -> add mounts/env -> mrun_sandbox_start ->
 * mrun_sandbox_wait (as often as needed) -> mrun_sandbox_free. One thread owns an mrun_sandbox at a time.
 * mrun_sandbox_start clones the child with raw clone3 and runs only async-signal-safe code in it, so it is
 * safe in a multi-threaded process (nng). The thread that started a sandbox should outlive it: the child
 * is killed when that thread exits (PR_SET_PDEATHSIG). */
#ifndef MRUN_SANDBOX_H
#define MRUN_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

/* Exit statuses of `mrun sandbox` beside the command's own (documented in docs/sandbox.md). */
#define MRUN_SANDBOX_EXIT_TIMEOUT 124  /* the wall-clock timeout killed the tree, as timeout(1) */
#define MRUN_SANDBOX_EXIT_SETUP 125    /* the sandbox could not be set up; nothing ran */
#define MRUN_SANDBOX_EXIT_NOEXEC 126   /* the command exists but could not be executed */
#define MRUN_SANDBOX_EXIT_NOTFOUND 127 /* the command was not found inside the sandbox */

#define MRUN_SANDBOX_MAX_MOUNTS 64
#define MRUN_SANDBOX_MAX_ENV 256

typedef enum { MRUN_NET_NONE = 0, MRUN_NET_LOOPBACK = 1 } mrun_sandbox_net;

typedef struct mrun_sandbox_mount {
    char *host;   /* absolute host path (owned) */
    char *path;   /* absolute path inside the sandbox (owned) */
    bool writable;
} mrun_sandbox_mount;

/* Plain data; mrun_sandbox_opts_init sets the safe defaults. Strings are owned by the struct and freed by
 * mrun_sandbox_opts_fini. A limit of 0 means "none" only where noted. */
typedef struct mrun_sandbox_opts {
    char *workspace;           /* host dir mounted at /workspace; NULL = a fresh empty one, discarded */
    mrun_sandbox_mount mounts[MRUN_SANDBOX_MAX_MOUNTS];
    unsigned n_mounts;
    char *env[MRUN_SANDBOX_MAX_ENV]; /* "NAME=VALUE", owned */
    unsigned n_env;
    int64_t mem_bytes;         /* default 512M */
    int64_t pids;              /* default 256 */
    int64_t cpu_milli;         /* CPUs in thousandths; 0 = no quota (default) */
    int64_t timeout_ms;        /* default 10m */
    int64_t disk_bytes;        /* what the job may add to /workspace; default 1G */
    int64_t tmpfs_bytes;       /* size of /tmp; default 256M */
    int64_t fsize_bytes;       /* RLIMIT_FSIZE; default = disk_bytes */
    int64_t nofile;            /* RLIMIT_NOFILE; default 1024 */
    int64_t output_limit;      /* bytes of stdout+stderr passed through; default 64M */
    mrun_sandbox_net net;      /* default MRUN_NET_NONE */
    const char *hostname;      /* default "sandbox" (not owned) */
} mrun_sandbox_opts;

typedef struct mrun_sandbox_result {
    int exit_code;             /* what `mrun sandbox` exits with: the command's, 128+N, or 124 */
    int signal;                /* the signal that killed the command, 0 if none (null in the JSON) */
    bool timed_out;
    bool oom_killed;
    int64_t wall_ms;
    int64_t cpu_ms;
    int64_t peak_memory_bytes; /* -1 when no memory cgroup was available */
    int64_t output_bytes;      /* bytes the command wrote to stdout and stderr, counted whole */
    bool output_truncated;
    unsigned unenforced;       /* MRUN_SANDBOX_LIMIT_* bits of limits that could not be applied */
} mrun_sandbox_result;

#define MRUN_SANDBOX_LIMIT_MEM (1u << 0)
#define MRUN_SANDBOX_LIMIT_PIDS (1u << 1)
#define MRUN_SANDBOX_LIMIT_CPU (1u << 2)

/* Where the command's output goes. The sandbox copies its stdout/stderr pipes to these fds, or to on_output when
 * it is set, counting and capping at output_limit. on_output runs on the thread calling mrun_sandbox_wait;
 * stream is 1 for stdout and 2 for stderr. stdin_fd is passed to the command as it is (-1: /dev/null). */
typedef struct mrun_sandbox_io {
    int stdin_fd;
    int stdout_fd;
    int stderr_fd;
    void (*on_output)(void *ctx, int stream, const char *data, size_t len);
    void *ctx;
} mrun_sandbox_io;

typedef struct mrun_sandbox mrun_sandbox;

void mrun_sandbox_opts_init(mrun_sandbox_opts *o);
void mrun_sandbox_opts_fini(mrun_sandbox_opts *o);
/* "HOSTPATH[:PATH]"; PATH defaults to HOSTPATH. Rejects relative or reserved targets (EINVAL). */
int mrun_sandbox_opts_add_mount(mrun_sandbox_opts *o, const char *spec, bool writable, mrun_err *err);
/* "NAME=VALUE"; a later NAME replaces an earlier one. */
int mrun_sandbox_opts_add_env(mrun_sandbox_opts *o, const char *kv, mrun_err *err);
/* Checks ranges and combinations; start() calls it too. */
int mrun_sandbox_opts_check(const mrun_sandbox_opts *o, mrun_err *err);

/* Starts argv[0] (looked up in the sandbox's PATH) and returns once it has been exec'd.
 * Fails with sys_errno ENOENT when the command was not found (status 127), ENOEXEC when it cannot be executed
 * (status 126; the message says why), and any other errno when the sandbox could not be set up (status 125).
 * Blocks for the setup only (milliseconds). */
int mrun_sandbox_start(const mrun_sandbox_opts *o, char *const argv[], const mrun_sandbox_io *io,
                       mrun_sandbox **ret_sb, mrun_err *err);

/* Pumps output and waits up to wait_ms (-1: until the end). Returns 1 when the sandbox is still
 * running, 0 when it has ended and *ret_res is filled, -1 on error. Enforces the timeout itself. */
int mrun_sandbox_wait(mrun_sandbox *sb, int wait_ms, mrun_sandbox_result *ret_res, mrun_err *err);

/* Sends sig to the command (SIGTERM, SIGINT are forwarded by the sandbox's init); SIGKILL kills the tree. */
int mrun_sandbox_kill(mrun_sandbox *sb, int sig, mrun_err *err);

/* A file descriptor that is readable while there is output to pump or the sandbox has ended,
 * for a caller's poll loop; owned by the sandbox. */
int mrun_sandbox_poll_fd(const mrun_sandbox *sb);

/* The sandbox's network namespace (an open fd owned by the sandbox), for relaying a TCP port into it
 * with setns from a helper thread; -1 when the sandbox has ended. */
int mrun_sandbox_netns_fd(const mrun_sandbox *sb);

/* MRUN_SANDBOX_LIMIT_* bits of the limits this sandbox runs without (no writable cgroup controller). */
unsigned mrun_sandbox_unenforced(const mrun_sandbox *sb);

/* Host pid of the sandbox's init. */
int mrun_sandbox_pid(const mrun_sandbox *sb);

/* Kills whatever still runs, merges nothing, removes the cgroup and the temporary workspace. NULL is fine. */
void mrun_sandbox_free(mrun_sandbox *sb);
void mrun_sandbox_freep(mrun_sandbox **sb);

/* Writes the result as one JSON object (exit_code, signal, timed_out, oom_killed, wall_ms, cpu_ms,
 * peak_memory_bytes, output_bytes, output_truncated) into buf. Returns the length, or -1 if it does not fit. */
int mrun_sandbox_result_json(const mrun_sandbox_result *r, char *buf, unsigned len);

#endif
