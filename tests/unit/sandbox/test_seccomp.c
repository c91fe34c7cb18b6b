/* test_seccomp.c - the allow-list table, and the compiled filter loaded for real in forked children: what must
 * fail with EPERM (or ENOSYS, or kill the process) does, and what jobs need (threads, exec, python, sh) works. */
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <seccomp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/sandbox_int.h"

#define SKIP_ALL        77
#define X32_SYSCALL_BIT 0x40000000L

/* Refused by policy (docs/seccomp.md, grouped as there); none may appear in the table. */
/* clang-format off */
static const char *const forbidden[] = {
    "unshare", "setns", "clone3",
    "mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount",
    "open_tree", "mount_setattr",
    "open_by_handle_at", "name_to_handle_at",
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp", "process_madvise",
    "process_mrelease",
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "keyctl", "add_key", "request_key",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon",
    "swapoff", "acct", "quotactl", "quotactl_fd", "iopl", "ioperm", "syslog", "settimeofday", "clock_settime",
    "clock_adjtime", "adjtimex", "vhangup",
    "sethostname", "setdomainname",
    "modify_ldt", "vmsplice", "sync", "mbind", "set_mempolicy", "migrate_pages", "move_pages", "cachestat",
    "memfd_secret", "fanotify_init", "fanotify_mark",
    "lookup_dcookie", "uselib", "nfsservctl", "_sysctl", "ustat", "sysfs", "create_module", "get_kernel_syms",
    "query_module", "afs_syscall", "security", "tuxcall", "vserver", "getpmsg", "putpmsg",
};
/* clang-format on */

/* The rows built by argument rules in seccomp.c; their `why` starts with "(args)". */
static const char *const with_args[] = {"clone", "socket", "socketpair", "ioctl", "personality"};

static bool in_list(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return true;
    return false;
}

static void test_table_unique_and_known(void **state)
{
    (void)state;
    unsigned n = 0;
    const sb_syscall_rule *t = sb_seccomp_allowed(&n);
    assert_non_null(t);
    assert_true(n > 100);
    for (unsigned i = 0; i < n; i++) {
        if (seccomp_syscall_resolve_name(t[i].name) == __NR_SCMP_ERROR)
            fail_msg("'%s' is not an x86_64 syscall known to libseccomp", t[i].name);
        if (!t[i].why || strlen(t[i].why) < 4)
            fail_msg("'%s' has no reason", t[i].name);
        bool marked = strncmp(t[i].why, "(args)", 6) == 0;
        if (marked != in_list(t[i].name, with_args, sizeof(with_args) / sizeof(with_args[0])))
            fail_msg("'%s': \"(args)\" marker and argument rules disagree", t[i].name);
        for (unsigned j = i + 1; j < n; j++)
            if (strcmp(t[i].name, t[j].name) == 0)
                fail_msg("'%s' listed twice", t[i].name);
    }
}

