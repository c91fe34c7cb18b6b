/* spawn.c - the parent side of a sandbox: plans the child, clones it into new namespaces (and its cgroup),
 * writes its id maps, pumps its output under the cap, enforces the timeout, merges the workspace and collects
 * the result. The child side is child.c and rootfs.c. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/auto.h"
#include "sandbox_int.h"

/* As root, uid and gid 0 inside map to this unprivileged host id, never to host root (override with
 * MRUN_SANDBOX_UID / MRUN_SANDBOX_GID). It is the top 64K block of systemd's container range, which no
 * account uses. */
#define SB_DEFAULT_HOST_ID 1878982656u

#define SB_SETUP_TIMEOUT_MS 30000

/* Owned by the thread that started it. */
struct mrun_sandbox {
    pid_t pid;
    int pidfd;
    int sock;      /* to init */
    int out_r, err_r;
    int out_fd, err_fd; /* where output goes (borrowed) */
    void (*on_output)(void *ctx, int stream, const char *data, size_t len); /* instead of the fds, if set */
    void *out_ctx;
    int netns_fd;
    int64_t start_ms, deadline_ms;
    int64_t output_limit, output_bytes;
    bool truncated;
    bool done;     /* init sent SB_MSG_DONE */
    int status;    /* the job's wait status from SB_MSG_DONE */
    int upper_fd;  /* overlay upper dir to merge, from SB_MSG_DONE */
    bool timed_out, killed, exited, finished;
    struct rusage ru;
    sb_cgroup *cg;
    unsigned unenforced;
    int ws_dirfd;  /* host workspace, for the merge; -1 if none */
    uid_t ws_uid;
    gid_t ws_gid;
    bool rootful;
    mrun_sandbox_result res;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t env_id(const char *name, uint32_t dflt)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return dflt;
    char *end;
    errno = 0;
    unsigned long n = strtoul(v, &end, 10);
    if (errno || *end || n == 0 || n > 0xFFFFFFFEul)
        return dflt;
    return (uint32_t)n;
}

static int write_proc(pid_t pid, const char *file, const char *text, mrun_err *err)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    mrun_autoclose int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return mrun_err_set(err, errno, "open %s", path);
    ssize_t n = write(fd, text, strlen(text));
    if (n != (ssize_t)strlen(text))
        return mrun_err_set(err, n < 0 ? errno : EIO, "write %s", path);
    return 0;
}

/* Writes the single-id maps: 0 inside is host_uid/host_gid outside. Without root, setgroups must be denied
 * before an unprivileged gid_map is accepted. */
static int write_id_maps(pid_t pid, uid_t host_uid, gid_t host_gid, bool rootful, mrun_err *err)
{
    char map[64];
    snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)host_uid);
    if (write_proc(pid, "uid_map", map, err) < 0)
        return -1;
    if (!rootful && write_proc(pid, "setgroups", "deny", err) < 0)
        return -1;
    snprintf(map, sizeof(map), "0 %u 1\n", (unsigned)host_gid);
    return write_proc(pid, "gid_map", map, err);
}

/* A user namespace that maps from_uid/from_gid to host_uid/host_gid, for an idmapped mount of the workspace:
 * the files of the workspace's owner appear as the job's own, and what the job creates lands on disk as the
 * owner's. A throwaway child holds the namespace just long enough to open it. */
static int make_idmap_userns(uid_t from_uid, gid_t from_gid, uid_t host_uid, gid_t host_gid, mrun_err *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return mrun_err_set(err, errno, "pipe");
    pid_t h = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (h < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return mrun_err_set(err, e, "clone idmap helper");
    }
    if (h == 0) {
        char c;
        close(p[1]);
        ssize_t r = read(p[0], &c, 1); /* EOF when the parent is done with us */
        (void)r;
        _exit(0);
    }
    close(p[0]);
    int fd = -1;
    char map[64], path[64];
    snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)from_uid, (unsigned)host_uid);
    if (write_proc(h, "uid_map", map, err) == 0) {
        snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)from_gid, (unsigned)host_gid);
        if (write_proc(h, "gid_map", map, err) == 0) {
            snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)h);
            fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                mrun_err_set(err, errno, "open %s", path);
        }
    }
    close(p[1]);
    while (waitpid(h, NULL, 0) < 0 && errno == EINTR)
        ;
    return fd;
}

