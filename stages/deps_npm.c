/* deps_npm.c - package-lock.json and npm-shrinkwrap.json (lockfileVersion 1, 2 and 3): every installed package
 * path becomes a component, edges resolved the way Node resolves require(). Also the Subresource Integrity
 * decoding that the yarn and pnpm readers share. See docs/deps.md for what is read and why. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/codec.h"
#include "../common/auto.h"
#include "deps_int.h"

#define V1_MAX_DEPTH   256 /* nested "dependencies" levels in a v1 lockfile */
#define SRI_MAX_TOKENS 16

/* ---- Subresource Integrity: "sha512-<base64> sha1-<base64>" ---- */

/* Decodes base64 (standard or URL alphabet, padding optional) of at most max bytes; -1 if malformed or longer. */
static int b64_decode(const char *s, size_t len, unsigned char *out, size_t max, size_t *ret_n)
{
    while (len > 0 && s[len - 1] == '=')
        len--;
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int v = mrun_b64_value((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == max)
                return -1;
            out[n++] = (unsigned char)(acc >> bits);
        }
    }
    *ret_n = n;
    return 0;
}

static const struct {
    const char *prefix;
    mrun_hash_alg alg;
    size_t size;
} sri_algs[] = {
    {"sha512-", MRUN_HASH_SHA512, 64}, {"sha384-", MRUN_HASH_SHA384, 48}, {"sha256-", MRUN_HASH_SHA256, 32},
    {"sha1-", MRUN_HASH_SHA1, 20},     {"md5-", MRUN_HASH_MD5, 16},
};

/* One token "alg-base64[?options]"; an algorithm SRI does not name is skipped. */
static int add_sri_token(mrun_deps *d, size_t i, const char *tok, size_t len, mrun_err *err)
{
    for (size_t a = 0; a < sizeof(sri_algs) / sizeof(sri_algs[0]); a++) {
        size_t plen = strlen(sri_algs[a].prefix);
        if (len < plen || strncmp(tok, sri_algs[a].prefix, plen) != 0)
            continue;
        const char *b64 = tok + plen;
        const char *q = memchr(b64, '?', len - plen);
        size_t blen = q ? (size_t)(q - b64) : len - plen;
        unsigned char raw[64];
        size_t n = 0;
        if (b64_decode(b64, blen, raw, sizeof(raw), &n) < 0 || n != sri_algs[a].size)
            return mrun_err_setx(err, EPROTO, "integrity '%.*s': not a %.*s digest", (int)(len > 40 ? 40 : len), tok,
                                 (int)plen - 1, sri_algs[a].prefix);
        char hex[129];
        mrun_hex_encode(raw, n, hex);
        return mrun_deps_add_hash(d, i, sri_algs[a].alg, hex, err);
    }
    return 0;
}

int mrun_deps_add_integrity(mrun_deps *d, size_t i, const char *sri, mrun_err *err)
{
    const char *p = sri;
    int tokens = 0;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        size_t len = strcspn(p, " \t\r\n");
        if (len == 0)
            break;
        if (++tokens > SRI_MAX_TOKENS)
            return mrun_err_setx(err, EPROTO, "integrity: more than %d hashes", SRI_MAX_TOKENS);
        if (add_sri_token(d, i, p, len, err) < 0)
            return -1;
        p += len;
    }
    return 0;
}

/* ---- a string map from an npm location ("node_modules/a/node_modules/b") to its entry ---- */

typedef struct entry {
    const char *key;    /* borrowed from the JSON document, or from lock.owned (v1) */
    json_t *obj;        /* borrowed */
    const char *target; /* a link's "resolved" location; NULL for a package */
    size_t index;       /* component, SIZE_MAX for a link */
} entry;

typedef struct lock {
    mrun_deps *d;
    const char *path;
    entry *e;
    size_t n, cap;
    mrun_deps_map loc; /* location -> index into e[] */
    char **owned;      /* v1 locations built here */
    size_t n_owned, cap_owned;
    size_t project;
} lock;

static void lock_fini(lock *l)
{
    free(l->e);
    mrun_deps_map_fini(&l->loc);
    for (size_t i = 0; i < l->n_owned; i++)
        free(l->owned[i]);
    free(l->owned);
}

