/* spdx.h - private to the license check (stages/spdx.c, license_*.c): the SPDX id tables, parsed license
 * expressions, license text identification, the policy, and the installed-package metadata reader. */
#ifndef MRUN_SPDX_H
#define MRUN_SPDX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "deps.h"

/* ---- generated tables (data/spdx/spdx_data.c) ---- */

typedef enum mrun_lic_category {
    MRUN_LIC_OTHER = 0,  /* no copyleft known to mrun (proprietary-ish, non-commercial, unusual terms) */
    MRUN_LIC_PERMISSIVE, /* MIT, BSD, Apache, ISC... */
    MRUN_LIC_WEAK,       /* weak copyleft: LGPL, MPL, EPL, CDDL... (file- or library-level) */
    MRUN_LIC_STRONG,     /* strong copyleft: GPL, AGPL, SSPL, OSL... (the whole program) */
} mrun_lic_category;

enum { MRUN_LIC_DEPRECATED = 1, MRUN_LIC_OSI = 2 };

typedef struct mrun_spdx_license {
    const char *id;
    mrun_lic_category category;
    unsigned flags;
} mrun_spdx_license;

typedef struct mrun_spdx_text {
    const char *id;
    const char *text; /* normalised: lowercase words, one line per source line, copyright lines dropped */
} mrun_spdx_text;

extern const mrun_spdx_license mrun_spdx_licenses[];
extern const size_t mrun_spdx_n_licenses;
extern const char *const mrun_spdx_exceptions[];
extern const size_t mrun_spdx_n_exceptions;
extern const mrun_spdx_text mrun_spdx_texts[];
extern const size_t mrun_spdx_n_texts;

/* ---- ids and expressions (spdx.c) ---- */

#define MRUN_SPDX_MAX_EXPR  4096 /* bytes of one expression */
#define MRUN_SPDX_MAX_NODES 256
#define MRUN_SPDX_MAX_DEPTH 32

/* The table entry for an id (case-insensitive), or NULL. */
const mrun_spdx_license *mrun_spdx_lookup(const char *id, size_t len);
/* The exception id as SPDX spells it, or NULL. */
const char *mrun_spdx_exception(const char *id, size_t len);

typedef enum { MRUN_SPDX_LEAF = 0, MRUN_SPDX_AND, MRUN_SPDX_OR } mrun_spdx_kind;

/* One node of an expression. A leaf's id is the canonical current id (deprecated ids are mapped: GPL-2.0 ->
 * GPL-2.0-only, GPL-2.0+ -> GPL-2.0-or-later, GPL-2.0-with-classpath-exception -> GPL-2.0-only WITH
 * Classpath-exception-2.0), a LicenseRef-/DocumentRef- string as written, or the unknown text as written
 * (known = false). Owned by the expression. */
typedef struct mrun_spdx_node {
    mrun_spdx_kind kind;
    char *id;           /* leaf */
    bool known;         /* leaf: an SPDX list id */
    bool or_later;      /* leaf: '+' on an id that has no -or-later form */
    char *exception;    /* leaf: WITH exception (canonical spelling when known), or NULL */
    size_t left, right; /* AND / OR: indexes of the operands */
} mrun_spdx_node;

typedef struct mrun_spdx_expr {
    mrun_spdx_node *nodes;
    size_t n;
    size_t root;
} mrun_spdx_expr;

/* Parses an SPDX license expression (operators AND, OR, WITH in upper or lower case, parentheses, '+'). Ids are
 * matched case-insensitively and canonicalised; an id not on the list is kept as an unknown leaf. Pure; EPROTO
 * ("col N: reason") on a syntax error, E2BIG past the bounds above. */
int mrun_spdx_parse(const char *s, size_t len, mrun_spdx_expr **ret, mrun_err *err);
void mrun_spdx_free(mrun_spdx_expr *e);
void mrun_spdx_freep(mrun_spdx_expr **e);

