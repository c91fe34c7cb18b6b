/* fuzz_sbom.c - fuzz target for the SBOM writers over hostile inventories: the input is split at newlines into
 * components of six fields (ecosystem, name, version, license, resolved URL, hash hex) and edges between them;
 * both documents must come out as JSON that parses, whatever the strings hold (quotes, control bytes, invalid
 * UTF-8, license expressions nested or broken). */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stages/deps.h"
#include "stages/sbom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 600

static void check(const mrun_deps *d, mrun_sbom_format f)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        return;
    mrun_sbom_opts o = {.format = f, .timestamp = 1767225600};
    mrun_err err = MRUN_ERR_INIT;
    int r = mrun_sbom_write(d, &o, mem, &err);
    fclose(mem);
    if (r == 0) {
        json_error_t je;
        json_t *doc = json_loadb(text, len, 0, &je);
        if (!doc) /* the writer produced something that is not JSON */
            abort();
        json_decref(doc);
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const eco[] = {"npm", "pypi", "golang", "cargo", "gem", "composer", "other"};
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *field[MAX_FIELDS];
    size_t n = 0;
    for (char *p = buf; n < MAX_FIELDS;) {
        field[n++] = p;
        char *nl = memchr(p, '\n', (size_t)(buf + size - p));
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    mrun_deps *d = NULL;
    mrun_err err = MRUN_ERR_INIT;
    if (mrun_deps_new(&d, &err) < 0) {
        free(buf);
        return 0;
    }
    size_t count = 0;
    for (size_t i = 0; i + 6 <= n; i += 6) {
        unsigned char k = (unsigned char)field[i][0];
        mrun_dep_hash h = {(mrun_hash_alg)(k % 5), field[i + 5]};
        mrun_dep t = {.ecosystem = eco[k % 7], .name = field[i + 1], .version = *field[i + 2] ? field[i + 2] : NULL,
                      .license = field[i + 3], .resolved = field[i + 4], .hashes = &h, .n_hashes = 1,
                      .scope = (mrun_dep_scope)((k >> 3) % 3), .is_project = (k & 0x40) != 0,
                      .locator = (k & 0x80) ? field[i + 1] : NULL, .source = "fuzz.lock"};
        size_t idx;
        if (mrun_deps_add(d, &t, &idx, &err) == 0)
            count++;
    }
    for (size_t i = 0; count && i < size; i += 2) /* edges from the raw bytes */
        mrun_deps_add_edge(d, data[i] % count, (i + 1 < size ? data[i + 1] : 0) % count, &err);
    check(d, MRUN_SBOM_CYCLONEDX);
    check(d, MRUN_SBOM_SPDX);
    mrun_deps_free(d);
    free(buf);
    return 0;
}
