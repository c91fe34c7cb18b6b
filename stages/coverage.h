/* coverage.h - line coverage from the reports a test step produced: Cobertura XML (coverage.py, JaCoCo converters,
 * gcovr...) and lcov tracefiles (Node's --experimental-test-coverage, c8, gcov/lcov). Totals are recomputed from
 * the per-line data (the same file listed several times is merged by line number), and the gate's verdict:
 * a minimum, and no drop below a stored baseline. Parsing is pure (no I/O, no globals): fuzz_coverage.c. */
#ifndef MRUN_COVERAGE_H
#define MRUN_COVERAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../common/err.h"

#define MRUN_COV_MAX_REPORT ((size_t)256 << 20) /* larger reports are refused (E2BIG) */

typedef enum mrun_cov_format { MRUN_COV_AUTO = 0, MRUN_COV_COBERTURA, MRUN_COV_LCOV } mrun_cov_format;

/* One source file's figures; lines_valid == 0 when the report lists no line of it. */
typedef struct mrun_cov_file {
    const char *path; /* as the report names it; control characters replaced by '?' */
    uint64_t lines_valid, lines_covered;
} mrun_cov_file;

typedef struct mrun_cov_report mrun_cov_report; /* immutable once parsed; one thread at a time */

/* Parses buf (a whole report; name is for messages). fmt AUTO detects by content ('<' starts XML, a `TN:`/`SF:`
 * line an lcov tracefile). Errors are "name:line:col: cause" with EPROTO (malformed, DOCTYPE with an internal
 * subset, unknown entity, bad number), E2BIG (past MRUN_COV_MAX_REPORT, 256 nesting levels, 64 KiB attributes,
 * 200000 files or 16M line records) or ENOMEM. Never resolves external entities or fetches anything. */
int mrun_cov_parse(const char *name, const uint8_t *buf, size_t len, mrun_cov_format fmt, mrun_cov_report **ret,
                   mrun_err *err);
void mrun_cov_report_free(mrun_cov_report *r);
void mrun_cov_report_freep(mrun_cov_report **r);

mrun_cov_format mrun_cov_report_format(const mrun_cov_report *r);
/* Total lines and covered lines over every file; percent is -1 when the report has no lines at all. */
void mrun_cov_report_totals(const mrun_cov_report *r, uint64_t *ret_valid, uint64_t *ret_covered);
double mrun_cov_report_percent(const mrun_cov_report *r);
/* Files sorted by path; borrowed until the report is freed. */
size_t mrun_cov_report_count(const mrun_cov_report *r);
const mrun_cov_file *mrun_cov_report_at(const mrun_cov_report *r, size_t i);
/* Up to max files with lines, lowest coverage first (ties by path), into out; returns how many. */
size_t mrun_cov_report_lowest(const mrun_cov_report *r, const mrun_cov_file **out, size_t max);
/* A note when the report's own summary (Cobertura's line-rate/lines-covered, lcov's LF/LH) disagrees with the
 * per-line data it carries, which won; NULL when they agree. */
const char *mrun_cov_report_note(const mrun_cov_report *r);

/* "auto", "cobertura" (or "xml"), "lcov"; -1 otherwise. */
int mrun_cov_format_parse(const char *s, mrun_cov_format *ret);
/* A percentage: "80", "80%", "72.5", "72.5 %" in [0, 100]; EINVAL otherwise. */
int mrun_cov_parse_percent(const char *s, double *ret, mrun_err *err);

/* The gate: min and baseline are -1 when not set; tolerance is the points allowed below the baseline. */
typedef struct mrun_cov_gate {
    double min;
    double baseline;
    double tolerance;
} mrun_cov_gate;

typedef struct mrun_cov_verdict {
    double percent; /* measured line coverage, -1 without lines */
    bool below_min; /* percent < min */
    bool dropped;   /* percent < baseline - tolerance */
    bool no_lines;  /* the report has no line data: a failure when min or a baseline is set */
    bool passed;
} mrun_cov_verdict;

void mrun_cov_gate_eval(const mrun_cov_report *r, const mrun_cov_gate *g, mrun_cov_verdict *ret);
/* The human report: total, the 5 lowest files, the verdict and how to fix it. */
int mrun_cov_write_text(const mrun_cov_report *r, const mrun_cov_gate *g, const mrun_cov_verdict *v, FILE *out,
                        mrun_err *err);
/* The same as one JSON object {format, percent, lines_valid, lines_covered, min, baseline, tolerance, passed,
 * below_min, dropped, files: [{path, lines_valid, lines_covered, percent}]}. */
int mrun_cov_write_json(const mrun_cov_report *r, const mrun_cov_gate *g, const mrun_cov_verdict *v, FILE *out,
                        mrun_err *err);

#endif
