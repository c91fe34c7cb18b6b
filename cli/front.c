/* front.c - the `mrun` command people and scripts run. It handles `mrun sandbox` itself, linked with nothing but
 * libc (the sandbox's start time is most of a step's overhead, and the dynamic loader would spend ~10 ms on the
 * 50-odd shared libraries the other subcommands need), and hands every other subcommand to `mrun-core`, installed
 * beside it, with the same arguments. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "sandbox") == 0)
        return mrun_cmd_sandbox(argc - 1, argv + 1);
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 16);
    if (n <= 0) {
        fprintf(stderr, "mrun: cannot find my own path: %s\n", strerror(errno));
        return 125;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash)
        return 125;
    memcpy(slash + 1, "mrun-core", sizeof("mrun-core"));
    execv(self, argv);
    fprintf(stderr, "mrun: %s: %s (it is installed beside mrun)\n", self, strerror(errno));
    return 125;
}
