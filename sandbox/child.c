/* child.c - the clone child: it becomes the sandbox's pid 1 (a tiny init), builds the root, starts the job and
 * reports to the parent over a SOCK_SEQPACKET socket. Async-signal-safe code only: the parent may be
 * multi-threaded (nng), so malloc, stdio and locks are off limits here (see sandbox_int.h). */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <linux/securebits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox_int.h"

static void copy_str(char *dst, size_t n, const char *src)
{
    size_t l = strlen(src);
    if (l >= n)
        l = n - 1;
    memcpy(dst, src, l);
    dst[l] = '\0';
}

int sb_send_msg(int sock, const sb_msg *m, const int *fds, int nfds)
{
    struct iovec iov = {.iov_base = (void *)m, .iov_len = sizeof(*m)};
    union {
        char buf[CMSG_SPACE(sizeof(int) * SB_MSG_MAX_FDS)];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        memset(&u, 0, sizeof(u));
        mh.msg_control = u.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t n;
    do
        n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof(*m) ? 0 : -1;
}

static void send_msg(int fd, const sb_msg *m, int pass_fd)
{
    sb_send_msg(fd, m, &pass_fd, pass_fd >= 0 ? 1 : 0);
}

static void send_error(int fd, const char *step, const char *detail, int err)
{
    sb_msg m;
    memset(&m, 0, sizeof(m));
    m.type = SB_MSG_ERROR;
    m.sys_errno = err;
    copy_str(m.step, sizeof(m.step), step);
    copy_str(m.detail, sizeof(m.detail), detail ? detail : "");
    send_msg(fd, &m, -1);
}

__attribute__((noreturn)) static void fail(int fd, const char *step, const char *detail)
{
    send_error(fd, step, detail, errno);
    _exit(MRUN_SANDBOX_EXIT_SETUP);
}

/* Receives a message of the given type and its fds (at most *nfds; *nfds is set to how many came). */
static int recv_fds(int sock, int type, int *fds, int *nfds)
{
    sb_msg m;
    union {
        char buf[CMSG_SPACE(sizeof(int) * SB_MSG_MAX_FDS)];
        struct cmsghdr align;
    } u;
    struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    ssize_t n;
    do
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    int got = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < k && got < *nfds; i++)
            memcpy(&fds[got++], CMSG_DATA(c) + (size_t)i * sizeof(int), sizeof(int));
    }
    *nfds = got;
    if (n != (ssize_t)sizeof(m) || m.type != type || m.nfds != got) {
        errno = EPROTO;
        return -1;
    }
    return 0;
}

/* fork() without glibc's atfork handlers, which may take locks a parent thread held at clone time. */
static pid_t raw_fork(void)
{
    return (pid_t)syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
}

/* Drops every capability from every set, bounding and ambient included, and locks root out of regaining
 * them on exec (SECBIT_NOROOT): the job is uid 0 in its namespace but holds nothing. */
static int drop_caps(int cap_last)
{
    if (prctl(PR_SET_SECUREBITS, SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_SETUID_FIXUP | SECBIT_NO_SETUID_FIXUP_LOCKED |
                                     SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
                                     SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED) < 0)
        return -1;
    for (int c = 0; c <= cap_last; c++)
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
            return -1;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
        return -1;
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    return (int)syscall(SYS_capset, &hdr, data);
}

static int set_rlimit(int res, int64_t v)
{
    struct rlimit rl = {.rlim_cur = (rlim_t)v, .rlim_max = (rlim_t)v};
    return setrlimit(res, &rl);
}

/* execvp with the sandbox's fixed PATH, without allocating. Returns the most telling errno. */
static int exec_path(char *const argv[], char *const envp[])
{
    static const char *const dirs[] = {"/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin", "/sbin"};
    const char *file = argv[0];
    if (strchr(file, '/')) {
        execve(file, argv, envp);
        return errno;
    }
    int best = ENOENT;
    char path[4096];
    size_t fl = strlen(file);
    for (unsigned i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        size_t dl = strlen(dirs[i]);
        if (dl + 1 + fl + 1 > sizeof(path))
            return ENAMETOOLONG;
        memcpy(path, dirs[i], dl);
        path[dl] = '/';
        memcpy(path + dl + 1, file, fl + 1);
        execve(path, argv, envp);
        if (errno != ENOENT && errno != ENOTDIR)
            best = errno; /* found but not runnable: keep looking, report this if nothing runs */
    }
    return best;
}

