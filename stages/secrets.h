/* secrets.h - the secret-scan check: finds credentials (cloud keys, API tokens, private keys, passwords in URLs
 * and assignments) in one text file's content and reports them as findings. Rules: docs/checks.md#secret-scan. */
#ifndef MRUN_SECRETS_H
#define MRUN_SECRETS_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "findings.h"

/* The rule table (for reports and SARIF): static, never freed; *ret_n gets its length. */
const mrun_rule *mrun_secrets_rules(size_t *ret_n);

/* The compiled matcher: built once, immutable afterwards, so any number of threads may scan with it at once. */
typedef struct mrun_secrets mrun_secrets;

/* Builds the matcher. Fails with ENOMEM, or EINVAL if the built-in tables are inconsistent (a bug). */
int mrun_secrets_new(mrun_secrets **ret, mrun_err *err);
void mrun_secrets_free(mrun_secrets *s);
void mrun_secrets_freep(mrun_secrets **s);

/* Scans one text file's content and adds one finding per secret (rule, 1-based line and byte column of the
 * secret value, the value itself for fingerprint and redaction). Pure: no I/O, no logging; bounded work per
 * byte (every validator looks at most 64 KiB around its anchor). out is touched only by this thread.
 * Fails with ENOMEM, or E2BIG when out is full. */
int mrun_secrets_scan(const mrun_secrets *s, const char *path, const uint8_t *buf, size_t len, mrun_findings *out,
                      mrun_err *err);

#endif