/* Reads what a package declares: an SPDX expression, or one of the common free-text spellings ("Apache 2.0",
 * "MIT License", "GPLv3+", "BSD-3", a PyPI classifier's tail) mapped where it names one license unambiguously.
 * Free text that matches nothing becomes one unknown leaf holding the text. Never fails except ENOMEM/E2BIG. */
int mrun_spdx_read_declared(const char *s, size_t len, mrun_spdx_expr **ret, mrun_err *err);
/* The expression as canonical text ("(MIT OR Apache-2.0) AND BSD-3-Clause"), malloc'd. */
char *mrun_spdx_to_string(const mrun_spdx_expr *e);
/* The category of a leaf (exception-aware: a linking exception such as Classpath-exception-2.0 makes a strong
 * copyleft license weak). */
mrun_lic_category mrun_spdx_leaf_category(const mrun_spdx_node *leaf);

/* ---- license texts (license_text.c) ---- */

typedef enum { MRUN_TEXT_NONE = 0, MRUN_TEXT_CONTAINS, MRUN_TEXT_NEAR, MRUN_TEXT_EXACT } mrun_text_match;

typedef struct mrun_text_id {
    const char *id;    /* the best reference license, or NULL (static) */
    double confidence; /* 0..1: Dice similarity of word 3-grams (containment for MRUN_TEXT_CONTAINS) */
    mrun_text_match match;
} mrun_text_id;

typedef struct mrun_license_texts mrun_license_texts; /* the prepared reference set; immutable once built */

int mrun_license_texts_new(mrun_license_texts **ret, mrun_err *err);
void mrun_license_texts_free(mrun_license_texts *t);
/* Identifies a license text (LICENSE, COPYING...): EXACT at Dice >= 0.95, NEAR (a modified text) at >= 0.80,
 * CONTAINS when >= 95% of a reference's 3-grams are in a longer text, else NONE. Pure; thread-safe. */
mrun_text_id mrun_license_identify(const mrun_license_texts *t, const uint8_t *buf, size_t len);

/* ---- policy (license_policy.c) ---- */

typedef enum { MRUN_UNKNOWN_WARN = 0, MRUN_UNKNOWN_FAIL, MRUN_UNKNOWN_ALLOW } mrun_unknown_mode;

typedef struct mrun_license_exception_rule {
    char *package; /* name as the ecosystem spells it */
    char *version; /* NULL: any */
    char *reason;
} mrun_license_exception_rule;

typedef struct mrun_license_policy {
    int tier;     /* 0-3; default 1 */
    char **allow; /* patterns: exact ids or prefixes ending in '*', case-insensitive; NULL-terminated */
    size_t n_allow;
    char **deny;
    size_t n_deny;
    bool allow_list; /* `allow:` was given: anything else is denied */
    mrun_unknown_mode unknown;
    mrun_license_exception_rule *exceptions;
    size_t n_exceptions;
} mrun_license_policy;

#define MRUN_POLICY_MAX_FILE  (256u << 10)
#define MRUN_POLICY_MAX_ITEMS 1024

/* The default policy (tier 1, no lists, unknown: warn). */
int mrun_license_policy_default(mrun_license_policy **ret, mrun_err *err);
/* Parses .mrun/policy.yml (name is for messages). Unknown keys, wrong types and bad values are EINVAL with
 * "name:line:col: reason" and a "did you mean" where one is close. Pure. */
int mrun_license_policy_parse(const char *name, const uint8_t *buf, size_t len, mrun_license_policy **ret,
                              mrun_err *err);
void mrun_license_policy_free(mrun_license_policy *p);
void mrun_license_policy_freep(mrun_license_policy **p);