static void test_forbidden_absent(void **state)
{
    (void)state;
    unsigned n = 0;
    const sb_syscall_rule *t = sb_seccomp_allowed(&n);
    for (unsigned i = 0; i < n; i++)
        if (in_list(t[i].name, forbidden, sizeof(forbidden) / sizeof(forbidden[0])))
            fail_msg("forbidden syscall '%s' is in the allow-list", t[i].name);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_build(void **state)
{
    (void)state;
    enum { RUNS = 21 };
    double ms[RUNS];
    for (int r = 0; r < RUNS; r++) {
        mrun_err err = MRUN_ERR_INIT;
        struct sock_fprog prog = {0};
        double t0 = now_ms();
        if (sb_seccomp_build(&prog, &err) < 0)
            fail_msg("sb_seccomp_build: %s", err.msg);
        ms[r] = now_ms() - t0;
        assert_non_null(prog.filter);
        assert_true(prog.len > 10 && prog.len <= BPF_MAXINSNS);
        /* a program ends in a return; a truncated export would not */
        assert_int_equal(BPF_CLASS(prog.filter[prog.len - 1].code), BPF_RET);
        if (r == 0)
            print_message("sb_seccomp_build: %u instructions, first build %.3f ms\n", prog.len, ms[0]);
        sb_seccomp_release(&prog);
        assert_null(prog.filter);
        assert_int_equal(prog.len, 0);
    }
    qsort(ms + 1, RUNS - 1, sizeof(ms[0]), cmp_double);
    print_message("sb_seccomp_build: median of %d warm builds %.3f ms\n", RUNS - 1, ms[RUNS / 2]);
    /* only catches a pathological regression; the figure itself is reported above (sanitizers are slow) */
    assert_true(ms[0] < 100.0);

    struct sock_fprog zero = {0};
    sb_seccomp_release(&zero);
    sb_seccomp_release(NULL);
}

/* ---- children under the filter ------------------------------------------------------------------------ */

/* What a probe in the child writes to: failures go to the pipe as text lines the parent prints. */
typedef struct probe {
    int out;
    int failures;
} probe;

static void report(probe *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(probe *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vdprintf(p->out, fmt, ap);
    va_end(ap);
    p->failures++;
}

static void expect_errno(probe *p, const char *what, long rc, int err, int want)
{
    if (rc != -1 || err != want)
        report(p, "%s: returned %ld errno %d (%s), want errno %d (%s)\n", what, rc, err, strerror(err), want,
               strerror(want));
}

static void expect_ok(probe *p, const char *what, long rc, int err)
{
    if (rc < 0)
        report(p, "%s: returned %ld errno %d (%s), want success\n", what, rc, err, strerror(err));
}

/* errno is read on the line after the call, never as a sibling argument (unsequenced) */
#define EXPECT_ERRNO(p, want, call)                                                                                    \
    do {                                                                                                               \
        errno = 0;                                                                                                     \
        long rc_ = (long)(call);                                                                                       \
        int e_ = errno;                                                                                                \
        expect_errno(p, #call, rc_, e_, want);                                                                         \
    } while (0)

#define EXPECT_OK(p, call)                                                                                             \
    do {                                                                                                               \
        errno = 0;                                                                                                     \
        long rc_ = (long)(call);                                                                                       \
        int e_ = errno;                                                                                                \
        expect_ok(p, #call, rc_, e_);                                                                                  \
    } while (0)

static int load_filter(const struct sock_fprog *prog)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -1;
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, prog);
}

/* Runs fn in a child under the filter (when prog is not NULL) and returns its wait status. The child's failure
 * lines, and anything it writes to stdout when capture is set, land in buf. */
static int run_child(const struct sock_fprog *prog, void (*fn)(probe *p, void *arg), void *arg, bool capture, char *buf,
                     size_t size)
{
    int fds[2];
    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        probe p = {fds[1], 0};
        if (capture && (dup2(fds[1], 1) < 0 || dup2(fds[1], 2) < 0))
            _exit(99);
        if (prog && load_filter(prog) < 0) {
            report(&p, "loading the filter: %s\n", strerror(errno));
            _exit(98);
        }
        fn(&p, arg);
        _exit(p.failures ? 1 : 0); /* _exit: no atexit handlers (LeakSanitizer would ptrace) under the filter */
    }
    close(fds[1]);
    size_t got = 0;
    for (;;) {
        ssize_t n = read(fds[0], buf + got, size - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
        if (got == size - 1)
            break;
    }
    buf[got] = '\0';
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        assert_int_equal(errno, EINTR);
    return status;
}

/* A fresh compilation, checked to be identical to the program embedded at build time (the one `mrun sandbox`
 * loads), so every test below exercises exactly what ships. */
static void build_or_fail(struct sock_fprog *prog)
{
    mrun_err err = MRUN_ERR_INIT;
    if (sb_seccomp_build(prog, &err) < 0)
        fail_msg("sb_seccomp_build: %s", err.msg);
    assert_int_equal(prog->len, sb_seccomp_bpf_len);
    assert_memory_equal(prog->filter, sb_seccomp_bpf, sizeof(struct sock_filter) * prog->len);
}

static void test_embedded_matches(void **state)
{
    (void)state;
    struct sock_fprog prog = {0};
    build_or_fail(&prog);
    sb_seccomp_release(&prog);
}

static void expect_clean_exit(int status, const char *out)
{
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("child %s %d:\n%s", WIFEXITED(status) ? "exited" : "killed by",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), out);
}

/* A raw clone that must be refused; if it is not, the new child leaves at once and the probe fails. */
static void expect_clone_refused(probe *p, const char *what, unsigned long flags)
{
    errno = 0;
    long rc = syscall(SYS_clone, flags, 0, 0, 0, 0);
    int e = errno;
    if (rc == 0)
        _exit(0);
    if (rc > 0)
        waitpid((pid_t)rc, NULL, __WALL);
    expect_errno(p, what, rc, e, EPERM);
}

static void probe_refused(probe *p, void *arg)
{
    (void)arg;
    int pfd[2];
    if (pipe(pfd) < 0) {
        report(p, "pipe: %s\n", strerror(errno));
        return;
    }
    char c = 'x';

    EXPECT_ERRNO(p, EPERM, mount("none", "/nonexistent-mrun-seccomp-test", "tmpfs", 0, NULL));
    EXPECT_ERRNO(p, EPERM, umount2("/nonexistent-mrun-seccomp-test", 0));
    EXPECT_ERRNO(p, EPERM, unshare(CLONE_NEWUSER));
    EXPECT_ERRNO(p, EPERM, unshare(CLONE_NEWNS));
    EXPECT_ERRNO(p, EPERM, syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
    EXPECT_ERRNO(p, EPERM, syscall(SYS_bpf, -1, NULL, 0));
    EXPECT_ERRNO(p, EPERM, socket(AF_NETLINK, SOCK_RAW, 0));
    EXPECT_ERRNO(p, EPERM, socket(AF_PACKET, SOCK_RAW, 0));
    EXPECT_ERRNO(p, EPERM, socket(AF_VSOCK, SOCK_STREAM, 0));
    EXPECT_ERRNO(p, EPERM, syscall(SYS_socket, (1L << 32) | AF_NETLINK, SOCK_RAW, 0));
    EXPECT_ERRNO(p, EPERM, syscall(SYS_socketpair, AF_NETLINK, SOCK_RAW, 0, (int *)pfd));

    static const struct {
        const char *name;
        unsigned long flag;
    } ns[] = {
        {"clone(CLONE_NEWNET)", CLONE_NEWNET},       {"clone(CLONE_NEWUSER)", CLONE_NEWUSER},
        {"clone(CLONE_NEWNS)", CLONE_NEWNS},         {"clone(CLONE_NEWPID)", CLONE_NEWPID},
        {"clone(CLONE_NEWUTS)", CLONE_NEWUTS},       {"clone(CLONE_NEWIPC)", CLONE_NEWIPC},
        {"clone(CLONE_NEWCGROUP)", CLONE_NEWCGROUP},
    };
    for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++)
        expect_clone_refused(p, ns[i].name, ns[i].flag | SIGCHLD);
    expect_clone_refused(p, "clone(CLONE_NEWNET) with high bits", (1UL << 40) | CLONE_NEWNET | SIGCHLD);

    /* clone3 must say ENOSYS so glibc falls back to clone */
    struct clone_args ca;
    memset(&ca, 0, sizeof(ca));
    ca.exit_signal = SIGCHLD;
    errno = 0;
    long rc = syscall(SYS_clone3, &ca, sizeof(ca));
    int e = errno;
    if (rc == 0)
        _exit(0);
    if (rc > 0)
        waitpid((pid_t)rc, NULL, 0);
    expect_errno(p, "clone3", rc, e, ENOSYS);

    /* refused before the kernel looks at the descriptor: a pipe gives ENOTTY without the filter */
    EXPECT_ERRNO(p, EPERM, ioctl(pfd[0], TIOCSTI, &c));
    EXPECT_ERRNO(p, EPERM, ioctl(pfd[0], TIOCLINUX, &c));
    /* the kernel reads cmd as 32 bits; high bits must not smuggle TIOCSTI past the filter */
    EXPECT_ERRNO(p, EPERM, syscall(SYS_ioctl, pfd[0], (1UL << 32) | TIOCSTI, &c));
    EXPECT_ERRNO(p, EPERM, syscall(SYS_ioctl, pfd[0], 0xffffffff00000000UL | TIOCSTI, &c));
    EXPECT_ERRNO(p, EPERM, syscall(SYS_ioctl, pfd[0], (1UL << 63) | TIOCLINUX, &c));

    EXPECT_ERRNO(p, EPERM, personality(PER_LINUX | ADDR_NO_RANDOMIZE));
    EXPECT_ERRNO(p, EPERM, personality(PER_LINUX32));

    /* Every other refused syscall, with arguments that would fail harmlessly were the filter missing. vhangup
     * takes none and would hang up a terminal, so it is only checked by its absence from the table. */
    for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
        int nr = seccomp_syscall_resolve_name(forbidden[i]);
        if (nr == __NR_SCMP_ERROR || nr < 0 || strcmp(forbidden[i], "vhangup") == 0 ||
            strcmp(forbidden[i], "sync") == 0 || strcmp(forbidden[i], "clone3") == 0)
            continue;
        errno = 0;
        long r = syscall(nr, -1L, -1L, -1L, -1L, -1L, -1L);
        int err = errno;
        expect_errno(p, forbidden[i], r, err, EPERM);
    }

    /* last: if this were allowed the child would be traced from here on */
    EXPECT_ERRNO(p, EPERM, ptrace(PTRACE_TRACEME, 0, NULL, NULL));
}

