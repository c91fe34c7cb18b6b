/* deps_lang.c - the per-file package set behind deps_lang.h: names, hashes, edges resolved by name, scope
 * propagation from the project, and the commit into the shared inventory. */
#include "deps_lang.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/auto.h"
#include "toml.h"

void lang_set_init(lang_set *s, const char *path, const char *ecosystem, bool pep503)
{
    memset(s, 0, sizeof(*s));
    s->path = path;
    s->ecosystem = ecosystem;
    s->pep503 = pep503;
}

void lang_set_fini(lang_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->v[i].key);
        free(s->v[i].to);
        free(s->v[i].to_scope);
        free(s->v[i].hashes);
    }
    free(s->v);
    free(s->order);
    for (size_t i = 0; i < s->n_arena; i++)
        free(s->arena[i]);
    free(s->arena);
    memset(s, 0, sizeof(*s));
}

int lang_err(mrun_err *err, const char *path, unsigned line, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (line)
        return mrun_err_setx(err, EPROTO, "%s:%u: %s", path, line, msg);
    return mrun_err_setx(err, EPROTO, "%s: %s", path, msg);
}

char *lang_keep(lang_set *s, char *owned, mrun_err *err)
{
    if (!owned) {
        mrun_err_set(err, ENOMEM, "%s", s->path);
        return NULL;
    }
    if (s->n_arena == s->cap_arena) {
        size_t cap = s->cap_arena ? s->cap_arena * 2 : 64;
        char **a = realloc(s->arena, cap * sizeof(*a));
        if (!a) {
            free(owned);
            mrun_err_set(err, ENOMEM, "%s", s->path);
            return NULL;
        }
        s->arena = a;
        s->cap_arena = cap;
    }
    s->arena[s->n_arena++] = owned;
    return owned;
}

char *lang_dup(lang_set *s, const char *str, size_t n, mrun_err *err)
{
    return lang_keep(s, strndup(str, n), err);
}

char *lang_pep503(const char *name)
{
    char *out = malloc(strlen(name) + 1);
    if (!out)
        return NULL;
    size_t k = 0;
    for (const char *p = name; *p; p++) {
        if (*p == '-' || *p == '_' || *p == '.') {
            if (k == 0 || out[k - 1] != '-')
                out[k++] = '-';
            continue;
        }
        out[k++] = (char)tolower((unsigned char)*p);
    }
    out[k] = '\0';
    return out;
}

static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > LANG_MAX_NAME)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return false;
    return true;
}

int lang_add(lang_set *s, const char *name, const char *version, unsigned line, size_t *ret_i, mrun_err *err)
{
    if (!name_ok(name))
        return lang_err(err, s->path, line, "bad package name");
    if (version && (!name_ok(version) || strlen(version) > 256))
        return lang_err(err, s->path, line, "bad version of '%.64s'", name);
    if (s->n >= MRUN_DEPS_MAX_COMPONENTS)
        return mrun_err_setx(err, E2BIG, "%s: more than %d packages", s->path, MRUN_DEPS_MAX_COMPONENTS);
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        lang_pkg *v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            return mrun_err_set(err, ENOMEM, "%s", s->path);
        s->v = v;
        s->cap = cap;
    }
    lang_pkg *p = &s->v[s->n];
    memset(p, 0, sizeof(*p));
    p->key = s->pep503 ? lang_pep503(name) : strdup(name);
    if (!p->key)
        return mrun_err_set(err, ENOMEM, "%s", s->path);
    p->line = line;
    p->t.ecosystem = s->ecosystem;
    p->t.name = (char *)name; /* the template is only read: mrun_deps_add copies it */
    p->t.version = (char *)version;
    p->t.source = (char *)s->path;
    *ret_i = s->n++;
    return 0;
}

static size_t hex_len(mrun_hash_alg alg)
{
    static const size_t len[] = {32, 40, 64, 96, 128};
    return len[alg];
}

