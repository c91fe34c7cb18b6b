/* sbom_cdx.c - the inventory as a CycloneDX 1.6 JSON BOM (bom-1.6.schema.json): metadata (timestamp, tool, the
 * app as root component), one component per inventory entry, and the dependency graph. npm components look like
 * cyclonedx-npm's: group "@scope" + name, the same purl, licenses as id / expression / name, scope "optional" for
 * optional packages and the property cdx:npm:package:development for dev ones, cdx:npm:package:path; the
 * integrity hash is on the component and on its distribution reference. See docs/sbom.md. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/auto.h"
#include "sbom_int.h"

#ifndef MRUN_VERSION
#define MRUN_VERSION "dev"
#endif

typedef struct cdx {
    const mrun_deps *d;
    sbom_root root;
    const char *root_ref;
    const char **ref; /* bom-ref of each inventory entry (owned by names) */
    sbom_names *names;
    sbom_json w;
} cdx;

static void cdx_fini(cdx *c)
{
    mrun_sbom_root_fini(&c->root);
    free(c->ref);
    mrun_sbom_names_free(c->names);
    mrun_sbom_json_fini(&c->w);
}

static size_t n_good_hashes(const mrun_dep *dep)
{
    size_t n = 0;
    for (size_t i = 0; i < dep->n_hashes; i++)
        n += mrun_sbom_hash_ok(&dep->hashes[i]);
    return n;
}

static void hashes_json(sbom_json *w, const mrun_dep *dep)
{
    mrun_sbom_json_key(w, "hashes");
    mrun_sbom_json_open(w, '[');
    for (size_t i = 0; i < dep->n_hashes; i++) {
        if (!mrun_sbom_hash_ok(&dep->hashes[i]))
            continue;
        mrun_sbom_json_open(w, '{');
        mrun_sbom_json_kv(w, "alg", mrun_hash_alg_name(dep->hashes[i].alg));
        mrun_sbom_json_kv(w, "content", dep->hashes[i].hex);
        mrun_sbom_json_close(w, '}');
    }
    mrun_sbom_json_close(w, ']');
}

/* "licenses": [{license: {id|name, acknowledgement}}] or [{expression, acknowledgement}]; nothing when none. */
static int licenses_json(sbom_json *w, const char *declared, mrun_err *err)
{
    sbom_license_kind kind;
    mrun_autofree char *text = NULL;
    if (mrun_sbom_license(declared, &kind, &text, err) < 0)
        return -1;
    if (kind == SBOM_LICENSE_NONE)
        return 0;
    mrun_sbom_json_key(w, "licenses");
    mrun_sbom_json_open(w, '[');
    mrun_sbom_json_open(w, '{');
    if (kind == SBOM_LICENSE_EXPR) {
        mrun_sbom_json_kv(w, "expression", text);
    } else {
        mrun_sbom_json_key(w, "license");
        mrun_sbom_json_open(w, '{');
        mrun_sbom_json_kv(w, kind == SBOM_LICENSE_ID ? "id" : "name", text);
    }
    mrun_sbom_json_kv(w, "acknowledgement", "declared");
    if (kind != SBOM_LICENSE_EXPR)
        mrun_sbom_json_close(w, '}');
    mrun_sbom_json_close(w, '}');
    mrun_sbom_json_close(w, ']');
    return 0;
}

static void prop(sbom_json *w, const char *name, const char *value)
{
    mrun_sbom_json_open(w, '{');
    mrun_sbom_json_kv(w, "name", name);
    mrun_sbom_json_kv(w, "value", value);
    mrun_sbom_json_close(w, '}');
}

static void props_json(sbom_json *w, const mrun_dep *dep)
{
    bool npm = dep->ecosystem && strcmp(dep->ecosystem, "npm") == 0;
    bool path = npm && dep->locator, dev = npm && dep->scope == MRUN_DEP_DEV;
    if (!path && !dev && dep->scope == MRUN_DEP_REQUIRED && !dep->source)
        return;
    mrun_sbom_json_key(w, "properties");
    mrun_sbom_json_open(w, '[');
    if (path)
        prop(w, "cdx:npm:package:path", dep->locator);
    if (dev)
        prop(w, "cdx:npm:package:development", "true");
    if (dep->scope != MRUN_DEP_REQUIRED)
        prop(w, "mrun:scope", mrun_dep_scope_name(dep->scope));
    if (dep->source)
        prop(w, "mrun:source", dep->source);
    mrun_sbom_json_close(w, ']');
}