static void *thread_fn(void *arg)
{
    return arg;
}

static void probe_allowed(probe *p, void *arg)
{
    (void)arg;
    int pfd[2];
    EXPECT_OK(p, pipe2(pfd, O_CLOEXEC));
    EXPECT_OK(p, getpid());
    EXPECT_OK(p, write(pfd[1], "x", 1));
    int navail = 0;
    EXPECT_OK(p, ioctl(pfd[0], FIONREAD, &navail));
    if (navail != 1)
        report(p, "FIONREAD: %d bytes, want 1\n", navail);
    struct termios tio;
    EXPECT_ERRNO(p, ENOTTY, ioctl(pfd[0], TCGETS, &tio)); /* passes the filter, refused by the pipe */
    EXPECT_ERRNO(p, ENOTTY, ioctl(pfd[0], TIOCGWINSZ, &tio));
    /* Every request one bit away from a refused one passes the filter (the pipe then says ENOTTY, or does it):
     * the rules that allow "all but" TIOCSTI and TIOCLINUX must not swallow neighbours such as TIOCGWINSZ. */
    static const uint32_t refused[] = {TIOCSTI, TIOCLINUX};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        for (int bit = 0; bit < 32; bit++) {
            int zero = 0;
            unsigned long cmd = refused[i] ^ ((uint32_t)1 << bit);
            errno = 0;
            long rc = syscall(SYS_ioctl, pfd[0], cmd, &zero);
            if (rc < 0 && errno == EPERM)
                report(p, "ioctl %#lx (neighbour of %#x) refused by the filter\n", cmd, (unsigned)refused[i]);
        }
    }

    int s = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_OK(p, s);
    close(s);
    s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_OK(p, s);
    close(s);
    errno = 0;
    s = socket(AF_INET6, SOCK_DGRAM, 0);
    if (s < 0 && errno != EAFNOSUPPORT) /* a host without IPv6 is fine; EPERM is not */
        report(p, "socket(AF_INET6): %s\n", strerror(errno));
    if (s >= 0)
        close(s);
    /* socket's domain is an int: the filter compares the 32 bits the kernel reads */
    s = (int)syscall(SYS_socket, (1L << 32) | AF_INET, SOCK_DGRAM, 0);
    EXPECT_OK(p, s);
    if (s >= 0)
        close(s);
    int sv[2];
    EXPECT_OK(p, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));

    EXPECT_OK(p, personality(0xffffffff));
    EXPECT_OK(p, personality(PER_LINUX));
    EXPECT_OK(p, prctl(PR_SET_NAME, "probe", 0, 0, 0));
    EXPECT_OK(p, syscall(SYS_faccessat2, AT_FDCWD, "/", F_OK, 0));
    EXPECT_OK(p, syscall(SYS_pidfd_open, getpid(), 0));
    EXPECT_OK(p, syscall(SYS_memfd_create, "probe", 0));
    EXPECT_OK(p, syscall(SYS_getrandom, &navail, sizeof(navail), 0));
    EXPECT_OK(p, syscall(SYS_membarrier, 0 /* MEMBARRIER_CMD_QUERY */, 0, 0));
    EXPECT_OK(p, syscall(SYS_close_range, 1000, 2000, 0));

    /* a plain fork through raw clone, as glibc's fork does it */
    errno = 0;
    long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid == 0)
        _exit(7);
    int status = 0;
    if (pid < 0)
        report(p, "clone(SIGCHLD): %s\n", strerror(errno));
    else if (waitpid((pid_t)pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 7)
        report(p, "clone(SIGCHLD) child: status %#x\n", (unsigned)status);

    /* glibc's pthread_create tries clone3 first; it must fall back to clone on ENOSYS */
    pthread_t th;
    int marker = 42;
    void *back = NULL;
    int prc = pthread_create(&th, NULL, thread_fn, &marker);
    if (prc != 0)
        report(p, "pthread_create: %s\n", strerror(prc));
    else if (pthread_join(th, &back) != 0 || back != &marker)
        report(p, "pthread_join: wrong result\n");

    pid_t child = fork();
    if (child == 0) {
        char *const argv[] = {"true", NULL};
        execv("/bin/true", argv);
        _exit(127);
    }
    if (child < 0)
        report(p, "fork: %s\n", strerror(errno));
    else if (waitpid(child, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        report(p, "fork + execv /bin/true: status %#x\n", (unsigned)status);
}

static void test_filter_refuses(void **state)
{
    (void)state;
    struct sock_fprog prog = {0};
    build_or_fail(&prog);
    char out[8192];
    int status = run_child(&prog, probe_refused, NULL, false, out, sizeof(out));
    sb_seccomp_release(&prog);
    expect_clean_exit(status, out);
}

static void test_filter_allows(void **state)
{
    (void)state;
    struct sock_fprog prog = {0};
    build_or_fail(&prog);
    char out[8192];
    int status = run_child(&prog, probe_allowed, NULL, false, out, sizeof(out));
    sb_seccomp_release(&prog);
    expect_clean_exit(status, out);
}

/* ---- foreign architectures: killed, not just refused ---------------------------------------------------- */

static void probe_x32(probe *p, void *arg)
{
    (void)arg;
    long rc = syscall(X32_SYSCALL_BIT | SYS_getpid);
    report(p, "x32 getpid returned %ld\n", rc);
}

static void probe_int80(probe *p, void *arg)
{
    (void)arg;
    long rc;
    /* i386 getpid (20) through the compat entry; the kernel tags it AUDIT_ARCH_I386 */
    __asm__ volatile("int $0x80" : "=a"(rc) : "a"(20L) : "memory", "cc", "r8", "r9", "r10", "r11");
    if (rc != (long)getpid())
        report(p, "int 0x80 getpid returned %ld\n", rc);
}

static void expect_sigsys(int status, const char *what, const char *out)
{
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGSYS)
        fail_msg("%s: want death by SIGSYS, got status %#x:\n%s", what, (unsigned)status, out);
}

static void test_x32_killed(void **state)
{
    (void)state;
    struct sock_fprog prog = {0};
    build_or_fail(&prog);
    char out[1024];
    int status = run_child(&prog, probe_x32, NULL, false, out, sizeof(out));
    sb_seccomp_release(&prog);
    expect_sigsys(status, "x32 syscall", out);
}

static void test_i386_killed(void **state)
{
    (void)state;
    char out[1024];
    /* without the filter first: a kernel without IA32 emulation has no int 0x80 path to guard */
    int status = run_child(NULL, probe_int80, NULL, false, out, sizeof(out));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        skip();
    struct sock_fprog prog = {0};
    build_or_fail(&prog);
    status = run_child(&prog, probe_int80, NULL, false, out, sizeof(out));
    sb_seccomp_release(&prog);
    expect_sigsys(status, "int 0x80", out);
}

/* ---- real programs under the filter -------------------------------------------------------------------- */

static void exec_argv(probe *p, void *arg)
{
    char *const *argv = arg;
    execv(argv[0], argv);
    report(p, "execv %s: %s\n", argv[0], strerror(errno));
}

static void run_program(char *const *argv, const char *want)
{
    struct sock_fprog prog = {0};
    build_or_fail(&prog);
    char out[8192];
    int status = run_child(&prog, exec_argv, (void *)argv, true, out, sizeof(out));
    sb_seccomp_release(&prog);
    expect_clean_exit(status, out);
    if (!strstr(out, want))
        fail_msg("%s: output lacks '%s':\n%s", argv[0], want, out);
}

static void test_python_runs(void **state)
{
    (void)state;
    if (access("/usr/bin/python3", X_OK) < 0)
        skip();
    char *const argv[] = {"/usr/bin/python3", "-c",
                          "import threading, subprocess, socket, json; "
                          "print(subprocess.run([\"/bin/sh\",\"-c\",\"echo ok\"],capture_output=True).stdout)",
                          NULL};
    run_program(argv, "b'ok\\n'");
}

static void test_sh_runs(void **state)
{
    (void)state;
    char *const argv[] = {"/bin/sh", "-c", "n=$(ls / | wc -l) && [ \"$n\" -gt 0 ] && echo lines=$n", NULL};
    run_program(argv, "lines=");
}

/* ---- main ---------------------------------------------------------------------------------------------- */

/* Whether this kernel (and any filter we already run under) lets a process load a seccomp filter at all. */
static bool seccomp_usable(void)
{
    struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = {1, &allow};
    pid_t pid = fork();
    if (pid < 0)
        return false;
    if (pid == 0)
        _exit(load_filter(&prog) == 0 ? 0 : 1);
    int status = 0;
    if (waitpid(pid, &status, 0) < 0)
        return false;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(void)
{
    if (!seccomp_usable()) {
        fprintf(stderr, "seccomp filters are unavailable here: skipping\n");
        return SKIP_ALL;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_unique_and_known),
        cmocka_unit_test(test_forbidden_absent),
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_embedded_matches),
        cmocka_unit_test(test_filter_refuses),
        cmocka_unit_test(test_filter_allows),
        cmocka_unit_test(test_x32_killed),
        cmocka_unit_test(test_i386_killed),
        cmocka_unit_test(test_python_runs),
        cmocka_unit_test(test_sh_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
