/* fuzz_expr.c - fuzz target for stage `if:` conditions: parse, and on success evaluate under a few environments. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coordinator/expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const mrun_expr_env envs[] = {
        {"pull_request", "refs/pull/1/head", "feature", 1, true},
        {"push", "refs/heads/main", "main", 2, false},
        {NULL, NULL, NULL, INT64_MIN, true},
        {"", "", "", INT64_MAX, false},
    };
    /* An exact-size copy, so ASan catches any read past len (the parser must not need a NUL). */
    char *s = malloc(size ? size : 1);
    if (!s)
        return 0;
    if (size)
        memcpy(s, data, size);
    mrun_err err = MRUN_ERR_INIT;
    mrun_expr *e = NULL;
    if (mrun_expr_parse(s, size, 256, &e, &err) == 0) {
        if (!e)
            abort();
        bool uses = mrun_expr_uses_status(e);
        for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
            bool r = mrun_expr_eval(e, &envs[i]);
            if (r && !uses && !envs[i].needs_ok) /* the implicit success() rule */
                abort();
        }
        mrun_expr_free(e);
    } else if (e || err.msg[0] == '\0' || memchr(err.msg, '\0', sizeof(err.msg)) == NULL) {
        abort();
    }
    free(s);
    return 0;
}
