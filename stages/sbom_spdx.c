/* sbom_spdx.c - the inventory as an SPDX 2.3 JSON document (spdx-schema.json 2.3): the app as the described
 * package, one package per inventory entry (purl as a PACKAGE-MANAGER external ref, checksums, the declared
 * license as a valid SPDX expression or a LicenseRef- with its text in hasExtractedLicensingInfos), and the graph
 * as relationships: DEPENDS_ON for required packages, DEV_DEPENDENCY_OF and OPTIONAL_DEPENDENCY_OF (pointing
 * from the dependency to its dependent, as SPDX defines them) for dev and optional ones. See docs/sbom.md. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/auto.h"
#include "sbom_int.h"

#ifndef MRUN_VERSION
#define MRUN_VERSION "dev"
#endif

#define MAX_ID_PART 200 /* keeps SPDXIDs readable; uniqueness comes from the suffix */

typedef struct lref {
    char *text;     /* the declared license text */
    const char *id; /* its LicenseRef- (owned by spdx.names) */
} lref;

typedef struct spdx {
    const mrun_deps *d;
    sbom_root root;
    const char **id; /* SPDXID of each inventory entry (owned by names) */
    const char *root_id;
    sbom_names *names;
    lref *lrefs; /* become hasExtractedLicensingInfos */
    size_t n_lrefs;
    sbom_json w;
} spdx;

static void spdx_fini(spdx *s)
{
    mrun_sbom_root_fini(&s->root);
    free(s->id);
    for (size_t i = 0; i < s->n_lrefs; i++)
        free(s->lrefs[i].text);
    free(s->lrefs);
    mrun_sbom_names_free(s->names);
    mrun_sbom_json_fini(&s->w);
}

