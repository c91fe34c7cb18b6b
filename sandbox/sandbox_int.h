/* sandbox_int.h - private to sandbox/: the parts spawn.c puts together.
 * Never on another target's include path. */
#ifndef MRUN_SANDBOX_INT_H
#define MRUN_SANDBOX_INT_H

#include <linux/filter.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/err.h"
#include "sandbox.h"

/* ---- seccomp.c: the allow-list, compiled once with libseccomp into classic BPF ---------------------------- */

/* One row of the policy table: a syscall the job may make. Rules with argument conditions
 * (socket families, clone flags, ioctl requests) are built in code beside the table. */
typedef struct sb_syscall_rule {
    const char *name;
    const char *why; /* one line, shown by `mrun sandbox --print-policy` and in docs/sandbox.md */
} sb_syscall_rule;

/* The allow-list table and its length. */
const sb_syscall_rule *sb_seccomp_allowed(unsigned *ret_n);

/* Builds the filter: allow-listed syscalls pass, everything else fails with EPERM; a foreign
 * architecture (i386, x32) is killed. *ret_prog->filter is malloc'd; release with sb_seccomp_release.
 * Thread-safe; does not load the filter. */
int sb_seccomp_build(struct sock_fprog *ret_prog, mrun_err *err);
void sb_seccomp_release(struct sock_fprog *prog);

/* The same program, compiled at build time by gen_seccomp (seccomp_bpf.c in the build tree). */
extern const struct sock_filter sb_seccomp_bpf[];
extern const unsigned short sb_seccomp_bpf_len;

/* ---- cgroup.c: limits and accounting through cgroup v2, or v1 (memory, pids, cpu) ----------------------- */

typedef enum { SB_CG_NONE = 0, SB_CG_V1 = 1, SB_CG_V2 = 2 } sb_cg_version;

/* What the host offers, as read from /proc/self/mountinfo and /proc/self/cgroup. Paths are absolute
 * directories where this process may create child cgroups for the controller ("" when unavailable). */
typedef struct sb_cg_layout {
    sb_cg_version version;
    char v2_base[512];     /* v2: the directory under which sandboxes' cgroups are made */
    char v1_memory[512];   /* v1: per controller; "" when absent */
    char v1_pids[512];
    char v1_cpu[512];
    char v1_cpuacct[512];  /* accounting only (cpuacct.usage); equal to v1_cpu when mounted as "cpu,cpuacct" */
} sb_cg_layout;

/* Pure: derives the layout from the text of mountinfo and /proc/self/cgroup. A v2 mount with no
 * usable controllers (e.g. the empty /sys/fs/cgroup/unified of a hybrid host) does not count as v2. The
 * v2 controllers file text is passed in as v2_controllers (NULL when unreadable). */
int sb_cgroup_parse_layout(const char *mountinfo, const char *self_cgroup, const char *v2_controllers,
                           sb_cg_layout *ret_layout, mrun_err *err);

/* Reads the real files and calls sb_cgroup_parse_layout. MRUN_CGROUP_ROOT in the environment overrides
 * the base directory (v2) for delegated setups. On v2 it also enables memory, pids and cpu in the base's
 * cgroup.subtree_control when they are off; if the base is this process's own cgroup and holds processes,
 * this process first moves itself (all threads) into the leaf <base>/mrun-supervisor. */
int sb_cgroup_detect(sb_cg_layout *ret_layout, mrun_err *err);

typedef struct sb_cgroup sb_cgroup;

typedef struct sb_cg_limits {
    int64_t mem_bytes; /* 0 = none */
    int64_t pids;      /* 0 = none */
    int64_t cpu_milli; /* 0 = none; quota = cpu_milli * period / 1000 */
} sb_cg_limits;

typedef struct sb_cg_stats {
    int64_t peak_memory_bytes; /* -1 unknown */
    int64_t cpu_usage_ms;      /* -1 unknown */
    bool oom_killed;
} sb_cg_stats;

/* Creates one cgroup named name (unique per sandbox) in each available hierarchy and writes the limits.
 * Sets *ret_unenforced to the MRUN_SANDBOX_LIMIT_* bits it could not apply (missing controller, no
 * permission as an ordinary user). Fails only on an unexpected error; with no cgroups at all it returns a
 * cgroup object that enforces nothing. */
int sb_cgroup_create(const sb_cg_layout *layout, const char *name, const sb_cg_limits *lim, sb_cgroup **ret_cg,
                     unsigned *ret_unenforced, mrun_err *err);

/* v2: an O_DIRECTORY fd of the cgroup for clone3(CLONE_INTO_CGROUP); -1 on v1 or without cgroups. */
int sb_cgroup_fd(const sb_cgroup *cg);

/* Moves pid into the cgroup in every hierarchy (v1; v2 when CLONE_INTO_CGROUP was not used). Slow when
 * cgroups are idle: a move by pid takes the kernel's global threadgroup lock, whose write side waits for an
 * RCU grace period (5-45 ms measured on v1). The sandbox does not use it: its child joins by writing "0" to the
 * fds of sb_cgroup_entry_fds, which the kernel does without that lock (about 0.04 ms). Kept for tests and tools. */
int sb_cgroup_attach(sb_cgroup *cg, pid_t pid, mrun_err *err);

/* The fds (v1 "tasks", v2 "cgroup.procs") through which a process joins the cgroup by writing "0"; at most
 * max. Borrowed: they stay owned by cg. */
unsigned sb_cgroup_entry_fds(const sb_cgroup *cg, int *fds, unsigned max);

/* Accounting after (or during) the run. */
void sb_cgroup_stats_read(const sb_cgroup *cg, sb_cg_stats *ret_stats);

