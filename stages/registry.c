/* registry.c - the table of built-in stages and option checking. Adding a built-in: write its function in its own
 * file, add one row here. */
#include <errno.h>
#include <string.h>

#include "../common/suggest.h"
#include "stages.h"
#include "stages_int.h"

static const mrun_stage_option require_files_opts[] = {
    {"paths", "space-separated paths, relative to the workspace, that must exist as regular files", 1},
    {NULL, NULL, 0},
};

static const mrun_stage_option secret_scan_opts[] = {
    {"fail-on", "lowest severity that fails the step: low, medium, high (default) or critical", 0},
    {"sarif", "also write the findings as SARIF 2.1.0 to this path in the workspace", 0},
    {"baseline", "findings listed in this baseline file are reported as suppressed (default .mrun/secrets-baseline.json)",
     0},
    {"max-file-size", "files larger than this are skipped and listed (default 1M)", 0},
    {NULL, NULL, 0},
};

static const mrun_stage_option lint_opts[] = {
    {"fail-on", "lowest severity that fails the step: low, medium, high (default) or critical", 0},
    {"sarif", "also write the findings as SARIF 2.1.0 to this path in the workspace", 0},
    {"baseline", "findings listed in this baseline file are reported as suppressed (default .mrun/lint-baseline.json)",
     0},
    {"max-file-size", "files larger than this are skipped and listed (default 1M)", 0},
    {NULL, NULL, 0},
};

static const mrun_stage_option tests_opts[] = {
    {"test-patterns",
     "extra test-file layouts, space-separated, with {dir}, {stem} and {ext}: e.g. \"spec/{stem}_spec.{ext}\"", 0},
    {"fail-on", "lowest severity that fails the step: low, medium (default), high or critical", 0},
    {"sarif", "also write the findings as SARIF 2.1.0 to this path in the workspace", 0},
    {"baseline", "findings listed in this baseline file are reported as suppressed (default .mrun/tests-baseline.json)",
     0},
    {"max-file-size", "files larger than this are skipped and listed (default 1M)", 0},
    {NULL, NULL, 0},
};

static const mrun_stage_option coverage_opts[] = {
    {"report", "the coverage report the test step wrote, relative to the workspace (Cobertura XML or lcov)", 1},
    {"format", "auto (default: by content), cobertura or lcov", 0},
    {"min", "fail below this line coverage, in percent (e.g. 80 or 80%)", 0},
    {"no-drop", "true: fail when line coverage falls below the default branch's last passing pipeline", 0},
    {"tolerance", "with no-drop, the percent points coverage may fall below the baseline (default 0)", 0},
    {"sarif", "also write the verdict as SARIF 2.1.0 to this path in the workspace", 0},
    {NULL, NULL, 0},
};

static const mrun_stage_option sbom_opts[] = {
    {"format", "cyclonedx, spdx or both (default): CycloneDX 1.6 JSON and/or SPDX 2.3 JSON", 0},
    {"output", "path prefix in the workspace (default sbom: sbom.cdx.json and sbom.spdx.json)", 0},
    {"name", "the application's name (default: the lockfile's project, else app)", 0},
    {"version", "the application's version (default: the project's)", 0},
    {NULL, NULL, 0},
};

static const mrun_stage_option license_opts[] = {
    {"fail-on", "lowest severity that fails the step: low, medium, high (default) or critical", 0},
    {"sarif", "also write the findings as SARIF 2.1.0 to this path in the workspace", 0},
    {"baseline",
     "findings listed in this baseline file are reported as suppressed (default .mrun/licenses-baseline.json)", 0},
    {"max-file-size", "package metadata and license files larger than this are skipped and listed (default 1M)", 0},
    {"policy", "the license policy, relative to the workspace (default .mrun/policy.yml when it exists)", 0},
    {NULL, NULL, 0},
};

static const mrun_stage_option preview_opts[] = {
    {"command", "how to start the app, run with /bin/sh -c in the workspace (e.g. python3 app.py)", 1},
    {"port", "the port the app listens on inside its sandbox", 1},
    {"health", "path that must answer 2xx before the preview is up (default /healthz)", 0},
    {"ttl", "the preview stops by itself after this (default 2h; the coordinator may cap it per tier)", 0},
    {"ready-timeout", "how long to wait for the health path (default 30s)", 0},
    {"memory", "the preview sandbox's memory limit (default 256M)", 0},
    {"visibility", "public (default) or private: the proxy then asks for a token or a signed link", 0},
    {"artifact", "the file (an artifact of a needed stage) the app is: it must match the provenance the coordinator "
                 "signed (required from tier 2 by default)", 0},
    {NULL, NULL, 0},
};

static const mrun_stage_def defs[] = {
    {"preview", "keep the built workspace running as a sandboxed app behind the coordinator's proxy, until its TTL",
     preview_opts, mrun_stage_preview},
    {"license-check", "every dependency's license (lockfiles, installed metadata, LICENSE texts) against the policy",
     license_opts, mrun_stage_license_check},
    {"llm-lint", "find what LLM-written code gets wrong (TLS off, eval, shell=True, SQL by formatting, debug on...)",
     lint_opts, mrun_stage_llm_lint},
    {"test-presence", "every public Python/JS/TS function has a test file that names it", tests_opts,
     mrun_stage_test_presence},
    {"secret-scan", "find credentials in the workspace (cloud keys, tokens, private keys, passwords)", secret_scan_opts,
     mrun_stage_secret_scan},
    {"require-files", "fail unless the given files exist in the workspace (no symlinks followed)", require_files_opts,
     mrun_stage_require_files},
    {"coverage-gate", "fail below a minimum line coverage, or below the default branch's (Cobertura or lcov report)",
     coverage_opts, mrun_stage_coverage_gate},
    {"sbom", "write the dependencies as CycloneDX 1.6 and SPDX 2.3 SBOMs into the workspace (from lockfiles)", sbom_opts,
     mrun_stage_sbom},
};

static const char *const names[] = {"coverage-gate", "license-check", "llm-lint",      "preview",
                                    "require-files", "sbom",          "secret-scan",   "test-presence", NULL};

const mrun_stage_def *mrun_stages_find(const char *name)
{
    for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
        if (strcmp(defs[i].name, name) == 0)
            return &defs[i];
    return NULL;
}

const char *const *mrun_stages_names(void)
{
    return names;
}

int mrun_stages_check_options(const mrun_stage_def *def, const mrun_stage_opt *with, size_t n, mrun_err *err)
{
    for (size_t i = 0; i < n; i++) {
        const mrun_stage_option *o = def->options;
        const char *best = NULL;
        size_t best_d = (size_t)-1;
        for (; o->key; o++) {
            if (strcmp(o->key, with[i].key) == 0)
                break;
            size_t d = mrun_edit_distance(o->key, strlen(o->key), with[i].key, strlen(with[i].key));
            if (d < best_d) {
                best_d = d;
                best = o->key;
            }
        }
        if (!o->key) {
            if (best && best_d <= 2)
                return mrun_err_setx(err, EINVAL, "%s: unknown option '%.64s' (did you mean '%s'?)", def->name,
                                     with[i].key, best);
            return mrun_err_setx(err, EINVAL, "%s: unknown option '%.64s'", def->name, with[i].key);
        }
    }
    for (const mrun_stage_option *o = def->options; o->key; o++) {
        if (!o->required)
            continue;
        size_t i = 0;
        while (i < n && strcmp(with[i].key, o->key) != 0)
            i++;
        if (i == n)
            return mrun_err_setx(err, EINVAL, "%s: missing required option '%s'", def->name, o->key);
    }
    return 0;
}