static entry *map_get(const lock *l, const char *key)
{
    size_t i = mrun_deps_map_get(&l->loc, key);
    return i == SIZE_MAX ? NULL : &l->e[i];
}

/* Adds an entry (keys are unique: JSON_REJECT_DUPLICATES, and v1 locations are built from unique keys). */
static int map_put(lock *l, entry en, mrun_err *err)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 256;
        entry *ne = realloc(l->e, nc * sizeof(*ne));
        if (!ne)
            return mrun_err_set(err, ENOMEM, "%s", l->path);
        l->e = ne;
        l->cap = nc;
    }
    if (mrun_deps_map_put(&l->loc, en.key, l->n, NULL, err) < 0)
        return mrun_err_prefix(err, "%s", l->path);
    l->e[l->n++] = en;
    return 0;
}

/* ---- field helpers ---- */

/* An optional string field: NULL when absent, EPROTO when not a string. */
static int opt_str(const lock *l, json_t *obj, const char *key, const char *where, const char **ret, mrun_err *err)
{
    json_t *v = json_object_get(obj, key);
    *ret = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return mrun_err_setx(err, EPROTO, "%s: '%.120s': \"%s\" is not a string", l->path, where, key);
    *ret = json_string_value(v);
    return 0;
}

static bool opt_true(json_t *obj, const char *key)
{
    return json_is_true(json_object_get(obj, key));
}

/* "license": "MIT", the legacy {"type": "MIT"}, or a legacy list of those joined with " OR ". Borrowed or in buf. */
static const char *license_of(json_t *obj, char *buf, size_t size)
{
    json_t *v = json_object_get(obj, "license");
    if (!v)
        v = json_object_get(obj, "licenses");
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_object(v))
        return json_string_value(json_object_get(v, "type"));
    if (!json_is_array(v))
        return NULL;
    size_t i, used = 0;
    json_t *it;
    buf[0] = '\0';
    json_array_foreach(v, i, it)
    {
        const char *t = json_is_object(it) ? json_string_value(json_object_get(it, "type")) : json_string_value(it);
        if (!t)
            continue;
        int w = snprintf(buf + used, size - used, "%s%s", used ? " OR " : "", t);
        if (w < 0 || (size_t)w >= size - used)
            break;
        used += (size_t)w;
    }
    return used ? buf : NULL;
}

/* The package name of an npm location: what follows its last "node_modules/". */
static const char *name_of_location(const char *loc)
{
    const char *last = NULL;
    for (const char *p = loc; (p = strstr(p, "node_modules/")) != NULL; p += 13)
        if (p == loc || p[-1] == '/')
            last = p + 13;
    return last;
}

static int scope_of(json_t *obj)
{
    bool dev = opt_true(obj, "dev"), opt = opt_true(obj, "optional");
    if (dev) /* dev and optional: an optional dependency of a dev dependency, never shipped */
        return MRUN_DEP_DEV;
    if (opt || opt_true(obj, "devOptional")) /* devOptional: may ship as an optional dependency */
        return MRUN_DEP_OPTIONAL;
    return MRUN_DEP_REQUIRED;
}

/* Adds the component of one package entry; name and version may be NULL (a broken or partial lockfile). */
static int add_package(lock *l, json_t *obj, const char *loc, const char *name, const char *version, size_t *ret,
                       mrun_err *err)
{
    const char *resolved, *integrity;
    if (opt_str(l, obj, "resolved", loc, &resolved, err) < 0 || opt_str(l, obj, "integrity", loc, &integrity, err) < 0)
        return -1;
    char lic[512];
    mrun_dep t = {
        .ecosystem = "npm",
        .name = (char *)name,
        .version = (char *)version,
        .license = (char *)license_of(obj, lic, sizeof(lic)),
        .source = (char *)l->path,
        .locator = (char *)loc,
        .resolved = (char *)resolved,
        .scope = (mrun_dep_scope)scope_of(obj),
    };
    if (mrun_deps_add(l->d, &t, ret, err) < 0)
        return mrun_err_prefix(err, "%s", l->path);
    if (integrity && mrun_deps_add_integrity(l->d, *ret, integrity, err) < 0)
        return mrun_err_prefix(err, "%s: '%.120s'", l->path, loc);
    return 0;
}

/* ---- resolution ---- */

