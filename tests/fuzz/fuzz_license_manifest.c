/* fuzz_license_manifest.c - fuzz target for the package manifests the license check reads from installed and
 * vendored packages (package.json, composer.json, METADATA, PKG-INFO, Cargo.toml), which come from the workspace.
 * The first byte picks the file name; the rest is the file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stages/spdx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const bases[] = {"package.json", "composer.json", "METADATA", "PKG-INFO", "Cargo.toml"};
    if (size == 0)
        return 0;
    const char *base = bases[data[0] % 5];
    mrun_err err = MRUN_ERR_INIT;
    mrun_license_decl *d = malloc(sizeof(*d));
    if (!d)
        return 0;
    if (mrun_license_manifest_parse(base, data + 1, size - 1, d, &err) == 0) {
        if (memchr(d->name, 0, sizeof(d->name)) == NULL || memchr(d->license, 0, sizeof(d->license)) == NULL)
            abort();
        if (d->text && (d->text < data + 1 || d->text + d->text_len > data + size))
            abort(); /* the embedded text points into the input */
    }
    free(d);
    return 0;
}