/* The job: a new session, clean fds and signals, rlimits, no capabilities, no_new_privs, seccomp, exec. */
__attribute__((noreturn)) static void job_main(const sb_plan *plan, int report_fd)
{
    const char *step = "setsid";
    if (setsid() < 0)
        goto fail;
    step = "set up stdio";
    int in = plan->stdin_fd >= 0 ? plan->stdin_fd : open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (in < 0 || dup2(in, 0) < 0 || dup2(plan->stdout_fd, 1) < 0 || dup2(plan->stderr_fd, 2) < 0)
        goto fail;
    /* Nothing but 0, 1, 2 survives exec; the report fd is O_CLOEXEC and closes itself on success. */
    step = "close fds";
    if (report_fd > 3 && close_range(3, (unsigned)report_fd - 1, 0) < 0)
        goto fail;
    if (close_range((unsigned)report_fd + 1, ~0U, 0) < 0)
        goto fail;
    step = "set rlimits";
    if (set_rlimit(RLIMIT_CORE, 0) < 0 || set_rlimit(RLIMIT_FSIZE, plan->fsize) < 0 ||
        set_rlimit(RLIMIT_NOFILE, plan->nofile) < 0 || (plan->nproc > 0 && set_rlimit(RLIMIT_NPROC, plan->nproc) < 0))
        goto fail;
    step = "chdir /workspace";
    if (chdir("/workspace") < 0)
        goto fail;
    step = "reset signals";
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        sigaction(s, &sa, NULL); /* EINVAL for SIGKILL, SIGSTOP and glibc-internal signals is fine */
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
        goto fail;
    step = "drop capabilities";
    if (drop_caps(plan->cap_last) < 0)
        goto fail;
    step = "set no_new_privs";
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        goto fail;
    step = "load seccomp filter";
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &plan->seccomp) < 0)
        goto fail;
    int e = exec_path(plan->argv, plan->envp);
    sb_msg m;
    memset(&m, 0, sizeof(m));
    m.type = SB_MSG_ERROR;
    m.sys_errno = e;
    copy_str(m.step, sizeof(m.step), "exec");
    copy_str(m.detail, sizeof(m.detail), plan->argv[0]);
    ssize_t w = write(report_fd, &m, sizeof(m));
    (void)w;
    _exit(e == ENOENT ? MRUN_SANDBOX_EXIT_NOTFOUND : MRUN_SANDBOX_EXIT_NOEXEC);
fail:;
    sb_msg f;
    memset(&f, 0, sizeof(f));
    f.type = SB_MSG_ERROR;
    f.sys_errno = errno;
    copy_str(f.step, sizeof(f.step), step);
    ssize_t w2 = write(report_fd, &f, sizeof(f));
    (void)w2;
    _exit(MRUN_SANDBOX_EXIT_SETUP);
}

/* Closes every fd except those in keep (-1 entries ignored). */
static void close_except(int *keep, int n)
{
    for (int i = 0; i < n; i++) /* sort: tiny insertion sort */
        for (int j = i; j > 0 && keep[j] < keep[j - 1]; j--) {
            int t = keep[j];
            keep[j] = keep[j - 1];
            keep[j - 1] = t;
        }
    unsigned from = 0;
    for (int i = 0; i < n; i++) {
        if (keep[i] < 0)
            continue;
        if ((unsigned)keep[i] > from)
            close_range(from, (unsigned)keep[i] - 1, 0);
        from = (unsigned)keep[i] + 1;
    }
    close_range(from, ~0U, 0);
}

/* pid 1: reaps everything, forwards SIGTERM/SIGINT/SIGHUP sent from outside to the job, and when the job exits
 * kills whatever it left behind, reports the job's wait status and hands the overlay upper dir to the parent. */
__attribute__((noreturn)) static void init_loop(const sb_plan *plan, pid_t job, int upper_fd)
{
    int sock = plan->sock_fd;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    int job_status = -1;
    for (;;) {
        siginfo_t si;
        int s = sigwaitinfo(&set, &si);
        if (s < 0)
            continue;
        if (s != SIGCHLD) {
            /* si_pid is 0 for a sender outside our pid namespace: only the parent may stop the job. */
            if (si.si_pid == 0 && job_status < 0)
                kill(job, s);
            continue;
        }
        int st;
        pid_t p;
        while ((p = waitpid(-1, &st, WNOHANG)) > 0)
            if (p == job)
                job_status = st;
        if (job_status >= 0)
            break;
    }
    /* The job is done: its leftovers (daemons, double-forked orphans) die with it. pid 1 is exempt. */
    kill(-1, SIGKILL);
    while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
        ;
    sb_msg m;
    memset(&m, 0, sizeof(m));
    m.type = SB_MSG_DONE;
    m.status = job_status;
    m.merge_fd = upper_fd >= 0;
    send_msg(sock, &m, upper_fd);
    _exit(0);
}