/* Follows a link to the package it points at (one hop; a link to a link is not something npm writes). */
static size_t entry_component(const lock *l, const entry *en)
{
    if (!en->target)
        return en->index;
    const entry *t = map_get(l, en->target);
    return t && !t->target ? t->index : SIZE_MAX;
}

/* The component that `require(name)` from location `from` reaches, by Node's node_modules lookup: from's own
 * node_modules, then each ancestor directory's (skipping directories named node_modules), then the root's. */
static size_t resolve(const lock *l, const char *from, const char *name, char *buf, size_t size)
{
    size_t flen = strlen(from);
    size_t end = flen;
    while (end > 0) {
        size_t start = end;
        while (start > 0 && from[start - 1] != '/')
            start--;
        bool is_nm = end - start == 12 && strncmp(from + start, "node_modules", 12) == 0;
        if (!is_nm) {
            int w = snprintf(buf, size, "%.*s/node_modules/%s", (int)end, from, name);
            if (w > 0 && (size_t)w < size) {
                const entry *en = map_get(l, buf);
                if (en)
                    return entry_component(l, en);
            }
        }
        end = start > 0 ? start - 1 : 0;
    }
    int w = snprintf(buf, size, "node_modules/%s", name);
    const entry *en = w > 0 && (size_t)w < size ? map_get(l, buf) : NULL;
    return en ? entry_component(l, en) : SIZE_MAX;
}

/* Adds edges from component `from_index` at location `from` for each name in the object field `field`; a
 * dependency that resolves nowhere (missing, or an unmet optional or peer) gives no edge. */
static int add_edges(lock *l, size_t from_index, const char *from, json_t *obj, const char *field, bool mark_direct,
                     mrun_err *err)
{
    json_t *deps = json_object_get(obj, field);
    if (!deps)
        return 0;
    if (!json_is_object(deps))
        return mrun_err_setx(err, EPROTO, "%s: '%.120s': \"%s\" is not an object", l->path, from, field);
    const char *name;
    json_t *range;
    size_t bufsize = strlen(from) + 64;
    json_object_foreach(deps, name, range)
    {
        size_t need = bufsize + strlen(name);
        mrun_autofree char *buf = malloc(need);
        if (!buf)
            return mrun_err_set(err, ENOMEM, "%s", l->path);
        size_t to = resolve(l, from, name, buf, need);
        if (to == SIZE_MAX || to == from_index)
            continue;
        if (mrun_deps_add_edge(l->d, from_index, to, err) < 0)
            return mrun_err_prefix(err, "%s", l->path);
        if (mark_direct)
            mrun_deps_edit(l->d, to)->direct = true;
    }
    return 0;
}

static const char *const dep_fields[] = {"dependencies", "optionalDependencies", "peerDependencies"};

/* ---- lockfileVersion 2 and 3: "packages" keyed by location ---- */

static bool is_local_package(const char *loc)
{
    return *loc && !name_of_location(loc); /* a workspace or file: dependency's own folder */
}

static int packages_entry(lock *l, const char *loc, json_t *obj, mrun_err *err)
{
    if (!json_is_object(obj))
        return mrun_err_setx(err, EPROTO, "%s: packages: '%.120s' is not an object", l->path, loc);
    entry en = {.key = loc, .obj = obj, .index = SIZE_MAX};
    if (opt_true(obj, "link")) {
        if (opt_str(l, obj, "resolved", loc, &en.target, err) < 0)
            return -1;
        if (!en.target)
            return 0; /* a link to nowhere */
        return map_put(l, en, err);
    }
    const char *name, *version;
    if (opt_str(l, obj, "name", loc, &name, err) < 0 || opt_str(l, obj, "version", loc, &version, err) < 0)
        return -1;
    if (!name && *loc) /* a package under node_modules, or a workspace folder that names no package */
        name = name_of_location(loc) ? name_of_location(loc) : strrchr(loc, '/') ? strrchr(loc, '/') + 1 : loc;
    if (add_package(l, obj, loc, name, version, &en.index, err) < 0)
        return -1;
    mrun_dep *p = mrun_deps_edit(l->d, en.index);
    if (!*loc) {
        p->is_project = true;
        p->scope = MRUN_DEP_REQUIRED;
        l->project = en.index;
    } else if (is_local_package(loc)) {
        p->direct = true; /* a workspace: the project's own code */
    }
    return map_put(l, en, err);
}

