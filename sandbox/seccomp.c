/* seccomp.c - the job's syscall allow-list (one table plus a few argument rules) and its compilation with
 * libseccomp into classic BPF that spawn.c hands to the child. The policy and its reasons: docs/seccomp.md. */
#include "sandbox_int.h"

#include <errno.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/auto.h"

/* Every syscall an ordinary build or test job may make. Anything absent fails with EPERM. Rows marked "(args)"
 * are allowed only under the argument rule of the same name in arg_rules[] below. Adding a row is a security
 * change: it needs a reviewed diff with the reason in `why` (docs/seccomp.md, "Adding a syscall"). */
static const sb_syscall_rule allowed[] = {
    /* descriptors and file I/O: every program */
    {"read", "read files, pipes, sockets"},
    {"write", "write files, pipes, sockets"},
    {"readv", "vectored read (stdio, python, node)"},
    {"writev", "vectored write (stdio, python, node)"},
    {"pread64", "positioned read (ld.so, git, sqlite)"},
    {"pwrite64", "positioned write (git, sqlite, linkers)"},
    {"preadv", "positioned vectored read"},
    {"pwritev", "positioned vectored write"},
    {"preadv2", "positioned vectored read with flags (python os.preadv)"},
    {"pwritev2", "positioned vectored write with flags"},
    {"lseek", "seek in a file"},
    {"close", "close a descriptor"},
    {"close_range", "close many descriptors before exec (python subprocess, glibc closefrom)"},
    {"dup", "duplicate a descriptor"},
    {"dup2", "duplicate a descriptor (shell redirections)"},
    {"dup3", "duplicate a descriptor with O_CLOEXEC"},
    {"fcntl", "descriptor flags and record locks"},
    {"flock", "whole-file advisory locks (npm, pip, make jobserver)"},
    {"ioctl", "(args) device and tty control; TIOCSTI and TIOCLINUX refused"},
    {"pipe", "anonymous pipes (shells)"},
    {"pipe2", "anonymous pipes with flags"},
    {"fsync", "flush one file (git, package managers)"},
    {"fdatasync", "flush one file's data (sqlite)"},
    {"sync_file_range", "partial flush of one file"},
    {"syncfs", "flush the filesystem holding one file"},
    {"truncate", "set a file's length by path"},
    {"ftruncate", "set a file's length (memfd, shm, linkers)"},
    {"fallocate", "preallocate file space (ld, git pack)"},
    {"fadvise64", "access-pattern hints (cp, cat)"},
    {"readahead", "prefetch a file into the page cache"},
    {"copy_file_range", "in-kernel file copy (cp, python shutil)"},
    {"sendfile", "in-kernel copy to a socket or file (python shutil, node)"},
    {"splice", "move data between a pipe and a descriptor"},
    {"tee", "duplicate pipe contents"},
    {"memfd_create", "anonymous files (node/V8, glibc, JITs)"},
    {"map_shadow_stack", "CET shadow stacks for new threads (glibc on CET hardware)"},

    /* paths and metadata */
    {"open", "open by path (legacy binaries)"},
    {"openat", "open by path (glibc)"},
    {"openat2", "open with resolve flags (newer tools)"},
    {"creat", "create a file (legacy binaries)"},
    {"stat", "file status by path"},
    {"fstat", "file status of a descriptor"},
    {"lstat", "file status without following a symlink"},
    {"newfstatat", "file status (glibc stat family)"},
    {"statx", "extended file status (coreutils ls, stat)"},
    {"statfs", "filesystem status by path (df, python)"},
    {"fstatfs", "filesystem status of a descriptor (glibc, coreutils)"},
    {"access", "permission check by path"},
    {"faccessat", "permission check by path"},
    {"faccessat2", "permission check with flags (glibc 2.33+, coreutils test)"},
    {"readlink", "read a symlink"},
    {"readlinkat", "read a symlink (glibc, /proc/self/exe)"},
    {"getdents", "list a directory (legacy binaries)"},
    {"getdents64", "list a directory (glibc readdir)"},
    {"getcwd", "current directory"},
    {"chdir", "change directory"},
    {"fchdir", "change directory by descriptor (find, rm -r)"},
    {"mkdir", "create a directory"},
    {"mkdirat", "create a directory"},
    {"rmdir", "remove a directory"},
    {"rename", "rename a file"},
    {"renameat", "rename a file"},
    {"renameat2", "rename with flags (mv, git, atomic replace)"},
    {"link", "hard link"},
    {"linkat", "hard link"},
    {"unlink", "remove a file"},
    {"unlinkat", "remove a file or directory"},
    {"symlink", "create a symlink"},
    {"symlinkat", "create a symlink (npm, ln -s)"},
    {"chmod", "change mode"},
    {"fchmod", "change mode by descriptor"},
    {"fchmodat", "change mode by path"},
    {"fchmodat2", "change mode with flags (glibc 2.39+ lchmod)"},
    {"chown", "change owner (only to ids the job already holds)"},
    {"fchown", "change owner by descriptor"},
    {"lchown", "change owner of a symlink"},
    {"fchownat", "change owner by path (tar, cp -a)"},
    {"umask", "file creation mask"},
    {"utime", "set file times (legacy)"},
    {"utimes", "set file times"},
    {"utimensat", "set file times (touch, make, tar)"},
    {"futimesat", "set file times (legacy)"},
    {"mknod", "create a FIFO (device nodes need CAP_MKNOD)"},
    {"mknodat", "create a FIFO (mkfifo)"},
    {"getxattr", "read an extended attribute (cp -a, ls)"},
    {"lgetxattr", "read an extended attribute of a symlink"},
    {"fgetxattr", "read an extended attribute by descriptor"},
    {"listxattr", "list extended attributes"},
    {"llistxattr", "list extended attributes of a symlink (ls -l, cp -a)"},
    {"flistxattr", "list extended attributes by descriptor"},
    {"setxattr", "write a user.* extended attribute"},
    {"lsetxattr", "write an extended attribute of a symlink"},
    {"fsetxattr", "write an extended attribute by descriptor"},
    {"removexattr", "remove an extended attribute"},
    {"lremovexattr", "remove an extended attribute of a symlink"},
    {"fremovexattr", "remove an extended attribute by descriptor"},

    /* waiting for events */
    {"select", "wait on descriptors (make, older code)"},
    {"pselect6", "wait on descriptors with a mask (glibc select)"},
    {"poll", "wait on descriptors"},
    {"ppoll", "wait on descriptors with a mask (glibc poll)"},
    {"epoll_create", "event loop (legacy)"},
    {"epoll_create1", "event loop (node/libuv, python asyncio)"},
    {"epoll_ctl", "event loop registration"},
    {"epoll_wait", "event loop wait"},
    {"epoll_pwait", "event loop wait with a mask (libuv)"},
    {"epoll_pwait2", "event loop wait with a timespec timeout"},
    {"eventfd", "wakeup counter (legacy)"},
    {"eventfd2", "wakeup counter (libuv, glib)"},
    {"signalfd", "signals as a descriptor (legacy)"},
    {"signalfd4", "signals as a descriptor"},
    {"timerfd_create", "timers as a descriptor (libuv)"},
    {"timerfd_settime", "arm a timerfd"},
    {"timerfd_gettime", "read a timerfd"},
    {"inotify_init", "file change watches (legacy)"},
    {"inotify_init1", "file change watches (watch modes of test runners, tail -f)"},
    {"inotify_add_watch", "add a file watch"},
    {"inotify_rm_watch", "remove a file watch"},

    /* memory */
    {"brk", "heap (malloc)"},
    {"mmap", "map memory and files (ld.so, malloc, JITs)"},
    {"munmap", "unmap memory"},
    {"mremap", "grow or move a mapping (realloc, V8)"},
    {"mprotect", "change page protection (ld.so relro, JITs)"},
    {"madvise", "memory usage hints (malloc, V8, Go runtime)"},
    {"msync", "flush a file mapping (git, sqlite)"},
    {"mincore", "residency of own pages (allocators, JVM)"},
    {"mlock", "lock own pages, bounded by RLIMIT_MEMLOCK (gpg, ssh-keygen)"},
    {"mlock2", "lock own pages with flags"},
    {"munlock", "unlock own pages"},
    {"mlockall", "lock all own pages, bounded by RLIMIT_MEMLOCK"},
    {"munlockall", "unlock all own pages"},
    {"membarrier", "process-wide memory barriers (V8, .NET, liburcu)"},
    {"pkey_alloc", "memory protection keys (V8, glibc)"},
    {"pkey_free", "free a protection key"},
    {"pkey_mprotect", "mprotect with a protection key (V8)"},

    /* processes and threads */
    {"fork", "new process (legacy fork)"},
    {"vfork", "new process sharing memory until exec (posix_spawn, make)"},
    {"clone", "(args) new process or thread; no CLONE_NEW* namespace flags"},
    {"execve", "run a program"},
    {"execveat", "run a program by descriptor (fexecve)"},
    {"exit", "end a thread"},
    {"exit_group", "end the process"},
    {"wait4", "reap a child (shells, make)"},
    {"waitid", "reap a child (python, posix_spawn)"},
    {"kill", "signal a process in the sandbox's pid namespace"},
    {"tkill", "signal a thread (legacy)"},
    {"tgkill", "signal a thread (raise, abort, pthread_kill)"},
    {"pidfd_open", "process descriptor for a child (python, systemd-style waiting)"},
    {"pidfd_send_signal", "signal through a process descriptor"},
    {"getpid", "own process id"},
    {"getppid", "parent process id"},
    {"gettid", "own thread id"},
    {"getpgid", "process group of a process"},
    {"setpgid", "job control in shells"},
    {"getpgrp", "own process group"},
    {"getsid", "session of a process"},
    {"setsid", "new session (daemons, test servers)"},
    {"set_tid_address", "thread start-up (glibc)"},
    {"set_robust_list", "robust futexes for threads (glibc)"},
    {"get_robust_list", "robust futex list (own threads only without ptrace rights)"},
    {"rseq", "restartable sequences (glibc 2.35+ registers one per thread)"},
    {"futex", "thread synchronisation"},
    {"futex_waitv", "wait on several futexes (Wine/Proton-style runtimes)"},
    {"arch_prctl", "thread-local storage set-up (x86_64 FS base)"},
    {"prctl", "process attributes (thread names, PDEATHSIG, no_new_privs)"},
    {"personality", "(args) query only, or set plain PER_LINUX"},
    {"seccomp", "let a job add its own filters; they can only narrow this one"},
    {"landlock_create_ruleset", "let a job sandbox itself further (landlock)"},
    {"landlock_add_rule", "let a job sandbox itself further (landlock)"},
    {"landlock_restrict_self", "let a job sandbox itself further (landlock)"},
    {"capget", "read own capabilities (libcap, python os)"},
    {"capset", "drop capabilities; cannot gain any"},
    {"restart_syscall", "kernel-internal restart after a stop signal"},

    /* scheduling and limits */
    {"sched_yield", "yield the CPU (spinlocks, runtimes)"},
    {"sched_getaffinity", "CPU count (nproc, make -j, node os.cpus)"},
    {"sched_setaffinity", "pin own threads (test runners, JVM)"},
    {"sched_getparam", "read scheduling parameters"},
    {"sched_setparam", "set scheduling parameters (raising needs CAP_SYS_NICE)"},
    {"sched_getscheduler", "read scheduling policy"},
    {"sched_setscheduler", "set scheduling policy (real-time needs RLIMIT_RTPRIO)"},
    {"sched_get_priority_max", "priority range"},
    {"sched_get_priority_min", "priority range"},
    {"sched_rr_get_interval", "round-robin time slice"},
    {"sched_getattr", "read scheduling attributes"},
    {"sched_setattr", "set scheduling attributes (raising needs CAP_SYS_NICE)"},
    {"getpriority", "read nice value"},
    {"setpriority", "nice (lowering priority only without CAP_SYS_NICE)"},
    {"ioprio_get", "read I/O priority"},
    {"ioprio_set", "set own I/O priority (ionice)"},
    {"getrlimit", "read resource limits"},
    {"setrlimit", "set limits; hard limits can only be lowered without CAP_SYS_RESOURCE"},
    {"prlimit64", "get or set limits (glibc's getrlimit); raising hard limits needs CAP_SYS_RESOURCE"},
    {"getrusage", "resource usage (time, make, test runners)"},
    {"times", "process times (shells, bash time)"},

    /* identity: the job runs as one unprivileged id; these can only switch among ids it already holds */
    {"getuid", "own user id"},
    {"geteuid", "own effective user id"},
    {"getgid", "own group id"},
    {"getegid", "own effective group id"},
    {"getresuid", "own user ids"},
    {"getresgid", "own group ids"},
    {"getgroups", "supplementary groups"},
    {"setuid", "switch among own user ids (dropping privileges)"},
    {"setgid", "switch among own group ids"},
    {"setreuid", "switch among own user ids"},
    {"setregid", "switch among own group ids"},
    {"setresuid", "switch among own user ids"},
    {"setresgid", "switch among own group ids"},
    {"setgroups", "set groups (refused by the kernel without CAP_SETGID)"},
    {"setfsuid", "filesystem user id (among own ids)"},
    {"setfsgid", "filesystem group id (among own ids)"},

    /* signals */
    {"rt_sigaction", "install signal handlers"},
    {"rt_sigprocmask", "block and unblock signals"},
    {"rt_sigreturn", "return from a signal handler"},
    {"rt_sigpending", "pending signals"},
    {"rt_sigtimedwait", "wait for a signal: sigwait, python"},
    {"rt_sigsuspend", "wait for a signal: shells"},
    {"rt_sigqueueinfo", "queue a signal with data"},
    {"rt_tgsigqueueinfo", "queue a signal to a thread"},
    {"sigaltstack", "alternate signal stack (stack overflow handling in runtimes)"},
    {"pause", "wait for a signal"},

    /* time */
    {"clock_gettime", "read clocks (vDSO fallback)"},
    {"clock_getres", "clock resolution"},
    {"clock_nanosleep", "sleep (glibc nanosleep)"},
    {"gettimeofday", "read the time (vDSO fallback)"},
    {"time", "read the time (vDSO fallback)"},
    {"nanosleep", "sleep"},
    {"alarm", "SIGALRM timer (timeout wrappers, shells)"},
    {"getitimer", "interval timers"},
    {"setitimer", "interval timers (profilers, python signal.setitimer)"},
    {"timer_create", "POSIX timers"},
    {"timer_settime", "POSIX timers"},
    {"timer_gettime", "POSIX timers"},
    {"timer_getoverrun", "POSIX timers"},
    {"timer_delete", "POSIX timers"},

    /* sockets: the network namespace has loopback only unless a stage asks for more */
    {"socket", "(args) AF_UNIX, AF_INET, AF_INET6 only"},
    {"socketpair", "(args) AF_UNIX, AF_INET, AF_INET6 only"},
    {"bind", "bind a socket (test servers)"},
    {"listen", "listen on a socket"},
    {"accept", "accept a connection"},
    {"accept4", "accept a connection with flags"},
    {"connect", "connect a socket"},
    {"getsockname", "local address of a socket"},
    {"getpeername", "peer address of a socket"},
    {"sendto", "send on a socket"},
    {"recvfrom", "receive on a socket"},
    {"sendmsg", "send with ancillary data (fd passing, npm, python)"},
    {"recvmsg", "receive with ancillary data"},
    {"sendmmsg", "send several datagrams (glibc resolver)"},
    {"recvmmsg", "receive several datagrams"},
    {"shutdown", "half-close a socket"},
    {"setsockopt", "socket options"},
    {"getsockopt", "socket options"},

    /* System V and POSIX IPC: the sandbox has its own IPC namespace */
    {"shmget", "SysV shared memory (postgres tests, X-less GUI tests)"},
    {"shmat", "SysV shared memory"},
    {"shmdt", "SysV shared memory"},
    {"shmctl", "SysV shared memory"},
    {"semget", "SysV semaphores"},
    {"semop", "SysV semaphores"},
    {"semtimedop", "SysV semaphores"},
    {"semctl", "SysV semaphores"},
    {"msgget", "SysV message queues"},
    {"msgsnd", "SysV message queues"},
    {"msgrcv", "SysV message queues"},
    {"msgctl", "SysV message queues"},
    {"mq_open", "POSIX message queues"},
    {"mq_unlink", "POSIX message queues"},
    {"mq_timedsend", "POSIX message queues"},
    {"mq_timedreceive", "POSIX message queues"},
    {"mq_notify", "POSIX message queues"},
    {"mq_getsetattr", "POSIX message queues"},

    /* Linux AIO (not io_uring): databases and their test suites */
    {"io_setup", "Linux AIO context (mysql, libaio tests)"},
    {"io_destroy", "Linux AIO"},
    {"io_submit", "Linux AIO"},
    {"io_getevents", "Linux AIO"},
    {"io_pgetevents", "Linux AIO with a signal mask"},
    {"io_cancel", "Linux AIO"},

    /* system information */
    {"uname", "system name (the sandbox's own UTS namespace)"},
    {"sysinfo", "memory and uptime (sysconf _SC_PHYS_PAGES)"},
    {"getcpu", "current CPU (sched_getcpu, allocators)"},
    {"getrandom", "random bytes (python, node, openssl, glibc malloc)"},
};

