/* sbom.c - what the CycloneDX and SPDX writers share: the document's root and UUID, license strings sorted into
 * SPDX ids, valid SPDX expressions and free text, unique names, and the entry points of sbom.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "../common/auto.h"
#include "../common/parse.h"
#include "sbom_int.h"

/* ---- SPDX license ids and expressions ---------------------------------------------------------------------- */

typedef struct idkey {
    const char *s;
    size_t len;
} idkey;

static int cmp_id(const void *a, const void *b)
{
    const idkey *k = a;
    const char *id = *(const char *const *)b;
    int c = strncasecmp(k->s, id, k->len);
    if (c != 0)
        return c;
    return id[k->len] == '\0' ? 0 : -1;
}

const char *mrun_sbom_license_id(const char *s, size_t len)
{
    size_t n;
    const char *const *ids = mrun_sbom_license_ids(&n);
    idkey k = {s, len};
    const char *const *hit = bsearch(&k, ids, n, sizeof(ids[0]), cmp_id);
    return hit ? *hit : NULL;
}

/* A recursive-descent check of SPDX 2.3 Annex D:
 *   expr := and ("OR" and)* ; and := with ("AND" with)* ; with := atom ("WITH" id)?
 *   atom := "(" expr ")" | license-id ["+"] | ["DocumentRef-x:"] "LicenseRef-x"
 * writing the normalised form to out as it goes. Depth is bounded. */
typedef struct expr {
    const char *p;
    char *out;
    size_t len, cap;
    int depth;
    bool oom;
} expr;

#define EXPR_MAX_DEPTH 32

static void ex_put(expr *e, const char *s, size_t n)
{
    if (e->oom)
        return;
    if (e->len + n + 1 > e->cap) {
        size_t cap = (e->len + n + 1) * 2;
        char *p = realloc(e->out, cap);
        if (!p) {
            e->oom = true;
            return;
        }
        e->out = p;
        e->cap = cap;
    }
    memcpy(e->out + e->len, s, n);
    e->len += n;
    e->out[e->len] = '\0';
}

static bool idchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '+' || c == ':';
}

/* The next token: "(" or ")" or a run of idchars; its length, 0 at the end. */
static size_t ex_token(expr *e, const char **ret)
{
    while (*e->p == ' ' || *e->p == '\t')
        e->p++;
    *ret = e->p;
    if (*e->p == '(' || *e->p == ')')
        return 1;
    size_t n = 0;
    while (idchar(e->p[n]))
        n++;
    return n;
}

static bool ex_word(expr *e, const char *w)
{
    const char *t;
    size_t n = ex_token(e, &t);
    if (n != strlen(w) || strncmp(t, w, n) != 0)
        return false;
    e->p = t + n;
    return true;
}

static bool is_ref(const char *t, size_t n, const char *prefix)
{
    size_t pl = strlen(prefix);
    if (n <= pl || strncmp(t, prefix, pl) != 0)
        return false;
    for (size_t i = pl; i < n; i++)
        if (t[i] == '+' || t[i] == ':')
            return false;
    return true;
}

static bool ex_license(expr *e, bool exception)
{
    const char *t;
    size_t n = ex_token(e, &t);
    if (n == 0 || *t == '(' || *t == ')')
        return false;
    e->p = t + n;
    const char *colon = memchr(t, ':', n);
    if (colon) { /* DocumentRef-x:LicenseRef-y */
        size_t dl = (size_t)(colon - t);
        if (exception || !is_ref(t, dl, "DocumentRef-") || !is_ref(colon + 1, n - dl - 1, "LicenseRef-"))
            return false;
        ex_put(e, t, n);
        return true;
    }
    if (!exception && is_ref(t, n, "LicenseRef-")) {
        ex_put(e, t, n);
        return true;
    }
    bool plus = !exception && n > 1 && t[n - 1] == '+';
    const char *id = mrun_sbom_license_id(t, plus ? n - 1 : n);
    if (!id)
        return false;
    ex_put(e, id, strlen(id));
    if (plus)
        ex_put(e, "+", 1);
    return true;
}

static bool ex_or(expr *e);

static bool ex_atom(expr *e)
{
    const char *t;
    size_t n = ex_token(e, &t);
    if (n == 1 && *t == '(') {
        if (++e->depth > EXPR_MAX_DEPTH)
            return false;
        e->p = t + 1;
        ex_put(e, "(", 1);
        if (!ex_or(e) || !ex_word(e, ")"))
            return false;
        ex_put(e, ")", 1);
        e->depth--;
        return true;
    }
    if (!ex_license(e, false))
        return false;
    if (ex_word(e, "WITH")) {
        ex_put(e, " WITH ", 6);
        return ex_license(e, true);
    }
    return true;
}

