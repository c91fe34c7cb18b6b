/* orphan.c - payload that leaves processes behind, for the host to look for after the sandbox has gone.
 *
 *   orphan daemon MARKER      double fork + setsid; the grandchild keeps stdout/stderr open, ignores SIGTERM,
 *                             SIGHUP and SIGINT and sleeps for up to 5 minutes; the caller exits 0 once it runs
 *   orphan idle MARKER SECS   sleep SECS, exit 0 early on SIGTERM (a process the host can find and stop)
 *
 * The lingering process upper-cases MARKER in its own argv, so on the host it is the only process whose
 * /proc/PID/cmdline contains the upper-case marker: the `mrun` command line holds only the lower-case one. */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void upcase(char *s)
{
    for (; *s; s++)
        *s = (char)toupper((unsigned char)*s);
}

static void set_handler(int sig, void (*fn)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    sigaction(sig, &sa, NULL);
}

static void exit_now(int sig)
{
    (void)sig;
    _exit(0);
}

static int daemon_mode(char *marker)
{
    int ready[2];
    if (pipe(ready) < 0) {
        perror("orphan: pipe");
        return 1;
    }
    pid_t child = fork();
    if (child < 0) {
        perror("orphan: fork");
        return 1;
    }
    if (child == 0) {
        setsid();
        pid_t grandchild = fork();
        if (grandchild != 0)
            _exit(grandchild < 0 ? 1 : 0);
        upcase(marker);
        set_handler(SIGTERM, SIG_IGN);
        set_handler(SIGHUP, SIG_IGN);
        set_handler(SIGINT, SIG_IGN);
        close(ready[0]);
        if (write(ready[1], "r", 1) != 1)
            _exit(1);
        close(ready[1]);
        for (int i = 0; i < 300; i++)
            sleep(1);
        _exit(0);
    }
    close(ready[1]);
    int st = 0;
    waitpid(child, &st, 0);
    char c;
    if (read(ready[0], &c, 1) != 1) {
        fprintf(stderr, "orphan: the daemon did not start\n");
        return 1;
    }
    printf("orphan: daemon running\n");
    fflush(stdout);
    return 0;
}

static int idle_mode(char *marker, const char *secs)
{
    long n = strtol(secs, NULL, 10);
    upcase(marker);
    set_handler(SIGTERM, exit_now);
    printf("orphan: idle for %ld s\n", n);
    fflush(stdout);
    for (long i = 0; i < n; i++)
        sleep(1);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "daemon") == 0)
        return daemon_mode(argv[2]);
    if (argc == 4 && strcmp(argv[1], "idle") == 0)
        return idle_mode(argv[2], argv[3]);
    fprintf(stderr, "usage: orphan daemon MARKER | orphan idle MARKER SECS\n");
    return 2;
}
