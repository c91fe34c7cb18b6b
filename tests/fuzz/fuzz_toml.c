/* fuzz_toml.c - fuzz target for the private TOML reader (stages/toml.h) behind Cargo.lock, poetry.lock and uv.lock:
 * whatever it accepts is walked in full, so every getter sees every node. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stages/toml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Visits every node (bounded by the reader's own depth limits) and checks what the getters promise. */
static void walk(const mrun_toml *v, unsigned depth)
{
    if (depth > 4096)
        abort();
    size_t n = mrun_toml_len(v);
    for (size_t i = 0; i < n; i++) {
        const mrun_toml *c = mrun_toml_at(v, i);
        if (!c || mrun_toml_line(c) == 0)
            abort();
        if (mrun_toml_type_of(v) == MRUN_TOML_TABLE) {
            const char *k = mrun_toml_key_at(v, i);
            if (!k || mrun_toml_get(v, k) != c) /* keys are unique, and the index finds each */
                abort();
        }
        size_t len = 0;
        const char *s = mrun_toml_str(c, &len);
        if (s && s[len] != '\0')
            abort();
        walk(c, depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_toml *root = NULL;
    if (mrun_toml_parse(data, size, &root, &err) == 0) {
        walk(root, 0);
        mrun_toml_free(root);
    } else if (root || err.msg[0] == '\0') {
        abort();
    }
    return 0;
}