static bool ex_and(expr *e)
{
    if (!ex_atom(e))
        return false;
    while (ex_word(e, "AND")) {
        ex_put(e, " AND ", 5);
        if (!ex_atom(e))
            return false;
    }
    return true;
}

static bool ex_or(expr *e)
{
    if (!ex_and(e))
        return false;
    while (ex_word(e, "OR")) {
        ex_put(e, " OR ", 4);
        if (!ex_and(e))
            return false;
    }
    return true;
}

int mrun_sbom_license(const char *s, sbom_license_kind *ret_kind, char **ret_text, mrun_err *err)
{
    while (s && (*s == ' ' || *s == '\t'))
        s++;
    if (!s || !*s) {
        *ret_kind = SBOM_LICENSE_NONE;
        *ret_text = NULL;
        return 0;
    }
    size_t len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    const char *id = mrun_sbom_license_id(s, len);
    expr e = {.p = s};
    sbom_license_kind kind = SBOM_LICENSE_NAME;
    char *text = NULL;
    if (id) {
        kind = SBOM_LICENSE_ID;
        text = strdup(id);
    } else if (ex_or(&e) && (ex_token(&e, &(const char *){NULL}) == 0) && e.p >= s + len && !e.oom) {
        kind = SBOM_LICENSE_EXPR;
        text = mrun_steal_ptr(&e.out);
    } else {
        text = strndup(s, len);
    }
    free(e.out);
    if (!text)
        return mrun_err_set(err, ENOMEM, "license");
    *ret_kind = kind;
    *ret_text = text;
    return 0;
}

/* ---- the root, the UUID, the time ---------------------------------------------------------------------------- */

static bool same_source(const mrun_dep *a, const mrun_dep *b)
{
    return a->source && b->source && strcmp(a->source, b->source) == 0;
}

/* Whether some project of d came from the file c came from. */
static bool source_has_project(const mrun_deps *d, const mrun_dep *c)
{
    for (size_t i = 0; i < mrun_deps_count(d); i++)
        if (mrun_deps_at(d, i)->is_project && same_source(mrun_deps_at(d, i), c))
            return true;
    return false;
}

/* What the root depends on, so that every component is reached from it: its project's dependencies (one
 * project), else every project, else the direct dependencies; then every component that nothing depends on from a
 * file whose project is not already there (a requirements.txt beside a package-lock.json). Packages that a
 * project's own lockfile lists but nothing requires (npm's extraneous ones) stay unattached, as npm ls shows them. */
static int root_deps(const mrun_deps *d, const mrun_dep *p, sbom_root *r, mrun_err *err)
{
    size_t n = mrun_deps_count(d), k = 0, n_projects = 0;
    mrun_autofree size_t *deps = malloc((n ? n : 1) * sizeof(size_t));
    mrun_autofree bool *depended = calloc(n ? n : 1, sizeof(bool));
    mrun_autofree bool *in = calloc(n ? n : 1, sizeof(bool));
    if (!deps || !depended || !in)
        return mrun_err_set(err, ENOMEM, "sbom root");
    for (size_t i = 0; i < n; i++) {
        const mrun_dep *c = mrun_deps_at(d, i);
        n_projects += c->is_project;
        for (size_t j = 0; j < c->n_deps; j++)
            if (c->deps[j] < n && c->deps[j] != i)
                depended[c->deps[j]] = true;
    }
    for (size_t i = 0; i < n; i++) {
        const mrun_dep *c = mrun_deps_at(d, i);
        bool base = p ? false : n_projects ? c->is_project : c->direct;
        if (base && !in[i])
            in[i] = true, deps[k++] = i;
    }
    for (size_t j = 0; p && j < p->n_deps; j++)
        if (p->deps[j] < n && !in[p->deps[j]])
            in[p->deps[j]] = true, deps[k++] = p->deps[j];
    for (size_t i = 0; i < n; i++) {
        const mrun_dep *c = mrun_deps_at(d, i);
        if (c->is_project || depended[i] || in[i] || (p && same_source(c, p)) ||
            (!p && n_projects && source_has_project(d, c)))
            continue;
        in[i] = true;
        deps[k++] = i;
    }
    r->deps = mrun_steal_ptr(&deps);
    r->n_deps = k;
    return 0;
}

