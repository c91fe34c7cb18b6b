/* testpresence.h - the test-presence check: every Python or JavaScript/TypeScript source file that defines public
 * functions must have a matching test file, and that test file must mention each public function by name.
 * Unlike the per-file scanners it needs the whole tree. Rules: docs/checks.md#test-presence. */
#ifndef MRUN_TESTPRESENCE_H
#define MRUN_TESTPRESENCE_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "findings.h"

/* The rule table (for reports and SARIF): static, never freed; *ret_n gets its length. */
const mrun_rule *mrun_testpresence_rules(size_t *ret_n);

/* Walks root_fd with mrun_scan_walk (no symlinks followed, ignore files honoured, files over max_file_bytes and
 * binary files skipped; 0 means the walk's default): once to list sources, their public functions and candidate
 * test files, once to read the matching test files, and once to apply inline `mrun:allow` comments to the sources
 * that got findings. Adds `test-file-missing` (line 0, value: the public names joined by ", ") and
 * `test-function-untested` (the definition's line and column, value: the name). Baselines are the caller's.
 * *ret_stats (may be NULL) describes the first walk. Blocks on file I/O; no globals, thread-safe.
 * Fails with E2BIG past 20000 Python/JS/TS files, past 64 directory levels or when out is full; ENOMEM; or the
 * walk's I/O errors. */
int mrun_check_testpresence(int root_fd, uint64_t max_file_bytes, mrun_findings *out, mrun_scan_stats *ret_stats,
                            mrun_err *err);

#endif
