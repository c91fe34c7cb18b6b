/* stage_licenses.c - `uses: license-check`: the license check as a pipeline step over the stage's workspace, with
 * the options every check has (fail-on, sarif, baseline, max-file-size) and `policy:`. The report goes to the log;
 * `sarif: PATH` also writes SARIF into the workspace. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/auto.h"
#include "../common/parse.h"
#include "findings.h"
#include "licenses.h"
#include "stages_int.h"

#define TOOL     "mrun license-check"
#define BASELINE ".mrun/licenses-baseline.json"

static int write_sarif(const mrun_stage_ctx *ctx, const char *sarif, const mrun_findings *f, const mrun_rule *rules,
                       size_t n_rules, const mrun_scan_stats *stats, mrun_err *err)
{
    mrun_autoclose int fd = mrun_stage_create_file(ctx->workspace_fd, sarif, err);
    if (fd < 0)
        return mrun_err_prefix(err, "license-check: sarif");
    FILE *out = fdopen(mrun_steal_fd(&fd), "w");
    if (!out)
        return mrun_err_set(err, errno, "license-check: sarif");
    int r = mrun_findings_report(f, MRUN_FORMAT_SARIF, TOOL, rules, n_rules, stats, false, out, err);
    if (fclose(out) != 0 && r == 0)
        r = mrun_err_set(err, errno, "license-check: sarif");
    return r;
}

int mrun_stage_license_check(const mrun_stage_ctx *ctx, mrun_err *err)
{
    const char *fail_on = mrun_stage_opt_get(ctx, "fail-on");
    const char *sarif = mrun_stage_opt_get(ctx, "sarif");
    const char *baseline = mrun_stage_opt_get(ctx, "baseline");
    const char *max_size = mrun_stage_opt_get(ctx, "max-file-size");
    const char *policy = mrun_stage_opt_get(ctx, "policy");
    mrun_severity threshold = MRUN_SEV_HIGH;
    if (fail_on && mrun_severity_parse(fail_on, &threshold) < 0)
        return mrun_err_setx(err, EINVAL, "license-check: fail-on must be low, medium, high or critical");
    int64_t max_bytes = 1 << 20;
    if (max_size && mrun_parse_size(max_size, &max_bytes, err) < 0)
        return mrun_err_prefix(err, "license-check: max-file-size");
    if (policy && (policy[0] == '/' || strstr(policy, "..")))
        return mrun_err_setx(err, EINVAL, "license-check: policy must be a path in the workspace without '..'");
    mrun_cleanup(mrun_findings_freep) mrun_findings *f = NULL;
    if (mrun_findings_new(&f, err) < 0)
        return -1;
    mrun_check_opts o = {.max_file_bytes = (uint64_t)max_bytes,
                         .baseline_dirfd = ctx->workspace_fd,
                         .baseline = baseline ? baseline : BASELINE,
                         .baseline_optional = baseline == NULL,
                         .skip = mrun_stage_log_skip,
                         .skip_ctx = (void *)ctx};
    mrun_scan_stats stats;
    if (mrun_check_licenses(ctx->workspace_fd, &o, policy, f, &stats, err) < 0)
        return mrun_err_prefix(err, "license-check");
    size_t n_rules;
    const mrun_rule *rules = mrun_licenses_rules(&n_rules);
    char *text = NULL;
    size_t text_len = 0;
    FILE *mem = open_memstream(&text, &text_len);
    if (!mem)
        return mrun_err_set(err, errno, "license-check: report");
    int r = mrun_findings_report(f, MRUN_FORMAT_TEXT, TOOL, rules, n_rules, &stats, false, mem, err);
    fclose(mem);
    if (r == 0 && text_len)
        ctx->log(ctx->log_ctx, 1, text, text_len);
    free(text);
    if (r < 0)
        return -1;
    if (sarif && write_sarif(ctx, sarif, f, rules, n_rules, &stats, err) < 0)
        return -1;
    return mrun_findings_max_severity(f) >= (int)threshold ? 1 : 0;
}
