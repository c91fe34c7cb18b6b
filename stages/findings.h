/* findings.h - what the checks (secret scan, license check, llm lint, test presence...) report, and the
 * shared machinery around them: walking a workspace safely, suppressions (`mrun:allow` comments, baseline
 * files), and the text, JSON and SARIF 2.1.0 writers. A check only produces findings; everything else is here. */
#ifndef MRUN_FINDINGS_H
#define MRUN_FINDINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/err.h"

typedef enum mrun_severity {
    MRUN_SEV_LOW = 0,
    MRUN_SEV_MEDIUM,
    MRUN_SEV_HIGH,
    MRUN_SEV_CRITICAL,
} mrun_severity;

/* A rule a check applies; static data owned by the check. */
typedef struct mrun_rule {
    const char *id;        /* stable, e.g. "aws-access-key-id", "py-tls-verify-disabled" */
    const char *title;     /* one line: what was found */
    const char *fix;       /* one line: how to fix it */
    const char *help;      /* longer why, for SARIF help text */
    mrun_severity severity;
    bool show_value;       /* the value is not a secret (a function name): shown whole, not redacted */
} mrun_rule;

/* One finding. Strings are copied into the findings list; `redacted` never holds a whole secret. */
typedef struct mrun_finding {
    const mrun_rule *rule;
    char *path;        /* relative to the scanned root, '/'-separated */
    unsigned line, col; /* 1-based; 0 when the finding is about the whole file */
    char *redacted;    /* e.g. "AKIA…(20 chars)", or the whole value for show_value rules; NULL without a value */
    char *fingerprint; /* stable id for baselines: sha256 hex of rule id, path and the matched value */
    bool suppressed;   /* by an inline mrun:allow comment or the baseline */
    char *suppressed_by; /* "inline: <reason>" or "baseline"; NULL when not suppressed */
} mrun_finding;

typedef struct mrun_findings mrun_findings; /* a growable list; one thread */

int mrun_findings_new(mrun_findings **ret, mrun_err *err);
void mrun_findings_free(mrun_findings *f);
void mrun_findings_freep(mrun_findings **f);
/* Adds a finding (copies the strings). value is the matched text (for the fingerprint and the redaction), may be
 * NULL. Fails only with ENOMEM or E2BIG past a bound on the number of findings. */
int mrun_findings_add(mrun_findings *f, const mrun_rule *rule, const char *path, unsigned line, unsigned col,
                      const char *value, size_t value_len, mrun_err *err);
size_t mrun_findings_count(const mrun_findings *f);
const mrun_finding *mrun_findings_at(const mrun_findings *f, size_t i);

/* Files a scan looked at, and those it skipped with the reason ("binary", "larger than 1M", "symlink"). */
typedef struct mrun_scan_stats {
    size_t files_scanned, files_skipped;
    uint64_t bytes_scanned;
} mrun_scan_stats;

/* Walks root_fd (never following a symlink, never leaving it), honouring .gitignore/.mrunignore and skipping
 * .git, binary files and files over max_file_bytes, and calls fn with each text file's content (mmap'd, read
 * only). fn returns 0 or -1 (stop). Skipped files are reported through skip_fn (may be NULL). */
typedef int (*mrun_scan_file_fn)(void *ctx, const char *path, const uint8_t *buf, size_t len, mrun_err *err);
typedef void (*mrun_scan_skip_fn)(void *ctx, const char *path, const char *reason);
int mrun_scan_walk(int root_fd, uint64_t max_file_bytes, mrun_scan_file_fn fn, mrun_scan_skip_fn skip_fn, void *ctx,
                   mrun_scan_stats *ret_stats, mrun_err *err);

/* Marks findings suppressed by `mrun:allow <rule-id> <reason>` on the finding's line or the line above (buf is
 * that file's content), and by a baseline file (JSON written by mrun_findings_write_baseline). */
void mrun_findings_apply_inline(mrun_findings *f, const char *path, const uint8_t *buf, size_t len);
int mrun_findings_apply_baseline(mrun_findings *f, const uint8_t *json, size_t len, mrun_err *err);
int mrun_findings_write_baseline(const mrun_findings *f, FILE *out, mrun_err *err);

typedef enum { MRUN_FORMAT_TEXT = 0, MRUN_FORMAT_JSON, MRUN_FORMAT_SARIF } mrun_report_format;

/* Writes the report. tool is "mrun secret-scan" etc.; rules lists every rule of the check (for SARIF's
 * tool.driver.rules); color adds ANSI colour to text. */
int mrun_findings_report(const mrun_findings *f, mrun_report_format fmt, const char *tool, const mrun_rule *rules,
                         size_t n_rules, const mrun_scan_stats *stats, bool color, FILE *out, mrun_err *err);

/* The highest severity among unsuppressed findings, or -1 when there is none. */
int mrun_findings_max_severity(const mrun_findings *f);
int mrun_severity_parse(const char *s, mrun_severity *ret);
const char *mrun_severity_name(mrun_severity s);

#endif