/* prefix + the parts, every character outside [A-Za-z0-9.-] as '-' (SPDX idstring), made unique */
static const char *make_id(spdx *s, const char *prefix, const char *const *parts, size_t n_parts)
{
    char buf[32 + 3 * (MAX_ID_PART + 1)];
    size_t len = (size_t)snprintf(buf, sizeof(buf), "%s", prefix);
    for (size_t i = 0; i < n_parts; i++) {
        if (!parts[i] || !*parts[i])
            continue;
        if (i > 0)
            buf[len++] = '-';
        for (size_t j = 0; parts[i][j] && j < MAX_ID_PART; j++) {
            char c = parts[i][j];
            bool ok =
                (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
            buf[len++] = ok ? c : '-';
        }
    }
    buf[len] = '\0';
    return mrun_sbom_names_add(s->names, buf, '-');
}

/* The licenseDeclared value for declared: an expression, NOASSERTION, or a LicenseRef- (made once per text). */
static int declared_license(spdx *s, const char *declared, char **ret, mrun_err *err)
{
    sbom_license_kind kind;
    mrun_autofree char *text = NULL;
    if (mrun_sbom_license(declared, &kind, &text, err) < 0)
        return -1;
    if (kind == SBOM_LICENSE_NONE)
        return (*ret = strdup("NOASSERTION")) ? 0 : mrun_err_set(err, ENOMEM, "spdx");
    if (kind != SBOM_LICENSE_NAME) {
        *ret = mrun_steal_ptr(&text);
        return 0;
    }
    for (size_t i = 0; i < s->n_lrefs; i++)
        if (strcmp(s->lrefs[i].text, text) == 0)
            return (*ret = strdup(s->lrefs[i].id)) ? 0 : mrun_err_set(err, ENOMEM, "spdx");
    lref *grown = realloc(s->lrefs, (s->n_lrefs + 1) * sizeof(lref));
    if (!grown)
        return mrun_err_set(err, ENOMEM, "spdx");
    s->lrefs = grown;
    const char *part[] = {text};
    const char *id = make_id(s, "LicenseRef-", part, 1);
    if (!id)
        return mrun_err_set(err, ENOMEM, "spdx");
    s->lrefs[s->n_lrefs++] = (lref){.text = mrun_steal_ptr(&text), .id = id};
    return (*ret = strdup(id)) ? 0 : mrun_err_set(err, ENOMEM, "spdx");
}

static const char *checksum_alg(mrun_hash_alg a)
{
    switch (a) {
    case MRUN_HASH_MD5:
        return "MD5";
    case MRUN_HASH_SHA1:
        return "SHA1";
    case MRUN_HASH_SHA256:
        return "SHA256";
    case MRUN_HASH_SHA384:
        return "SHA384";
    case MRUN_HASH_SHA512:
        return "SHA512";
    }
    return NULL;
}

static void checksums_json(sbom_json *w, const mrun_dep *dep)
{
    bool open = false;
    for (size_t i = 0; i < dep->n_hashes; i++) {
        if (!mrun_sbom_hash_ok(&dep->hashes[i]))
            continue;
        if (!open) {
            mrun_sbom_json_key(w, "checksums");
            mrun_sbom_json_open(w, '[');
            open = true;
        }
        char hex[129];
        size_t n = strlen(dep->hashes[i].hex);
        for (size_t j = 0; j <= n; j++) { /* SPDX wants lowercase */
            char c = dep->hashes[i].hex[j];
            hex[j] = (char)(c >= 'A' && c <= 'F' ? c + 32 : c);
        }
        mrun_sbom_json_open(w, '{');
        mrun_sbom_json_kv(w, "algorithm", checksum_alg(dep->hashes[i].alg));
        mrun_sbom_json_kv(w, "checksumValue", hex);
        mrun_sbom_json_close(w, '}');
    }
    if (open)
        mrun_sbom_json_close(w, ']');
}

static void purl_ref(sbom_json *w, const char *purl)
{
    if (!purl)
        return;
    mrun_sbom_json_key(w, "externalRefs");
    mrun_sbom_json_open(w, '[');
    mrun_sbom_json_open(w, '{');
    mrun_sbom_json_kv(w, "referenceCategory", "PACKAGE-MANAGER");
    mrun_sbom_json_kv(w, "referenceType", "purl");
    mrun_sbom_json_kv(w, "referenceLocator", purl);
    mrun_sbom_json_close(w, '}');
    mrun_sbom_json_close(w, ']');
}

/* One package: dep may be NULL for a root that is no project of the inventory. */
static int package_json(spdx *s, const char *id, const char *name, const char *version, const mrun_dep *dep,
                        const char *purl, bool app, mrun_err *err)
{
    mrun_autofree char *lic = NULL;
    if (declared_license(s, dep ? dep->license : NULL, &lic, err) < 0)
        return -1;
    const char *r = dep ? dep->resolved : NULL;
    bool url = r && strstr(r, "://") && strncasecmp(r, "file:", 5) != 0;
    sbom_json *w = &s->w;
    mrun_sbom_json_open(w, '{');
    mrun_sbom_json_kv(w, "SPDXID", id);
    mrun_sbom_json_kv(w, "name", name);
    mrun_sbom_json_kv(w, "versionInfo", version);
    mrun_sbom_json_kv(w, "downloadLocation", url ? r : "NOASSERTION");
    mrun_sbom_json_key(w, "filesAnalyzed");
    mrun_sbom_json_raw(w, "false");
    mrun_sbom_json_kv(w, "licenseConcluded", "NOASSERTION");
    mrun_sbom_json_kv(w, "licenseDeclared", lic);
    mrun_sbom_json_kv(w, "copyrightText", "NOASSERTION");
    if (dep)
        checksums_json(w, dep);
    purl_ref(w, purl);
    mrun_sbom_json_kv(w, "primaryPackagePurpose", app ? "APPLICATION" : "LIBRARY");
    if (dep && dep->source) {
        mrun_autofree char *info = NULL;
        const char *what = app || dep->is_project            ? "the project"
                           : dep->scope == MRUN_DEP_REQUIRED ? "dependency"
                           : dep->scope == MRUN_DEP_DEV      ? "dev dependency"
                                                             : "optional dependency";
        bool at = dep->locator && *dep->locator;
        if (asprintf(&info, "%s from %s%s%s", what, dep->source, at ? " at " : "", at ? dep->locator : "") < 0)
            return mrun_err_set(err, ENOMEM, "spdx: package");
        mrun_sbom_json_kv(w, "sourceInfo", info);
    }
    mrun_sbom_json_close(w, '}');
    return 0;
}

static void relate(sbom_json *w, const char *a, const char *type, const char *b)
{
    mrun_sbom_json_open(w, '{');
    mrun_sbom_json_kv(w, "spdxElementId", a);
    mrun_sbom_json_kv(w, "relationshipType", type);
    mrun_sbom_json_kv(w, "relatedSpdxElement", b);
    mrun_sbom_json_close(w, '}');
}

/* from depends on each of deps, the relationship chosen by the dependency's scope */
static void relate_deps(spdx *s, const char *from, const size_t *deps, size_t n_deps)
{
    for (size_t j = 0; j < n_deps; j++) {
        if (deps[j] >= mrun_deps_count(s->d) || s->id[deps[j]] == from)
            continue;
        const char *to = s->id[deps[j]];
        mrun_dep_scope sc = mrun_deps_at(s->d, deps[j])->scope;
        if (sc == MRUN_DEP_DEV)
            relate(&s->w, to, "DEV_DEPENDENCY_OF", from);
        else if (sc == MRUN_DEP_OPTIONAL)
            relate(&s->w, to, "OPTIONAL_DEPENDENCY_OF", from);
        else
            relate(&s->w, from, "DEPENDS_ON", to);
    }
}

static int make_ids(spdx *s, mrun_err *err)
{
    size_t n = mrun_deps_count(s->d);
    s->names = mrun_sbom_names_new(n + 16);
    s->id = calloc(n ? n : 1, sizeof(char *));
    if (!s->names || !s->id)
        return mrun_err_set(err, ENOMEM, "spdx");
    const char *rp[] = {s->root.name, s->root.version};
    if (!mrun_sbom_names_add(s->names, "SPDXRef-DOCUMENT", '-') ||
        !(s->root_id = make_id(s, "SPDXRef-Package-", rp, 2)))
        return mrun_err_set(err, ENOMEM, "spdx");
    for (size_t i = 0; i < n; i++) {
        const mrun_dep *dep = mrun_deps_at(s->d, i);
        const char *parts[] = {dep->ecosystem, mrun_sbom_dep_name(dep), dep->version};
        if (!(s->id[i] = i == s->root.project ? s->root_id : make_id(s, "SPDXRef-Package-", parts, 3)))
            return mrun_err_set(err, ENOMEM, "spdx");
    }
    return 0;
}

/* documentNamespace: a unique absolute URI; the UUID makes it unique, the name makes it readable */
static int header(spdx *s, const mrun_sbom_opts *o, mrun_err *err)
{
    char uuid[37], ts[32];
    if (mrun_sbom_uuid(s->d, &s->root, o, uuid, err) < 0)
        return mrun_err_prefix(err, "spdx");
    mrun_sbom_time(o->timestamp, ts);
    const char *np[] = {s->root.name};
    mrun_autofree char *ns = NULL, *name = NULL;
    const char *safe = make_id(s, "", np, 1);
    if (!safe || asprintf(&ns, "https://spdx.org/spdxdocs/%s-%s", safe, uuid) < 0 ||
        asprintf(&name, "%s%s%s", s->root.name, s->root.version ? "@" : "", s->root.version ? s->root.version : "") < 0)
        return mrun_err_set(err, ENOMEM, "spdx");
    sbom_json *w = &s->w;
    mrun_sbom_json_kv(w, "spdxVersion", "SPDX-2.3");
    mrun_sbom_json_kv(w, "dataLicense", "CC0-1.0");
    mrun_sbom_json_kv(w, "SPDXID", "SPDXRef-DOCUMENT");
    mrun_sbom_json_kv(w, "name", name);
    mrun_sbom_json_kv(w, "documentNamespace", ns);
    mrun_sbom_json_key(w, "creationInfo");
    mrun_sbom_json_open(w, '{');
    mrun_sbom_json_kv(w, "created", ts);
    mrun_sbom_json_key(w, "creators");
    mrun_sbom_json_open(w, '[');
    mrun_sbom_json_str(w, "Tool: " MRUN_SBOM_TOOL "-" MRUN_VERSION);
    mrun_sbom_json_close(w, ']');
    mrun_sbom_json_close(w, '}');
    return 0;
}

static void extracted_json(spdx *s)
{
    if (s->n_lrefs == 0)
        return;
    sbom_json *w = &s->w;
    mrun_sbom_json_key(w, "hasExtractedLicensingInfos");
    mrun_sbom_json_open(w, '[');
    for (size_t i = 0; i < s->n_lrefs; i++) {
        mrun_sbom_json_open(w, '{');
        mrun_sbom_json_kv(w, "licenseId", s->lrefs[i].id);
        mrun_sbom_json_kv(w, "name", s->lrefs[i].text);
        mrun_sbom_json_kv(w, "extractedText", s->lrefs[i].text);
        mrun_sbom_json_kv(w, "comment", "declared in the lockfile; not an SPDX license expression");
        mrun_sbom_json_close(w, '}');
    }
    mrun_sbom_json_close(w, ']');
}

static int body(spdx *s, char **purls, mrun_err *err)
{
    sbom_json *w = &s->w;
    size_t n = mrun_deps_count(s->d), p = s->root.project;
    const mrun_dep *pd = p != SIZE_MAX ? mrun_deps_at(s->d, p) : NULL;
    mrun_sbom_json_key(w, "packages");
    mrun_sbom_json_open(w, '[');
    if (package_json(s, s->root_id, s->root.name, s->root.version, pd, pd ? purls[p] : NULL, true, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const mrun_dep *dep = mrun_deps_at(s->d, i);
        if (i != p &&
            package_json(s, s->id[i], mrun_sbom_dep_name(dep), dep->version, dep, purls[i], dep->is_project, err) < 0)
            return -1;
    }
    mrun_sbom_json_close(w, ']');
    mrun_sbom_json_key(w, "relationships");
    mrun_sbom_json_open(w, '[');
    relate(w, "SPDXRef-DOCUMENT", "DESCRIBES", s->root_id);
    relate_deps(s, s->root_id, s->root.deps, s->root.n_deps);
    for (size_t i = 0; i < n; i++)
        if (i != p)
            relate_deps(s, s->id[i], mrun_deps_at(s->d, i)->deps, mrun_deps_at(s->d, i)->n_deps);
    mrun_sbom_json_close(w, ']');
    extracted_json(s);
    return 0;
}

int mrun_sbom_write_spdx(const mrun_deps *d, const mrun_sbom_opts *o, FILE *out, mrun_err *err)
{
    size_t n = mrun_deps_count(d);
    spdx s = {.d = d};
    mrun_sbom_json_reserve(&s.w, n);
    if (mrun_sbom_root_init(&s.root, d, o, err) < 0)
        return mrun_err_prefix(err, "spdx");
    char **purls = NULL;
    int r = mrun_sbom_purls(d, &purls, err);
    if (r == 0)
        r = make_ids(&s, err);
    if (r == 0) {
        mrun_sbom_json_open(&s.w, '{');
        r = header(&s, o, err);
    }
    if (r == 0)
        r = body(&s, purls, err);
    if (r == 0) {
        mrun_sbom_json_close(&s.w, '}');
        r = mrun_sbom_json_finish(&s.w, out, err);
    }
    mrun_sbom_purls_free(purls, n);
    spdx_fini(&s);
    return r;
}
