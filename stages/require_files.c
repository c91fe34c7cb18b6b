/* require_files.c - `uses: require-files`: the smallest useful built-in, and the proof of the registry. Each path
 * must name a regular file inside the workspace, reached without following any symlink. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stages_int.h"

#define MAX_PATHS 256

const char *mrun_stage_opt_get(const mrun_stage_ctx *ctx, const char *key)
{
    for (size_t i = 0; i < ctx->n_with; i++)
        if (strcmp(ctx->with[i].key, key) == 0)
            return ctx->with[i].value;
    return NULL;
}

static void say(const mrun_stage_ctx *ctx, int stream, const char *what, const char *path, size_t len)
{
    char line[600];
    int n = snprintf(line, sizeof(line), "require-files: %s %.*s\n", what, (int)(len > 256 ? 256 : len), path);
    if (n > 0)
        ctx->log(ctx->log_ctx, stream, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* 1 when path[0..len) is a regular file beneath the workspace, reached without symlinks or "..". */
static int check_one(const mrun_stage_ctx *ctx, const char *path, size_t len)
{
    char rel[4096];
    if (len == 0 || len >= sizeof(rel))
        return 0;
    memcpy(rel, path, len);
    rel[len] = '\0';
    struct open_how how = {.flags = O_PATH | O_CLOEXEC | O_NOFOLLOW,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
    int fd = (int)syscall(SYS_openat2, ctx->workspace_fd, rel, &how, sizeof(how));
    if (fd < 0)
        return 0;
    struct stat st;
    int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    close(fd);
    return ok;
}

int mrun_stage_require_files(const mrun_stage_ctx *ctx, mrun_err *err)
{
    const char *paths = mrun_stage_opt_get(ctx, "paths");
    if (!paths)
        return mrun_err_setx(err, EINVAL, "require-files: missing option 'paths'");
    int missing = 0, n = 0;
    for (const char *p = paths; *p;) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        size_t len = strcspn(p, " \t\n");
        if (len == 0)
            break;
        if (++n > MAX_PATHS)
            return mrun_err_setx(err, E2BIG, "require-files: more than %d paths", MAX_PATHS);
        if (check_one(ctx, p, len)) {
            say(ctx, 1, "ok     ", p, len);
        } else {
            say(ctx, 1, "MISSING (not a regular file inside the workspace):", p, len);
            missing++;
        }
        p += len;
    }
    return missing ? 1 : 0;
}