int mrun_sbom_root_init(sbom_root *r, const mrun_deps *d, const mrun_sbom_opts *o, mrun_err *err)
{
    size_t n = mrun_deps_count(d), n_projects = 0, project = SIZE_MAX;
    for (size_t i = 0; i < n; i++)
        if (mrun_deps_at(d, i)->is_project && n_projects++ == 0)
            project = i;
    if (n_projects != 1)
        project = SIZE_MAX;
    const mrun_dep *p = project != SIZE_MAX ? mrun_deps_at(d, project) : NULL;
    *r = (sbom_root){.project = project};
    r->name = o->app_name ? o->app_name : p && p->name && *p->name ? p->name : "app";
    r->version = o->app_version ? o->app_version : p ? p->version : NULL;
    if (root_deps(d, p, r, err) < 0)
        return -1;
    return 0;
}

void mrun_sbom_root_fini(sbom_root *r)
{
    free(r->deps);
    r->deps = NULL;
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int check_uuid(const char *s, char ret[37], mrun_err *err)
{
    if (strncasecmp(s, "urn:uuid:", 9) == 0)
        s += 9;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex(s[i]))
            return mrun_err_setx(err, EINVAL, "serial '%.64s' is not a UUID (8-4-4-4-12 hex digits)", s);
        ret[i] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 'a' : s[i]);
    }
    if (s[36] != '\0')
        return mrun_err_setx(err, EINVAL, "serial '%.64s' is not a UUID (8-4-4-4-12 hex digits)", s);
    ret[36] = '\0';
    return 0;
}

static void hash_str(EVP_MD_CTX *md, const char *s)
{
    EVP_DigestUpdate(md, s ? s : "", s ? strlen(s) + 1 : 1); /* the NUL separates fields */
}

