/* deps_lang.h - what the Python, Go, Rust, Ruby and PHP lockfile readers share (private to stages/): a per-file set
 * of packages built before anything reaches the inventory, so names can be resolved to edges, scopes propagated
 * from the project, and the whole file committed at once (or not at all). One thread. */
#ifndef MRUN_DEPS_LANG_H
#define MRUN_DEPS_LANG_H

#include <stdbool.h>
#include <stddef.h>

#include "deps_int.h"
#include "toml.h"

#define LANG_MAX_EDGES 4000000u /* edges in one file */
#define LANG_MAX_NAME  512      /* bytes in a package name */

/* One package of the file. t's strings are borrowed from the parsed document or owned by the set's arena; key,
 * to[] and hashes[] are owned. */
typedef struct lang_pkg {
    mrun_dep t;
    char *key; /* the name as matched: PEP 503-normalised for PyPI, else as written */
    unsigned line;
    size_t aux; /* for the reader's own use */
    size_t *to; /* edges, as indexes into the set */
    mrun_dep_scope *to_scope;
    size_t n_to, cap_to;
    mrun_dep_hash *hashes; /* hex owned by the arena */
    size_t n_hashes, cap_hashes;
} lang_pkg;

typedef struct lang_set {
    const char *path;
    const char *ecosystem;
    bool pep503;
    lang_pkg *v;
    size_t n, cap;
    size_t *order; /* the first n_order indexes sorted by (key, version), as of the last lang_index */
    size_t n_order;
    size_t n_edges;
    char **arena;
    size_t n_arena, cap_arena;
} lang_set;

void lang_set_init(lang_set *s, const char *path, const char *ecosystem, bool pep503);
void lang_set_fini(lang_set *s);

/* "path:line: reason" (just "path: reason" when line is 0) with EPROTO; returns -1. */
int lang_err(mrun_err *err, const char *path, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Keeps a heap string for the set's lifetime (freed with it; freed at once on failure); returns it or NULL. */
char *lang_keep(lang_set *s, char *owned, mrun_err *err);
char *lang_dup(lang_set *s, const char *str, size_t n, mrun_err *err);

/* Adds a package (name and version borrowed; checked: 1..LANG_MAX_NAME bytes, no control characters). */
int lang_add(lang_set *s, const char *name, const char *version, unsigned line, size_t *ret_i, mrun_err *err);
/* A hash in hex of the length alg implies (any case; stored lowercase). EPROTO "path:line: bad ... hash". */
int lang_hash(lang_set *s, size_t i, mrun_hash_alg alg, const char *hex, size_t n, mrun_err *err);
/* "sha256:hex" (also md5, sha1, sha384, sha512; '=' instead of ':' too). */
int lang_hash_spec(lang_set *s, size_t i, const char *spec, mrun_err *err);
/* Decodes standard base64 (with padding) of exactly want bytes into lowercase hex in out[2 * want + 1]. */
bool lang_base64_hex(const char *b64, size_t n, size_t want, char *out);

/* Sorts the set by name so lang_find sees the packages added so far. */
int lang_index(lang_set *s, mrun_err *err);
/* The packages named name (normalised like the keys): their positions lo..hi-1 in s->order; false if none. */
bool lang_find(const lang_set *s, const char *name, size_t *ret_lo, size_t *ret_hi);
/* The package named name with that version (any when NULL; the first by version order), or SIZE_MAX. */
size_t lang_find_one(const lang_set *s, const char *name, const char *version);

/* Records that from depends on to, with the scope of that dependency (used when from is a project). */
int lang_edge(lang_set *s, size_t from, size_t to, mrun_dep_scope scope, mrun_err *err);
/* Marks the projects' dependencies direct and gives every package reachable from a project the narrowest scope
 * of a path to it: required before optional before dev. Packages no project reaches keep their own scope. */
void lang_propagate(lang_set *s);
/* Adds every package and edge to d; on failure d is truncated back. */
int lang_commit(lang_set *s, mrun_deps *d, mrun_err *err);

/* Parses a TOML document; errors read "path:line:col: reason". */
int lang_toml(const char *path, const uint8_t *buf, size_t len, mrun_toml **ret_root, mrun_err *err);

/* PEP 503: lowercase, runs of "-", "_", "." become one "-". Returns a heap string or NULL. */
char *lang_pep503(const char *name);

#endif
