/* testpresence.h - the test-presence check: every Python or JavaScript/TypeScript source file that defines public
 * functions must have a matching test file, and that test file must mention each public function by name.
 * Unlike the per-file scanners it needs the whole tree. Rules: docs/checks.md#test-presence. */
#ifndef MRUN_TESTPRESENCE_H
#define MRUN_TESTPRESENCE_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "findings.h"

/* At most this many extra test-file patterns. */
#define MRUN_TESTPRESENCE_MAX_PATTERNS 32

typedef struct mrun_testpresence_opts {
    uint64_t max_file_bytes; /* 0: the walk's default */
    /* Extra test-file patterns, tried after the built-in ones, relative to the root: "{dir}" is the source's
     * directory with a trailing '/' (or ""), "{stem}" its name without extension, "{ext}" its extension, e.g.
     * "spec/{stem}_spec.{ext}" or "{dir}checks/{stem}_check.py". A file matching a pattern (placeholders as
     * wildcards) is a test, not a source. Check each with mrun_testpresence_pattern_check first. */
    const char *const *patterns;
    size_t n_patterns;
    mrun_scan_skip_fn skip; /* told about every file the first walk skipped (may be NULL) */
    void *skip_ctx;
} mrun_testpresence_opts;

/* EINVAL unless p is a usable pattern: relative, no "..", at most 255 bytes, "{stem}" in its last component, only
 * the three placeholders, and something besides placeholders and dots in its last component (so that it cannot
 * make every file a test). */
int mrun_testpresence_pattern_check(const char *p, mrun_err *err);

/* The rule table (for reports and SARIF): static, never freed; *ret_n gets its length. */
const mrun_rule *mrun_testpresence_rules(size_t *ret_n);

/* Walks root_fd (o may be NULL: the defaults) with mrun_scan_walk (no symlinks followed, ignore files honoured, files over max_file_bytes and
 * binary files skipped; 0 means the walk's default): once to list sources, their public functions and candidate
 * test files, once to read the matching test files, and once to apply inline `mrun:allow` comments to the sources
 * that got findings. Adds `test-file-missing` (line 0, value: the public names joined by ", ") and
 * `test-function-untested` (the definition's line and column, value: the name). Baselines are the caller's.
 * *ret_stats (may be NULL) describes the first walk. Blocks on file I/O; no globals, thread-safe.
 * Fails with E2BIG past 20000 Python/JS/TS files, past 64 directory levels or when out is full; ENOMEM; or the
 * walk's I/O errors. */
int mrun_check_testpresence(int root_fd, const mrun_testpresence_opts *o, mrun_findings *out,
                            mrun_scan_stats *ret_stats, mrun_err *err);

#endif
