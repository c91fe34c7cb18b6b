/* deps.h - the dependencies a workspace declares, read from lockfiles and manifests without running anything: one
 * inventory that the license check and the SBOM share. Every reader is a parser of hostile input: bounded (a file
 * over MRUN_DEPS_MAX_FILE bytes is refused, the inventory holds at most MRUN_DEPS_MAX_COMPONENTS entries), never
 * following a symlink, and failing with "path:line: reason" (EPROTO) on malformed input without losing what
 * other files gave. */
#ifndef MRUN_DEPS_H
#define MRUN_DEPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

#define MRUN_DEPS_MAX_FILE       (64u << 20)
#define MRUN_DEPS_MAX_COMPONENTS 200000

typedef enum mrun_dep_scope {
    MRUN_DEP_REQUIRED = 0, /* needed at run time */
    MRUN_DEP_OPTIONAL,     /* optionalDependencies, extras, optional = true */
    MRUN_DEP_DEV,          /* devDependencies, dev groups: built and tested with, not shipped */
} mrun_dep_scope;

typedef enum mrun_hash_alg {
    MRUN_HASH_MD5 = 0,
    MRUN_HASH_SHA1,
    MRUN_HASH_SHA256,
    MRUN_HASH_SHA384,
    MRUN_HASH_SHA512,
} mrun_hash_alg;

typedef struct mrun_dep_hash {
    mrun_hash_alg alg;
    char *hex; /* lowercase hex (npm's base64 integrity is converted) */
} mrun_dep_hash;

/* One component. Strings are owned by the inventory; NULL when the file does not say. */
typedef struct mrun_dep {
    const char *ecosystem; /* purl type, static: "npm", "pypi", "golang", "cargo", "gem", "composer" */
    char *name;            /* as the ecosystem spells it: "@scope/pkg", "requests", "github.com/a/b", "vendor/pkg" */
    char *version;         /* exact version; NULL for an unpinned requirement */
    char *license;         /* as declared: an SPDX expression or free text */
    char *source;          /* the lockfile or manifest it came from, relative to the scanned root */
    char *locator;         /* where in that file, when the ecosystem has one: npm "node_modules/a/node_modules/b" */
    char *resolved;        /* download URL, when recorded */
    mrun_dep_hash *hashes;
    size_t n_hashes;
    mrun_dep_scope scope;
    bool is_project; /* the lockfile's own project (its root package), not a dependency */
    bool direct;     /* a project depends on it directly */
    size_t *deps;    /* indexes into the inventory of the components it depends on (no duplicates) */
    size_t n_deps;
} mrun_dep;

typedef struct mrun_deps mrun_deps; /* an inventory; one thread */

int mrun_deps_new(mrun_deps **ret, mrun_err *err);
void mrun_deps_free(mrun_deps *d);
void mrun_deps_freep(mrun_deps **d);

size_t mrun_deps_count(const mrun_deps *d);
const mrun_dep *mrun_deps_at(const mrun_deps *d, size_t i);

/* Adds a component: copies every string and the hashes of tmpl (its deps are ignored; add edges), returns its
 * index. ENOMEM, or E2BIG past MRUN_DEPS_MAX_COMPONENTS. */
int mrun_deps_add(mrun_deps *d, const mrun_dep *tmpl, size_t *ret_index, mrun_err *err);
/* Records that component from depends on component to; a repeated edge is a no-op. */
int mrun_deps_add_edge(mrun_deps *d, size_t from, size_t to, mrun_err *err);

/* Parses one lockfile or manifest, chosen by its base name (package-lock.json, npm-shrinkwrap.json, yarn.lock,
 * pnpm-lock.yaml, requirements*.txt, poetry.lock, Pipfile.lock, uv.lock, go.mod, go.sum, Cargo.lock, Gemfile.lock,
 * composer.lock), adding its project and components to d. path is recorded as each component's source. Returns 1
 * when the name is not one it reads, 0 when parsed, -1 with err on malformed input (d keeps what earlier files
 * gave, never a half-parsed file). */
int mrun_deps_parse(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err);

/* Called for each file a scan could not read (malformed, too large), with the reason; the scan goes on. */
typedef void (*mrun_deps_warn_fn)(void *ctx, const char *path, const char *reason);

/* Finds and parses every lockfile under root_fd (monorepos: in subfolders too), never following a symlink, skipping
 * .git, node_modules and virtualenvs, honouring .gitignore/.mrunignore. A file that fails to parse is reported
 * through warn (may be NULL) and skipped. Fails only on I/O errors of the root, ENOMEM or E2BIG. */
int mrun_deps_scan(int root_fd, mrun_deps *d, mrun_deps_warn_fn warn, void *warn_ctx, mrun_err *err);

const char *mrun_dep_scope_name(mrun_dep_scope s);  /* "required", "optional", "dev" */
const char *mrun_hash_alg_name(mrun_hash_alg a);    /* CycloneDX spelling: "MD5", "SHA-1", "SHA-256", ... */

#endif