int lang_hash(lang_set *s, size_t i, mrun_hash_alg alg, const char *hex, size_t n, mrun_err *err)
{
    lang_pkg *p = &s->v[i];
    bool ok = n == hex_len(alg);
    for (size_t k = 0; ok && k < n; k++)
        ok = isxdigit((unsigned char)hex[k]);
    if (!ok)
        return lang_err(err, s->path, p->line, "bad %s hash of '%.64s'", mrun_hash_alg_name(alg), p->t.name);
    char *low = lang_dup(s, hex, n, err);
    if (!low)
        return -1;
    for (char *c = low; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    for (size_t k = 0; k < p->n_hashes; k++)
        if (p->hashes[k].alg == alg && strcmp(p->hashes[k].hex, low) == 0)
            return 0;
    if (p->n_hashes == p->cap_hashes) {
        if (p->cap_hashes >= 4096)
            return lang_err(err, s->path, p->line, "more than 4096 hashes for '%.64s'", p->t.name);
        size_t cap = p->cap_hashes ? p->cap_hashes * 2 : 4;
        mrun_dep_hash *h = realloc(p->hashes, cap * sizeof(*h));
        if (!h)
            return mrun_err_set(err, ENOMEM, "%s", s->path);
        p->hashes = h;
        p->cap_hashes = cap;
    }
    p->hashes[p->n_hashes++] = (mrun_dep_hash){alg, low};
    return 0;
}

int lang_hash_spec(lang_set *s, size_t i, const char *spec, mrun_err *err)
{
    static const struct {
        const char *name;
        mrun_hash_alg alg;
    } algs[] = {{"md5", MRUN_HASH_MD5},
                {"sha1", MRUN_HASH_SHA1},
                {"sha256", MRUN_HASH_SHA256},
                {"sha384", MRUN_HASH_SHA384},
                {"sha512", MRUN_HASH_SHA512}};
    size_t sep = strcspn(spec, ":=");
    for (size_t k = 0; spec[sep] && k < sizeof(algs) / sizeof(algs[0]); k++)
        if (strlen(algs[k].name) == sep && strncmp(spec, algs[k].name, sep) == 0)
            return lang_hash(s, i, algs[k].alg, spec + sep + 1, strlen(spec + sep + 1), err);
    return lang_err(err, s->path, s->v[i].line, "unknown hash '%.32s' of '%.64s'", spec, s->v[i].t.name);
}

bool lang_base64_hex(const char *b64, size_t n, size_t want, char *out)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (n != (want + 2) / 3 * 4)
        return false;
    uint32_t acc = 0;
    size_t bits = 0, got = 0, pad = 0;
    for (size_t i = 0; i < n; i++) {
        if (b64[i] == '=') {
            pad++;
            continue;
        }
        const char *c = b64[i] ? strchr(tab, b64[i]) : NULL;
        if (!c || pad)
            return false;
        acc = acc << 6 | (uint32_t)(c - tab);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (got == want)
                return false;
            snprintf(out + 2 * got++, 3, "%02x", (acc >> bits) & 0xff);
        }
    }
    return got == want && pad == (3 - want % 3) % 3;
}

/* Compares a stored key with a name as the set normalises it, without allocating. */
static int key_cmp(const lang_set *s, const char *key, const char *name)
{
    if (!s->pep503)
        return strcmp(key, name);
    for (;;) {
        int c = (unsigned char)*name;
        if (c == '-' || c == '_' || c == '.') {
            while (*name == '-' || *name == '_' || *name == '.')
                name++;
            c = '-';
        } else {
            c = tolower(c);
            if (c)
                name++;
        }
        int k = (unsigned char)*key;
        if (k != c || k == 0)
            return k - c;
        key++;
    }
}

static int order_cmp(const void *a, const void *b, void *ctx)
{
    const lang_set *s = ctx;
    const lang_pkg *x = &s->v[*(const size_t *)a], *y = &s->v[*(const size_t *)b];
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    c = strcmp(x->t.version ? x->t.version : "", y->t.version ? y->t.version : "");
    return c ? c : (*(const size_t *)a < *(const size_t *)b ? -1 : 1);
}

int lang_index(lang_set *s, mrun_err *err)
{
    free(s->order);
    s->order = malloc((s->n ? s->n : 1) * sizeof(*s->order));
    if (!s->order)
        return mrun_err_set(err, ENOMEM, "%s", s->path);
    for (size_t i = 0; i < s->n; i++)
        s->order[i] = i;
    qsort_r(s->order, s->n, sizeof(*s->order), order_cmp, s);
    s->n_order = s->n;
    return 0;
}

