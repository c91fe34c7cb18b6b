/* deps_go.c - Go modules: go.mod (module, require with "// indirect", replace; go, toolchain, exclude, retract,
 * godebug, tool and ignore are read and not recorded) and go.sum, whose "h1:" hashes are added to the modules the
 * go.mod of the same directory requires. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../common/auto.h"
#include "deps_lang.h"

#define GO_MAX_LINE   (64u << 10)
#define GO_MAX_TOKENS 8

typedef struct go_line {
    char *tok[GO_MAX_TOKENS];
    size_t n;
    const char *comment; /* text after "//", trimmed; "" when none */
} go_line;

typedef struct go_replace {
    const char *old_path, *old_version; /* old_version NULL: every version */
    const char *new_path, *new_version; /* new_version NULL: a local directory */
    unsigned line;
} go_replace;

typedef struct go_mod {
    lang_set s;
    go_replace *rep;
    size_t n_rep, cap_rep;
    size_t project; /* SIZE_MAX until the module line */
} go_mod;

static void go_mod_fini(go_mod *g)
{
    lang_set_fini(&g->s);
    free(g->rep);
}

/* Splits a line (in the set's arena, modified in place) into tokens: bare words or "quoted" / `raw` strings. */
static int go_tokens(lang_set *s, char *p, unsigned line, go_line *out, mrun_err *err)
{
    out->n = 0;
    out->comment = "";
    for (;;) {
        p += strspn(p, " \t\r");
        if (!*p)
            return 0;
        if (p[0] == '/' && p[1] == '/') {
            char *c = p + 2;
            c += strspn(c, " \t");
            size_t n = strlen(c);
            while (n > 0 && isspace((unsigned char)c[n - 1]))
                c[--n] = '\0';
            out->comment = c;
            return 0;
        }
        if (out->n == GO_MAX_TOKENS)
            return lang_err(err, s->path, line, "too many fields");
        char *end;
        if (*p == '"' || *p == '`') {
            end = strchr(p + 1, *p);
            if (!end)
                return lang_err(err, s->path, line, "unterminated string");
            if (*p == '"' && memchr(p + 1, '\\', (size_t)(end - p - 1)))
                return lang_err(err, s->path, line, "escapes in module paths are not supported");
            p++;
        } else {
            end = p + strcspn(p, " \t\r");
        }
        out->tok[out->n++] = p;
        p = *end ? end + 1 : end;
        *end = '\0';
    }
}

