/* hog.c - hostile payload that tries to exhaust a resource inside `mrun sandbox`, and says how far it got.
 *
 *   hog forkbomb MARKER MAX    fork children that idle, until fork fails or MAX; "forkbomb: E after N children"
 *   hog memhog NPROC MB        NPROC processes each touch MB MiB; "memhog: all ... resident" means no limit held
 *   hog fill PATH MB           append 1 MiB blocks to PATH; "fill: E after N bytes"
 *   hog fillfiles DIR MAX SIZE create files of SIZE bytes in DIR; "fillfiles: E after N files"
 *
 * Every line is flushed at once, so what the host saw is what happened even if the hog is killed next.
 * MARKER is upper-cased in place, so the host can find these processes by their cmdline without matching the
 * `mrun` command line (which holds the lower-case original). Everything gives up on its own after a minute,
 * so a broken sandbox leaks processes for a minute, not forever. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *ename(int e)
{
    const char *n = e ? strerrorname_np(e) : "ok";
    return n ? n : "E?";
}

static long num(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < 0) {
        fprintf(stderr, "hog: bad number '%s'\n", s);
        exit(2);
    }
    return v;
}

static void upcase(char *s)
{
    for (; *s; s++)
        *s = (char)toupper((unsigned char)*s);
}

static void idle_then_exit(void)
{
    for (int i = 0; i < 60; i++)
        sleep(1);
    _exit(0);
}

static int forkbomb(char *marker, long max)
{
    upcase(marker);
    long n = 0;
    int e = 0;
    for (; n < max; n++) {
        pid_t pid = fork();
        if (pid == 0)
            idle_then_exit();
        if (pid < 0) {
            e = errno;
            break;
        }
    }
    printf("forkbomb: %s after %ld children\n", ename(e), n);
    return 0;
}

/* Keeps the hogged memory reachable, so that the compiler can neither drop the malloc nor the stores. */
static char *volatile hoard;

/* Touches every page so that the memory is really resident, not just reserved. */
static int touch(long mb)
{
    size_t len = (size_t)mb << 20;
    volatile char *p = malloc(len);
    if (!p)
        return ENOMEM;
    for (size_t i = 0; i < len; i += 4096)
        p[i] = 1;
    hoard = (char *)p;
    return 0;
}

static int memhog(long nproc, long mb)
{
    if (nproc == 1) {
        int e = touch(mb);
        if (e) {
            printf("memhog: malloc: %s\n", ename(e));
            return 5;
        }
        printf("memhog: all 1 x %ld MiB resident\n", mb);
        return 0;
    }
    int p[2];
    if (pipe(p) < 0)
        return 9;
    for (long i = 0; i < nproc; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            printf("memhog: fork: %s after %ld\n", ename(errno), i);
            return 7;
        }
        if (pid == 0) {
            close(p[0]);
            if (touch(mb) != 0)
                _exit(5);
            if (write(p[1], "r", 1) != 1)
                _exit(6);
            idle_then_exit();
        }
    }
    close(p[1]);
    long ready = 0;
    for (int tick = 0; tick < 300 && ready < nproc; tick++) {
        struct pollfd pf = {p[0], POLLIN, 0};
        char c;
        if (poll(&pf, 1, 100) > 0 && read(p[0], &c, 1) == 1)
            ready++;
        int st;
        pid_t dead = waitpid(-1, &st, WNOHANG);
        if (dead > 0) {
            if (WIFSIGNALED(st))
                printf("memhog: a child was killed by signal %d with %ld of %ld ready\n", WTERMSIG(st), ready, nproc);
            else
                printf("memhog: a child exited with %d with %ld of %ld ready\n", WEXITSTATUS(st), ready, nproc);
            return 3;
        }
    }
    if (ready < nproc) {
        printf("memhog: only %ld of %ld ready after 30 s\n", ready, nproc);
        return 6;
    }
    printf("memhog: all %ld x %ld MiB resident\n", nproc, mb);
    return 0;
}

/* SIGXFSZ is ignored so that RLIMIT_FSIZE shows up as EFBIG instead of killing us. */
static void ignore_sigxfsz(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGXFSZ, &sa, NULL);
}

static int fill(const char *path, long mb)
{
    static char block[1 << 20];
    memset(block, 'f', sizeof(block));
    ignore_sigxfsz();
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        printf("fill: open: %s\n", ename(errno));
        return 1;
    }
    long long total = 0;
    int e = 0;
    for (long i = 0; i < mb && !e;) {
        ssize_t n = write(fd, block, sizeof(block));
        if (n < 0) {
            e = errno;
            break;
        }
        total += n;
        if (n == (ssize_t)sizeof(block))
            i++;
    }
    /* On some filesystems ENOSPC appears only when the data is written back. */
    if (!e && fsync(fd) < 0)
        e = errno;
    if (close(fd) < 0 && !e)
        e = errno;
    printf("fill: %s after %lld bytes\n", ename(e), total);
    return 0;
}

static int fillfiles(const char *dir, long max, long size)
{
    char *buf = calloc(1, (size_t)size + 1);
    if (!buf)
        return 9;
    memset(buf, 's', (size_t)size);
    ignore_sigxfsz();
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        printf("fillfiles: mkdir: %s\n", ename(errno));
        return 1;
    }
    long n = 0;
    int e = 0;
    for (; n < max && !e; n++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/f%06ld", dir, n);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            e = errno;
            break;
        }
        ssize_t w = write(fd, buf, (size_t)size);
        if (w < 0)
            e = errno;
        else if (w < size)
            e = ENOSPC; /* a short write is how a full filesystem answers first */
        if (close(fd) < 0 && !e)
            e = errno;
        if (e)
            break;
    }
    printf("fillfiles: %s after %ld files\n", ename(e), n);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 4 && strcmp(argv[1], "forkbomb") == 0)
        return forkbomb(argv[2], num(argv[3]));
    if (argc == 4 && strcmp(argv[1], "memhog") == 0)
        return memhog(num(argv[2]), num(argv[3]));
    if (argc == 4 && strcmp(argv[1], "fill") == 0)
        return fill(argv[2], num(argv[3]));
    if (argc == 5 && strcmp(argv[1], "fillfiles") == 0)
        return fillfiles(argv[2], num(argv[3]), num(argv[4]));
    fprintf(stderr, "usage: hog forkbomb MARKER MAX | memhog NPROC MB | fill PATH MB | fillfiles DIR MAX SIZE\n");
    return 2;
}
