/* fuzz_policy.c - fuzz target for .mrun/policy.yml (the license policy), which comes from the workspace: the parser,
 * then the verdicts of whatever it accepted on a few expressions. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stages/spdx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const exprs[] = {"MIT",
                                        "GPL-3.0-only OR MIT",
                                        "LGPL-2.1-only AND Apache-2.0",
                                        "GPL-2.0-only WITH Classpath-exception-2.0",
                                        "LicenseRef-x",
                                        "Foo"};
    mrun_err err = MRUN_ERR_INIT;
    mrun_license_policy *p = NULL;
    if (mrun_license_policy_parse("policy.yml", data, size, &p, &err) < 0) {
        if (!strstr(err.msg, "policy.yml") && err.sys_errno != ENOMEM)
            abort(); /* every parse error names the file and the place */
        return 0;
    }
    if (p->tier < 0 || p->tier > 3)
        abort();
    for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
        mrun_spdx_expr *e = NULL;
        if (mrun_spdx_parse(exprs[i], strlen(exprs[i]), &e, &err) < 0)
            abort();
        const char *why = NULL;
        mrun_verdict v = mrun_license_policy_judge(p, e, &why, NULL);
        if (v > MRUN_VERDICT_DENY || !why)
            abort();
        mrun_spdx_free(e);
    }
    mrun_license_policy_exception(p, "pkg", "1.0.0");
    mrun_license_policy_free(p);
    return 0;
}