static int packages_edges(lock *l, const entry *en, mrun_err *err)
{
    if (en->target) {
        /* the root's node_modules/<workspace> link: the project depends on the workspace */
        size_t to = entry_component(l, en);
        if (to == SIZE_MAX || l->project == SIZE_MAX || name_of_location(en->key) != en->key + 13 ||
            !is_local_package(en->target))
            return 0;
        return mrun_deps_add_edge(l->d, l->project, to, err);
    }
    bool root = !*en->key;
    bool local = root || is_local_package(en->key);
    for (size_t f = 0; f < sizeof(dep_fields) / sizeof(dep_fields[0]); f++)
        if (add_edges(l, en->index, en->key, en->obj, dep_fields[f], local, err) < 0)
            return -1;
    if (local && add_edges(l, en->index, en->key, en->obj, "devDependencies", true, err) < 0)
        return -1;
    return 0;
}

/* The "" entry names the project only when its package.json has a name; the top level repeats it. */
static int fill_project(lock *l, json_t *root, mrun_err *err)
{
    mrun_dep *p = mrun_deps_edit(l->d, l->project);
    const char *name = json_string_value(json_object_get(root, "name"));
    const char *version = json_string_value(json_object_get(root, "version"));
    if ((name && !p->name && !(p->name = strdup(name))) || (version && !p->version && !(p->version = strdup(version))))
        return mrun_err_set(err, ENOMEM, "%s", l->path);
    return 0;
}

static int parse_packages(lock *l, json_t *root, mrun_err *err)
{
    json_t *packages = json_object_get(root, "packages");
    if (!json_is_object(packages))
        return mrun_err_setx(err, EPROTO, "%s: \"packages\" is not an object", l->path);
    const char *loc;
    json_t *obj;
    json_object_foreach(packages, loc, obj)
    {
        if (packages_entry(l, loc, obj, err) < 0)
            return -1;
    }
    for (size_t i = 0; i < l->n; i++)
        if (packages_edges(l, &l->e[i], err) < 0)
            return -1;
    return l->project == SIZE_MAX ? 0 : fill_project(l, root, err);
}

/* ---- lockfileVersion 1: a nested "dependencies" tree with "requires" ---- */

static int own_location(lock *l, const char *parent, const char *name, char **ret, mrun_err *err)
{
    if (l->n_owned == l->cap_owned) {
        size_t nc = l->cap_owned ? l->cap_owned * 2 : 256;
        char **no = realloc(l->owned, nc * sizeof(*no));
        if (!no)
            return mrun_err_set(err, ENOMEM, "%s", l->path);
        l->owned = no;
        l->cap_owned = nc;
    }
    char *s = NULL;
    if (asprintf(&s, "%s%snode_modules/%s", parent, *parent ? "/" : "", name) < 0)
        return mrun_err_set(err, ENOMEM, "%s", l->path);
    l->owned[l->n_owned++] = s;
    *ret = s;
    return 0;
}

/* A v1 "version" is a version, "npm:<real-name>@<version>" for an alias, or a URL/"file:" spec. */
static int v1_package(lock *l, const char *loc, const char *key, json_t *obj, size_t *ret, mrun_err *err)
{
    const char *version;
    if (opt_str(l, obj, "version", loc, &version, err) < 0)
        return -1;
    const char *name = key;
    mrun_autofree char *alias = NULL;
    if (version && strncmp(version, "npm:", 4) == 0) {
        const char *at = strrchr(version + 4, '@');
        if (at && at > version + 4) {
            if (!(alias = strndup(version + 4, (size_t)(at - version - 4))))
                return mrun_err_set(err, ENOMEM, "%s", l->path);
            name = alias;
            version = at + 1;
        }
    }
    return add_package(l, obj, loc, name, version, ret, err);
}

