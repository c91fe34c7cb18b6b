/* cmd_scan.c - `mrun scan secrets|lint|tests|licenses [DIR]`: the checks a person runs before pushing, with the
 * same code as the pipeline's built-in stages. Exit 1 when a finding reaches --fail-on, 0 otherwise, 2 on usage or I/O errors. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/auto.h"
#include "../common/parse.h"
#include "../stages/findings.h"
#include "../stages/licenses.h"
#include "../stages/lint.h"
#include "../stages/secrets.h"
#include "../stages/testpresence.h"
#include "../stages/stages.h"
#include "cli.h"

static const char usage_text[] =
    "usage: mrun scan secrets|lint|tests|licenses [OPTIONS] [DIR]\n"
    "\n"
    "secrets: finds credentials in DIR (default .): cloud keys, API tokens, private keys, passwords in URLs and in\n"
    "  assignments; a finding shows only the first 4 characters of the secret.\n"
    "lint: finds what LLM-written code typically gets wrong: TLS verification off, eval of input, shell=True with\n"
    "  formatting, SQL built by formatting, debug mode, wildcard CORS, chmod 777, TODO stubs, unpinned dependencies.\n"
    "tests: every public Python and JS/TS function has a test file that names it (fails on medium by default).\n"
    "licenses: every dependency's license (lockfiles, node_modules, dist-info, vendor/, LICENSE texts) against the\n"
    "  policy in DIR/.mrun/policy.yml: strong copyleft (GPL, AGPL) is denied for tier 1 and 2 apps by default.\n"
    "All honour .gitignore and .mrunignore (licenses also reads node_modules/ and .venv/ when they are ignored),\n"
    "skip binary and large files (and say so) and never follow a symlink.\n"
    "Suppress a finding with a comment `mrun:allow RULE REASON` on its line or the line above, or accept the current\n"
    "state with --write-baseline.\n"
    "\n"
    "  --format text|json|sarif  report format (default text)\n"
    "  --output FILE             write the report to FILE instead of stdout\n"
    "  --fail-on SEVERITY        exit 1 when a finding is at least low, medium, high (default; tests: medium)\n"
    "                            or critical\n"
    "  --baseline FILE           report findings listed in FILE as suppressed (default\n"
    "                            DIR/.mrun/<secrets|lint|tests|licenses>-baseline.json when it exists)\n"
    "  --write-baseline FILE     write every current finding to FILE as the baseline and exit 0\n"
    "  --max-file-size SIZE      skip larger files (default 1M)\n"
    "  --policy FILE             licenses: the policy to apply (default DIR/.mrun/policy.yml when it exists)\n"
    "  --test-pattern P          tests: another test-file layout, e.g. 'spec/{stem}_spec.{ext}' ({dir}, {stem},\n"
    "                            {ext}); repeatable\n"
    "  -h, --help                show this help\n"
    "\n"
    "Rules, thresholds and what each check misses: docs/checks.md.\n";

/* What was not scanned, and why, on stderr (the report itself stays machine-readable). */
static void print_skip(void *ctx, const char *path, const char *reason)
{
    (void)ctx;
    fprintf(stderr, "mrun scan: skipped %.512s (%s)\n", path, reason);
}

