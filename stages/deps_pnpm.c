/* deps_pnpm.c - pnpm-lock.yaml, lockfileVersion 5.x, 6.x and 9.x: importers (the project and its workspaces),
 * packages (metadata: resolution, dev/optional flags before v9) and v9's snapshots (one per peer-dependency
 * variant). libyaml reads the file into a small bounded tree (no anchors, aliases or tags); see docs/deps.md. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "../common/auto.h"
#include "deps_int.h"

#define YAML_MAX_DEPTH  64
#define YAML_MAX_SCALAR (64u << 10)

/* ---- a YAML tree: scalars, mappings (keys and values alternate in kids), sequences ---- */

typedef enum ykind { Y_SCALAR, Y_MAP, Y_SEQ } ykind;

typedef struct ynode {
    ykind kind;
    unsigned line;
    char *str; /* scalar */
    struct ynode **kids;
    size_t n, cap;
} ynode;

typedef struct ytree {
    ynode **all; /* every node, for freeing */
    size_t n, cap;
    ynode *root;
} ytree;

static void ytree_fini(ytree *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->all[i]->str);
        free(t->all[i]->kids);
        free(t->all[i]);
    }
    free(t->all);
}

static int fail(mrun_err *err, const char *path, unsigned line, const char *what)
{
    return mrun_err_setx(err, EPROTO, "%s:%u: %s", path, line, what);
}

static int push_kid(ynode *parent, ynode *kid)
{
    if (parent->n == parent->cap) {
        size_t nc = parent->cap ? parent->cap * 2 : 4;
        ynode **nk = realloc(parent->kids, nc * sizeof(*nk));
        if (!nk)
            return -1;
        parent->kids = nk;
        parent->cap = nc;
    }
    parent->kids[parent->n++] = kid;
    return 0;
}

static ynode *new_node(ytree *t, ykind kind, unsigned line)
{
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 1024;
        ynode **na = realloc(t->all, nc * sizeof(*na));
        if (!na)
            return NULL;
        t->all = na;
        t->cap = nc;
    }
    ynode *n = calloc(1, sizeof(*n));
    if (n) {
        n->kind = kind;
        n->line = line;
        t->all[t->n++] = n;
    }
    return n;
}

static const char *anchor_of(const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        return (const char *)(ev->data.scalar.anchor ? ev->data.scalar.anchor : ev->data.scalar.tag);
    case YAML_MAPPING_START_EVENT:
        return (const char *)(ev->data.mapping_start.anchor ? ev->data.mapping_start.anchor
                                                            : ev->data.mapping_start.tag);
    case YAML_SEQUENCE_START_EVENT:
        return (const char *)(ev->data.sequence_start.anchor ? ev->data.sequence_start.anchor
                                                             : ev->data.sequence_start.tag);
    default:
        return NULL;
    }
}

/* Adds the node of one event under the innermost open collection (or as the root). */
static int tree_event(ytree *t, const yaml_event_t *ev, ynode **stack, size_t *depth, const char *path, mrun_err *err)
{
    unsigned line = (unsigned)ev->start_mark.line + 1;
    if (ev->type == YAML_ALIAS_EVENT)
        return fail(err, path, line, "aliases are not allowed");
    if (anchor_of(ev))
        return fail(err, path, line, "anchors and tags are not allowed");
    ykind kind = ev->type == YAML_SCALAR_EVENT ? Y_SCALAR : ev->type == YAML_MAPPING_START_EVENT ? Y_MAP : Y_SEQ;
    ynode *parent = *depth ? stack[*depth - 1] : NULL;
    if (!parent && t->root)
        return fail(err, path, line, "more than one document");
    if (parent && parent->kind == Y_MAP && parent->n % 2 == 0 && kind != Y_SCALAR)
        return fail(err, path, line, "a mapping key that is not a string");
    ynode *n = new_node(t, kind, line);
    if (!n)
        return mrun_err_set(err, ENOMEM, "%s", path);
    if (kind == Y_SCALAR) {
        size_t len = ev->data.scalar.length;
        if (len > YAML_MAX_SCALAR)
            return fail(err, path, line, "string longer than 64 KiB");
        if (memchr(ev->data.scalar.value, '\0', len))
            return fail(err, path, line, "NUL in string");
        if (!(n->str = strndup((const char *)ev->data.scalar.value, len)))
            return mrun_err_set(err, ENOMEM, "%s", path);
    }
    if (parent ? push_kid(parent, n) < 0 : (t->root = n, 0))
        return mrun_err_set(err, ENOMEM, "%s", path);
    if (kind != Y_SCALAR) {
        if (*depth >= YAML_MAX_DEPTH)
            return fail(err, path, line, "nested deeper than 64 levels");
        stack[(*depth)++] = n;
    }
    return 0;
}

