/* probe.c - hostile payload run inside `mrun sandbox`: tries forbidden things and reports what the kernel said.
 *
 * `probe check NAME...` runs each named attempt from the table and prints "PASS name: got X" or
 * "FAIL name: got X, want Y"; it exits 1 if any attempt did not end as the table expects, 2 on bad usage.
 * The other verbs only report ("verb args: RESULT") and leave the judging to run.sh. RESULT is "ok" or the
 * errno name. Built statically so that it runs whatever the sandbox's /lib looks like. */
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <linux/sched.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef AF_ALG
#define AF_ALG 38
#endif

static const char *ename(int e)
{
    static char buf[32];
    if (e == 0)
        return "ok";
    const char *n = strerrorname_np(e);
    if (n)
        return n;
    snprintf(buf, sizeof(buf), "E%d", e);
    return buf;
}

/* Each attempt returns 0 when the kernel let it through, otherwise the errno it got. */
static int rc(long r)
{
    return r < 0 ? errno : 0;
}

/* A child that only waits to be killed, as a target for ptrace and process_vm_*. */
static pid_t idle_child(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 30; i++)
            sleep(1);
        _exit(0);
    }
    return pid;
}

static void reap(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
}

static int try_mount(void)
{
    mkdir("/tmp/probe-mnt", 0755);
    int e = rc(mount("none", "/tmp/probe-mnt", "tmpfs", 0, ""));
    if (e == 0)
        umount2("/tmp/probe-mnt", MNT_DETACH);
    return e;
}

static int try_umount(void)
{
    return rc(umount2("/proc", MNT_DETACH));
}

static int try_pivot_root(void)
{
    return rc(syscall(SYS_pivot_root, "/tmp", "/tmp"));
}

static int try_chroot(void)
{
    return rc(chroot("/tmp"));
}

static int try_ptrace_attach(void)
{
    pid_t pid = idle_child();
    if (pid < 0)
        return errno;
    int e = rc(ptrace(PTRACE_ATTACH, pid, NULL, NULL));
    reap(pid);
    return e;
}

static int try_ptrace_traceme(void)
{
    int p[2];
    if (pipe(p) < 0)
        return errno;
    pid_t pid = fork();
    if (pid == 0) {
        int e = rc(ptrace(PTRACE_TRACEME, 0, NULL, NULL));
        ssize_t n = write(p[1], &e, sizeof(e));
        _exit(n == sizeof(e) ? 0 : 1);
    }
    int e = EIO;
    if (pid < 0 || read(p[0], &e, sizeof(e)) != sizeof(e))
        e = EIO;
    reap(pid);
    close(p[0]);
    close(p[1]);
    return e;
}

static int try_process_vm(int writing)
{
    static char target[16] = "target";
    char local[16];
    pid_t pid = idle_child();
    if (pid < 0)
        return errno;
    struct iovec l = {local, sizeof(local)}, r = {target, sizeof(target)};
    long n = writing ? syscall(SYS_process_vm_writev, pid, &l, 1, &r, 1, 0)
                     : syscall(SYS_process_vm_readv, pid, &l, 1, &r, 1, 0);
    int e = rc(n);
    reap(pid);
    return e;
}

static int try_process_vm_readv(void)
{
    return try_process_vm(0);
}

static int try_process_vm_writev(void)
{
    return try_process_vm(1);
}

static int try_kexec_load(void)
{
    return rc(syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0UL));
}

static int try_kexec_file_load(void)
{
    return rc(syscall(SYS_kexec_file_load, -1, -1, 0UL, "", 0UL));
}

static int try_init_module(void)
{
    static char image[64];
    return rc(syscall(SYS_init_module, image, sizeof(image), ""));
}

static int try_finit_module(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int e = rc(syscall(SYS_finit_module, fd, "", 0));
    close(fd);
    return e;
}

static int try_delete_module(void)
{
    return rc(syscall(SYS_delete_module, "mrun_no_such_module", O_NONBLOCK));
}

static int try_bpf(void)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.map_type = BPF_MAP_TYPE_ARRAY;
    attr.key_size = 4;
    attr.value_size = 4;
    attr.max_entries = 1;
    long fd = syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof(attr));
    if (fd >= 0)
        close((int)fd);
    return rc(fd);
}

static int try_perf_event_open(void)
{
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.type = PERF_TYPE_SOFTWARE;
    attr.size = sizeof(attr);
    attr.config = PERF_COUNT_SW_CPU_CLOCK;
    attr.disabled = 1;
    attr.exclude_kernel = 1;
    long fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0UL);
    if (fd >= 0)
        close((int)fd);
    return rc(fd);
}

