/* stage_coverage.c - `uses: coverage-gate`: reads the coverage report a test step left in the workspace (never
 * through a symlink), fails below `min:` and, with `no-drop: true`, below the default branch's baseline, and hands
 * the measured coverage back (ctx->ret_coverage) for the coordinator to store as the next baseline. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../common/auto.h"
#include "coverage.h"
#include "findings.h"
#include "stages_int.h"

static const mrun_rule rules[] = {
    {"coverage-below-min", "line coverage is below the minimum",
     "add tests for the files listed with the lowest coverage",
     "The coverage gate's `min:` is the lowest line coverage the app may ship with.", MRUN_SEV_HIGH, true},
    {"coverage-dropped", "line coverage dropped below the default branch's", "add tests for the code this change added",
     "With `no-drop: true` a change may not lower line coverage below what the default branch last measured "
     "(minus `tolerance:` points).",
     MRUN_SEV_HIGH, true},
    {"coverage-no-data", "the coverage report has no line data", "check that the test step measured the app's code",
     "A report without lines cannot show that the code was tested.", MRUN_SEV_HIGH, false},
    {"coverage-file-low", "one of the files with the lowest line coverage", "add tests for this file",
     "Listed so that the fix starts where it helps most.", MRUN_SEV_LOW, true},
};

/* Reads rel beneath the workspace: openat2 refuses symlinks anywhere on the path, "..", and absolute paths. */
static int read_report(int ws_fd, const char *rel, uint8_t **ret_buf, size_t *ret_len, mrun_err *err)
{
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
    mrun_autoclose int fd = (int)syscall(SYS_openat2, ws_fd, rel, &how, sizeof(how));
    if (fd < 0)
        return mrun_err_set(err, errno, "report '%.200s'%s", rel,
                            errno == ELOOP || errno == EXDEV ? " (symlinks and paths out of the workspace are refused)"
                                                             : "");
    struct stat st;
    if (fstat(fd, &st) < 0)
        return mrun_err_set(err, errno, "report '%.200s'", rel);
    if (!S_ISREG(st.st_mode))
        return mrun_err_setx(err, EINVAL, "report '%.200s' is not a regular file", rel);
    if ((uint64_t)st.st_size > MRUN_COV_MAX_REPORT)
        return mrun_err_setx(err, E2BIG, "report '%.200s' is larger than %zu MiB", rel, MRUN_COV_MAX_REPORT >> 20);
    size_t cap = (size_t)st.st_size + 1, len = 0; /* +1: a file that grew is noticed */
    mrun_autofree uint8_t *buf = malloc(cap);
    if (!buf)
        return mrun_err_set(err, ENOMEM, "report '%.200s'", rel);
    for (ssize_t n; len < cap; len += (size_t)n) {
        n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR) {
            n = 0;
            continue;
        }
        if (n < 0)
            return mrun_err_set(err, errno, "report '%.200s'", rel);
        if (n == 0)
            break;
    }
    if (len == cap)
        return mrun_err_setx(err, EAGAIN, "report '%.200s' changed while it was read", rel);
    *ret_buf = mrun_steal_ptr(&buf);
    *ret_len = len;
    return 0;
}

static int add_findings(mrun_findings *f, const char *report, const mrun_cov_report *r, const mrun_cov_gate *g,
                        const mrun_cov_verdict *v, mrun_err *err)
{
    char val[128];
    if (v->no_lines && !v->passed)
        return mrun_findings_add(f, &rules[2], report, 0, 0, NULL, 0, err);
    if (v->below_min) {
        int n = snprintf(val, sizeof(val), "%.1f%% < min %g%%", v->percent, g->min);
        if (mrun_findings_add(f, &rules[0], report, 0, 0, val, (size_t)n, err) < 0)
            return -1;
    }
    if (v->dropped) {
        int n = snprintf(val, sizeof(val), "%.1f%% < baseline %.1f%%", v->percent, g->baseline);
        if (mrun_findings_add(f, &rules[1], report, 0, 0, val, (size_t)n, err) < 0)
            return -1;
    }
    if (v->passed)
        return 0;
    const mrun_cov_file *low[5];
    size_t n_low = mrun_cov_report_lowest(r, low, 5);
    for (size_t i = 0; i < n_low; i++) {
        int n = snprintf(val, sizeof(val), "%.1f%% (%llu of %llu lines)",
                         100.0 * (double)low[i]->lines_covered / (double)low[i]->lines_valid,
                         (unsigned long long)low[i]->lines_covered, (unsigned long long)low[i]->lines_valid);
        if (mrun_findings_add(f, &rules[3], low[i]->path, 0, 0, val, (size_t)n, err) < 0)
            return -1;
    }
    return 0;
}