static int v1_tree(lock *l, const char *parent, json_t *deps, int depth, mrun_err *err)
{
    if (!deps)
        return 0;
    if (!json_is_object(deps))
        return mrun_err_setx(err, EPROTO, "%s: '%.120s': \"dependencies\" is not an object", l->path, parent);
    if (depth > V1_MAX_DEPTH)
        return mrun_err_setx(err, EPROTO, "%s: dependencies nested deeper than %d", l->path, V1_MAX_DEPTH);
    const char *key;
    json_t *obj;
    json_object_foreach(deps, key, obj)
    {
        char *loc = NULL;
        if (own_location(l, parent, key, &loc, err) < 0)
            return -1;
        if (!json_is_object(obj))
            return mrun_err_setx(err, EPROTO, "%s: '%.120s' is not an object", l->path, loc);
        const char *version = json_string_value(json_object_get(obj, "version"));
        if (version && strncmp(version, "file:", 5) == 0)
            continue; /* a link to a local folder, which v1 does not describe */
        entry en = {.key = loc, .obj = obj, .index = SIZE_MAX};
        if (v1_package(l, loc, key, obj, &en.index, err) < 0 || map_put(l, en, err) < 0)
            return -1;
        if (v1_tree(l, loc, json_object_get(obj, "dependencies"), depth + 1, err) < 0)
            return -1;
    }
    return 0;
}

/* v1 does not record the root's own dependency list: the top-level packages nothing else requires are direct
 * (a lower bound: a direct dependency that another package also requires is not marked). */
static int v1_edges(lock *l, mrun_err *err)
{
    for (size_t i = 0; i < l->n; i++)
        if (add_edges(l, l->e[i].index, l->e[i].key, l->e[i].obj, "requires", false, err) < 0)
            return -1;
    mrun_autofree bool *required = calloc(mrun_deps_count(l->d) + 1, sizeof(bool));
    if (!required)
        return mrun_err_set(err, ENOMEM, "%s", l->path);
    for (size_t i = 0; i < l->n; i++) {
        const mrun_dep *p = mrun_deps_at(l->d, l->e[i].index);
        for (size_t k = 0; k < p->n_deps; k++)
            required[p->deps[k]] = true;
    }
    for (size_t i = 0; i < l->n; i++) {
        const char *k = l->e[i].key;
        size_t idx = l->e[i].index;
        if (name_of_location(k) != k + 13 || required[idx])
            continue; /* nested, or required by another package */
        mrun_deps_edit(l->d, idx)->direct = true;
        if (mrun_deps_add_edge(l->d, l->project, idx, err) < 0)
            return mrun_err_prefix(err, "%s", l->path);
    }
    return 0;
}

static int parse_v1(lock *l, json_t *root, mrun_err *err)
{
    const char *name, *version;
    if (opt_str(l, root, "name", "", &name, err) < 0 || opt_str(l, root, "version", "", &version, err) < 0)
        return -1;
    mrun_dep t = {.ecosystem = "npm",
                  .name = (char *)name,
                  .version = (char *)version,
                  .source = (char *)l->path,
                  .locator = "",
                  .is_project = true};
    if (mrun_deps_add(l->d, &t, &l->project, err) < 0)
        return mrun_err_prefix(err, "%s", l->path);
    if (v1_tree(l, "", json_object_get(root, "dependencies"), 0, err) < 0)
        return -1;
    return v1_edges(l, err);
}

/* ---- entry point ---- */

int mrun_deps_parse_npm_lock(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err)
{
    if (len > MRUN_DEPS_MAX_FILE)
        return mrun_err_setx(err, E2BIG, "%s: larger than %u bytes", path, MRUN_DEPS_MAX_FILE);
    json_error_t je;
    json_t *root = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return mrun_err_setx(err, EPROTO, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return mrun_err_setx(err, EPROTO, "%s: not a JSON object", path);
    }
    json_t *lv = json_object_get(root, "lockfileVersion");
    json_int_t version = json_is_integer(lv) ? json_integer_value(lv) : 1;
    lock l = {.d = d, .path = path, .project = SIZE_MAX};
    int r;
    if (lv && !json_is_integer(lv))
        r = mrun_err_setx(err, EPROTO, "%s: \"lockfileVersion\" is not an integer", path);
    else if (version < 1 || version > 3)
        r = mrun_err_setx(err, EPROTO, "%s: lockfileVersion %lld is not one this reader knows (1-3)", path,
                          (long long)version);
    else if (version >= 2 && json_object_get(root, "packages"))
        r = parse_packages(&l, root, err);
    else
        r = parse_v1(&l, root, err);
    lock_fini(&l);
    json_decref(root);
    return r;
}