/* User namespaces for idmapped mounts, one per owner seen in this start; owned by the caller of
 * mrun_sandbox_start and closed when it returns. */
typedef struct idmaps {
    uid_t uid[8];
    gid_t gid[8];
    int fd[8];
    unsigned n;
} idmaps;

static void idmaps_close(idmaps *m)
{
    for (unsigned i = 0; i < m->n; i++)
        close(m->fd[i]);
    m->n = 0;
}

/* As root, a detached clone of the tree at fd (not its submounts), idmapped so that the files of its owner are
 * the job's and what the job creates lands on disk as that owner's; read-only unless writable. */
static int idmapped_tree(int fd, const char *what, bool writable, uid_t host_uid, gid_t host_gid, idmaps *maps,
                         mrun_err *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return mrun_err_set(err, errno, "%s", what);
    int userns = -1;
    for (unsigned i = 0; i < maps->n; i++)
        if (maps->uid[i] == st.st_uid && maps->gid[i] == st.st_gid)
            userns = maps->fd[i];
    if (userns < 0) {
        if (maps->n >= sizeof(maps->fd) / sizeof(maps->fd[0]))
            return mrun_err_setx(err, E2BIG, "%s: too many different owners among the mounts", what);
        userns = make_idmap_userns(st.st_uid, st.st_gid, host_uid, host_gid, err);
        if (userns < 0)
            return mrun_err_prefix(err, "%s", what);
        maps->uid[maps->n] = st.st_uid;
        maps->gid[maps->n] = st.st_gid;
        maps->fd[maps->n++] = userns;
    }
    mrun_autoclose int tree = open_tree(fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    if (tree < 0)
        return mrun_err_set(err, errno, "%s: clone mount", what);
    struct mount_attr attr = {0};
    attr.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (writable ? 0 : MOUNT_ATTR_RDONLY);
    attr.userns_fd = (uint64_t)userns;
    if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
        return mrun_err_set(err, errno, "%s: idmapped mount (does its filesystem support idmapping?)", what);
    return mrun_steal_fd(&tree);
}

/* Opens the host workspace (for the merge) and notes its owner. */
static int open_workspace(mrun_sandbox *sb, const char *dir, sb_plan *plan, mrun_err *err)
{
    sb->ws_dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sb->ws_dirfd < 0)
        return mrun_err_set(err, errno, "workspace '%s'", dir);
    struct stat st;
    if (fstat(sb->ws_dirfd, &st) < 0)
        return mrun_err_set(err, errno, "workspace '%s'", dir);
    sb->ws_uid = st.st_uid;
    sb->ws_gid = st.st_gid;
    if (snprintf(plan->ws_path, sizeof(plan->ws_path), "%s", dir) >= (int)sizeof(plan->ws_path))
        return mrun_err_setx(err, E2BIG, "workspace path too long");
    plan->has_ws = true;
    plan->ws_is_tree = sb->rootful;
    snprintf(plan->overlay_opts, sizeof(plan->overlay_opts),
             "lowerdir=/tmp/.mrun-ws/lower,upperdir=/tmp/.mrun-ws/up/upper,workdir=/tmp/.mrun-ws/up/work,userxattr");
    return 0;
}

/* As root, after the clone: the workspace as an idmapped mount, sent to the child. A root-owned workspace
 * (the runner's) is mapped with the sandbox's own user namespace (0 inside = the sandbox's host id), which
 * saves the ~1 ms helper process any other owner needs. */
static int send_workspace(mrun_sandbox *sb, uid_t host_uid, gid_t host_gid, idmaps *maps, mrun_err *err)
{
    if (sb->ws_uid == 0 && sb->ws_gid == 0 && maps->n < sizeof(maps->fd) / sizeof(maps->fd[0])) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)sb->pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return mrun_err_set(err, errno, "open %s", path);
        maps->uid[maps->n] = 0;
        maps->gid[maps->n] = 0;
        maps->fd[maps->n++] = fd;
    }
    mrun_autoclose int tree = idmapped_tree(sb->ws_dirfd, "workspace", true, host_uid, host_gid, maps, err);
    if (tree < 0)
        return -1;
    sb_msg m;
    memset(&m, 0, sizeof(m));
    m.type = SB_MSG_WS;
    m.nfds = 1;
    if (sb_send_msg(sb->sock, &m, &tree, 1) < 0)
        return mrun_err_set(err, errno, "send workspace to the sandbox");
    return 0;
}

