/* deps_cargo.c - Cargo.lock, lockfile versions 1 to 4: [[package]] tables (name, version, source, checksum,
 * dependencies as "name", "name version" or "name version (source)"), the v1 [metadata] checksums and the v1
 * [root] package. Packages without a source are the workspace's own crates (is_project). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../common/auto.h"
#include "deps_lang.h"

typedef struct cargo {
    lang_set s;
    const mrun_toml **tables; /* the table each package came from */
} cargo;

static void cargo_fini(cargo *c)
{
    lang_set_fini(&c->s);
    free(c->tables);
}

static int add_package(cargo *c, const mrun_toml *t, mrun_err *err)
{
    unsigned line = mrun_toml_line(t);
    const char *name = mrun_toml_get_str(t, "name"), *version = mrun_toml_get_str(t, "version");
    if (mrun_toml_type_of(t) != MRUN_TOML_TABLE || !name || !version)
        return lang_err(err, c->s.path, line, "package without a name and version");
    size_t i;
    if (lang_add(&c->s, name, version, line, &i, err) < 0)
        return -1;
    c->tables[i] = t;
    lang_pkg *p = &c->s.v[i];
    const char *source = mrun_toml_get_str(t, "source");
    p->t.is_project = source == NULL;
    if (source && strncmp(source, "registry+", 9) != 0 && strncmp(source, "sparse+", 7) != 0)
        p->t.resolved = (char *)source; /* git+https://...#commit: where it came from */
    const char *sum = mrun_toml_get_str(t, "checksum");
    if (sum && lang_hash(&c->s, i, MRUN_HASH_SHA256, sum, strlen(sum), err) < 0)
        return -1;
    return 0;
}

/* "name", "name version" or "name version (source)", as Cargo writes just enough to be unambiguous. */
static int resolve(cargo *c, size_t from, const char *spec, size_t *ret, mrun_err *err)
{
    char buf[LANG_MAX_NAME * 2 + 8];
    const char *path = c->s.path;
    unsigned line = c->s.v[from].line;
    if (strlen(spec) >= sizeof(buf))
        return lang_err(err, path, line, "dependency entry too long");
    memcpy(buf, spec, strlen(spec) + 1);
    char *version = strchr(buf, ' '), *source = NULL;
    if (version) {
        *version++ = '\0';
        source = strchr(version, ' ');
        if (source) {
            *source++ = '\0';
            size_t n = strlen(source);
            if (n < 2 || source[0] != '(' || source[n - 1] != ')')
                return lang_err(err, path, line, "bad dependency '%.64s'", spec);
            source[n - 1] = '\0';
            source++;
        }
    }
    size_t lo, hi;
    if (lang_find(&c->s, buf, &lo, &hi)) {
        for (size_t k = lo; k < hi; k++) {
            const lang_pkg *p = &c->s.v[c->s.order[k]];
            const char *src = mrun_toml_get_str(c->tables[c->s.order[k]], "source");
            if (version && strcmp(p->t.version, version) != 0)
                continue;
            if (source && (!src || strcmp(src, source) != 0))
                continue;
            *ret = c->s.order[k];
            return 0;
        }
    }
    return lang_err(err, path, line, "dependency '%.64s' of '%.64s' is not in the lockfile", spec, c->s.v[from].t.name);
}

static int add_edges(cargo *c, size_t i, mrun_err *err)
{
    const mrun_toml *deps = mrun_toml_get(c->tables[i], "dependencies");
    if (!deps)
        return 0;
    if (mrun_toml_type_of(deps) != MRUN_TOML_ARRAY)
        return lang_err(err, c->s.path, c->s.v[i].line, "dependencies is not an array");
    for (size_t k = 0; k < mrun_toml_len(deps); k++) {
        const char *spec = mrun_toml_str(mrun_toml_at(deps, k), NULL);
        size_t to;
        if (mrun_toml_type_of(mrun_toml_at(deps, k)) != MRUN_TOML_STRING)
            return lang_err(err, c->s.path, mrun_toml_line(mrun_toml_at(deps, k)), "dependency is not a string");
        if (resolve(c, i, spec, &to, err) < 0 || lang_edge(&c->s, i, to, MRUN_DEP_REQUIRED, err) < 0)
            return -1;
    }
    return 0;
}

/* v1: [metadata] "checksum name version (source)" = "sha256 hex" (or "<none>" for git sources). */
static int v1_checksums(cargo *c, const mrun_toml *meta, mrun_err *err)
{
    for (size_t k = 0; k < mrun_toml_len(meta); k++) {
        const char *key = mrun_toml_key_at(meta, k);
        const char *sum = mrun_toml_str(mrun_toml_at(meta, k), NULL);
        if (strncmp(key, "checksum ", 9) != 0 || !sum || strcmp(sum, "<none>") == 0)
            continue;
        size_t to;
        if (c->s.n == 0 || resolve(c, 0, key + 9, &to, err) < 0)
            return lang_err(err, c->s.path, mrun_toml_line(mrun_toml_at(meta, k)), "checksum of an unknown package");
        if (lang_hash(&c->s, to, MRUN_HASH_SHA256, sum, strlen(sum), err) < 0)
            return -1;
    }
    return 0;
}

static int read_lock(cargo *c, const mrun_toml *root, mrun_err *err)
{
    int64_t version = 1;
    if (mrun_toml_get(root, "version") && (!mrun_toml_get_int(root, "version", &version) || version < 1 || version > 4))
        return lang_err(err, c->s.path, mrun_toml_line(mrun_toml_get(root, "version")), "unsupported lockfile version");
    const mrun_toml *pkgs = mrun_toml_get(root, "package");
    const mrun_toml *legacy_root = mrun_toml_get_table(root, "root");
    if (pkgs && mrun_toml_type_of(pkgs) != MRUN_TOML_ARRAY)
        return lang_err(err, c->s.path, mrun_toml_line(pkgs), "package is not an array of tables");
    size_t n = mrun_toml_len(pkgs) + (legacy_root ? 1 : 0);
    c->tables = calloc(n ? n : 1, sizeof(*c->tables));
    if (!c->tables)
        return mrun_err_set(err, ENOMEM, "%s", c->s.path);
    if (legacy_root && add_package(c, legacy_root, err) < 0)
        return -1;
    for (size_t k = 0; k < mrun_toml_len(pkgs); k++)
        if (add_package(c, mrun_toml_at(pkgs, k), err) < 0)
            return -1;
    if (lang_index(&c->s, err) < 0)
        return -1;
    for (size_t i = 0; i < c->s.n; i++)
        if (add_edges(c, i, err) < 0)
            return -1;
    const mrun_toml *meta = mrun_toml_get_table(root, "metadata");
    return meta ? v1_checksums(c, meta, err) : 0;
}

int mrun_deps_parse_cargo_lock(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err)
{
    mrun_cleanup(mrun_toml_freep) mrun_toml *root = NULL;
    if (lang_toml(path, buf, len, &root, err) < 0)
        return -1;
    mrun_cleanup(cargo_fini) cargo c = {.tables = NULL};
    lang_set_init(&c.s, path, "cargo", false);
    if (read_lock(&c, root, err) < 0)
        return -1;
    lang_propagate(&c.s);
    return lang_commit(&c.s, d, err);
}