static void parser_deletep(yaml_parser_t *p)
{
    yaml_parser_delete(p);
}

static int tree_load(ytree *t, const char *path, const uint8_t *buf, size_t len, mrun_err *err)
{
    mrun_cleanup(parser_deletep) yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return mrun_err_set(err, ENOMEM, "%s", path);
    yaml_parser_set_input_string(&parser, buf, len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    ynode *stack[YAML_MAX_DEPTH];
    size_t depth = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev))
            return mrun_err_setx(err, EPROTO, "%s:%zu:%zu: %s", path, parser.problem_mark.line + 1,
                                 parser.problem_mark.column + 1, parser.problem ? parser.problem : "malformed YAML");
        int r = 0;
        yaml_event_type_t type = ev.type;
        if (type == YAML_SCALAR_EVENT || type == YAML_MAPPING_START_EVENT || type == YAML_SEQUENCE_START_EVENT ||
            type == YAML_ALIAS_EVENT)
            r = tree_event(t, &ev, stack, &depth, path, err);
        else if ((type == YAML_MAPPING_END_EVENT || type == YAML_SEQUENCE_END_EVENT) && depth > 0)
            depth--;
        yaml_event_delete(&ev);
        if (r < 0)
            return -1;
        if (type == YAML_STREAM_END_EVENT)
            return 0;
    }
}

static ynode *yget(const ynode *map, const char *key)
{
    if (!map || map->kind != Y_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < map->n; i += 2)
        if (strcmp(map->kids[i]->str, key) == 0)
            return map->kids[i + 1];
    return NULL;
}

static const char *yscalar(const ynode *map, const char *key)
{
    const ynode *v = yget(map, key);
    return v && v->kind == Y_SCALAR ? v->str : NULL;
}

static bool ytrue(const ynode *map, const char *key)
{
    const char *v = yscalar(map, key);
    return v && strcmp(v, "true") == 0;
}

/* ---- the lockfile ---- */

typedef struct pentry {
    const char *key; /* locator: "/a@1.0.0(b@2.0.0)" (v6), "/a/1.0.0_b@2.0.0" (v5), "a@1.0.0(b@2.0.0)" (v9) */
    const ynode *node;
    size_t index;
} pentry;

typedef struct plock {
    mrun_deps *d;
    const char *path;
    int major; /* 5, 6 or 9 */
    const ynode *packages, *snapshots;
    pentry *e;
    size_t n;
    mrun_deps_map keys; /* key -> e[] */
    mrun_deps_map meta; /* v9: packages key -> index of its value in packages->kids */
    size_t project;
} plock;

/* Name and version of a key, peer suffix stripped ("_..." in v5, "(...)" later), into the buffers. */
static void split_key(const plock *l, const char *key, char *name, size_t nsize, char *version, size_t vsize)
{
    if (*key == '/')
        key++;
    size_t nlen;
    const char *ver;
    if (l->major < 6) { /* "@scope/name/1.0.0_peer" or "name/1.0.0_peer" */
        const char *slash = strchr(key, '/');
        if (slash && key[0] == '@')
            slash = strchr(slash + 1, '/');
        nlen = slash ? (size_t)(slash - key) : strlen(key);
        ver = slash ? slash + 1 : "";
        snprintf(version, vsize, "%.*s", (int)strcspn(ver, "_"), ver);
    } else { /* "@scope/name@1.0.0(peer)" or "name@1.0.0(peer)" */
        const char *at = strchr(key + (key[0] == '@'), '@');
        nlen = at ? (size_t)(at - key) : strlen(key);
        ver = at ? at + 1 : "";
        snprintf(version, vsize, "%.*s", (int)strcspn(ver, "("), ver);
    }
    snprintf(name, nsize, "%.*s", (int)nlen, key);
}

