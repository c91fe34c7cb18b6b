/* stage_checks.c - `uses: secret-scan`, `llm-lint`, `test-presence` and `license-check`: a check as a pipeline
 * step over the stage's workspace. The report goes to the log; `sarif: PATH` also writes SARIF into the workspace (to upload as an artifact). */
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
#include "lint.h"
#include "secrets.h"
#include "testpresence.h"
#include "stages_int.h"

/* What differs between the checks run as stages. */
typedef struct check_kind {
    const char *name;     /* the stage's name, for messages */
    const char *tool;     /* in reports */
    const char *baseline; /* default baseline path in the workspace */
    const mrun_rule *(*rules)(size_t *ret_n);
    mrun_severity fail_on; /* default threshold */
    int (*run)(int root_fd, const mrun_check_opts *o, mrun_findings *out, mrun_scan_stats *ret_stats, mrun_err *err);
} check_kind;

static const check_kind secret_scan = {"secret-scan", "mrun secret-scan", ".mrun/secrets-baseline.json",
                                       mrun_secrets_rules, MRUN_SEV_HIGH, mrun_check_secrets};
static const check_kind llm_lint = {"llm-lint", "mrun llm-lint", ".mrun/lint-baseline.json", mrun_lint_rules,
                                    MRUN_SEV_HIGH, mrun_check_lint};
static const check_kind test_presence = {"test-presence", "mrun test-presence", ".mrun/tests-baseline.json",
                                         mrun_testpresence_rules, MRUN_SEV_MEDIUM, mrun_check_tests};

static int check_licenses(int root_fd, const mrun_check_opts *o, mrun_findings *out, mrun_scan_stats *ret_stats,
                          mrun_err *err)
{
    return mrun_check_licenses(root_fd, o, o->policy, out, ret_stats, err);
}

static const check_kind license_check = {"license-check", "mrun license-check", ".mrun/licenses-baseline.json",
                                         mrun_licenses_rules, MRUN_SEV_HIGH, check_licenses};

static int run_stage(const mrun_stage_ctx *ctx, const check_kind *k, mrun_err *err)
{
    const char *fail_on = mrun_stage_opt_get(ctx, "fail-on");
    const char *sarif = mrun_stage_opt_get(ctx, "sarif");
    const char *baseline = mrun_stage_opt_get(ctx, "baseline");
    const char *max_size = mrun_stage_opt_get(ctx, "max-file-size");
    mrun_severity threshold = k->fail_on;
    if (fail_on && mrun_severity_parse(fail_on, &threshold) < 0)
        return mrun_err_setx(err, EINVAL, "%s: fail-on must be low, medium, high or critical", k->name);
    int64_t max_bytes = 1 << 20;
    if (max_size && mrun_parse_size(max_size, &max_bytes, err) < 0)
        return mrun_err_prefix(err, "%s: max-file-size", k->name);
    const char *policy = mrun_stage_opt_get(ctx, "policy"); /* license-check only */
    if (policy && (policy[0] == '/' || strstr(policy, "..")))
        return mrun_err_setx(err, EINVAL, "%s: policy must be a path in the workspace without '..'", k->name);
    /* test-presence: `test-patterns: "spec/{stem}_spec.{ext} ..."`, space-separated */
    const char *patterns_opt = mrun_stage_opt_get(ctx, "test-patterns");
    char patterns_buf[4096];
    const char *patterns[MRUN_TESTPRESENCE_MAX_PATTERNS];
    size_t n_patterns = 0;
    if (patterns_opt) {
        if (snprintf(patterns_buf, sizeof(patterns_buf), "%s", patterns_opt) >= (int)sizeof(patterns_buf))
            return mrun_err_setx(err, E2BIG, "%s: test-patterns is longer than 4 KiB", k->name);
        for (char *save = NULL, *p = strtok_r(patterns_buf, " \t\n", &save); p; p = strtok_r(NULL, " \t\n", &save)) {
            if (n_patterns == MRUN_TESTPRESENCE_MAX_PATTERNS)
                return mrun_err_setx(err, E2BIG, "%s: more than %d test-patterns", k->name,
                                     MRUN_TESTPRESENCE_MAX_PATTERNS);
            if (mrun_testpresence_pattern_check(p, err) < 0)
                return mrun_err_prefix(err, "%s", k->name);
            patterns[n_patterns++] = p;
        }
    }
    mrun_cleanup(mrun_findings_freep) mrun_findings *f = NULL;
    if (mrun_findings_new(&f, err) < 0)
        return -1;
    mrun_check_opts o = {.max_file_bytes = (uint64_t)max_bytes,
                         .test_patterns = patterns,
                         .n_test_patterns = n_patterns,
                         .policy = policy,
                         .baseline_dirfd = ctx->workspace_fd,
                         .baseline = baseline ? baseline : k->baseline,
                         .baseline_optional = baseline == NULL,
                         .skip = mrun_stage_log_skip,
                         .skip_ctx = (void *)ctx};
    mrun_scan_stats stats;
    if (k->run(ctx->workspace_fd, &o, f, &stats, err) < 0)
        return mrun_err_prefix(err, "%s", k->name);
    size_t n_rules;
    const mrun_rule *rules = k->rules(&n_rules);
    char *text = NULL;
    size_t text_len = 0;
    FILE *mem = open_memstream(&text, &text_len);
    if (!mem)
        return mrun_err_set(err, errno, "%s: report", k->name);
    int r = mrun_findings_report(f, MRUN_FORMAT_TEXT, k->tool, rules, n_rules, &stats, false, mem, err);
    fclose(mem);
    if (r == 0 && text_len)
        ctx->log(ctx->log_ctx, 1, text, text_len);
    free(text);
    if (r < 0)
        return -1;
    if (sarif) {
        mrun_autoclose int fd = mrun_stage_create_file(ctx->workspace_fd, sarif, err);
        if (fd < 0)
            return mrun_err_prefix(err, "%s: sarif", k->name);
        FILE *out = fdopen(mrun_steal_fd(&fd), "w");
        if (!out)
            return mrun_err_set(err, errno, "%s: sarif", k->name);
        r = mrun_findings_report(f, MRUN_FORMAT_SARIF, k->tool, rules, n_rules, &stats, false, out, err);
        if (fclose(out) != 0 && r == 0)
            r = mrun_err_set(err, errno, "%s: sarif", k->name);
        if (r < 0)
            return -1;
    }
    int worst = mrun_findings_max_severity(f);
    return worst >= (int)threshold ? 1 : 0;
}

int mrun_stage_secret_scan(const mrun_stage_ctx *ctx, mrun_err *err)
{
    return run_stage(ctx, &secret_scan, err);
}

int mrun_stage_llm_lint(const mrun_stage_ctx *ctx, mrun_err *err)
{
    return run_stage(ctx, &llm_lint, err);
}

int mrun_stage_test_presence(const mrun_stage_ctx *ctx, mrun_err *err)
{
    return run_stage(ctx, &test_presence, err);
}

int mrun_stage_license_check(const mrun_stage_ctx *ctx, mrun_err *err)
{
    return run_stage(ctx, &license_check, err);
}
