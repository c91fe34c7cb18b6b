/* fuzz_spdx_expr.c - fuzz target for SPDX license expressions and the free-text licenses packages declare (package.json
 * `license`, METADATA `License:`, Cargo.toml `license`): both readers, and the canonical text round trip. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stages/spdx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_spdx_expr *e = NULL;
    if (mrun_spdx_parse((const char *)data, size, &e, &err) == 0) {
        /* the canonical form of an accepted expression parses back to itself */
        char *s = mrun_spdx_to_string(e);
        mrun_spdx_expr *again = NULL;
        if (!s || mrun_spdx_parse(s, strlen(s), &again, &err) < 0)
            abort();
        char *s2 = mrun_spdx_to_string(again);
        if (!s2 || strcmp(s, s2) != 0)
            abort();
        free(s);
        free(s2);
        mrun_spdx_free(again);
        for (size_t i = 0; i < e->n; i++)
            if (e->nodes[i].kind != MRUN_SPDX_LEAF && (e->nodes[i].left >= e->n || e->nodes[i].right >= e->n))
                abort();
        mrun_spdx_free(e);
    }
    e = NULL;
    if (mrun_spdx_read_declared((const char *)data, size, &e, &err) == 0) {
        if (!e || e->n == 0)
            abort();
        char *s = mrun_spdx_to_string(e);
        free(s);
        mrun_spdx_free(e);
    }
    return 0;
}