static int try_keyctl(void)
{
    return rc(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
}

static int try_add_key(void)
{
    return rc(syscall(SYS_add_key, "user", "mrun-probe", "x", 1UL, KEY_SPEC_PROCESS_KEYRING));
}

static int try_request_key(void)
{
    return rc(syscall(SYS_request_key, "user", "mrun-probe", NULL, KEY_SPEC_PROCESS_KEYRING));
}

static int try_unshare_user(void)
{
    return rc(unshare(CLONE_NEWUSER));
}

static int try_unshare_mnt(void)
{
    return rc(unshare(CLONE_NEWNS));
}

static int try_unshare_net(void)
{
    return rc(unshare(CLONE_NEWNET));
}

static int try_setns(void)
{
    int fd = open("/proc/self/ns/uts", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    int e = rc(setns(fd, 0));
    close(fd);
    return e;
}

/* Raw clone with namespace flags and no new stack: the child returns here like a fork and leaves at once. */
static int try_clone_flags(unsigned long flags)
{
    long pid = syscall(SYS_clone, flags | SIGCHLD, 0UL, NULL, NULL, 0UL);
    if (pid == 0)
        _exit(0);
    int e = rc(pid);
    if (pid > 0)
        waitpid((pid_t)pid, NULL, 0);
    return e;
}

static int try_clone_newuser(void)
{
    return try_clone_flags(CLONE_NEWUSER);
}

static int try_clone_newns(void)
{
    return try_clone_flags(CLONE_NEWNS);
}

static int try_clone_newpid(void)
{
    return try_clone_flags(CLONE_NEWPID);
}

static int try_clone_newnet(void)
{
    return try_clone_flags(CLONE_NEWNET);
}

static int try_clone_plain(void)
{
    return try_clone_flags(0);
}

static int try_clone3(void)
{
    struct clone_args args;
    memset(&args, 0, sizeof(args));
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof(args));
    if (pid == 0)
        _exit(0);
    int e = rc(pid);
    if (pid > 0)
        waitpid((pid_t)pid, NULL, 0);
    return e;
}

static int try_fork(void)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    int e = rc(pid);
    if (pid > 0)
        waitpid(pid, NULL, 0);
    return e;
}

static int try_open_by_handle_at(void)
{
    union {
        struct file_handle fh;
        char buf[sizeof(struct file_handle) + 64];
    } h;
    memset(&h, 0, sizeof(h));
    h.fh.handle_bytes = 8;
    h.fh.handle_type = 1;
    long fd = syscall(SYS_open_by_handle_at, AT_FDCWD, &h.fh, O_RDONLY);
    if (fd >= 0)
        close((int)fd);
    return rc(fd);
}

static int try_userfaultfd(void)
{
    long fd = syscall(SYS_userfaultfd, O_CLOEXEC);
    if (fd >= 0)
        close((int)fd);
    return rc(fd);
}

static int try_io_uring_setup(void)
{
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    long fd = syscall(SYS_io_uring_setup, 4, &p);
    if (fd >= 0)
        close((int)fd);
    return rc(fd);
}

/* CAD_OFF only toggles ctrl-alt-del handling; it never halts anything even if it got through. */
static int try_reboot(void)
{
    return rc(syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_CAD_OFF, NULL));
}

static int try_swapon(void)
{
    return rc(syscall(SYS_swapon, "/tmp/mrun-no-such-swap", 0));
}

/* Sets the clock to what it already is, so a leak would be harmless but visible. */
static int try_settimeofday(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return rc(syscall(SYS_settimeofday, &tv, NULL));
}

static int try_mknod(void)
{
    int e = rc(mknod("/tmp/probe-null", S_IFCHR | 0666, makedev(1, 3)));
    if (e == 0)
        unlink("/tmp/probe-null");
    return e;
}

static int try_socket(int family, int type, int proto)
{
    int fd = socket(family, type | SOCK_CLOEXEC, proto);
    if (fd >= 0)
        close(fd);
    return rc(fd);
}

static int try_socket_netlink(void)
{
    return try_socket(AF_NETLINK, SOCK_RAW, 0);
}

static int try_socket_packet(void)
{
    return try_socket(AF_PACKET, SOCK_RAW, 0);
}

static int try_socket_vsock(void)
{
    return try_socket(AF_VSOCK, SOCK_STREAM, 0);
}

static int try_socket_alg(void)
{
    return try_socket(AF_ALG, SOCK_SEQPACKET, 0);
}

static int try_socket_key(void)
{
    return try_socket(AF_KEY, SOCK_RAW, 2);
}

static int try_socket_unix(void)
{
    return try_socket(AF_UNIX, SOCK_STREAM, 0);
}

static int try_socket_inet(void)
{
    return try_socket(AF_INET, SOCK_STREAM, 0);
}

static int try_socket_inet6(void)
{
    return try_socket(AF_INET6, SOCK_DGRAM, 0);
}

