/* deps_int.h - private to the dependency readers: one parser per lockfile kind, each over a whole file in memory.
 * Each adds the file's project (is_project) and its components to d, with edges, and returns 0, or -1 with err
 * ("path:line: reason", EPROTO) leaving d as it found it (the dispatcher truncates back on failure). */
#ifndef MRUN_DEPS_INT_H
#define MRUN_DEPS_INT_H

#include "deps.h"

typedef int (*mrun_deps_parser)(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err);

/* JavaScript (deps_npm.c, deps_yarn.c, deps_pnpm.c) */
int mrun_deps_parse_npm_lock(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err);
int mrun_deps_parse_yarn_lock(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err);
int mrun_deps_parse_pnpm_lock(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err);
/* Python (deps_python.c) */
int mrun_deps_parse_requirements(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err);
int mrun_deps_parse_poetry_lock(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err);
int mrun_deps_parse_pipfile_lock(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err);
int mrun_deps_parse_uv_lock(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err);
/* Go, Rust, Ruby, PHP (deps_go.c, deps_cargo.c, deps_ruby.c, deps_php.c) */
int mrun_deps_parse_go_mod(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err);
int mrun_deps_parse_go_sum(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err);
int mrun_deps_parse_cargo_lock(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err);
int mrun_deps_parse_gemfile_lock(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err);
int mrun_deps_parse_composer_lock(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err);

/* Drops the components added after the first n (the undo of a failed parse). */
void mrun_deps_truncate(mrun_deps *d, size_t n);
/* Finds a component by ecosystem, name and version (version may be NULL: any); SIZE_MAX when absent. */
size_t mrun_deps_find(const mrun_deps *d, const char *ecosystem, const char *name, const char *version);
/* Adds a hash to component i (a repeated hash is a no-op). */
int mrun_deps_add_hash(mrun_deps *d, size_t i, mrun_hash_alg alg, const char *hex, mrun_err *err);
/* Component i for a parser to adjust its flags (scope, direct, is_project) or to fill a NULL string with a
 * malloc'd one (the inventory frees it); hashes and edges change only through the functions above.
 * i must be < mrun_deps_count(d). */
mrun_dep *mrun_deps_edit(mrun_deps *d, size_t i);
/* Adds the hashes of a Subresource Integrity string ("sha512-<base64> sha1-<base64>", npm/yarn/pnpm) to component
 * i as lowercase hex; algorithms other than md5/sha1/sha256/sha384/sha512 are skipped. EPROTO (no path in the
 * message: the caller prefixes it) when a digest is not valid base64 of its algorithm's length. */
int mrun_deps_add_integrity(mrun_deps *d, size_t i, const char *sri, mrun_err *err);

/* The scan's second look at a yarn.lock or pnpm-lock.yaml, given the package.json beside it, whose components
 * start at index first: fills the project's name and version where the lockfile has none. With with_deps (yarn,
 * which records neither dev dependencies nor, in v1, the project) it also adds the project when the lockfile had
 * none, marks what the package.json declares as direct (with edges from the project) and sets DEV on what only
 * devDependencies reach, OPTIONAL on what only optionalDependencies reach. EPROTO on malformed JSON (nothing
 * changed), ENOMEM. */
int mrun_deps_apply_package_json(mrun_deps *d, size_t first, const char *lock_path, bool with_deps, const uint8_t *buf,
                                 size_t len, mrun_err *err);

/* A string -> index map for the readers (npm locations, yarn descriptors, pnpm package keys). Keys are borrowed:
 * they must outlive the map. Zero-initialise; one thread. */
typedef struct mrun_deps_map {
    const char **keys;
    size_t *vals;
    size_t nslot, n;
} mrun_deps_map;

/* Sets key to val; a key already present keeps its first value and *ret_existed (may be NULL) says so. ENOMEM. */
int mrun_deps_map_put(mrun_deps_map *m, const char *key, size_t val, bool *ret_existed, mrun_err *err);
size_t mrun_deps_map_get(const mrun_deps_map *m, const char *key); /* SIZE_MAX when absent */
void mrun_deps_map_fini(mrun_deps_map *m);

#endif