/* The download it came from, with the hashes of that file (as cyclonedx-npm writes it). */
static void extref_json(sbom_json *w, const mrun_dep *dep, bool hashes)
{
    const char *r = dep->resolved;
    if (!r || !strstr(r, "://") || strncasecmp(r, "file:", 5) == 0)
        return;
    mrun_sbom_json_key(w, "externalReferences");
    mrun_sbom_json_open(w, '[');
    mrun_sbom_json_open(w, '{');
    mrun_sbom_json_kv(w, "type", "distribution");
    mrun_sbom_json_kv(w, "url", r);
    if (hashes)
        hashes_json(w, dep);
    mrun_sbom_json_close(w, '}');
    mrun_sbom_json_close(w, ']');
}

/* group (npm scopes), name, version, purl of a component or of the root */
static int ident_json(sbom_json *w, const mrun_dep *dep, const char *name, const char *version, const char *purl)
{
    const char *slash;
    if (dep->ecosystem && strcmp(dep->ecosystem, "npm") == 0 && name[0] == '@' && (slash = strchr(name, '/')) != NULL &&
        slash[1]) {
        char *group = strndup(name, (size_t)(slash - name));
        if (!group)
            return -1;
        mrun_sbom_json_kv(w, "group", group);
        free(group);
        name = slash + 1;
    }
    mrun_sbom_json_kv(w, "name", name);
    mrun_sbom_json_kv(w, "version", version);
    mrun_sbom_json_kv(w, "purl", purl);
    return 0;
}

static int component_json(cdx *c, size_t i, const char *purl, mrun_err *err)
{
    const mrun_dep *dep = mrun_deps_at(c->d, i);
    sbom_json *w = &c->w;
    mrun_sbom_json_open(w, '{');
    mrun_sbom_json_kv(w, "type", dep->is_project ? "application" : "library");
    mrun_sbom_json_kv(w, "bom-ref", c->ref[i]);
    if (ident_json(w, dep, mrun_sbom_dep_name(dep), dep->version, NULL) < 0)
        return mrun_err_set(err, ENOMEM, "cyclonedx: component");
    if (dep->scope == MRUN_DEP_OPTIONAL)
        mrun_sbom_json_kv(w, "scope", "optional");
    bool hashes = n_good_hashes(dep) > 0;
    if (hashes)
        hashes_json(w, dep);
    if (licenses_json(w, dep->license, err) < 0)
        return mrun_err_prefix(err, "cyclonedx");
    mrun_sbom_json_kv(w, "purl", purl);
    extref_json(w, dep, hashes);
    props_json(w, dep);
    mrun_sbom_json_close(w, '}');
    return 0;
}

/* The bom-ref of every entry: its purl, made unique with "#N"; the merged project is the root. */
static int make_refs(cdx *c, char **purls, mrun_err *err)
{
    size_t n = mrun_deps_count(c->d);
    c->names = mrun_sbom_names_new(n + 1);
    c->ref = calloc(n ? n : 1, sizeof(char *));
    if (!c->names || !c->ref)
        return mrun_err_set(err, ENOMEM, "cyclonedx");
    const char *root_base = c->root.project != SIZE_MAX ? purls[c->root.project] : NULL;
    mrun_autofree char *app = NULL;
    if (!root_base && asprintf(&app, "app:%s", c->root.name) < 0)
        return mrun_err_set(err, ENOMEM, "cyclonedx");
    if (!(c->root_ref = mrun_sbom_names_add(c->names, root_base ? root_base : app, '#')))
        return mrun_err_set(err, ENOMEM, "cyclonedx");
    for (size_t i = 0; i < n; i++) {
        if (i == c->root.project) {
            c->ref[i] = c->root_ref;
            continue;
        }
        char unnamed[48];
        if (!purls[i])
            snprintf(unnamed, sizeof(unnamed), "unnamed-%zu", i);
        if (!(c->ref[i] = mrun_sbom_names_add(c->names, purls[i] ? purls[i] : unnamed, '#')))
            return mrun_err_set(err, ENOMEM, "cyclonedx");
    }
    return 0;
}

static void depends_json(cdx *c, const char *ref, const size_t *deps, size_t n_deps)
{
    sbom_json *w = &c->w;
    mrun_sbom_json_open(w, '{');
    mrun_sbom_json_kv(w, "ref", ref);
    mrun_sbom_json_key(w, "dependsOn");
    mrun_sbom_json_open(w, '[');
    for (size_t j = 0; j < n_deps; j++)
        if (deps[j] < mrun_deps_count(c->d) && c->ref[deps[j]] != ref)
            mrun_sbom_json_str(w, c->ref[deps[j]]);
    mrun_sbom_json_close(w, ']');
    mrun_sbom_json_close(w, '}');
}

