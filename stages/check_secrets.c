/* check_secrets.c - the secret scan as a whole check: walk a workspace, scan each text file, apply inline and
 * baseline suppressions. Shared by `mrun scan secrets` and the `secret-scan` built-in stage. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/auto.h"
#include "findings.h"
#include "secrets.h"
#include "stages.h"

typedef struct walk_ctx {
    const mrun_secrets *sec;
    mrun_findings *out;
    mrun_check_skip_fn skip;
    void *skip_ctx;
} walk_ctx;

static int on_file(void *ctx, const char *path, const uint8_t *buf, size_t len, mrun_err *err)
{
    walk_ctx *w = ctx;
    size_t before = mrun_findings_count(w->out);
    if (mrun_secrets_scan(w->sec, path, buf, len, w->out, err) < 0)
        return mrun_err_prefix(err, "%s", path);
    /* inline `mrun:allow` comments need the file's text: apply them while it is mapped */
    if (mrun_findings_count(w->out) > before)
        mrun_findings_apply_inline(w->out, path, buf, len);
    return 0;
}

static void on_skip(void *ctx, const char *path, const char *reason)
{
    walk_ctx *w = ctx;
    if (w->skip)
        w->skip(w->skip_ctx, path, reason);
}

int mrun_check_secrets(int root_fd, const mrun_check_opts *o, mrun_findings *out, mrun_scan_stats *ret_stats,
                       mrun_err *err)
{
    mrun_secrets *sec = NULL;
    if (mrun_secrets_new(&sec, err) < 0)
        return -1;
    walk_ctx w = {.sec = sec, .out = out, .skip = o->skip, .skip_ctx = o->skip_ctx};
    int r = mrun_scan_walk(root_fd, o->max_file_bytes, on_file, on_skip, &w, ret_stats, err);
    mrun_secrets_free(sec);
    if (r < 0)
        return -1;
    if (o->baseline) {
        mrun_autoclose int fd = openat(o->baseline_dirfd, o->baseline, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
            if (errno == ENOENT && o->baseline_optional)
                return 0;
            return mrun_err_set(err, errno, "baseline '%s'", o->baseline);
        }
        struct stat st;
        if (fstat(fd, &st) < 0 || st.st_size > (16 << 20))
            return mrun_err_setx(err, E2BIG, "baseline '%s' is missing or larger than 16 MiB", o->baseline);
        mrun_autofree uint8_t *buf = malloc((size_t)st.st_size + 1);
        if (!buf || read(fd, buf, (size_t)st.st_size) != st.st_size)
            return mrun_err_set(err, EIO, "baseline '%s'", o->baseline);
        if (mrun_findings_apply_baseline(out, buf, (size_t)st.st_size, err) < 0)
            return mrun_err_prefix(err, "baseline '%s'", o->baseline);
    }
    return 0;
}