static int try_socketpair_unix(void)
{
    int sv[2];
    int e = rc(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
    if (e == 0) {
        close(sv[0]);
        close(sv[1]);
    }
    return e;
}

static int try_tiocsti(void)
{
    char c = 'x';
    return rc(ioctl(0, TIOCSTI, &c));
}

typedef struct attempt {
    const char *name;
    int (*fn)(void);
    int want;  /* the errno the sandbox promises; 0 = must succeed */
    int want2; /* a second acceptable errno, 0 if none */
} attempt;

static const attempt attempts[] = {
    {"mount", try_mount, EPERM, 0},
    {"umount", try_umount, EPERM, 0},
    {"pivot_root", try_pivot_root, EPERM, 0},
    {"chroot", try_chroot, EPERM, 0},
    {"ptrace_attach", try_ptrace_attach, EPERM, 0},
    {"ptrace_traceme", try_ptrace_traceme, EPERM, 0},
    {"process_vm_readv", try_process_vm_readv, EPERM, 0},
    {"process_vm_writev", try_process_vm_writev, EPERM, 0},
    {"kexec_load", try_kexec_load, EPERM, 0},
    {"kexec_file_load", try_kexec_file_load, EPERM, 0},
    {"init_module", try_init_module, EPERM, 0},
    {"finit_module", try_finit_module, EPERM, 0},
    {"delete_module", try_delete_module, EPERM, 0},
    {"bpf", try_bpf, EPERM, 0},
    {"perf_event_open", try_perf_event_open, EPERM, 0},
    {"keyctl", try_keyctl, EPERM, 0},
    {"add_key", try_add_key, EPERM, 0},
    {"request_key", try_request_key, EPERM, 0},
    {"unshare_user", try_unshare_user, EPERM, 0},
    {"unshare_mnt", try_unshare_mnt, EPERM, 0},
    {"unshare_net", try_unshare_net, EPERM, 0},
    {"setns", try_setns, EPERM, 0},
    {"clone_newuser", try_clone_newuser, EPERM, 0},
    {"clone_newns", try_clone_newns, EPERM, 0},
    {"clone_newpid", try_clone_newpid, EPERM, 0},
    {"clone_newnet", try_clone_newnet, EPERM, 0},
    {"clone3", try_clone3, ENOSYS, 0},
    {"open_by_handle_at", try_open_by_handle_at, EPERM, 0},
    {"userfaultfd", try_userfaultfd, EPERM, 0},
    {"io_uring_setup", try_io_uring_setup, EPERM, 0},
    {"reboot", try_reboot, EPERM, 0},
    {"swapon", try_swapon, EPERM, 0},
    {"settimeofday", try_settimeofday, EPERM, 0},
    {"mknod", try_mknod, EPERM, 0},
    {"socket_netlink", try_socket_netlink, EPERM, 0},
    {"socket_packet", try_socket_packet, EPERM, 0},
    {"socket_vsock", try_socket_vsock, EPERM, 0},
    {"socket_alg", try_socket_alg, EPERM, 0},
    {"socket_key", try_socket_key, EPERM, 0},
    {"tiocsti", try_tiocsti, EPERM, EIO},
    /* What the job must still be able to do: the allow-list must not be so tight that builds break. */
    {"socket_unix", try_socket_unix, 0, 0},
    {"socketpair_unix", try_socketpair_unix, 0, 0},
    {"socket_inet", try_socket_inet, 0, 0},
    {"socket_inet6", try_socket_inet6, 0, 0},
    {"fork", try_fork, 0, 0},
    {"clone_plain", try_clone_plain, 0, 0},
};

/* Runs one attempt in a child, so that an attempt that got through (chroot, unshare) cannot change what the
 * next one sees. Returns the child's errno, or EIO when the child did not report. */
static int run_isolated(int (*fn)(void))
{
    int p[2];
    if (pipe(p) < 0)
        return errno;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(p[0]);
        close(p[1]);
        return e;
    }
    if (pid == 0) {
        close(p[0]);
        int e = fn();
        _exit(write(p[1], &e, sizeof(e)) == sizeof(e) ? 0 : 1);
    }
    close(p[1]);
    int e = EIO;
    if (read(p[0], &e, sizeof(e)) != sizeof(e))
        e = EIO;
    close(p[0]);
    waitpid(pid, NULL, 0);
    return e;
}

static int check(int argc, char **argv)
{
    int failed = 0;
    for (int i = 0; i < argc; i++) {
        const attempt *a = NULL;
        for (size_t j = 0; j < sizeof(attempts) / sizeof(attempts[0]); j++)
            if (strcmp(attempts[j].name, argv[i]) == 0)
                a = &attempts[j];
        if (!a) {
            printf("FAIL %s: no such attempt in probe.c\n", argv[i]);
            failed = 1;
            continue;
        }
        /* fork and clone are what run_isolated itself needs, so they run here. */
        int got = a->want == 0 ? a->fn() : run_isolated(a->fn);
        if (got == a->want || (a->want2 && got == a->want2)) {
            printf("PASS %s: got %s\n", a->name, ename(got));
        } else {
            printf("FAIL %s: got %s, want %s", a->name, ename(got), ename(a->want));
            if (a->want2)
                printf(" or %s", ename(a->want2));
            printf("\n");
            failed = 1;
        }
    }
    return failed;
}

