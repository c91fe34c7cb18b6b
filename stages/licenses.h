/* licenses.h - the license check: every dependency's license (from lockfiles through the shared inventory in
 * deps.h, and from installed or vendored package metadata), identified as SPDX expressions and judged against
 * .mrun/policy.yml; plus the project's own LICENSE. Rules and the policy format: docs/checks.md#license-check. */
#ifndef MRUN_LICENSES_H
#define MRUN_LICENSES_H

#include <stddef.h>

#include "../common/err.h"
#include "findings.h"
#include "stages.h"

#define MRUN_LICENSES_POLICY ".mrun/policy.yml"

/* The rule table (for reports and SARIF): static, never freed; *ret_n gets its length. */
const mrun_rule *mrun_licenses_rules(size_t *ret_n);

/* Runs the check over root_fd. policy_path is the policy file: NULL means .mrun/policy.yml under root_fd when it
 * exists (else the defaults: tier 1, strong copyleft denied, unknown licenses warned about); a relative path is
 * opened beneath root_fd and an absolute one as is, and must exist. Findings go to out with inline `mrun:allow`
 * comments and the baseline of o applied. Lockfiles and metadata that cannot be read are told through o->skip and
 * skipped. Blocks on file I/O; no globals. Fails on a malformed policy (EINVAL, "path:line:col: reason"), I/O
 * errors of the root, a malformed baseline, ENOMEM or E2BIG. */
int mrun_check_licenses(int root_fd, const mrun_check_opts *o, const char *policy_path, mrun_findings *out,
                        mrun_scan_stats *ret_stats, mrun_err *err);

#endif