static int write_sarif(const mrun_stage_ctx *ctx, const char *path, const mrun_findings *f, mrun_err *err)
{
    mrun_autoclose int fd = mrun_stage_create_file(ctx->workspace_fd, path, err);
    if (fd < 0)
        return mrun_err_prefix(err, "coverage-gate");
    FILE *out = fdopen(mrun_steal_fd(&fd), "w");
    if (!out)
        return mrun_err_set(err, errno, "coverage-gate: sarif");
    mrun_scan_stats stats = {.files_scanned = 1};
    int r = mrun_findings_report(f, MRUN_FORMAT_SARIF, "mrun coverage-gate", rules, sizeof(rules) / sizeof(rules[0]),
                                 &stats, false, out, err);
    if (fclose(out) != 0 && r == 0)
        r = mrun_err_set(err, errno, "coverage-gate: sarif");
    return r;
}

static int parse_opts(const mrun_stage_ctx *ctx, mrun_cov_format *fmt, mrun_cov_gate *g, mrun_err *err)
{
    const char *format = mrun_stage_opt_get(ctx, "format"), *min = mrun_stage_opt_get(ctx, "min");
    const char *no_drop = mrun_stage_opt_get(ctx, "no-drop"), *tol = mrun_stage_opt_get(ctx, "tolerance");
    *g = (mrun_cov_gate){.min = -1, .baseline = -1, .tolerance = 0};
    *fmt = MRUN_COV_AUTO;
    if (format && mrun_cov_format_parse(format, fmt) < 0)
        return mrun_err_setx(err, EINVAL, "coverage-gate: format must be auto, cobertura or lcov");
    if (min && mrun_cov_parse_percent(min, &g->min, err) < 0)
        return mrun_err_prefix(err, "coverage-gate: min");
    if (tol && mrun_cov_parse_percent(tol, &g->tolerance, err) < 0)
        return mrun_err_prefix(err, "coverage-gate: tolerance");
    if (no_drop && strcmp(no_drop, "true") != 0 && strcmp(no_drop, "false") != 0)
        return mrun_err_setx(err, EINVAL, "coverage-gate: no-drop must be true or false");
    if (no_drop && strcmp(no_drop, "true") == 0)
        g->baseline = ctx->coverage_baseline >= 0 && ctx->coverage_baseline <= 100 ? ctx->coverage_baseline : -1;
    return 0;
}

static void log_text(const mrun_stage_ctx *ctx, int stream, const char *s, size_t n)
{
    if (n)
        ctx->log(ctx->log_ctx, stream, s, n);
}

int mrun_stage_coverage_gate(const mrun_stage_ctx *ctx, mrun_err *err)
{
    const char *report = mrun_stage_opt_get(ctx, "report"), *sarif = mrun_stage_opt_get(ctx, "sarif");
    const char *no_drop = mrun_stage_opt_get(ctx, "no-drop");
    mrun_cov_format fmt;
    mrun_cov_gate g;
    if (!report)
        return mrun_err_setx(err, EINVAL, "coverage-gate: missing option 'report'");
    if (parse_opts(ctx, &fmt, &g, err) < 0)
        return -1;
    mrun_autofree uint8_t *buf = NULL;
    size_t len = 0;
    if (read_report(ctx->workspace_fd, report, &buf, &len, err) < 0)
        return mrun_err_prefix(err, "coverage-gate");
    mrun_cleanup(mrun_cov_report_freep) mrun_cov_report *r = NULL;
    if (mrun_cov_parse(report, buf, len, fmt, &r, err) < 0)
        return mrun_err_prefix(err, "coverage-gate");
    mrun_cov_verdict v;
    mrun_cov_gate_eval(r, &g, &v);
    char *text = NULL;
    size_t text_len = 0;
    FILE *mem = open_memstream(&text, &text_len);
    if (!mem)
        return mrun_err_set(err, errno, "coverage-gate: report");
    int rc = mrun_cov_write_text(r, &g, &v, mem, err);
    if (rc == 0 && no_drop && strcmp(no_drop, "true") == 0 && g.baseline < 0)
        fputs("no-drop: no baseline for the default branch yet; this coverage becomes it when a default-branch "
              "pipeline passes\n",
              mem);
    fclose(mem);
    if (rc == 0)
        log_text(ctx, 1, text, text_len);
    free(text);
    if (rc < 0)
        return -1;
    if (sarif) {
        mrun_cleanup(mrun_findings_freep) mrun_findings *f = NULL;
        if (mrun_findings_new(&f, err) < 0 || add_findings(f, report, r, &g, &v, err) < 0 ||
            write_sarif(ctx, sarif, f, err) < 0)
            return -1;
    }
    if (ctx->ret_coverage && v.percent >= 0)
        *ctx->ret_coverage = v.percent;
    return v.passed ? 0 : 1;
}