static bool path_ok(const char *p)
{
    if (!*p || strlen(p) > LANG_MAX_NAME)
        return false;
    for (; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

static bool version_ok(const char *v)
{
    return v[0] == 'v' && isdigit((unsigned char)v[1]) && path_ok(v);
}

/* "// indirect" or "// indirect; other notes", as the go command writes it. */
static bool is_indirect(const char *comment)
{
    return strcmp(comment, "indirect") == 0 || strncmp(comment, "indirect;", 9) == 0;
}

static int go_require(go_mod *g, const go_line *l, char **t, size_t n, unsigned line, mrun_err *err)
{
    if (n != 2 || !path_ok(t[0]) || !version_ok(t[1]))
        return lang_err(err, g->s.path, line, "usage: require module/path v1.2.3");
    size_t i;
    if (lang_add(&g->s, t[0], t[1], line, &i, err) < 0)
        return -1;
    g->s.v[i].t.direct = !is_indirect(l->comment);
    return 0;
}

/* old [version] => new [version]; a new path without a version is a directory. */
static int go_replace_line(go_mod *g, char **t, size_t n, unsigned line, mrun_err *err)
{
    size_t arrow = 0;
    while (arrow < n && strcmp(t[arrow], "=>") != 0)
        arrow++;
    size_t right = n - arrow - 1;
    if (arrow == n || arrow < 1 || arrow > 2 || right < 1 || right > 2 || !path_ok(t[0]) || !path_ok(t[arrow + 1]) ||
        (arrow == 2 && !version_ok(t[1])) || (right == 2 && !version_ok(t[arrow + 2])))
        return lang_err(err, g->s.path, line, "usage: replace module/path [v1.2.3] => other/path [v1.2.4]");
    if (g->n_rep == g->cap_rep) {
        size_t cap = g->cap_rep ? g->cap_rep * 2 : 8;
        go_replace *r = cap <= 100000 ? realloc(g->rep, cap * sizeof(*r)) : NULL;
        if (!r)
            return cap > 100000 ? lang_err(err, g->s.path, line, "too many replace directives")
                                : mrun_err_set(err, ENOMEM, "%s", g->s.path);
        g->rep = r;
        g->cap_rep = cap;
    }
    g->rep[g->n_rep++] =
        (go_replace){t[0], arrow == 2 ? t[1] : NULL, t[arrow + 1], right == 2 ? t[arrow + 2] : NULL, line};
    return 0;
}

static int go_directive(go_mod *g, const char *verb, go_line *l, char **t, size_t n, unsigned line, mrun_err *err)
{
    if (strcmp(verb, "module") == 0) {
        if (n != 1 || !path_ok(t[0]) || g->project != SIZE_MAX)
            return lang_err(err, g->s.path, line, "usage: module module/path (once)");
        if (lang_add(&g->s, t[0], NULL, line, &g->project, err) < 0)
            return -1;
        g->s.v[g->project].t.is_project = true;
        return 0;
    }
    if (strcmp(verb, "require") == 0)
        return go_require(g, l, t, n, line, err);
    if (strcmp(verb, "replace") == 0)
        return go_replace_line(g, t, n, line, err);
    static const char *const known[] = {"go", "toolchain", "exclude", "retract", "godebug", "tool", "ignore"};
    for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
        if (strcmp(verb, known[k]) == 0)
            return 0;
    return lang_err(err, g->s.path, line, "unknown directive '%.32s'", verb);
}

/* A replace applies to the required module (any version, or that version); the last one wins, as in go. */
static void go_apply_replaces(go_mod *g)
{
    for (size_t i = 0; i < g->s.n; i++) {
        lang_pkg *p = &g->s.v[i];
        if (p->t.is_project)
            continue;
        for (size_t r = g->n_rep; r-- > 0;) {
            const go_replace *rp = &g->rep[r];
            if (strcmp(rp->old_path, p->t.name) != 0 || (rp->old_version && strcmp(rp->old_version, p->t.version) != 0))
                continue;
            if (rp->new_version) { /* another module is built in its place */
                p->t.name = (char *)rp->new_path;
                p->t.version = (char *)rp->new_version;
            } else {
                p->t.locator = (char *)rp->new_path; /* built from this directory of the workspace */
            }
            break;
        }
    }
}

static int read_go_mod(go_mod *g, const char *buf, size_t len, mrun_err *err)
{
    char block[16] = "";
    unsigned line = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t m = nl ? (size_t)(nl - buf - pos) : len - pos;
        line++;
        if (m > GO_MAX_LINE || memchr(buf + pos, '\0', m))
            return lang_err(err, g->s.path, line, m > GO_MAX_LINE ? "line too long" : "NUL byte");
        char *text = lang_dup(&g->s, buf + pos, m, err);
        pos += m + (nl ? 1 : 0);
        go_line l;
        if (!text || go_tokens(&g->s, text, line, &l, err) < 0)
            return -1;
        if (l.n == 0)
            continue;
        if (*block) {
            if (l.n == 1 && strcmp(l.tok[0], ")") == 0)
                block[0] = '\0';
            else if (go_directive(g, block, &l, l.tok, l.n, line, err) < 0)
                return -1;
        } else if (l.n == 2 && strcmp(l.tok[1], "(") == 0 && strlen(l.tok[0]) < sizeof(block)) {
            memcpy(block, l.tok[0], strlen(l.tok[0]) + 1);
        } else if (go_directive(g, l.tok[0], &l, l.tok + 1, l.n - 1, line, err) < 0) {
            return -1;
        }
    }
    if (*block)
        return lang_err(err, g->s.path, line, "unclosed %s block", block);
    if (g->project == SIZE_MAX)
        return lang_err(err, g->s.path, 0, "no module directive");
    return 0;
}

int mrun_deps_parse_go_mod(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err)
{
    mrun_cleanup(go_mod_fini) go_mod g = {.project = SIZE_MAX};
    lang_set_init(&g.s, path, "golang", false);
    if (read_go_mod(&g, (const char *)buf, len, err) < 0)
        return -1;
    go_apply_replaces(&g);
    for (size_t i = 0; i < g.s.n; i++)
        if (i != g.project && g.s.v[i].t.direct && lang_edge(&g.s, g.project, i, MRUN_DEP_REQUIRED, err) < 0)
            return -1;
    return lang_commit(&g.s, d, err);
}

/* ---- go.sum ---- */

/* The golang components the go.mod beside path gave, by name and version. */
static int go_sum_targets(const mrun_deps *d, const char *path, lang_set *s, mrun_err *err)
{
    const char *slash = strrchr(path, '/');
    size_t dir = slash ? (size_t)(slash - path + 1) : 0;
    for (size_t i = 0; i < mrun_deps_count(d); i++) {
        const mrun_dep *p = mrun_deps_at(d, i);
        size_t at;
        if (strcmp(p->ecosystem, "golang") != 0 || p->is_project || !p->version || !p->source ||
            strncmp(p->source, path, dir) != 0 || strcmp(p->source + dir, "go.mod") != 0)
            continue;
        if (lang_add(s, p->name, p->version, 0, &at, err) < 0)
            return -1;
        s->v[at].aux = i; /* its index in the inventory */
    }
    return lang_index(s, err);
}

static int go_sum_line(mrun_deps *d, lang_set *s, char *text, unsigned line, mrun_err *err)
{
    go_line l;
    if (go_tokens(s, text, line, &l, err) < 0)
        return -1;
    if (l.n == 0)
        return 0;
    if (l.n != 3 || *l.comment)
        return lang_err(err, s->path, line, "expected: module version hash");
    size_t vn = strlen(l.tok[1]);
    if (vn > 7 && strcmp(l.tok[1] + vn - 7, "/go.mod") == 0)
        return 0; /* the hash of the go.mod file alone, not of the module */
    if (strncmp(l.tok[2], "h1:", 3) != 0)
        return 0; /* a future hash algorithm */
    char hex[65];
    if (!lang_base64_hex(l.tok[2] + 3, strlen(l.tok[2] + 3), 32, hex))
        return lang_err(err, s->path, line, "bad h1 hash");
    size_t i = lang_find_one(s, l.tok[0], l.tok[1]);
    if (i == SIZE_MAX)
        return 0; /* not required by the go.mod beside it (go.sum keeps older and test-only entries) */
    return mrun_deps_add_hash(d, s->v[i].aux, MRUN_HASH_SHA256, hex, err);
}

int mrun_deps_parse_go_sum(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err)
{
    mrun_cleanup(lang_set_fini) lang_set s;
    lang_set_init(&s, path, "golang", false);
    if (go_sum_targets(d, path, &s, err) < 0)
        return -1;
    unsigned line = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t m = nl ? (size_t)(nl - (const char *)buf - pos) : len - pos;
        line++;
        if (m > GO_MAX_LINE || memchr(buf + pos, '\0', m))
            return lang_err(err, path, line, m > GO_MAX_LINE ? "line too long" : "NUL byte");
        char *text = lang_dup(&s, (const char *)buf + pos, m, err);
        pos += m + (nl ? 1 : 0);
        if (!text || go_sum_line(d, &s, text, line, err) < 0)
            return -1;
    }
    return 0;
}