/* Creates path (and removes it again if that worked). */
static int do_create(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    int e = rc(fd);
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
    printf("create %s: %s\n", path, ename(e));
    return 0;
}

/* Opens an existing path for writing, without changing it. */
static int do_openw(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    int e = rc(fd);
    if (fd >= 0)
        close(fd);
    printf("openw %s: %s\n", path, ename(e));
    return 0;
}

static int do_write(const char *path, const char *data)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    int e = rc(fd);
    if (fd >= 0) {
        if (write(fd, data, strlen(data)) < 0)
            e = errno;
        close(fd);
    }
    printf("write %s: %s\n", path, ename(e));
    return 0;
}

/* TCP connect with a 2 s limit; ETIMEDOUT when nothing answered. */
static int connect_to(const struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno;
    int e = 0;
    if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
        e = errno;
        if (e == EINPROGRESS) {
            struct pollfd p = {fd, POLLOUT, 0};
            int n = poll(&p, 1, 2000);
            socklen_t len = sizeof(e);
            if (n == 0)
                e = ETIMEDOUT;
            else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
                e = errno;
        }
    }
    close(fd);
    return e;
}

static int do_connect(const char *ip, const char *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)strtol(port, NULL, 10))};
    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
        fprintf(stderr, "probe: bad address '%s'\n", ip);
        return 2;
    }
    printf("connect %s:%s: %s\n", ip, port, ename(connect_to(&sa)));
    return 0;
}

/* Listens on 127.0.0.1 and connects to itself: works only when lo is up. */
static int do_loopback(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int e = 0;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0 ||
        getsockname(l, (struct sockaddr *)&sa, &len) < 0)
        e = errno;
    else
        e = connect_to(&sa);
    printf("loopback: %s\n", ename(e));
    if (l >= 0)
        close(l);
    return 0;
}

static int do_killall(void)
{
    printf("killall: %s\n", ename(rc(kill(-1, SIGKILL))));
    return 0;
}

static int do_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) {
        printf("fds: %s\n", ename(errno));
        return 1;
    }
    printf("fds:");
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.' || strtol(de->d_name, NULL, 10) == dirfd(d))
            continue;
        char target[256] = "";
        char link[300];
        snprintf(link, sizeof(link), "/proc/self/fd/%s", de->d_name);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = 0;
        printf(" %s=%s", de->d_name, target);
    }
    printf("\n");
    closedir(d);
    return 0;
}

/* The terminal story: is stdin a tty, do we have a controlling terminal, can we push input into it. */
static int do_tty(void)
{
    unsigned long long tty_nr = 0;
    char stat[1024] = "";
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, stat, sizeof(stat) - 1);
        stat[n > 0 ? n : 0] = 0;
        close(fd);
    }
    const char *p = strrchr(stat, ')');
    if (p)
        sscanf(p + 1, " %*c %*d %*d %*d %llu", &tty_nr); /* state ppid pgrp session tty_nr */
    printf("isatty: %d\n", isatty(0));
    printf("tty_nr: %llu\n", tty_nr);
    printf("session_leader: %d\n", getsid(0) == getpid());
    fd = open("/dev/tty", O_RDWR | O_CLOEXEC);
    printf("devtty: %s\n", ename(rc(fd)));
    if (fd >= 0)
        close(fd);
    printf("tiocsti: %s\n", ename(try_tiocsti()));
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: probe check NAME... | create PATH | openw PATH | write PATH DATA | connect IP PORT |\n"
                    "       loopback | killall | fds | tty\n");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        usage();
        return 2;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "check") == 0 && argc > 2)
        return check(argc - 2, argv + 2);
    if (strcmp(verb, "create") == 0 && argc == 3)
        return do_create(argv[2]);
    if (strcmp(verb, "openw") == 0 && argc == 3)
        return do_openw(argv[2]);
    if (strcmp(verb, "write") == 0 && argc == 4)
        return do_write(argv[2], argv[3]);
    if (strcmp(verb, "connect") == 0 && argc == 4)
        return do_connect(argv[2], argv[3]);
    if (strcmp(verb, "loopback") == 0)
        return do_loopback();
    if (strcmp(verb, "killall") == 0)
        return do_killall();
    if (strcmp(verb, "fds") == 0)
        return do_fds();
    if (strcmp(verb, "tty") == 0)
        return do_tty();
    usage();
    return 2;
}