typedef enum {
    MRUN_VERDICT_ALLOW = 0, /* fine */
    MRUN_VERDICT_WEAK,      /* allowed; weak copyleft obligations (a low finding) */
    MRUN_VERDICT_STRONG,    /* allowed with a warning: strong copyleft in a tier 0 app */
    MRUN_VERDICT_UNKNOWN,   /* no SPDX id to judge */
    MRUN_VERDICT_DENY,      /* denied by the policy */
} mrun_verdict;

/* Judges one leaf, then a whole expression: OR takes the best alternative, AND the worst part. *ret_why (may be
 * NULL) gets the deciding leaf's reason as a predicate ("is denied for tier 1 apps (strong copyleft)", "is not on
 * the policy's allow list"), *ret_leaf (may be NULL) that leaf. */
mrun_verdict mrun_license_policy_judge(const mrun_license_policy *p, const mrun_spdx_expr *e, const char **ret_why,
                                       const mrun_spdx_node **ret_leaf);
/* The exception rule covering name@version, or NULL. */
const mrun_license_exception_rule *mrun_license_policy_exception(const mrun_license_policy *p, const char *name,
                                                                 const char *version);

/* ---- package manifests (license_manifest.c) ---- */

/* What one manifest says about its package. Strings are "" when absent. */
typedef struct mrun_license_decl {
    char name[256], version[128];
    char license[512];    /* the declared license, from the best source the format has; "" when none names one */
    char fallback[512];   /* declared text that names no known license (METADATA `License: BSD`), for messages */
    char file[256];       /* a license file the manifest points at (npm SEE LICENSE IN, Cargo license-file) */
    const uint8_t *text;  /* a whole license text inside the manifest (METADATA `License:`), into the buffer */
    size_t text_len;
} mrun_license_decl;

/* Parses package.json, composer.json, METADATA, PKG-INFO or Cargo.toml (chosen by base name). METADATA/PKG-INFO:
 * License-Expression, then the License classifiers (alternatives, used when each one names a known license), then
 * a License: that names a known license; only the header block is read. Pure; EPROTO ("base:line:col: reason") on
 * malformed JSON or TOML, EINVAL for another base name. */
int mrun_license_manifest_parse(const char *base, const uint8_t *buf, size_t len, mrun_license_decl *ret,
                                mrun_err *err);

/* ---- installed-package metadata (license_meta.c) ---- */

#define MRUN_META_MAX_ENTRIES 500000u /* directory entries one scan lists before it stops (E2BIG) */
#define MRUN_META_MAX_DEPTH   48

/* Adds the packages found installed or vendored under root_fd to d, each with the license it declares (or, when
 * it declares none, the SPDX id its license file was identified as, "LicenseRef-mrun-modified-<id>" for a near
 * match): node_modules/ (**) package.json, *.dist-info/METADATA and *.egg-info/PKG-INFO, vendored Cargo.toml and
 * composer.json, and LICENSE/COPYING files of vendored Go modules and other vendor/ or third_party/ directories.
 * Never follows a symlink; files over max_bytes are skipped through warn. Counts the files it read in
 * *files_read. Fails on I/O errors of the root, ENOMEM, or E2BIG past the bounds above. */
int mrun_license_meta_scan(int root_fd, uint64_t max_bytes, const mrun_license_texts *texts, mrun_deps *d,
                           mrun_deps_warn_fn warn, void *warn_ctx, size_t *files_read, mrun_err *err);

/* LICENSE, LICENCE, COPYING, UNLICENSE, alone or followed by '.', '-' or '_' (LICENSE.md, LICENSE-MIT), any case. */
bool mrun_license_is_file_name(const char *name);

/* Opens rel (a '/'-separated path) beneath dir_fd one component at a time with O_NOFOLLOW, and reads it whole when
 * it is a regular file of at most max bytes. Returns 0, 1 when it does not exist, is a symlink or not a regular
 * file, or -1 (E2BIG when larger). */
int mrun_license_read_beneath(int dir_fd, const char *rel, uint64_t max, uint8_t **ret_buf, size_t *ret_len,
                              mrun_err *err);

#endif