void sb_child_main(const sb_plan *plan)
{
    int sock = plan->sock_fd;
    /* Die with the thread that started us; the parent may already be gone, then the read below sees EOF. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    sb_msg go;
    ssize_t n;
    do
        n = read(sock, &go, sizeof(go));
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof(go) || go.type != SB_MSG_GO)
        _exit(MRUN_SANDBOX_EXIT_SETUP);

    /* The parent has written our uid/gid maps and put us in our cgroup. Supplementary groups the parent had
     * (root's gid 0 among them) must not come along. */
    /* Raw syscalls, not glibc's wrappers: in a process that had threads, glibc applies set*id to every thread
     * it knows of and waits for them, and the threads it remembers do not exist in this clone (a hang, seen). */
    if (syscall(SYS_setgroups, 0, NULL) < 0 && errno != EPERM)
        fail(sock, "drop supplementary groups", NULL);
    /* Become the namespace's root, i.e. the unprivileged host id of the map: as root we were host uid 0, which
     * is deliberately not mapped, so nothing we create may carry it. */
    if (syscall(SYS_setresgid, 0, 0, 0) < 0 || syscall(SYS_setresuid, 0, 0, 0) < 0)
        fail(sock, "switch to the sandbox user", NULL);
    /* A credential change clears the parent-death signal: set it again, then make sure the parent did not
     * die in between (its end of the socket would have hung up). */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    struct pollfd pf = {.fd = sock, .events = POLLIN};
    if (poll(&pf, 1, 0) > 0 && (pf.revents & (POLLHUP | POLLERR)))
        _exit(MRUN_SANDBOX_EXIT_SETUP);
    int ws_tree = -1;
    if (plan->ws_is_tree) {
        int nfds = 1;
        if (recv_fds(sock, SB_MSG_WS, &ws_tree, &nfds) < 0 || nfds != 1)
            fail(sock, "receive workspace mount", NULL);
    }
    const char *step, *detail;
    int upper_fd;
    if (sb_rootfs_setup(plan, ws_tree, &step, &detail, &upper_fd) < 0)
        fail(sock, step, detail);
    /* v1: join the cgroup by writing "0" to each hierarchy's "tasks": the kernel then moves the writer without
     * the global lock and RCU wait that moving another pid costs (5-45 ms). */
    if (plan->cg_by_msg) {
        int fds[SB_MSG_MAX_FDS];
        int nfds = SB_MSG_MAX_FDS;
        if (recv_fds(sock, SB_MSG_CG, fds, &nfds) < 0)
            fail(sock, "receive cgroup", NULL);
        for (int i = 0; i < nfds; i++) {
            ssize_t w;
            do
                w = write(fds[i], "0", 1);
            while (w < 0 && errno == EINTR);
            if (w < 0)
                fail(sock, "join cgroup", NULL);
            close(fds[i]);
        }
    }
    /* After joining, so that the job sees its own cgroup as the root. */
    if (unshare(CLONE_NEWCGROUP) < 0)
        fail(sock, "unshare cgroup namespace", NULL);
    if (sethostname(plan->hostname, strlen(plan->hostname)) < 0)
        fail(sock, "sethostname", NULL);
    if (plan->net_lo && sb_net_lo_up() < 0)
        fail(sock, "bring up lo", NULL);

    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    int rep[2];
    if (pipe2(rep, O_CLOEXEC) < 0)
        fail(sock, "pipe", NULL);
    pid_t job = raw_fork();
    if (job < 0)
        fail(sock, "fork job", NULL);
    if (job == 0) {
        close(rep[0]);
        close(sock);
        if (upper_fd >= 0)
            close(upper_fd);
        job_main(plan, rep[1]);
    }
    /* Keep only what init needs. The output pipes must go or the parent never sees EOF; the cgroup and
     * workspace fds are open handles on host filesystems that nothing in here should hold (cf. runc
     * CVE-2024-21626). */
    int keep[3] = {sock, rep[0], upper_fd};
    close_except(keep, 3);
    /* Not dumpable: the job, though uid 0 here too, cannot open /proc/1/mem or ptrace us. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

    sb_msg r;
    do
        n = read(rep[0], &r, sizeof(r));
    while (n < 0 && errno == EINTR);
    close(rep[0]);
    if (n == (ssize_t)sizeof(r)) {
        send_msg(sock, &r, -1); /* exec or job setup failed; still reap and report the status */
    } else {
        sb_msg started;
        memset(&started, 0, sizeof(started));
        started.type = SB_MSG_STARTED;
        send_msg(sock, &started, -1);
    }
    init_loop(plan, job, upper_fd);
}