/* x86_64 clone() takes its flags in argument 0. CLONE_NEWTIME (0x80) lies inside clone()'s exit-signal byte,
 * where no valid signal sets it, so refusing it costs nothing and covers a future kernel that reads it. */
#define NS_FLAGS                                                                                                       \
    ((uint64_t)(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |              \
                CLONE_NEWCGROUP | CLONE_NEWTIME))

/* Compares what the kernel sees for an int argument: the low 32 bits. A plain 64-bit compare could be dodged
 * by setting high bits the kernel throws away (ioctl's cmd, socket's domain and personality are 32-bit). */
#define LOW32 0xffffffffULL

/* A new user namespace gives the job capabilities over fresh namespaces, which opens kernel code that
 * otherwise needs real privilege (e.g. CVE-2022-0185 through fsconfig, CVE-2023-32233 through nftables).
 * Threads and ordinary forks pass. */
static int rule_clone(scmp_filter_ctx ctx, int nr)
{
    return seccomp_rule_add_exact(ctx, SCMP_ACT_ALLOW, nr, 1, SCMP_A0(SCMP_CMP_MASKED_EQ, NS_FLAGS, 0));
}

/* Netlink, packet, vsock, bluetooth, alg and the rest are protocol families jobs don't need, and many
 * kernel CVEs live there (e.g. CVE-2016-8655 AF_PACKET, CVE-2017-7308 AF_PACKET, CVE-2021-26708 AF_VSOCK).
 * glibc's getaddrinfo copes with a refused netlink socket. */