int mrun_sbom_uuid(const mrun_deps *d, const sbom_root *r, const mrun_sbom_opts *o, char ret[37], mrun_err *err)
{
    if (o->serial)
        return check_uuid(o->serial, ret, err);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return mrun_err_setx(err, ENOMEM, "sbom serial: sha256");
    }
    hash_str(md, r->name);
    hash_str(md, r->version);
    for (size_t i = 0; i < mrun_deps_count(d); i++) {
        const mrun_dep *c = mrun_deps_at(d, i);
        const char *f[] = {c->ecosystem, c->name, c->version, c->license, c->source, c->locator, c->resolved};
        for (size_t j = 0; j < sizeof(f) / sizeof(f[0]); j++)
            hash_str(md, f[j]);
        uint64_t nums[] = {c->scope, c->is_project, c->direct, c->n_hashes, c->n_deps};
        EVP_DigestUpdate(md, nums, sizeof(nums));
        for (size_t j = 0; j < c->n_hashes; j++)
            hash_str(md, c->hashes[j].hex);
        for (size_t j = 0; j < c->n_deps; j++) {
            uint64_t x = c->deps[j];
            EVP_DigestUpdate(md, &x, sizeof(x));
        }
    }
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned hl = 0;
    int ok = EVP_DigestFinal_ex(md, h, &hl);
    EVP_MD_CTX_free(md);
    if (ok != 1)
        return mrun_err_setx(err, ENOMEM, "sbom serial: sha256");
    h[6] = (unsigned char)((h[6] & 0x0f) | 0x50); /* version 5: name-based with SHA (here SHA-256, truncated) */
    h[8] = (unsigned char)((h[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    static const char hex[] = "0123456789abcdef";
    char *p = ret;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[h[i] >> 4];
        *p++ = hex[h[i] & 15];
    }
    *p = '\0';
    return 0;
}

void mrun_sbom_time(int64_t t, char ret[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (t < 0 || !gmtime_r(&tt, &tm) || strftime(ret, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(ret, 32, "1970-01-01T00:00:00Z");
}

int mrun_sbom_timestamp(int64_t *ret, mrun_err *err)
{
    const char *sde = getenv("SOURCE_DATE_EPOCH");
    if (sde && *sde) {
        int64_t v;
        if (mrun_parse_int(sde, 0, (int64_t)253402300799, &v, err) < 0) /* up to 9999-12-31 */
            return mrun_err_prefix(err, "SOURCE_DATE_EPOCH");
        *ret = v;
        return 0;
    }
    *ret = (int64_t)time(NULL);
    return 0;
}

/* hex of the length the algorithm gives, as the schema's hash-content pattern wants */
bool mrun_sbom_hash_ok(const mrun_dep_hash *h)
{
    static const size_t want[] = {[MRUN_HASH_MD5] = 32,
                                  [MRUN_HASH_SHA1] = 40,
                                  [MRUN_HASH_SHA256] = 64,
                                  [MRUN_HASH_SHA384] = 96,
                                  [MRUN_HASH_SHA512] = 128};
    if (!h->hex || (unsigned)h->alg >= sizeof(want) / sizeof(want[0]))
        return false;
    size_t i = 0;
    for (; i <= want[h->alg] && h->hex[i]; i++)
        if (!is_hex(h->hex[i]))
            return false;
    return i == want[h->alg];
}

const char *mrun_sbom_dep_name(const mrun_dep *dep)
{
    if (dep->name && *dep->name)
        return dep->name;
    if (dep->locator && *dep->locator) {
        const char *nm = strstr(dep->locator, "node_modules/");
        const char *last = NULL;
        while (nm) { /* the last node_modules/ segment names the package */
            last = nm + strlen("node_modules/");
            nm = strstr(last, "node_modules/");
        }
        if (last && *last)
            return last;
        return dep->locator;
    }
    return "unnamed";
}

int mrun_sbom_purls(const mrun_deps *d, char ***ret, mrun_err *err)
{
    size_t n = mrun_deps_count(d);
    char **purls = calloc(n ? n : 1, sizeof(char *));
    if (!purls)
        return mrun_err_set(err, ENOMEM, "purls");
    for (size_t i = 0; i < n; i++) {
        const mrun_dep *dep = mrun_deps_at(d, i);
        if (!dep->name || !*dep->name || !dep->ecosystem || !*dep->ecosystem)
            continue;
        if (mrun_sbom_purl(dep, &purls[i], err) < 0) {
            mrun_sbom_purls_free(purls, n);
            return -1;
        }
    }
    *ret = purls;
    return 0;
}

void mrun_sbom_purls_free(char **purls, size_t n)
{
    for (size_t i = 0; purls && i < n; i++)
        free(purls[i]);
    free(purls);
}

/* ---- unique names -------------------------------------------------------------------------------------------- */

struct sbom_names {
    char **slot; /* open addressing, power-of-two size, load <= 1/2 */
    size_t cap, n;
};

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

sbom_names *mrun_sbom_names_new(size_t expect)
{
    sbom_names *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->cap = 64;
    while (s->cap < expect * 2 + 2)
        s->cap *= 2;
    s->slot = calloc(s->cap, sizeof(char *));
    if (!s->slot) {
        free(s);
        return NULL;
    }
    return s;
}

void mrun_sbom_names_free(sbom_names *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->cap; i++)
        free(s->slot[i]);
    free(s->slot);
    free(s);
}

static char **names_find(sbom_names *s, const char *k)
{
    size_t i = (size_t)fnv(k) & (s->cap - 1);
    while (s->slot[i] && strcmp(s->slot[i], k) != 0)
        i = (i + 1) & (s->cap - 1);
    return &s->slot[i];
}

static int names_grow(sbom_names *s)
{
    sbom_names bigger = {.cap = s->cap * 2};
    bigger.slot = calloc(bigger.cap, sizeof(char *));
    if (!bigger.slot)
        return -1;
    for (size_t i = 0; i < s->cap; i++)
        if (s->slot[i])
            *names_find(&bigger, s->slot[i]) = s->slot[i];
    free(s->slot);
    s->slot = bigger.slot;
    s->cap = bigger.cap;
    return 0;
}

const char *mrun_sbom_names_add(sbom_names *s, const char *base, char sep)
{
    if ((s->n + 1) * 2 > s->cap && names_grow(s) < 0)
        return NULL;
    char **slot = names_find(s, base);
    char *name = NULL;
    if (!*slot) {
        name = strdup(base);
    } else {
        for (unsigned long k = 2; k < (unsigned long)-1; k++) {
            if (asprintf(&name, "%s%c%lu", base, sep, k) < 0)
                return NULL;
            slot = names_find(s, name);
            if (!*slot)
                break;
            free(name);
            name = NULL;
        }
    }
    if (!name)
        return NULL;
    *slot = name;
    s->n++;
    return name;
}

/* ---- the entry points ------------------------------------------------------------------------------- */

int mrun_sbom_write(const mrun_deps *d, const mrun_sbom_opts *o, FILE *out, mrun_err *err)
{
    if (o->timestamp < 0)
        return mrun_err_setx(err, EINVAL, "sbom: negative timestamp");
    if (o->format == MRUN_SBOM_SPDX)
        return mrun_sbom_write_spdx(d, o, out, err);
    return mrun_sbom_write_cdx(d, o, out, err);
}

int mrun_sbom_format_parse(const char *s, mrun_sbom_format *ret, mrun_err *err)
{
    if (strcmp(s, "cyclonedx") == 0 || strcmp(s, "cdx") == 0)
        *ret = MRUN_SBOM_CYCLONEDX;
    else if (strcmp(s, "spdx") == 0)
        *ret = MRUN_SBOM_SPDX;
    else
        return mrun_err_setx(err, EINVAL, "format '%.32s': must be cyclonedx or spdx", s);
    return 0;
}