/* v1 (or no cgroups): after the clone, while the child builds its root, create the cgroup and send the
 * child the fds to join it by. */
static int send_cgroup(mrun_sandbox *sb, bool detected, sb_cg_layout *layout, const char *name,
                       const sb_cg_limits *lim, mrun_err *err)
{
    if ((!detected && sb_cgroup_detect(layout, err) < 0) ||
        sb_cgroup_create(layout, name, lim, &sb->cg, &sb->unenforced, err) < 0)
        return mrun_err_prefix(err, "cgroup");
    sb_msg m;
    memset(&m, 0, sizeof(m));
    m.type = SB_MSG_CG;
    int fds[SB_MSG_MAX_FDS];
    m.nfds = (int)sb_cgroup_entry_fds(sb->cg, fds, SB_MSG_MAX_FDS);
    if (sb_send_msg(sb->sock, &m, fds, m.nfds) < 0)
        return mrun_err_set(err, errno, "send cgroup to the sandbox");
    return 0;
}

/* As root, the user's --ro/--rw binds become idmapped trees too, so the job can use them as their owner would.
 * Without root the child clones them itself. */
static int prepare_user_binds(sb_plan *p, uid_t host_uid, gid_t host_gid, idmaps *maps, mrun_err *err)
{
    for (unsigned i = p->n_system_binds; i < p->n_binds; i++) {
        sb_bind *b = &p->binds[i];
        mrun_autoclose int fd = open(b->src, O_PATH | O_CLOEXEC);
        if (fd < 0)
            return mrun_err_set(err, errno, "mount '%s'", b->src);
        char what[600];
        snprintf(what, sizeof(what), "mount '%s'", b->src);
        b->tree_fd = idmapped_tree(fd, what, b->writable, host_uid, host_gid, maps, err);
        if (b->tree_fd < 0)
            return -1;
    }
    return 0;
}

static void close_tree_fds(sb_plan *p)
{
    for (unsigned i = 0; i < p->n_binds; i++)
        if (p->binds[i].tree_fd >= 0) {
            close(p->binds[i].tree_fd);
            p->binds[i].tree_fd = -1;
        }
}

static void add_bind(sb_plan *p, const char *src, const char *dst, bool writable, bool is_file, bool optional)
{
    sb_bind *b = &p->binds[p->n_binds++];
    snprintf(b->src, sizeof(b->src), "%s", src);
    snprintf(b->dst, sizeof(b->dst), "%s", dst);
    b->writable = writable;
    b->is_file = is_file;
    b->optional = optional;
    b->tree_fd = -1;
}

/* The host's /bin, /sbin, /lib* are symlinks into /usr on merged-/usr systems (recreate them) or real
 * directories elsewhere (bind them read-only). */
static void plan_toplevel(sb_plan *p)
{
    static const char *const names[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char host[32], target[64];
        snprintf(host, sizeof(host), "/%s", names[i]);
        struct stat st;
        if (lstat(host, &st) < 0)
            continue;
        if (S_ISLNK(st.st_mode)) {
            ssize_t n = readlink(host, target, sizeof(target) - 1);
            if (n <= 0 || p->n_links >= sizeof(p->links) / sizeof(p->links[0]))
                continue;
            target[n] = '\0';
            snprintf(p->links[p->n_links].name, sizeof(p->links[0].name), "%s", names[i]);
            snprintf(p->links[p->n_links].target, sizeof(p->links[0].target), "%s", target);
            p->n_links++;
        } else if (S_ISDIR(st.st_mode)) {
            add_bind(p, host, host, false, false, true);
        }
    }
}