/* v9 keeps resolution and metadata in packages["name@version"] and the peer variants in snapshots. */
static const ynode *metadata_of(const plock *l, const char *key)
{
    if (l->major < 9)
        return yget(l->packages, key);
    mrun_autofree char *base = strndup(key, strcspn(key, "("));
    size_t i = base ? mrun_deps_map_get(&l->meta, base) : SIZE_MAX;
    return i == SIZE_MAX ? NULL : l->packages->kids[i];
}

static int index_metadata(plock *l, mrun_err *err)
{
    if (!l->packages)
        return 0;
    if (l->packages->kind != Y_MAP)
        return fail(err, l->path, l->packages->line, "packages is not a mapping");
    for (size_t i = 0; i + 1 < l->packages->n; i += 2)
        if (mrun_deps_map_put(&l->meta, l->packages->kids[i]->str, i + 1, NULL, err) < 0)
            return mrun_err_prefix(err, "%s", l->path);
    return 0;
}

static int add_entry(plock *l, const char *key, const ynode *snap, const ynode *meta, mrun_err *err)
{
    if (snap->kind != Y_MAP && !(snap->kind == Y_SCALAR && !*snap->str))
        return fail(err, l->path, snap->line, "a package entry that is not a mapping");
    char name[1024], version[1024];
    split_key(l, key, name, sizeof(name), version, sizeof(version));
    const char *fname = yscalar(meta, "name"), *fversion = yscalar(meta, "version");
    const ynode *res = yget(meta, "resolution");
    const char *integrity = yscalar(res, "integrity");
    bool dev = ytrue(meta, "dev"), optional = ytrue(snap, "optional") || ytrue(meta, "optional");
    mrun_dep t = {.ecosystem = "npm",
                  .name = (char *)(fname ? fname : name),
                  .version = fversion   ? (char *)fversion
                             : *version ? version
                                        : NULL,
                  .source = (char *)l->path,
                  .locator = (char *)key,
                  .resolved = (char *)yscalar(res, "tarball"),
                  .scope = dev        ? MRUN_DEP_DEV
                           : optional ? MRUN_DEP_OPTIONAL
                                      : MRUN_DEP_REQUIRED};
    if (!*t.name)
        return fail(err, l->path, snap->line, "a package key without a name");
    size_t index;
    if (mrun_deps_add(l->d, &t, &index, err) < 0)
        return mrun_err_prefix(err, "%s:%u", l->path, snap->line);
    if (integrity && mrun_deps_add_integrity(l->d, index, integrity, err) < 0)
        return mrun_err_prefix(err, "%s:%u", l->path, res->line);
    bool existed;
    l->e[l->n] = (pentry){key, snap, index};
    if (mrun_deps_map_put(&l->keys, key, l->n, &existed, err) < 0)
        return mrun_err_prefix(err, "%s", l->path);
    if (existed)
        return fail(err, l->path, snap->line, "package listed twice");
    l->n++;
    return 0;
}

static int add_entries(plock *l, mrun_err *err)
{
    const ynode *list = l->major >= 9 && l->snapshots ? l->snapshots : l->packages;
    if (!list)
        return 0;
    if (list->kind != Y_MAP)
        return fail(err, l->path, list->line, "packages is not a mapping");
    if (!(l->e = calloc(list->n / 2 + 1, sizeof(*l->e))))
        return mrun_err_set(err, ENOMEM, "%s", l->path);
    for (size_t i = 0; i + 1 < list->n; i += 2) {
        const char *key = list->kids[i]->str;
        const ynode *meta = list == l->packages ? list->kids[i + 1] : metadata_of(l, key);
        if (add_entry(l, key, list->kids[i + 1], meta, err) < 0)
            return -1;
    }
    return 0;
}