int mrun_cmd_scan(int argc, char **argv)
{
    static const struct option opts[] = {{"format", required_argument, NULL, 'F'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"fail-on", required_argument, NULL, 'f'},
                                         {"baseline", required_argument, NULL, 'b'},
                                         {"write-baseline", required_argument, NULL, 'w'},
                                         {"max-file-size", required_argument, NULL, 'm'},
                                         {"policy", required_argument, NULL, 'p'},
                                         {"test-pattern", required_argument, NULL, 'T'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_text, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    bool lint = strcmp(argv[1], "lint") == 0, tests = strcmp(argv[1], "tests") == 0;
    bool licenses = strcmp(argv[1], "licenses") == 0;
    const char *policy = NULL;
    const char *patterns[MRUN_TESTPRESENCE_MAX_PATTERNS];
    size_t n_patterns = 0;
    if (!lint && !tests && !licenses && strcmp(argv[1], "secrets") != 0) {
        fprintf(stderr, "mrun scan: unknown check '%s': secrets, licenses, lint or tests\n", argv[1]);
        return 2;
    }
    const char *tool = lint ? "mrun llm-lint" : tests ? "mrun test-presence" : licenses ? "mrun license-check" : "mrun secret-scan";
    const char *default_baseline = lint    ? ".mrun/lint-baseline.json"
                                   : tests ? ".mrun/tests-baseline.json"
                                   : licenses ? ".mrun/licenses-baseline.json"
                                           : ".mrun/secrets-baseline.json";
    mrun_report_format fmt = MRUN_FORMAT_TEXT;
    const char *output = NULL, *baseline = NULL, *write_baseline = NULL;
    mrun_severity threshold = strcmp(argv[1], "tests") == 0 ? MRUN_SEV_MEDIUM : MRUN_SEV_HIGH;
    int64_t max_bytes = 1 << 20;
    mrun_err err = MRUN_ERR_INIT;
    int c;
    optind = 2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'F':
            if (strcmp(optarg, "text") == 0)
                fmt = MRUN_FORMAT_TEXT;
            else if (strcmp(optarg, "json") == 0)
                fmt = MRUN_FORMAT_JSON;
            else if (strcmp(optarg, "sarif") == 0)
                fmt = MRUN_FORMAT_SARIF;
            else {
                fprintf(stderr, "mrun scan: --format must be text, json or sarif\n");
                return 2;
            }
            break;
        case 'o':
            output = optarg;
            break;
        case 'f':
            if (mrun_severity_parse(optarg, &threshold) < 0) {
                fprintf(stderr, "mrun scan: --fail-on must be low, medium, high or critical\n");
                return 2;
            }
            break;
        case 'b':
            baseline = optarg;
            break;
        case 'w':
            write_baseline = optarg;
            break;
        case 'm':
            if (mrun_parse_size(optarg, &max_bytes, &err) < 0 || max_bytes <= 0) {
                fprintf(stderr, "mrun scan: --max-file-size: %s\n", err.msg[0] ? err.msg : "must be positive");
                return 2;
            }
            break;
        case 'p':
            policy = optarg;
            break;
        case 'T':
            if (n_patterns == MRUN_TESTPRESENCE_MAX_PATTERNS) {
                fprintf(stderr, "mrun scan: at most %d --test-pattern\n", MRUN_TESTPRESENCE_MAX_PATTERNS);
                return 2;
            }
            if (mrun_testpresence_pattern_check(optarg, &err) < 0) {
                fprintf(stderr, "mrun scan: --test-pattern: %s\n", err.msg);
                return 2;
            }
            patterns[n_patterns++] = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fprintf(stderr, "mrun scan: unknown or incomplete option '%s'\n%s", argv[optind - 1], usage_text);
            return 2;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "mrun scan: one directory at most\n");
        return 2;
    }
    const char *dir = optind < argc ? argv[optind] : ".";
    mrun_autoclose int root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        fprintf(stderr, "mrun scan: '%s': %s\n", dir, strerror(errno));
        return 2;
    }
    if (policy && !licenses) {
        fprintf(stderr, "mrun scan: --policy is for licenses only\n");
        return 2;
    }
    /* the check opens a relative policy beneath DIR; the flag is relative to the current directory */
    mrun_autofree char *abs_policy = policy ? realpath(policy, NULL) : NULL;
    if (policy && !abs_policy) {
        fprintf(stderr, "mrun scan: --policy '%s': %s\n", policy, strerror(errno));
        return 2;
    }
    mrun_cleanup(mrun_findings_freep) mrun_findings *f = NULL;
    mrun_check_opts o = {.max_file_bytes = (uint64_t)max_bytes,
                         .baseline_dirfd = baseline ? AT_FDCWD : root,
                         .baseline = write_baseline ? NULL : (baseline ? baseline : default_baseline),
                         .baseline_optional = baseline == NULL,
                         .skip = print_skip,
                         .test_patterns = patterns,
                         .n_test_patterns = n_patterns};
    mrun_scan_stats stats;
    if (mrun_findings_new(&f, &err) < 0 ||
        (lint    ? mrun_check_lint(root, &o, f, &stats, &err)
         : tests ? mrun_check_tests(root, &o, f, &stats, &err)
         : licenses ? mrun_check_licenses(root, &o, abs_policy, f, &stats, &err)
                 : mrun_check_secrets(root, &o, f, &stats, &err)) < 0) {
        fprintf(stderr, "mrun scan: %s\n", err.msg);
        return 2;
    }
    if (write_baseline) {
        FILE *out = fopen(write_baseline, "we");
        if (!out || mrun_findings_write_baseline(f, out, &err) < 0 || fclose(out) != 0) {
            fprintf(stderr, "mrun scan: --write-baseline '%s': %s\n", write_baseline,
                    err.msg[0] ? err.msg : strerror(errno));
            return 2;
        }
        fprintf(stderr, "mrun scan: wrote %zu finding(s) to the baseline %s\n", mrun_findings_count(f), write_baseline);
        return 0;
    }
    FILE *out = output ? fopen(output, "we") : stdout;
    if (!out) {
        fprintf(stderr, "mrun scan: --output '%s': %s\n", output, strerror(errno));
        return 2;
    }
    size_t n_rules;
    const mrun_rule *rules = lint    ? mrun_lint_rules(&n_rules)
                             : tests ? mrun_testpresence_rules(&n_rules)
                             : licenses ? mrun_licenses_rules(&n_rules)
                                     : mrun_secrets_rules(&n_rules);
    bool color = !output && fmt == MRUN_FORMAT_TEXT && isatty(STDOUT_FILENO);
    int r = mrun_findings_report(f, fmt, tool, rules, n_rules, &stats, color, out, &err);
    if (output && fclose(out) != 0 && r == 0)
        r = mrun_err_set(&err, errno, "--output '%s'", output);
    if (r < 0) {
        fprintf(stderr, "mrun scan: %s\n", err.msg);
        return 2;
    }
    return mrun_findings_max_severity(f) >= (int)threshold ? 1 : 0;
}