static int plan_env(const mrun_sandbox_opts *o, char **envp, size_t cap, char *term_buf, size_t term_len)
{
    size_t n = 0;
    static char path[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    static char home[] = "HOME=/workspace";
    static char lang[] = "LANG=C.UTF-8";
    char *base[4] = {path, home, lang, NULL};
    const char *term = getenv("TERM");
    if (term && strlen(term) < term_len - 6) {
        snprintf(term_buf, term_len, "TERM=%s", term);
        base[3] = term_buf;
    }
    for (size_t i = 0; i < 4; i++) {
        if (!base[i])
            continue;
        size_t nl = (size_t)(strchr(base[i], '=') - base[i]) + 1;
        bool overridden = false;
        for (unsigned j = 0; j < o->n_env; j++)
            if (strncmp(o->env[j], base[i], nl) == 0)
                overridden = true;
        if (!overridden)
            envp[n++] = base[i];
    }
    for (unsigned j = 0; j < o->n_env && n + 1 < cap; j++)
        envp[n++] = o->env[j];
    envp[n] = NULL;
    return 0;
}

static int64_t inodes_for(int64_t bytes)
{
    int64_t n = bytes / 2048;
    return n < 4096 ? 4096 : n;
}

static void build_plan(sb_plan *p, const mrun_sandbox_opts *o, const mrun_sandbox_io *io)
{
    add_bind(p, "/usr", "/usr", false, false, false);
    plan_toplevel(p);
    add_bind(p, "/etc/ld.so.cache", "/etc/ld.so.cache", false, true, true);
    add_bind(p, "/etc/ssl/certs", "/etc/ssl/certs", false, false, true);
    add_bind(p, "/etc/alternatives", "/etc/alternatives", false, false, true);
    add_bind(p, "/etc/localtime", "/etc/localtime", false, true, true);
    p->n_system_binds = p->n_binds;
    for (unsigned i = 0; i < o->n_mounts; i++) {
        struct stat st;
        bool is_file = stat(o->mounts[i].host, &st) == 0 && !S_ISDIR(st.st_mode);
        add_bind(p, o->mounts[i].host, o->mounts[i].path, o->mounts[i].writable, is_file, false);
    }
    snprintf(p->root_opts, sizeof(p->root_opts), "size=1m,nr_inodes=1024,mode=755");
    /* Inodes are bounded too (one per 2 KiB of size): empty files cost no blocks but do cost kernel memory. */
    snprintf(p->tmp_opts, sizeof(p->tmp_opts), "size=%" PRId64 ",nr_inodes=%" PRId64 ",mode=1777", o->tmpfs_bytes,
             inodes_for(o->tmpfs_bytes));
    snprintf(p->shm_opts, sizeof(p->shm_opts), "size=%" PRId64 ",nr_inodes=%" PRId64 ",mode=1777", o->tmpfs_bytes,
             inodes_for(o->tmpfs_bytes));
    snprintf(p->ws_opts, sizeof(p->ws_opts), "size=%" PRId64 ",nr_inodes=%" PRId64 ",mode=755", o->disk_bytes,
             inodes_for(o->disk_bytes));
    snprintf(p->passwd, sizeof(p->passwd),
             "root:x:0:0:mrun sandbox:/workspace:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
    snprintf(p->group, sizeof(p->group), "root:x:0:\nnogroup:x:65534:\n");
    snprintf(p->hostname, sizeof(p->hostname), "%s", o->hostname ? o->hostname : "sandbox");
    snprintf(p->hosts, sizeof(p->hosts), "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t%s\n",
             p->hostname);
    p->net_lo = true; /* both "none" and "loopback" have lo up and nothing else */
    p->fsize = o->fsize_bytes > 0 ? o->fsize_bytes : o->disk_bytes;
    p->nofile = o->nofile;
    p->stdin_fd = io->stdin_fd;
    p->cap_last = 63;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Receives one message from init; *ret_fd gets a passed descriptor or -1. Returns 0, or -1 on EOF/error. */
static int recv_msg(int sock, sb_msg *m, int *ret_fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct iovec iov = {.iov_base = m, .iov_len = sizeof(*m)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    *ret_fd = -1;
    ssize_t n;
    do
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(ret_fd, CMSG_DATA(c), sizeof(int));
    if (n != (ssize_t)sizeof(*m)) {
        close_fd(ret_fd);
        return -1;
    }
    m->step[sizeof(m->step) - 1] = '\0';
    m->detail[sizeof(m->detail) - 1] = '\0';
    return 0;
}

static void reap(mrun_sandbox *sb)
{
    if (sb->exited)
        return;
    int st;
    while (wait4(sb->pid, &st, 0, &sb->ru) < 0 && errno == EINTR)
        ;
    sb->exited = true;
}

static void force_kill(mrun_sandbox *sb)
{
    if (sb->pidfd >= 0 && !sb->exited)
        syscall(SYS_pidfd_send_signal, sb->pidfd, SIGKILL, NULL, 0);
    if (sb->cg)
        sb_cgroup_kill(sb->cg);
}

/* Waits for init's first report: the job was exec'd (0), setup failed (-1) or the exec did (-2; err filled). */
static int await_start(mrun_sandbox *sb, mrun_err *err)
{
    struct pollfd pf = {.fd = sb->sock, .events = POLLIN};
    int r;
    do
        r = poll(&pf, 1, SB_SETUP_TIMEOUT_MS);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return mrun_err_setx(err, ETIMEDOUT, "sandbox setup did not finish in %d s", SB_SETUP_TIMEOUT_MS / 1000);
    sb_msg m;
    int fd;
    if (recv_msg(sb->sock, &m, &fd) < 0)
        return mrun_err_setx(err, EPROTO, "sandbox init exited during setup");
    close_fd(&fd);
    if (m.type == SB_MSG_STARTED)
        return 0;
    if (m.type != SB_MSG_ERROR)
        return mrun_err_setx(err, EPROTO, "unexpected message %d from sandbox init", m.type);
    if (strcmp(m.step, "exec") == 0) {
        if (m.sys_errno == ENOENT)
            return mrun_err_setx(err, ENOENT, "%s: command not found", m.detail), -2;
        mrun_err_set(err, m.sys_errno ? m.sys_errno : EACCES, "cannot execute '%s'", m.detail);
        err->sys_errno = ENOEXEC; /* the message keeps the real cause */
        return -2;
    }
    if (m.detail[0])
        return mrun_err_set(err, m.sys_errno, "sandbox setup failed: %s '%s'", m.step, m.detail);
    return mrun_err_set(err, m.sys_errno, "sandbox setup failed: %s", m.step);
}

static int spawn_child(mrun_sandbox *sb, sb_plan *plan, int cg_fd, int child_sock, mrun_err *err)
{
    struct clone_args ca;
    memset(&ca, 0, sizeof(ca));
    int pidfd = -1;
    ca.flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_PIDFD;
    ca.pidfd = (uint64_t)(uintptr_t)&pidfd;
    ca.exit_signal = SIGCHLD;
    if (cg_fd >= 0) {
        ca.flags |= CLONE_INTO_CGROUP;
        ca.cgroup = (uint64_t)cg_fd;
    }
    long pid = syscall(SYS_clone3, &ca, sizeof(ca));
    if (pid < 0)
        return mrun_err_set(err, errno, "clone3 into new namespaces");
    if (pid == 0) {
        close(sb->sock);
        close(sb->out_r);
        close(sb->err_r);
        plan->sock_fd = child_sock;
        sb_child_main(plan);
    }
    sb->pid = (pid_t)pid;
    sb->pidfd = pidfd;
    return 0;
}

/* The parent<->init socket and the two output pipes; the child's ends are returned for the clone. */
static int make_channels(mrun_sandbox *sb, int *ret_child_sock, int *ret_out_w, int *ret_err_w, mrun_err *err)
{
    int sp[2], po[2], pe[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
        return mrun_err_set(err, errno, "socketpair");
    sb->sock = sp[0];
    *ret_child_sock = sp[1];
    if (pipe2(po, O_CLOEXEC) < 0)
        return mrun_err_set(err, errno, "pipe");
    sb->out_r = po[0];
    *ret_out_w = po[1];
    if (pipe2(pe, O_CLOEXEC) < 0)
        return mrun_err_set(err, errno, "pipe");
    sb->err_r = pe[0];
    *ret_err_w = pe[1];
    return 0;
}

/* "mrun-<pid>-" is what a later mrun's sweep keys on; thread id and time keep concurrent starts apart. */
static void cgroup_name(char *buf, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(buf, len, "mrun-%d-%d-%llx", (int)getpid(), (int)gettid(),
             (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec);
}

/* The id maps are written: let init go, and keep its network namespace for a later port relay. */
static int send_go(mrun_sandbox *sb, mrun_err *err)
{
    char nspath[64];
    snprintf(nspath, sizeof(nspath), "/proc/%d/ns/net", (int)sb->pid);
    sb->netns_fd = open(nspath, O_RDONLY | O_CLOEXEC);
    sb_msg go;
    memset(&go, 0, sizeof(go));
    go.type = SB_MSG_GO;
    if (sb_send_msg(sb->sock, &go, NULL, 0) < 0)
        return mrun_err_set(err, errno, "start init");
    return 0;
}

int mrun_sandbox_start(const mrun_sandbox_opts *o, char *const argv[], const mrun_sandbox_io *io,
                       mrun_sandbox **ret_sb, mrun_err *err)
{
    if (mrun_sandbox_opts_check(o, err) < 0)
        return -1;
    if (!argv || !argv[0] || !argv[0][0])
        return mrun_err_setx(err, EINVAL, "no command given");
    mrun_cleanup(mrun_sandbox_freep) mrun_sandbox *sb = calloc(1, sizeof(*sb));
    mrun_autofree sb_plan *plan = calloc(1, sizeof(*plan));
    mrun_autofree char **envp = calloc(MRUN_SANDBOX_MAX_ENV + 8, sizeof(char *));
    if (!sb || !plan || !envp)
        return mrun_err_set(err, ENOMEM, "sandbox");
    sb->pid = -1;
    sb->pidfd = sb->sock = sb->out_r = sb->err_r = sb->netns_fd = sb->upper_fd = sb->ws_dirfd = -1;
    sb->out_fd = io->stdout_fd;
    sb->err_fd = io->stderr_fd;
    sb->on_output = io->on_output;
    sb->out_ctx = io->ctx;
    sb->output_limit = o->output_limit;
    sb->start_ms = now_ms();
    sb->deadline_ms = sb->start_ms + o->timeout_ms;
    sb->rootful = geteuid() == 0;
    uid_t host_uid = sb->rootful ? env_id("MRUN_SANDBOX_UID", SB_DEFAULT_HOST_ID) : geteuid();
    gid_t host_gid = sb->rootful ? env_id("MRUN_SANDBOX_GID", SB_DEFAULT_HOST_ID) : getegid();

    build_plan(plan, o, io);
    char term[256];
    plan_env(o, envp, MRUN_SANDBOX_MAX_ENV + 8, term, sizeof(term));
    plan->argv = argv;
    plan->envp = envp;
    /* Built at compile time (gen_seccomp); the child only reads it. */
    plan->seccomp.len = sb_seccomp_bpf_len;
    plan->seccomp.filter = (struct sock_filter *)sb_seccomp_bpf;

    int rc = -1;
    bool exec_failed = false;
    idmaps maps = {.n = 0};
    mrun_autoclose int child_sock = -1, out_w = -1, err_w = -1;
    if (make_channels(sb, &child_sock, &out_w, &err_w, err) < 0)
        goto out;
    plan->stdout_fd = out_w;
    plan->stderr_fd = err_w;
    if (sb->rootful && prepare_user_binds(plan, host_uid, host_gid, &maps, err) < 0)
        goto out;
    if (o->workspace && open_workspace(sb, o->workspace, plan, err) < 0)
        goto out;

    sb_cg_layout layout;
    memset(&layout, 0, sizeof(layout));
    sb_cg_limits lim = {.mem_bytes = o->mem_bytes, .pids = o->pids, .cpu_milli = o->cpu_milli};
    char cg_name[64];
    cgroup_name(cg_name, sizeof(cg_name));
    /* A pure v2 host: the cgroup is made first and cloned into (CLONE_INTO_CGROUP). Otherwise (v1, hybrid, none)
     * detection and creation wait until after the clone, while the child builds its root on the other CPU. */
    struct statfs sf;
    bool early = (statfs("/sys/fs/cgroup", &sf) == 0 && sf.f_type == CGROUP2_SUPER_MAGIC) || getenv("MRUN_CGROUP_ROOT");
    if (early && sb_cgroup_detect(&layout, err) < 0) {
        mrun_err_prefix(err, "cgroup");
        goto out;
    }
    plan->cg_by_msg = !early || layout.version != SB_CG_V2;
    if (!plan->cg_by_msg && sb_cgroup_create(&layout, cg_name, &lim, &sb->cg, &sb->unenforced, err) < 0) {
        mrun_err_prefix(err, "cgroup");
        goto out;
    }
    /* Where the pids controller may be missing, the per-user process limit stands in for it. */
    if ((sb->unenforced & MRUN_SANDBOX_LIMIT_PIDS) || (plan->cg_by_msg && !sb->rootful))
        plan->nproc = o->pids;

    if (spawn_child(sb, plan, sb_cgroup_fd(sb->cg), child_sock, err) < 0)
        goto out;
    close_fd(&child_sock);
    close_fd(&out_w);
    close_fd(&err_w);
    close_tree_fds(plan);
    if (write_id_maps(sb->pid, host_uid, host_gid, sb->rootful, err) < 0 || send_go(sb, err) < 0 ||
        (plan->ws_is_tree && send_workspace(sb, host_uid, host_gid, &maps, err) < 0) ||
        (plan->cg_by_msg && send_cgroup(sb, early, &layout, cg_name, &lim, err) < 0)) {
        mrun_err_prefix(err, "sandbox setup failed");
        goto out;
    }
    /* While the child builds its root on the other CPU: clear what SIGKILLed mruns left behind. */
    sb_cgroup_sweep(&layout);
    int started = await_start(sb, err);
    if (started < 0) {
        exec_failed = started == -2;
        goto out;
    }
    *ret_sb = mrun_steal_ptr(&sb);
    rc = 0;
out:
    /* ENOENT and ENOEXEC are reserved for the command itself (statuses 127 and 126); the message keeps the
     * cause of a setup failure. */
    if (rc < 0 && !exec_failed && (err->sys_errno == ENOENT || err->sys_errno == ENOEXEC))
        err->sys_errno = EINVAL;
    close_tree_fds(plan);
    idmaps_close(&maps);
    return rc; /* on failure the cleanup of sb kills and reaps the child and removes the cgroup */
}

/* Copies what is readable on fd to dst within the output cap. Returns 0 at EOF, 1 if more may come. */
static int pump(mrun_sandbox *sb, int *fd, int dst)
{
    char buf[65536];
    ssize_t n = read(*fd, buf, sizeof(buf));
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 1 : (close_fd(fd), 0);
    if (n == 0) {
        close_fd(fd);
        return 0;
    }
    int64_t room = sb->output_limit - sb->output_bytes;
    sb->output_bytes += n;
    if (room <= 0) {
        sb->truncated = true;
        return 1;
    }
    size_t w = (size_t)(n < room ? n : room);
    if ((int64_t)n > room)
        sb->truncated = true;
    if (sb->on_output) {
        sb->on_output(sb->out_ctx, fd == &sb->out_r ? 1 : 2, buf, w);
        return 1;
    }
    for (size_t off = 0; off < w && dst >= 0;) {
        ssize_t k = write(dst, buf + off, w - off);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            break; /* a closed reader is the caller's business; keep draining the job */
        }
        off += (size_t)k;
    }
    return 1;
}

static void finish(mrun_sandbox *sb)
{
    mrun_sandbox_result *r = &sb->res;
    memset(r, 0, sizeof(*r));
    r->wall_ms = now_ms() - sb->start_ms;
    sb_cg_stats st = {.peak_memory_bytes = -1, .cpu_usage_ms = -1};
    if (sb->cg)
        sb_cgroup_stats_read(sb->cg, &st);
    r->peak_memory_bytes = st.peak_memory_bytes;
    r->oom_killed = st.oom_killed;
    int64_t ru_ms = (int64_t)(sb->ru.ru_utime.tv_sec + sb->ru.ru_stime.tv_sec) * 1000 +
                    (sb->ru.ru_utime.tv_usec + sb->ru.ru_stime.tv_usec) / 1000;
    r->cpu_ms = st.cpu_usage_ms >= 0 ? st.cpu_usage_ms : ru_ms;
    r->output_bytes = sb->output_bytes;
    r->output_truncated = sb->truncated;
    r->unenforced = sb->unenforced;
    if (sb->timed_out) {
        r->timed_out = true;
        r->exit_code = MRUN_SANDBOX_EXIT_TIMEOUT;
    } else if (sb->done && WIFEXITED(sb->status)) {
        r->exit_code = WEXITSTATUS(sb->status);
    } else if (sb->done && WIFSIGNALED(sb->status)) {
        r->signal = WTERMSIG(sb->status);
        r->exit_code = 128 + r->signal;
    } else {
        r->signal = SIGKILL; /* init itself was killed: by us, the OOM killer or the host */
        r->exit_code = 128 + SIGKILL;
    }
    sb->finished = true;
}

/* Applies the job's workspace changes; a failed merge is reported and the job's status stands. */
static int merge(mrun_sandbox *sb, mrun_err *err)
{
    if (sb->upper_fd < 0 || sb->ws_dirfd < 0)
        return 0;
    uid_t u = sb->rootful ? sb->ws_uid : (uid_t)-1;
    gid_t g = sb->rootful ? sb->ws_gid : (gid_t)-1;
    int r = sb_merge_upper(sb->upper_fd, sb->ws_dirfd, u, g, err);
    close_fd(&sb->upper_fd);
    return r < 0 ? mrun_err_prefix(err, "merge workspace") : 0;
}

int mrun_sandbox_wait(mrun_sandbox *sb, int wait_ms, mrun_sandbox_result *ret_res, mrun_err *err)
{
    int64_t until = wait_ms < 0 ? INT64_MAX : now_ms() + wait_ms;
    while (!sb->finished) {
        if (sb->exited && sb->out_r < 0 && sb->err_r < 0) {
            int mr = merge(sb, err);
            finish(sb);
            if (mr < 0)
                return -1;
            break;
        }
        int64_t now = now_ms();
        if (!sb->exited && !sb->timed_out && now >= sb->deadline_ms) {
            sb->timed_out = true;
            force_kill(sb);
        }
        int64_t t = until - now;
        if (!sb->timed_out && !sb->exited && sb->deadline_ms - now < t)
            t = sb->deadline_ms - now;
        if (t <= 0 && wait_ms >= 0 && now >= until)
            return 1;
        struct pollfd pf[4] = {{.fd = sb->out_r, .events = POLLIN},
                               {.fd = sb->err_r, .events = POLLIN},
                               {.fd = sb->exited ? -1 : sb->sock, .events = POLLIN},
                               {.fd = sb->exited ? -1 : sb->pidfd, .events = POLLIN}};
        int timeout = t > 1000000 ? 1000000 : (int)(t < 0 ? 0 : t);
        if (sb->exited)
            timeout = 1000; /* only pipes left: whoever held them is dead, EOF is imminent */
        int n = poll(pf, 4, timeout);
        if (n < 0) {
            if (errno == EINTR)
                return 1;
            return mrun_err_set(err, errno, "poll");
        }
        if (n == 0 && sb->exited) {
            close_fd(&sb->out_r); /* defensive: nothing can write any more */
            close_fd(&sb->err_r);
        }
        if (pf[0].revents)
            pump(sb, &sb->out_r, sb->out_fd);
        if (pf[1].revents)
            pump(sb, &sb->err_r, sb->err_fd);
        if (pf[2].revents) {
            sb_msg m;
            int fd;
            if (recv_msg(sb->sock, &m, &fd) == 0 && m.type == SB_MSG_DONE) {
                sb->done = true;
                sb->status = m.status;
                close_fd(&sb->upper_fd);
                sb->upper_fd = fd;
            } else {
                close_fd(&fd);
                close_fd(&sb->sock);
            }
        }
        if (pf[3].revents)
            reap(sb);
    }
    if (ret_res)
        *ret_res = sb->res;
    return 0;
}

int mrun_sandbox_kill(mrun_sandbox *sb, int sig, mrun_err *err)
{
    if (sb->exited)
        return 0;
    if (sig == SIGKILL) {
        sb->killed = true;
        force_kill(sb);
        return 0;
    }
    if (syscall(SYS_pidfd_send_signal, sb->pidfd, sig, NULL, 0) < 0 && errno != ESRCH)
        return mrun_err_set(err, errno, "signal sandbox");
    return 0;
}

int mrun_sandbox_poll_fd(const mrun_sandbox *sb)
{
    return sb->pidfd;
}

int mrun_sandbox_netns_fd(const mrun_sandbox *sb)
{
    return sb->exited ? -1 : sb->netns_fd;
}

unsigned mrun_sandbox_unenforced(const mrun_sandbox *sb)
{
    return sb->unenforced;
}

int mrun_sandbox_pid(const mrun_sandbox *sb)
{
    return sb->pid;
}

void mrun_sandbox_free(mrun_sandbox *sb)
{
    if (!sb)
        return;
    if (sb->pid > 0 && !sb->exited) {
        force_kill(sb);
        reap(sb);
    }
    close_fd(&sb->pidfd);
    close_fd(&sb->sock);
    close_fd(&sb->out_r);
    close_fd(&sb->err_r);
    close_fd(&sb->netns_fd);
    close_fd(&sb->upper_fd);
    close_fd(&sb->ws_dirfd);
    sb_cgroup_destroy(sb->cg);
    free(sb);
}

void mrun_sandbox_freep(mrun_sandbox **sb)
{
    mrun_sandbox_free(*sb);
    *sb = NULL;
}