/* The entry a dependency `name: ref` points at. ref is a version with peer suffix ("1.0.0(b@2)", "1.0.0_b@2"),
 * or a whole key for an alias ("/real/1.0.0", "/real@1.0.0", "real@1.0.0"); "link:" refs are workspaces. */
static size_t resolve_ref(const plock *l, const char *name, const char *ref)
{
    if (strncmp(ref, "link:", 5) == 0)
        return SIZE_MAX;
    mrun_autofree char *key = NULL;
    const char *lead = l->major < 9 ? "/" : "", *sep = l->major < 6 ? "/" : "@";
    if (asprintf(&key, "%s%s%s%s", lead, name, sep, ref) < 0)
        return SIZE_MAX;
    size_t i = mrun_deps_map_get(&l->keys, key);
    if (i == SIZE_MAX)
        i = mrun_deps_map_get(&l->keys, ref);
    return i == SIZE_MAX ? SIZE_MAX : l->e[i].index;
}

/* A dependency value: a ref (v5, packages in every version) or {specifier, version} (importers since v6). */
static const char *ref_of(const ynode *v)
{
    if (v->kind == Y_SCALAR)
        return v->str;
    return yscalar(v, "version");
}

static const char *const edge_fields[] = {"dependencies", "optionalDependencies"};

static int entry_edges(plock *l, const pentry *en, mrun_err *err)
{
    for (size_t f = 0; f < sizeof(edge_fields) / sizeof(edge_fields[0]); f++) {
        const ynode *deps = yget(en->node, edge_fields[f]);
        if (!deps)
            continue;
        if (deps->kind != Y_MAP)
            return fail(err, l->path, deps->line, "dependencies is not a mapping");
        for (size_t i = 0; i + 1 < deps->n; i += 2) {
            const char *ref = ref_of(deps->kids[i + 1]);
            size_t to = ref ? resolve_ref(l, deps->kids[i]->str, ref) : SIZE_MAX;
            if (to != SIZE_MAX && to != en->index && mrun_deps_add_edge(l->d, en->index, to, err) < 0)
                return mrun_err_prefix(err, "%s", l->path);
        }
    }
    return 0;
}

/* ---- importers: the project and its workspaces ---- */

enum { REACH_PROD = 1, REACH_DEV = 2 };

static const struct {
    const char *field;
    unsigned char bit;
} importer_fields[] = {
    {"dependencies", REACH_PROD},
    {"optionalDependencies", REACH_PROD},
    {"devDependencies", REACH_DEV},
};

static void mark_reach(const plock *l, size_t from, size_t first, unsigned char *seen, unsigned char bit, size_t *stack)
{
    size_t top = 0;
    if (seen[from - first] & bit)
        return;
    seen[from - first] |= bit;
    stack[top++] = from;
    while (top > 0) {
        const mrun_dep *p = mrun_deps_at(l->d, stack[--top]);
        for (size_t k = 0; k < p->n_deps; k++) {
            size_t to = p->deps[k];
            if (to < first || (seen[to - first] & bit))
                continue;
            seen[to - first] |= bit;
            stack[top++] = to;
        }
    }
}

/* One importer's dependencies: direct, with an edge from the project; reach marks what they lead to. */
static int importer(plock *l, const ynode *imp, size_t first, unsigned char *seen, size_t *stack, mrun_err *err)
{
    if (imp->kind != Y_MAP)
        return fail(err, l->path, imp->line, "an importer that is not a mapping");
    for (size_t f = 0; f < sizeof(importer_fields) / sizeof(importer_fields[0]); f++) {
        const ynode *deps = yget(imp, importer_fields[f].field);
        if (!deps)
            continue;
        if (deps->kind != Y_MAP)
            return fail(err, l->path, deps->line, "dependencies is not a mapping");
        for (size_t i = 0; i + 1 < deps->n; i += 2) {
            const char *ref = ref_of(deps->kids[i + 1]);
            size_t to = ref ? resolve_ref(l, deps->kids[i]->str, ref) : SIZE_MAX;
            if (to == SIZE_MAX)
                continue;
            mrun_deps_edit(l->d, to)->direct = true;
            if (mrun_deps_add_edge(l->d, l->project, to, err) < 0)
                return mrun_err_prefix(err, "%s", l->path);
            mark_reach(l, to, first, seen, importer_fields[f].bit, stack);
        }
    }
    return 0;
}

