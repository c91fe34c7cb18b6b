/* sbom_int.h - private to the SBOM writers (sbom.c, sbom_json.c, sbom_cdx.c, sbom_spdx.c, purl.c, the generated
 * sbom_license_ids.c): what both formats share. */
#ifndef MRUN_SBOM_INT_H
#define MRUN_SBOM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbom.h"

#define MRUN_SBOM_TOOL "mrun"

/* The SPDX license and exception ids CycloneDX accepts (sbom_license_ids.c, generated), sorted with strcasecmp. */
const char *const *mrun_sbom_license_ids(size_t *ret_n);
/* The canonical spelling of an SPDX id, matched case-insensitively ("mit" -> "MIT"); NULL when not one. */
const char *mrun_sbom_license_id(const char *s, size_t len);

/* How a declared license string is written. */
typedef enum sbom_license_kind {
    SBOM_LICENSE_NONE = 0, /* empty or absent */
    SBOM_LICENSE_ID,       /* one SPDX id: text is its canonical spelling */
    SBOM_LICENSE_EXPR,     /* a valid SPDX expression: text is it, normalised (canonical ids, single spaces) */
    SBOM_LICENSE_NAME,     /* anything else: text is the declared string as it is */
} sbom_license_kind;

/* Classifies s; *ret_text is malloc'd (NULL for NONE). -1 only on ENOMEM. */
int mrun_sbom_license(const char *s, sbom_license_kind *ret_kind, char **ret_text, mrun_err *err);

/* The document's root: the app, which is the inventory's only project when it has exactly one. */
typedef struct sbom_root {
    const char *name;    /* never NULL */
    const char *version; /* may be NULL */
    size_t project;      /* the project merged into the root, or SIZE_MAX */
    size_t *deps;        /* what the root depends on (inventory indexes), malloc'd */
    size_t n_deps;
} sbom_root;

int mrun_sbom_root_init(sbom_root *r, const mrun_deps *d, const mrun_sbom_opts *o, mrun_err *err);
void mrun_sbom_root_fini(sbom_root *r);

/* The document's UUID (36 chars + NUL): o->serial without "urn:uuid:", checked, or one derived from a SHA-256 of
 * the inventory and the root (version nibble 5, RFC 4122 variant). EINVAL for a malformed o->serial. */
int mrun_sbom_uuid(const mrun_deps *d, const sbom_root *r, const mrun_sbom_opts *o, char ret[37], mrun_err *err);

/* The name to show for dep: its name, else what its locator says (npm: the last node_modules/ path), else
 * "unnamed". Such a nameless entry gets no purl. */
const char *mrun_sbom_dep_name(const mrun_dep *dep);
/* The purl of every entry (NULL for a nameless one); *ret is freed with mrun_sbom_purls_free. */
int mrun_sbom_purls(const mrun_deps *d, char ***ret, mrun_err *err);
void mrun_sbom_purls_free(char **purls, size_t n);

/* The hash is hex of the length its algorithm gives (what both schemas expect). */
bool mrun_sbom_hash_ok(const mrun_dep_hash *h);

/* "2026-01-02T03:04:05Z" */
void mrun_sbom_time(int64_t t, char ret[32]);

/* A set of strings that makes each added one unique by appending SEP N (N = 2, 3, ...). */
typedef struct sbom_names sbom_names;
sbom_names *mrun_sbom_names_new(size_t expect);
void mrun_sbom_names_free(sbom_names *s);
/* Returns the unique form of base, owned by the set; NULL on ENOMEM. */
const char *mrun_sbom_names_add(sbom_names *s, const char *base, char sep);

/* A streaming JSON writer (sbom_json.c): one buffer, written out by finish. Calls nest like the document; a
 * value in an object follows its key. Allocation failures are remembered and reported by finish. */
#define SBOM_JSON_MAX_DEPTH 16
typedef struct sbom_json {
    char *buf;
    size_t len, cap;
    int depth;
    bool has_items[SBOM_JSON_MAX_DEPTH]; /* per open container: something written into it */
    bool after_key;
    bool oom;
} sbom_json;

/* Sizes the buffer for about n components up front (a hint; failure is not an error). */
void mrun_sbom_json_reserve(sbom_json *w, size_t n_components);
void mrun_sbom_json_open(sbom_json *w, char bracket);  /* '{' or '[' */
void mrun_sbom_json_close(sbom_json *w, char bracket); /* '}' or ']' */
void mrun_sbom_json_key(sbom_json *w, const char *key);
void mrun_sbom_json_str(sbom_json *w, const char *s);       /* NULL as "" */
void mrun_sbom_json_raw(sbom_json *w, const char *literal); /* a number, true, false */
/* key: "value", skipped when value is NULL */
void mrun_sbom_json_kv(sbom_json *w, const char *key, const char *value);
/* Appends the final newline and writes the buffer to out. ENOMEM, or the write's errno (EIO when unknown). */
int mrun_sbom_json_finish(sbom_json *w, FILE *out, mrun_err *err);
void mrun_sbom_json_fini(sbom_json *w);

int mrun_sbom_write_cdx(const mrun_deps *d, const mrun_sbom_opts *o, FILE *out, mrun_err *err);
int mrun_sbom_write_spdx(const mrun_deps *d, const mrun_sbom_opts *o, FILE *out, mrun_err *err);

#endif