static int rule_socket_family(scmp_filter_ctx ctx, int nr)
{
    static const int families[] = {AF_UNIX, AF_INET, AF_INET6};
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        int rc = seccomp_rule_add_exact(ctx, SCMP_ACT_ALLOW, nr, 1,
                                        SCMP_A0(SCMP_CMP_MASKED_EQ, LOW32, (uint32_t)families[i]));
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Adds ALLOW rules on arg (32 bits wide in the kernel) whose union is every value except deny[]. libseccomp
 * has no masked not-equal, drops conditional rules once an unconditional one exists for the syscall, and
 * refuses a rule whose action equals the default (EACCES), so "allow all but X" is spelled as the complement:
 * walking the bits from the top, each prefix that no denied value shares becomes one masked-equal rule. For
 * n denied values that is at most 32 * n rules, and nothing outside the complement is ever allowed. */
static int allow_all_but(scmp_filter_ctx ctx, int nr, unsigned arg, const uint32_t *deny, size_t n_deny, uint32_t mask,
                         uint32_t value, int bit)
{
    size_t shared = 0;
    for (size_t i = 0; i < n_deny; i++)
        if ((deny[i] & mask) == value)
            shared++;
    if (shared == 0) {
        struct scmp_arg_cmp cmp = {arg, SCMP_CMP_MASKED_EQ, mask, value};
        return seccomp_rule_add_exact_array(ctx, SCMP_ACT_ALLOW, nr, 1, &cmp);
    }
    if (bit < 0)
        return 0; /* every bit fixed and equal to a denied value: leave it to the default EPERM */
    uint32_t b = (uint32_t)1 << bit;
    int rc = allow_all_but(ctx, nr, arg, deny, n_deny, mask | b, value, bit - 1);
    if (rc < 0)
        return rc;
    return allow_all_but(ctx, nr, arg, deny, n_deny, mask | b, value | b, bit - 1);
}

/* TIOCSTI pushes bytes into a terminal's input queue, so a job holding the caller's tty could type commands
 * into the shell that started it (CVE-2016-7545, CVE-2017-5226). TIOCLINUX can paste the console selection the
 * same way. Every other ioctl passes: the devices a job can open are the sandbox's. */
static int rule_ioctl(scmp_filter_ctx ctx, int nr)
{
    static const uint32_t deny[] = {TIOCSTI, TIOCLINUX};
    return allow_all_but(ctx, nr, 1, deny, sizeof(deny) / sizeof(deny[0]), 0, 0, 31);
}

/* Query (0xffffffff) and plain PER_LINUX only. Other personalities switch off ASLR (ADDR_NO_RANDOMIZE), make
 * data executable (READ_IMPLIES_EXEC) or fake an old kernel version (UNAME26, CVE-2012-0957). */
static int rule_personality(scmp_filter_ctx ctx, int nr)
{
    static const uint32_t ok[] = {0x0 /* PER_LINUX */, 0xffffffffu /* query */};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int rc = seccomp_rule_add_exact(ctx, SCMP_ACT_ALLOW, nr, 1, SCMP_A0(SCMP_CMP_MASKED_EQ, LOW32, ok[i]));
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The rows of allowed[] marked "(args)"; a row named here gets this rule instead of a plain ALLOW. */
static const struct {
    const char *name;
    int (*add)(scmp_filter_ctx ctx, int nr);
} arg_rules[] = {
    {"clone", rule_clone}, {"socket", rule_socket_family},    {"socketpair", rule_socket_family},
    {"ioctl", rule_ioctl}, {"personality", rule_personality},
};

const sb_syscall_rule *sb_seccomp_allowed(unsigned *ret_n)
{
    *ret_n = (unsigned)(sizeof(allowed) / sizeof(allowed[0]));
    return allowed;
}

static void ctx_releasep(scmp_filter_ctx *ctx)
{
    if (*ctx)
        seccomp_release(*ctx);
}

static int by_nr_desc(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x < y) - (x > y);
}

static int add_rules(scmp_filter_ctx ctx, mrun_err *err)
{
    enum { N = sizeof(allowed) / sizeof(allowed[0]) };
    struct {
        int nr; /* first, for by_nr_desc */
        unsigned row;
    } order[N];
    for (unsigned i = 0; i < N; i++) {
        order[i].nr = seccomp_syscall_resolve_name(allowed[i].name);
        order[i].row = i;
        if (order[i].nr == __NR_SCMP_ERROR)
            return mrun_err_setx(err, EINVAL, "syscall '%s' unknown to libseccomp", allowed[i].name);
    }
    /* libseccomp keeps its syscall list sorted and walks it from the low end on every insert: adding the
     * highest number first makes each insert O(1), about 0.1 ms less for this table (docs/seccomp.md, "Cost") */
    qsort(order, N, sizeof(order[0]), by_nr_desc);
    for (unsigned i = 0; i < N; i++) {
        const char *name = allowed[order[i].row].name;
        int (*add)(scmp_filter_ctx, int) = NULL;
        for (size_t j = 0; j < sizeof(arg_rules) / sizeof(arg_rules[0]); j++)
            if (strcmp(arg_rules[j].name, name) == 0)
                add = arg_rules[j].add;
        int rc = add ? add(ctx, order[i].nr) : seccomp_rule_add_exact(ctx, SCMP_ACT_ALLOW, order[i].nr, 0);
        if (rc < 0)
            return mrun_err_set(err, -rc, "rule for '%s'", name);
    }
    /* clone3's flags sit in a struct seccomp can't read, so it can't be checked like clone. ENOSYS rather than
     * EPERM makes glibc (pthread_create, posix_spawn) fall back to clone, which is checked above. */
    int rc = seccomp_rule_add_exact(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
    if (rc < 0)
        return mrun_err_set(err, -rc, "rule for 'clone3'");
    return 0;
}

/* libseccomp 2.5 exports only to a descriptor, so the program goes through a memfd and back into memory. */
static int export_bpf(scmp_filter_ctx ctx, struct sock_fprog *ret_prog, mrun_err *err)
{
    mrun_autoclose int fd = memfd_create("mrun-seccomp", MFD_CLOEXEC);
    if (fd < 0)
        return mrun_err_set(err, errno, "memfd_create");
    int rc = seccomp_export_bpf(ctx, fd);
    if (rc < 0)
        return mrun_err_set(err, -rc, "seccomp_export_bpf");
    struct stat st;
    if (fstat(fd, &st) < 0)
        return mrun_err_set(err, errno, "fstat memfd");
    size_t size = (size_t)st.st_size;
    /* the kernel takes at most BPF_MAXINSNS instructions; more would fail only at load time, in the child */
    if (size == 0 || size % sizeof(struct sock_filter) != 0 || size / sizeof(struct sock_filter) > BPF_MAXINSNS)
        return mrun_err_setx(err, E2BIG, "seccomp program of %zu bytes is not 1..%d instructions", size, BPF_MAXINSNS);
    mrun_autofree struct sock_filter *filter = malloc(size);
    if (!filter)
        return mrun_err_set(err, ENOMEM, "seccomp program");
    for (size_t got = 0; got < size;) {
        ssize_t n = pread(fd, (char *)filter + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return mrun_err_set(err, errno, "read memfd");
        if (n == 0)
            return mrun_err_setx(err, EPROTO, "memfd shrank while reading the seccomp program");
        got += (size_t)n;
    }
    ret_prog->len = (unsigned short)(size / sizeof(struct sock_filter));
    ret_prog->filter = mrun_steal_ptr(&filter);
    return 0;
}

int sb_seccomp_build(struct sock_fprog *ret_prog, mrun_err *err)
{
    mrun_cleanup(ctx_releasep) scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
    if (!ctx)
        return mrun_err_set(err, ENOMEM, "seccomp_init");
    int rc;
    /* Only the native arch is in the filter. An i386 (int 0x80) or x32 (nr | 0x40000000) call would be read
     * against the wrong syscall table, so it kills the process rather than failing: libseccomp emits the x32
     * bit check for an x86_64 filter and sends it to this action too. */
    if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) < 0)
        return mrun_err_set(err, -rc, "seccomp bad-arch action");
    /* A binary search over syscall numbers instead of a linear chain. It takes ~0.3 ms longer to build, but the
     * kernel's load-time pass over it (filling its per-syscall action cache) is ~0.2 ms shorter, and calls that
     * do run the BPF (ioctl, clone, socket, refused ones) take a few compares instead of up to ~300. */
    if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2)) < 0)
        return mrun_err_set(err, -rc, "seccomp optimize");
    /* real errnos from the export's write() instead of libseccomp's blanket ECANCELED */
    if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1)) < 0)
        return mrun_err_set(err, -rc, "seccomp raw return codes");
    if (add_rules(ctx, err) < 0)
        return mrun_err_prefix(err, "seccomp policy");
    return export_bpf(ctx, ret_prog, err);
}

void sb_seccomp_release(struct sock_fprog *prog)
{
    if (!prog)
        return;
    free(prog->filter);
    prog->filter = NULL;
    prog->len = 0;
}