static int metadata_json(cdx *c, const mrun_sbom_opts *o, char **purls, mrun_err *err)
{
    sbom_json *w = &c->w;
    char ts[32];
    mrun_sbom_time(o->timestamp, ts);
    mrun_sbom_json_key(w, "metadata");
    mrun_sbom_json_open(w, '{');
    mrun_sbom_json_kv(w, "timestamp", ts);
    mrun_sbom_json_key(w, "tools");
    mrun_sbom_json_open(w, '{');
    mrun_sbom_json_key(w, "components");
    mrun_sbom_json_open(w, '[');
    mrun_sbom_json_open(w, '{');
    mrun_sbom_json_kv(w, "type", "application");
    mrun_sbom_json_kv(w, "name", MRUN_SBOM_TOOL);
    mrun_sbom_json_kv(w, "version", MRUN_VERSION);
    mrun_sbom_json_close(w, '}');
    mrun_sbom_json_close(w, ']');
    mrun_sbom_json_close(w, '}');
    mrun_sbom_json_key(w, "component");
    mrun_sbom_json_open(w, '{');
    mrun_sbom_json_kv(w, "type", "application");
    mrun_sbom_json_kv(w, "bom-ref", c->root_ref);
    if (c->root.project != SIZE_MAX) {
        const mrun_dep *p = mrun_deps_at(c->d, c->root.project);
        if (ident_json(w, p, c->root.name, c->root.version, purls[c->root.project]) < 0)
            return mrun_err_set(err, ENOMEM, "cyclonedx");
        if (licenses_json(w, p->license, err) < 0)
            return mrun_err_prefix(err, "cyclonedx");
    } else {
        mrun_sbom_json_kv(w, "name", c->root.name);
        mrun_sbom_json_kv(w, "version", c->root.version);
    }
    mrun_sbom_json_close(w, '}');
    mrun_sbom_json_close(w, '}');
    return 0;
}

static int build(cdx *c, const mrun_sbom_opts *o, char **purls, mrun_err *err)
{
    size_t n = mrun_deps_count(c->d);
    char uuid[37], serial[48];
    if (mrun_sbom_uuid(c->d, &c->root, o, uuid, err) < 0)
        return mrun_err_prefix(err, "cyclonedx");
    snprintf(serial, sizeof(serial), "urn:uuid:%s", uuid);
    sbom_json *w = &c->w;
    mrun_sbom_json_open(w, '{');
    mrun_sbom_json_kv(w, "$schema", "http://cyclonedx.org/schema/bom-1.6.schema.json");
    mrun_sbom_json_kv(w, "bomFormat", "CycloneDX");
    mrun_sbom_json_kv(w, "specVersion", "1.6");
    mrun_sbom_json_kv(w, "serialNumber", serial);
    mrun_sbom_json_key(w, "version");
    mrun_sbom_json_raw(w, "1");
    if (metadata_json(c, o, purls, err) < 0)
        return -1;
    mrun_sbom_json_key(w, "components");
    mrun_sbom_json_open(w, '[');
    for (size_t i = 0; i < n; i++)
        if (i != c->root.project && component_json(c, i, purls[i], err) < 0)
            return -1;
    mrun_sbom_json_close(w, ']');
    mrun_sbom_json_key(w, "dependencies");
    mrun_sbom_json_open(w, '[');
    depends_json(c, c->root_ref, c->root.deps, c->root.n_deps);
    for (size_t i = 0; i < n; i++) {
        const mrun_dep *dep = mrun_deps_at(c->d, i);
        if (i != c->root.project)
            depends_json(c, c->ref[i], dep->deps, dep->n_deps);
    }
    mrun_sbom_json_close(w, ']');
    mrun_sbom_json_close(w, '}');
    return 0;
}

int mrun_sbom_write_cdx(const mrun_deps *d, const mrun_sbom_opts *o, FILE *out, mrun_err *err)
{
    size_t n = mrun_deps_count(d);
    cdx c = {.d = d};
    mrun_sbom_json_reserve(&c.w, n);
    if (mrun_sbom_root_init(&c.root, d, o, err) < 0)
        return mrun_err_prefix(err, "cyclonedx");
    char **purls = NULL;
    int r = mrun_sbom_purls(d, &purls, err);
    if (r == 0)
        r = make_refs(&c, purls, err);
    if (r == 0)
        r = build(&c, o, purls, err);
    if (r == 0)
        r = mrun_sbom_json_finish(&c.w, out, err);
    mrun_sbom_purls_free(purls, n);
    cdx_fini(&c);
    return r;
}
