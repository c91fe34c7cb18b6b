/* checks.c - a check as a whole: walk a workspace, scan each text file with the check's scanner, apply inline and
 * baseline suppressions. Shared by `mrun scan` and the built-in stages (secret-scan, llm-lint). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/auto.h"
#include "findings.h"
#include "lint.h"
#include "testpresence.h"
#include "secrets.h"
#include "stages.h"
#include "stages_int.h"

/* One file's scan; state is the check's compiled matcher (or NULL). */
typedef int (*scan_fn)(const void *state, const char *path, const uint8_t *buf, size_t len, mrun_findings *out,
                       mrun_err *err);

typedef struct walk_ctx {
    scan_fn scan;
    const void *state;
    mrun_findings *out;
    mrun_check_skip_fn skip;
    void *skip_ctx;
} walk_ctx;

static int on_file(void *ctx, const char *path, const uint8_t *buf, size_t len, mrun_err *err)
{
    walk_ctx *w = ctx;
    size_t before = mrun_findings_count(w->out);
    if (w->scan(w->state, path, buf, len, w->out, err) < 0)
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

static int scan_secrets(const void *state, const char *path, const uint8_t *buf, size_t len, mrun_findings *out,
                        mrun_err *err)
{
    return mrun_secrets_scan(state, path, buf, len, out, err);
}

static int scan_lint(const void *state, const char *path, const uint8_t *buf, size_t len, mrun_findings *out,
                     mrun_err *err)
{
    (void)state;
    return mrun_lint_scan(path, buf, len, out, err);
}


static int run_check(int root_fd, scan_fn scan, const void *state, const mrun_check_opts *o, mrun_findings *out,
                     mrun_scan_stats *ret_stats, mrun_err *err)
{
    walk_ctx w = {.scan = scan, .state = state, .out = out, .skip = o->skip, .skip_ctx = o->skip_ctx};
    if (mrun_scan_walk(root_fd, o->max_file_bytes, on_file, on_skip, &w, ret_stats, err) < 0)
        return -1;
    return mrun_check_apply_baseline(o, out, err);
}

int mrun_check_secrets(int root_fd, const mrun_check_opts *o, mrun_findings *out, mrun_scan_stats *ret_stats,
                       mrun_err *err)
{
    mrun_secrets *sec = NULL;
    if (mrun_secrets_new(&sec, err) < 0)
        return -1;
    int r = run_check(root_fd, scan_secrets, sec, o, out, ret_stats, err);
    mrun_secrets_free(sec);
    return r;
}

int mrun_check_lint(int root_fd, const mrun_check_opts *o, mrun_findings *out, mrun_scan_stats *ret_stats,
                    mrun_err *err)
{
    return run_check(root_fd, scan_lint, NULL, o, out, ret_stats, err);
}

int mrun_check_tests(int root_fd, const mrun_check_opts *o, mrun_findings *out, mrun_scan_stats *ret_stats,
                     mrun_err *err)
{
    /* needs the whole tree (sources and their tests), so it walks by itself */
    mrun_testpresence_opts to = {.max_file_bytes = o->max_file_bytes,
                                 .patterns = o->test_patterns,
                                 .n_patterns = o->n_test_patterns,
                                 .skip = o->skip,
                                 .skip_ctx = o->skip_ctx};
    if (mrun_check_testpresence(root_fd, &to, out, ret_stats, err) < 0)
        return -1;
    return mrun_check_apply_baseline(o, out, err);
}

/* Findings listed in the baseline file are marked suppressed. */
int mrun_check_apply_baseline(const mrun_check_opts *o, mrun_findings *out, mrun_err *err)
{
    if (o->baseline) {
        mrun_autoclose int fd = openat(o->baseline_dirfd, o->baseline, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
            if (errno == ENOENT && o->baseline_optional)
                return 0;
            return mrun_err_set(err, errno, "baseline '%s'", o->baseline);
        }
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (16 << 20))
            return mrun_err_setx(err, E2BIG, "baseline '%s' is not a regular file of at most 16 MiB", o->baseline);
        mrun_autofree uint8_t *buf = malloc((size_t)st.st_size + 1);
        if (!buf || read(fd, buf, (size_t)st.st_size) != st.st_size)
            return mrun_err_set(err, EIO, "baseline '%s'", o->baseline);
        if (mrun_findings_apply_baseline(out, buf, (size_t)st.st_size, err) < 0)
            return mrun_err_prefix(err, "baseline '%s'", o->baseline);
    }
    return 0;
}
