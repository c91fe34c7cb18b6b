/* lint.h - the llm-lint check: line rules for what LLM-written code typically gets wrong (TLS verification off,
 * eval of input, shell/SQL built by string formatting, 0.0.0.0 binds, chmod 777, debug mode, wildcard CORS,
 * placeholder stubs, unpinned dependencies) in Python, JavaScript/TypeScript and shell. Rules: docs/checks.md#llm-lint. */
#ifndef MRUN_LINT_H
#define MRUN_LINT_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "findings.h"

/* The rule table (for reports and SARIF): static, never freed; *ret_n gets its length. */
const mrun_rule *mrun_lint_rules(size_t *ret_n);

/* Scans one text file's content. The language comes from path (.py; .js .mjs .cjs .ts .tsx .jsx; .sh .bash;
 * requirements*.txt; package.json) or, without a known extension, from a sh/bash/python shebang; other files
 * yield nothing. Adds one finding per rule and line (1-based line and byte column of the match, the matched text
 * as the value). Pure: no I/O, no globals, no logging; linear in len, and lines over 64 KiB are not matched.
 * Thread-safe (no state). Fails with ENOMEM, or E2BIG when out is full. */
int mrun_lint_scan(const char *path, const uint8_t *buf, size_t len, mrun_findings *out, mrun_err *err);

#endif