/* Kills every process in the cgroup (v2 cgroup.kill; v1 by reading cgroup.procs repeatedly). */
void sb_cgroup_kill(sb_cgroup *cg);

/* Removes the "mrun-<pid>-..." cgroups of mruns that are gone (killed with SIGKILL, they could not clean up).
 * rmdir refuses a cgroup that still holds a process, so a live sandbox is never hurt. */
void sb_cgroup_sweep(const sb_cg_layout *layout);

/* Removes the cgroup directories (retrying briefly while the kernel empties them) and frees cg. NULL is fine. */
void sb_cgroup_destroy(sb_cgroup *cg);

/* ---- merge.c: copies what the job wrote (an overlay upper dir) back into the host workspace ------------- */

/* Applies the overlay upper directory upper_fd onto the workspace dir_fd: new and changed files are copied,
 * whiteouts delete, opaque directories replace. Never follows a symlink on either side. Files it creates
 * are chowned to owner_uid/owner_gid when those are not -1. */
int sb_merge_upper(int upper_fd, int dir_fd, uid_t owner_uid, gid_t owner_gid, mrun_err *err);

/* ---- the plan: everything the clone child needs, computed by the parent before clone ---------------------
 * The child runs only async-signal-safe code (no malloc, no stdio, no locks: a multi-threaded parent may have
 * held any of them at clone time), so every path, option string and array is prepared here. The plan lives in
 * the parent's memory and the child sees its copy; it is never shared or written after clone. */

#define SB_MAX_BINDS (MRUN_SANDBOX_MAX_MOUNTS + 16)

typedef struct sb_bind {
    char src[512];  /* host path */
    char dst[512];  /* path inside, absolute */
    bool writable;
    bool is_file;   /* the mountpoint is a file, not a directory */
    bool optional;  /* skip silently when the host lacks src */
    int tree_fd;    /* >= 0: the parent prepared the (idmapped) mount; src is only for messages */
} sb_bind;

typedef struct sb_link {
    char name[32];   /* top-level name in the new root ("bin") */
    char target[64]; /* what it points to ("usr/bin") */
} sb_link;

typedef struct sb_plan {
    sb_bind binds[SB_MAX_BINDS];
    unsigned n_binds;
    unsigned n_system_binds; /* binds[0..n_system_binds) go in before /tmp and /workspace, the user's after */
    sb_link links[8];
    unsigned n_links;
    char root_opts[64];  /* tmpfs options of the new root */
    char tmp_opts[64];   /* of /tmp */
    char shm_opts[64];   /* of /dev/shm */
    char ws_opts[64];    /* of the workspace tmpfs (no host workspace) or of the overlay upper tmpfs */
    char overlay_opts[512]; /* lowerdir=...,upperdir=...,workdir=...,userxattr; "" without host workspace */
    bool has_ws;         /* a host workspace is overlaid at /workspace */
    bool ws_is_tree;     /* as root: its idmapped mount arrives as SB_MSG_WS; else the child clones ws_path */
    char ws_path[512];   /* host workspace path */
    bool cg_by_msg;      /* the child joins its cgroup through the fds of SB_MSG_CG (v1, or none at all) */
    char passwd[256], group[256], hosts[256];
    char hostname[64];
    bool net_lo;         /* bring lo up */
    /* the job */
    char *const *argv;
    char *const *envp;
    struct sock_fprog seccomp;
    int64_t fsize, nofile, nproc; /* rlimits; nproc 0 = leave */
    int stdin_fd, stdout_fd, stderr_fd; /* fds in the child to become 0, 1, 2 (-1 stdin: /dev/null) */
    int sock_fd;         /* SOCK_SEQPACKET to the parent */
    int cap_last;        /* highest capability number of this kernel */
} sb_plan;

/* Messages on the parent<->init socket. */
/* Order: parent sends GO (id maps written), then WS when plan->ws_is_tree, then CG when plan->cg_by_msg; init
 * answers STARTED or ERROR, and finally DONE. WS and CG carry their fds as SCM_RIGHTS and are sent while the
 * child already builds its root, so the parent's work on them costs no wall time. */
enum { SB_MSG_GO = 1, SB_MSG_ERROR = 2, SB_MSG_STARTED = 3, SB_MSG_DONE = 4, SB_MSG_WS = 5, SB_MSG_CG = 6 };
#define SB_MSG_MAX_FDS 4

typedef struct sb_msg {
    int type;
    int sys_errno;   /* SB_MSG_ERROR */
    int status;      /* SB_MSG_DONE: the job's wait status */
    int merge_fd;    /* SB_MSG_DONE: 1 when an upper-dir fd rides along (SCM_RIGHTS) */
    int nfds;        /* SB_MSG_WS, SB_MSG_CG: how many fds ride along */
    char step[48];   /* SB_MSG_ERROR: what failed ("mount /proc") */
    char detail[160];
} sb_msg;

/* child.c: sends m with nfds (<= SB_MSG_MAX_FDS) fds as SCM_RIGHTS; async-signal-safe, used on both sides. */
int sb_send_msg(int sock, const sb_msg *m, const int *fds, int nfds);

/* child.c: the sandbox's init; never returns. Async-signal-safe only. */
__attribute__((noreturn)) void sb_child_main(const sb_plan *plan);

/* rootfs.c: builds the new root and pivots into it (called by the child). Returns 0, or -1 with *step and
 * errno describing the failure. ws_tree is the workspace's idmapped mount (root) or -1. upper_fd is set to the
 * overlay upper dir fd when a host workspace is used. */
int sb_rootfs_setup(const sb_plan *plan, int ws_tree, const char **ret_step, const char **ret_detail,
                    int *ret_upper_fd);

/* rootfs.c: brings up lo in the current network namespace. */
int sb_net_lo_up(void);

#endif
