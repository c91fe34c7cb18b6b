/* fuzz_baseline.c - fuzz target for baseline files (.mrun/secrets-baseline.json and the like), which come from the workspace. */
#include <stdint.h>
#include <stdlib.h>

#include "stages/findings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const mrun_rule rule = {"fuzz-rule", "a rule", "fix it", "why", MRUN_SEV_HIGH};
    mrun_err err = MRUN_ERR_INIT;
    mrun_findings *f = NULL;
    if (mrun_findings_new(&f, &err) < 0)
        return 0;
    mrun_findings_add(f, &rule, "a/b.py", 3, 7, "AKIAQ3EGUZ5PLX7K2N4J", 20, &err);
    mrun_findings_add(f, &rule, "c.js", 0, 0, NULL, 0, &err);
    if (mrun_findings_apply_baseline(f, data, size, &err) == 0) {
        /* whatever was accepted must leave the list consistent */
        for (size_t i = 0; i < mrun_findings_count(f); i++)
            if (mrun_findings_at(f, i)->suppressed && !mrun_findings_at(f, i)->suppressed_by)
                abort();
    }
    mrun_findings_free(f);
    return 0;
}
