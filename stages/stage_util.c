/* stage_util.c - what the built-in stages share: writing a report into the untrusted workspace without following a
 * symlink out of it, and telling the log which files a check skipped. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stages_int.h"

void mrun_stage_log_skip(void *ctx, const char *path, const char *reason)
{
    const mrun_stage_ctx *sc = ctx;
    char line[700];
    int n = snprintf(line, sizeof(line), "skipped %.512s (%s)\n", path, reason);
    if (n > 0)
        sc->log(sc->log_ctx, 2, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* Opens rel for writing beneath ws_fd, creating parent directories, never through a symlink. */
int mrun_stage_create_file(int ws_fd, const char *rel, mrun_err *err)
{
    if (rel[0] == '/' || strstr(rel, ".."))
        return mrun_err_setx(err, EINVAL, "'%s' must be a relative path without '..'", rel);
    char buf[1024];
    if (snprintf(buf, sizeof(buf), "%s", rel) >= (int)sizeof(buf))
        return mrun_err_setx(err, E2BIG, "path too long");
    int dfd = dup(ws_fd);
    char *p = buf;
    for (char *slash; dfd >= 0 && (slash = strchr(p, '/')) != NULL; p = slash + 1) {
        *slash = '\0';
        if (*p && mkdirat(dfd, p, 0755) < 0 && errno != EEXIST) {
            close(dfd);
            return mrun_err_set(err, errno, "'%s'", rel);
        }
        int next = *p ? openat(dfd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : dup(dfd);
        close(dfd);
        dfd = next;
    }
    if (dfd < 0)
        return mrun_err_set(err, errno, "'%s'", rel);
    int fd = openat(dfd, p, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    int e = errno;
    close(dfd);
    return fd >= 0 ? fd : mrun_err_set(err, e, "'%s'", rel);
}