bool lang_find(const lang_set *s, const char *name, size_t *ret_lo, size_t *ret_hi)
{
    size_t lo = 0, hi = s->n_order;
    while (lo < hi) { /* first key >= name */
        size_t mid = lo + (hi - lo) / 2;
        if (key_cmp(s, s->v[s->order[mid]].key, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < s->n_order && key_cmp(s, s->v[s->order[end]].key, name) == 0)
        end++;
    *ret_lo = lo;
    *ret_hi = end;
    return end > lo;
}

size_t lang_find_one(const lang_set *s, const char *name, const char *version)
{
    size_t lo, hi;
    if (!lang_find(s, name, &lo, &hi))
        return SIZE_MAX;
    for (size_t k = lo; k < hi; k++) {
        const char *v = s->v[s->order[k]].t.version;
        if (!version || (v && strcmp(v, version) == 0))
            return s->order[k];
    }
    return SIZE_MAX;
}

int lang_edge(lang_set *s, size_t from, size_t to, mrun_dep_scope scope, mrun_err *err)
{
    lang_pkg *p = &s->v[from];
    if (s->n_edges >= LANG_MAX_EDGES)
        return mrun_err_setx(err, E2BIG, "%s: more than %u dependency edges", s->path, LANG_MAX_EDGES);
    if (p->n_to == p->cap_to) {
        size_t cap = p->cap_to ? p->cap_to * 2 : 8;
        size_t *nt = realloc(p->to, cap * sizeof(*nt));
        if (nt)
            p->to = nt;
        mrun_dep_scope *sc = nt ? realloc(p->to_scope, cap * sizeof(*sc)) : NULL;
        if (!sc)
            return mrun_err_set(err, ENOMEM, "%s", s->path);
        p->to_scope = sc;
        p->cap_to = cap;
    }
    p->to[p->n_to] = to;
    p->to_scope[p->n_to++] = scope;
    s->n_edges++;
    return 0;
}

/* Breadth-first from the projects' dependencies of one scope, over packages not reached yet. */
static void reach(lang_set *s, mrun_dep_scope scope, bool *seen, size_t *queue)
{
    size_t head = 0, tail = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (!s->v[i].t.is_project)
            continue;
        for (size_t k = 0; k < s->v[i].n_to; k++) {
            size_t to = s->v[i].to[k];
            if (s->v[i].to_scope[k] != scope || s->v[to].t.is_project)
                continue;
            s->v[to].t.direct = true;
            if (!seen[to]) {
                seen[to] = true;
                s->v[to].t.scope = scope;
                queue[tail++] = to;
            }
        }
    }
    while (head < tail) {
        lang_pkg *p = &s->v[queue[head++]];
        for (size_t k = 0; k < p->n_to; k++) {
            size_t to = p->to[k];
            if (!seen[to] && !s->v[to].t.is_project) {
                seen[to] = true;
                s->v[to].t.scope = scope;
                queue[tail++] = to;
            }
        }
    }
}

void lang_propagate(lang_set *s)
{
    mrun_autofree bool *seen = calloc(s->n ? s->n : 1, sizeof(*seen));
    mrun_autofree size_t *queue = malloc((s->n ? s->n : 1) * sizeof(*queue));
    if (!seen || !queue)
        return; /* scopes stay as declared: less precise, never wrong about what is shipped */
    reach(s, MRUN_DEP_REQUIRED, seen, queue);
    reach(s, MRUN_DEP_OPTIONAL, seen, queue);
    reach(s, MRUN_DEP_DEV, seen, queue);
}

int lang_commit(lang_set *s, mrun_deps *d, mrun_err *err)
{
    size_t first = mrun_deps_count(d);
    for (size_t i = 0; i < s->n; i++) {
        s->v[i].t.hashes = s->v[i].hashes;
        s->v[i].t.n_hashes = s->v[i].n_hashes;
        if (mrun_deps_add(d, &s->v[i].t, NULL, err) < 0)
            goto fail;
    }
    for (size_t i = 0; i < s->n; i++)
        for (size_t k = 0; k < s->v[i].n_to; k++)
            if (s->v[i].to[k] != i && mrun_deps_add_edge(d, first + i, first + s->v[i].to[k], err) < 0)
                goto fail;
    return 0;
fail:
    mrun_deps_truncate(d, first);
    return mrun_err_prefix(err, "%s", s->path);
}

int lang_toml(const char *path, const uint8_t *buf, size_t len, mrun_toml **ret_root, mrun_err *err)
{
    if (mrun_toml_parse(buf, len, ret_root, err) == 0)
        return 0;
    char cause[sizeof(err->msg)];
    memcpy(cause, err->msg, sizeof(cause));
    return mrun_err_setx(err, err->sys_errno, "%s:%s", path, cause);
}
