/* sbom.h - software bills of materials from the dependency inventory (deps.h): CycloneDX 1.6 JSON and SPDX 2.3
 * JSON, each component with its purl, licenses, hashes, scope and the dependency graph. Pure writers: no I/O but
 * the FILE given, no clock, no environment (the caller picks the timestamp: see mrun_sbom_timestamp), so the same
 * inventory and options give the same bytes. Docs: docs/sbom.md. */
#ifndef MRUN_SBOM_H
#define MRUN_SBOM_H

#include <stdint.h>
#include <stdio.h>

#include "../common/err.h"
#include "deps.h"

typedef enum mrun_sbom_format {
    MRUN_SBOM_CYCLONEDX = 0, /* CycloneDX 1.6 JSON */
    MRUN_SBOM_SPDX,          /* SPDX 2.3 JSON */
} mrun_sbom_format;

typedef struct mrun_sbom_opts {
    mrun_sbom_format format;
    const char *app_name;    /* the root component; NULL: the inventory's only project, else "app" */
    const char *app_version; /* NULL: that project's version, else none */
    int64_t timestamp;       /* unix seconds, written as UTC (>= 0) */
    const char *serial;      /* a UUID ("urn:uuid:" optional); NULL: derived from the inventory's content */
} mrun_sbom_opts;

/* Writes the document for every component of d to out. Strings from the inventory are untrusted: they are
 * JSON-escaped, and turned into valid purls, SPDX ids and license expressions (or named licenses). ENOMEM,
 * EINVAL (bad opts), EIO (writing out failed). */
int mrun_sbom_write(const mrun_deps *d, const mrun_sbom_opts *o, FILE *out, mrun_err *err);

/* The package URL of dep per the purl spec (pkg:npm/%40scope/name@1.0.0, pypi names normalised, golang
 * namespace segments, ...), with qualifiers where the ecosystem's own tools add them (npm: download_url or vcs_url
 * for a package not from the default registry). *ret is malloc'd. ENOMEM, EINVAL (no name or type). */
int mrun_sbom_purl(const mrun_dep *dep, char **ret, mrun_err *err);

/* "cyclonedx" (or "cdx") and "spdx"; EINVAL otherwise. */
int mrun_sbom_format_parse(const char *s, mrun_sbom_format *ret, mrun_err *err);

/* The document time: SOURCE_DATE_EPOCH when set (must be a decimal number of seconds: EINVAL otherwise), else now. */
int mrun_sbom_timestamp(int64_t *ret, mrun_err *err);

#endif
