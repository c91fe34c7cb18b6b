/* fuzz_deps.c - one fuzz target for every lockfile and manifest reader: the first input byte picks the file name
 * (and so the reader, see mrun_deps_parse), the rest is the file. Seeds: tests/fuzz/corpus/deps (mkseed.sh). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stages/deps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The selector byte modulo this table's size; keep the order: seeds depend on it. */
static const char *const names[] = {
    "package-lock.json", "npm-shrinkwrap.json", "yarn.lock",     "pnpm-lock.yaml", "requirements.txt",
    "poetry.lock",       "Pipfile.lock",        "uv.lock",       "go.mod",         "go.sum",
    "Cargo.lock",        "Gemfile.lock",        "composer.lock",
};

/* What a reader accepted must be a consistent inventory: edges in range and without duplicates, hashes in hex. */
static void check(const mrun_deps *d)
{
    size_t n = mrun_deps_count(d);
    for (size_t i = 0; i < n; i++) {
        const mrun_dep *p = mrun_deps_at(d, i);
        if (!p->ecosystem)
            abort();
        for (size_t k = 0; k < p->n_deps; k++) {
            if (p->deps[k] >= n)
                abort();
            for (size_t j = 0; j < k; j++)
                if (p->deps[j] == p->deps[k])
                    abort();
        }
        for (size_t k = 0; k < p->n_hashes; k++)
            if (!p->hashes[k].hex || strspn(p->hashes[k].hex, "0123456789abcdef") != strlen(p->hashes[k].hex))
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *name = names[data[0] % (sizeof(names) / sizeof(names[0]))];
    mrun_err err = MRUN_ERR_INIT;
    mrun_deps *d = NULL;
    if (mrun_deps_new(&d, &err) < 0)
        return 0;
    /* go.sum adds to what go.mod gave: give it something to add to */
    if (strcmp(name, "go.sum") == 0) {
        static const char gomod[] = "module example.com/m\n\ngo 1.21\n\nrequire golang.org/x/text v0.14.0\n";
        mrun_deps_parse(d, "go.mod", (const uint8_t *)gomod, sizeof(gomod) - 1, &err);
    }
    size_t before = mrun_deps_count(d);
    int r = mrun_deps_parse(d, name, data + 1, size - 1, &err);
    if (r < 0 && mrun_deps_count(d) != before) /* a failed parse leaves nothing behind */
        abort();
    check(d);
    mrun_deps_free(d);
    return 0;
}