/* The project (importer "." or, in a single-project v5/v6 file, the top level) and every workspace importer.
 * v9 records no dev flag per package: what only devDependencies reach becomes DEV. */
static int importers(plock *l, const ynode *root, size_t first, mrun_err *err)
{
    mrun_dep t = {.ecosystem = "npm", .source = (char *)l->path, .locator = ".", .is_project = true};
    if (mrun_deps_add(l->d, &t, &l->project, err) < 0)
        return mrun_err_prefix(err, "%s", l->path);
    size_t count = mrun_deps_count(l->d) - first;
    mrun_autofree unsigned char *seen = calloc(count + 1, 1);
    mrun_autofree size_t *stack = calloc(count + 1, sizeof(size_t));
    if (!seen || !stack)
        return mrun_err_set(err, ENOMEM, "%s", l->path);
    const ynode *imps = yget(root, "importers");
    if (imps && imps->kind != Y_MAP)
        return fail(err, l->path, imps->line, "importers is not a mapping");
    if (!imps && importer(l, root, first, seen, stack, err) < 0)
        return -1;
    for (size_t i = 0; imps && i + 1 < imps->n; i += 2)
        if (importer(l, imps->kids[i + 1], first, seen, stack, err) < 0)
            return -1;
    for (size_t i = 0; l->major >= 9 && i < count; i++)
        if (seen[i] == REACH_DEV)
            mrun_deps_edit(l->d, first + i)->scope = MRUN_DEP_DEV;
    return 0;
}

static int parse_tree(plock *l, const ynode *root, mrun_err *err)
{
    if (!root || root->kind != Y_MAP)
        return fail(err, l->path, root ? root->line : 1, "not a YAML mapping");
    const char *lv = yscalar(root, "lockfileVersion");
    if (!lv)
        return fail(err, l->path, root->line, "no lockfileVersion");
    char *end;
    long major = strtol(lv, &end, 10);
    if (end == lv || (*end && *end != '.') || (major != 5 && major != 6 && major != 9))
        return mrun_err_setx(err, EPROTO, "%s:%u: lockfileVersion '%.20s' is not one this reader knows (5.x, 6.x, 9.x)",
                             l->path, yget(root, "lockfileVersion")->line, lv);
    l->major = (int)major;
    l->packages = yget(root, "packages");
    l->snapshots = yget(root, "snapshots");
    size_t first = mrun_deps_count(l->d);
    if (index_metadata(l, err) < 0 || add_entries(l, err) < 0)
        return -1;
    for (size_t i = 0; i < l->n; i++)
        if (entry_edges(l, &l->e[i], err) < 0)
            return -1;
    return importers(l, root, first, err);
}

int mrun_deps_parse_pnpm_lock(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err)
{
    if (len > MRUN_DEPS_MAX_FILE)
        return mrun_err_setx(err, E2BIG, "%s: larger than %u bytes", path, MRUN_DEPS_MAX_FILE);
    if (memchr(buf, '\0', len))
        return mrun_err_setx(err, EPROTO, "%s: NUL byte in text", path);
    ytree t = {0};
    plock l = {.d = d, .path = path, .project = SIZE_MAX};
    int r = tree_load(&t, path, buf, len, err);
    if (r == 0)
        r = parse_tree(&l, t.root, err);
    free(l.e);
    mrun_deps_map_fini(&l.keys);
    mrun_deps_map_fini(&l.meta);
    ytree_fini(&t);
    return r;
}
