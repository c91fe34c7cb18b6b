/* purl.c - package URLs (github.com/package-url/purl-spec) for the inventory's components:
 *   pkg:TYPE/NAMESPACE/NAME@VERSION?QUALIFIERS
 * Each namespace segment and the name are percent-encoded like encodeURIComponent (':' kept in namespaces), the
 * version keeps ':' and '+', qualifier values are form-encoded with spaces as %20: the encoding of packageurl-js,
 * which cyclonedx-npm uses, so that npm purls match its output byte for byte. Per type: npm and composer lowercase
 * namespace and name, pypi lowercases and turns '_' into '-', golang splits the module path into namespace
 * segments and keeps its case. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sbom_int.h"

typedef struct sb {
    char *p;
    size_t len, cap;
    bool oom;
} sb;

static void sb_putc(sb *b, char c)
{
    if (b->oom)
        return;
    if (b->len + 2 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 128;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    b->p[b->len++] = c;
    b->p[b->len] = '\0';
}

static void sb_puts(sb *b, const char *s)
{
    for (; *s; s++)
        sb_putc(b, *s);
}

typedef enum enc_kind {
    ENC_NAME,      /* encodeURIComponent */
    ENC_NAMESPACE, /* ... keeping ':' */
    ENC_VERSION,   /* ... keeping ':' and '+' */
    ENC_QUALIFIER, /* application/x-www-form-urlencoded, space as %20 */
} enc_kind;

static bool keep_char(unsigned char c, enc_kind k)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '*')
        return true;
    if (k == ENC_QUALIFIER)
        return false;
    if (c == '!' || c == '~' || c == '\'' || c == '(' || c == ')')
        return true;
    return (c == ':' && k != ENC_NAME) || (c == '+' && k == ENC_VERSION);
}

/* Appends s[0..len) encoded; lower folds ASCII letters first, dash turns '_' into '-' (pypi). */
static void put_enc(sb *b, const char *s, size_t len, enc_kind k, bool lower, bool dash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (lower && c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if (dash && c == '_')
            c = '-';
        if (keep_char(c, k)) {
            sb_putc(b, (char)c);
        } else {
            sb_putc(b, '%');
            sb_putc(b, hex[c >> 4]);
            sb_putc(b, hex[c & 15]);
        }
    }
}

/* npm's rules for where a package came from (cyclonedx-npm): file: and ignore: say nothing, git URLs are the
 * vcs_url, anything but the default registry is the download_url. */
static bool starts_with_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static bool npm_is_vcs(const char *r)
{
    if (starts_with_ci(r, "ssh:") || starts_with_ci(r, "git:"))
        return true;
    if (starts_with_ci(r, "git+")) {
        const char *colon = strchr(r + 4, ':');
        if (colon && colon > r + 4)
            return true;
    }
    const char *g = r;
    while ((g = strcasestr(g, ".git")) != NULL) {
        if (g[4] == '\0' || g[4] == '#')
            return true;
        g += 4;
    }
    return false;
}

static bool npm_is_default_registry(const char *r)
{
    const char *rest = NULL;
    if (starts_with_ci(r, "https://registry.npmjs.org"))
        rest = r + strlen("https://registry.npmjs.org");
    else if (starts_with_ci(r, "http://registry.npmjs.org"))
        rest = r + strlen("http://registry.npmjs.org");
    /* the matcher is /^https?:\/\/registry\.npmjs\.org(:?\/|$)/ */
    return rest && (*rest == '\0' || *rest == '/' || (rest[0] == ':' && rest[1] == '/'));
}

static void put_npm_qualifiers(sb *b, const char *resolved)
{
    if (!resolved || !*resolved || starts_with_ci(resolved, "file:") || starts_with_ci(resolved, "ignore:"))
        return;
    const char *key = npm_is_vcs(resolved) ? "vcs_url" : npm_is_default_registry(resolved) ? NULL : "download_url";
    if (!key)
        return;
    sb_putc(b, '?');
    sb_puts(b, key);
    sb_putc(b, '=');
    put_enc(b, resolved, strlen(resolved), ENC_QUALIFIER, false, false);
}

/* Splits name at its last '/' into namespace segments and name. */
static void put_path_name(sb *b, const char *name, bool lower)
{
    const char *last = strrchr(name, '/');
    if (last && last != name) {
        const char *seg = name;
        while (seg < last) {
            const char *slash = memchr(seg, '/', (size_t)(last - seg));
            const char *end = slash ? slash : last;
            if (end > seg) { /* empty segments are dropped, as the spec says */
                put_enc(b, seg, (size_t)(end - seg), ENC_NAMESPACE, lower, false);
                sb_putc(b, '/');
            }
            seg = end + 1;
        }
        name = last + 1;
    }
    put_enc(b, name, strlen(name), ENC_NAME, lower, false);
}

int mrun_sbom_purl(const mrun_dep *dep, char **ret, mrun_err *err)
{
    if (!dep->ecosystem || !*dep->ecosystem || !dep->name || !*dep->name)
        return mrun_err_setx(err, EINVAL, "purl: a component needs a type and a name");
    const char *type = dep->ecosystem, *name = dep->name;
    sb b = {0};
    sb_puts(&b, "pkg:");
    put_enc(&b, type, strlen(type), ENC_NAME, true, false);
    sb_putc(&b, '/');
    if (strcmp(type, "npm") == 0) {
        const char *slash = name[0] == '@' ? strchr(name, '/') : NULL;
        if (slash && slash[1]) {
            put_enc(&b, name, (size_t)(slash - name), ENC_NAMESPACE, true, false);
            sb_putc(&b, '/');
            name = slash + 1;
        }
        put_enc(&b, name, strlen(name), ENC_NAME, true, false);
    } else if (strcmp(type, "pypi") == 0) {
        put_enc(&b, name, strlen(name), ENC_NAME, true, true);
    } else if (strcmp(type, "golang") == 0 || strcmp(type, "composer") == 0) {
        put_path_name(&b, name, strcmp(type, "composer") == 0);
    } else {
        put_enc(&b, name, strlen(name), ENC_NAME, false, false);
    }
    if (dep->version && *dep->version) {
        sb_putc(&b, '@');
        put_enc(&b, dep->version, strlen(dep->version), ENC_VERSION, false, false);
    }
    if (strcmp(type, "npm") == 0)
        put_npm_qualifiers(&b, dep->resolved);
    if (b.oom) {
        free(b.p);
        return mrun_err_set(err, ENOMEM, "purl");
    }
    *ret = b.p;
    return 0;
}
