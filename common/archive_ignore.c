/* archive_ignore.c - .gitignore / .mrunignore rules (gitignore(5) semantics) as a compiled, pure rule set.
 * The glob matcher follows the algorithm of git's wildmatch.c (Rich Salz's public-domain matcher as changed by
 * Wayne Davison for rsync): '*', '?' and classes never match '/', and "**" between slashes matches any depth. */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "auto.h"

#define MAX_LINE 4096

enum { WM_MATCH = 0, WM_NOMATCH = 1, WM_ABORT_ALL = -1, WM_ABORT_TO_STARSTAR = -2 };

/* One pattern line. pat keeps its backslash escapes; the matcher reads them. */
typedef struct rule {
    char *base; /* directory of the file it came from, "" for the root; owned */
    size_t base_len;
    char *pat; /* owned */
    bool negate, dir_only, anchored;
} rule;

/* Rules in the order added; the last matching one decides. Owns every rule. */
struct mrun_ignore {
    rule *r;
    size_t n, cap;
};

static bool is_glob_special(char c)
{
    return c == '*' || c == '?' || c == '[' || c == '\\';
}

static bool class_match(const char *name, size_t len, uint8_t c)
{
#define CLS(s, fn)                                                                                                     \
    if (len == sizeof(s) - 1 && memcmp(name, s, len) == 0)                                                             \
        return fn(c) != 0;
    CLS("alnum", isalnum)
    CLS("alpha", isalpha) CLS("blank", isblank) CLS("cntrl", iscntrl) CLS("digit", isdigit) CLS("graph", isgraph)
        CLS("lower", islower) CLS("print", isprint) CLS("punct", ispunct) CLS("space", isspace) CLS("upper", isupper)
            CLS("xdigit", isxdigit)
#undef CLS
                return false;
}

/* A bracket expression starting after '['; *pp is left on its closing ']'. Returns 1 matched, 0 not, or
 * WM_ABORT_ALL for an unterminated class. */
static int bracket(const uint8_t **pp, uint8_t t_ch)
{
    const uint8_t *p = *pp;
    uint8_t p_ch = *p, prev_ch = 0;
    bool negated = false, matched = false;
    if (p_ch == '!' || p_ch == '^') {
        negated = true;
        p_ch = *++p;
    }
    do {
        if (!p_ch)
            return WM_ABORT_ALL;
        if (p_ch == '\\') {
            p_ch = *++p;
            if (!p_ch)
                return WM_ABORT_ALL;
            if (t_ch == p_ch)
                matched = true;
        } else if (p_ch == '-' && prev_ch && p[1] && p[1] != ']') {
            p_ch = *++p;
            if (p_ch == '\\' && !(p_ch = *++p))
                return WM_ABORT_ALL;
            if (t_ch <= p_ch && t_ch >= prev_ch)
                matched = true;
            p_ch = 0; /* a range cannot start another range */
        } else if (p_ch == '[' && p[1] == ':') {
            const uint8_t *s = p + 2, *e = s;
            while (*e && *e != ']')
                e++;
            if (!*e)
                return WM_ABORT_ALL;
            if (e - s < 1 || e[-1] != ':') { /* not a class after all: a literal '[' */
                if (t_ch == '[')
                    matched = true;
            } else {
                if (class_match((const char *)s, (size_t)(e - s - 1), t_ch))
                    matched = true;
                p = e;
                p_ch = 0;
            }
        } else if (t_ch == p_ch) {
            matched = true;
        }
        prev_ch = p_ch;
    } while ((p_ch = *++p) != ']');
    *pp = p;
    return matched != negated;
}

static int wild(const uint8_t *p, const uint8_t *text, const uint8_t *pattern)
{
    uint8_t p_ch;
    for (; (p_ch = *p) != '\0'; text++, p++) {
        uint8_t t_ch = *text;
        if (t_ch == '\0' && p_ch != '*')
            return WM_ABORT_ALL;
        switch (p_ch) {
        case '\\':
            p_ch = *++p; /* a trailing backslash matches nothing */
            /* fall through */
        default:
            if (t_ch != p_ch)
                return WM_NOMATCH;
            continue;
        case '?':
            if (t_ch == '/')
                return WM_NOMATCH;
            continue;
        case '[': {
            ++p;
            int m = bracket(&p, t_ch);
            if (m < 0)
                return m;
            if (!m || t_ch == '/')
                return WM_NOMATCH;
            continue;
        }
        case '*': {
            bool match_slash = false;
            if (*++p == '*') {
                const uint8_t *prev_p = p - 2;
                while (*++p == '*') {
                }
                if ((prev_p < pattern || *prev_p == '/') && (*p == '\0' || *p == '/')) {
                    /* "**" as a whole component: try it as zero directories first */
                    if (p[0] == '/' && wild(p + 1, text, pattern) == WM_MATCH)
                        return WM_MATCH;
                    match_slash = true;
                }
            }
            if (*p == '\0') {
                if (!match_slash && strchr((const char *)text, '/'))
                    return WM_NOMATCH;
                return WM_MATCH;
            }
            if (!match_slash && *p == '/') {
                const char *slash = strchr((const char *)text, '/');
                if (!slash)
                    return WM_NOMATCH;
                text = (const uint8_t *)slash;
                break; /* the loop steps over the slash in both */
            }
            for (;;) {
                if (t_ch == '\0')
                    break;
                if (!is_glob_special((char)*p)) {
                    p_ch = *p;
                    while ((t_ch = *text) != '\0' && (match_slash || t_ch != '/') && t_ch != p_ch)
                        text++;
                    if (t_ch != p_ch)
                        return WM_NOMATCH;
                }
                int m = wild(p, text, pattern);
                if (m != WM_NOMATCH) {
                    if (!match_slash || m != WM_ABORT_TO_STARSTAR)
                        return m;
                } else if (!match_slash && t_ch == '/') {
                    return WM_ABORT_TO_STARSTAR;
                }
                t_ch = *++text;
            }
            return WM_ABORT_ALL;
        }
        }
    }
    return *text ? WM_NOMATCH : WM_MATCH;
}

static bool wildmatch(const char *pat, const char *text)
{
    return wild((const uint8_t *)pat, (const uint8_t *)text, (const uint8_t *)pat) == WM_MATCH;
}

mrun_ignore *mrun_ignore_new(void)
{
    return calloc(1, sizeof(mrun_ignore));
}

void mrun_ignore_free(mrun_ignore *ig)
{
    if (!ig)
        return;
    for (size_t i = 0; i < ig->n; i++) {
        free(ig->r[i].base);
        free(ig->r[i].pat);
    }
    free(ig->r);
    free(ig);
}

void mrun_ignore_freep(mrun_ignore **ig)
{
    mrun_ignore_free(*ig);
}

/* Trailing spaces go unless escaped with a backslash; a trailing CR (a CRLF file) goes too. */
static size_t trim_trailing(const char *s, size_t len)
{
    if (len && s[len - 1] == '\r')
        len--;
    size_t keep = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 1 < len) {
            i++;
            keep = i + 1;
        } else if (s[i] != ' ') {
            keep = i + 1;
        }
    }
    return keep;
}

static int add_line(mrun_ignore *ig, const char *base, const char *s, size_t len)
{
    len = trim_trailing(s, len);
    if (len == 0 || s[0] == '#')
        return 0;
    rule r = {0};
    if (s[0] == '!') {
        r.negate = true;
        s++;
        len--;
    }
    if (len && s[len - 1] == '/' && !(len >= 2 && s[len - 2] == '\\')) {
        r.dir_only = true;
        len--;
    }
    r.anchored = memchr(s, '/', len) != NULL;
    if (len && s[0] == '/') {
        s++;
        len--;
    }
    if (len == 0)
        return 0;
    if (ig->n == ig->cap) {
        size_t ncap = ig->cap ? ig->cap * 2 : 32;
        rule *nr = realloc(ig->r, ncap * sizeof(*nr));
        if (!nr)
            return -1;
        ig->r = nr;
        ig->cap = ncap;
    }
    r.pat = strndup(s, len);
    r.base = strdup(base);
    if (!r.pat || !r.base) {
        free(r.pat);
        free(r.base);
        return -1;
    }
    r.base_len = strlen(base);
    ig->r[ig->n++] = r;
    return 0;
}

int mrun_ignore_add_file(mrun_ignore *ig, const char *base, const char *text, size_t len, const char *source,
                         mrun_err *err)
{
    size_t lineno = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - (text + pos)) : len - pos;
        lineno++;
        if (l > MAX_LINE)
            return mrun_err_setx(err, EINVAL, "%s:%zu: line longer than %d bytes", source, lineno, MAX_LINE);
        if (memchr(text + pos, '\0', l) == NULL && add_line(ig, base, text + pos, l) < 0)
            return mrun_err_set(err, ENOMEM, "%s:%zu", source, lineno);
        pos += l + 1;
    }
    return 0;
}

static bool rule_matches(const rule *r, const char *path, size_t len, bool is_dir)
{
    if (r->dir_only && !is_dir)
        return false;
    const char *rel = path;
    if (r->base_len) {
        if (len <= r->base_len || memcmp(path, r->base, r->base_len) != 0 || path[r->base_len] != '/')
            return false;
        rel = path + r->base_len + 1;
    }
    if (r->anchored)
        return wildmatch(r->pat, rel);
    const char *slash = strrchr(rel, '/');
    return wildmatch(r->pat, slash ? slash + 1 : rel);
}

/* The last rule matching path decides; none: not ignored. */
static bool decide(const mrun_ignore *ig, const char *path, size_t len, bool is_dir)
{
    for (size_t i = ig->n; i-- > 0;)
        if (rule_matches(&ig->r[i], path, len, is_dir))
            return !ig->r[i].negate;
    return false;
}

bool mrun_ignore_match(const mrun_ignore *ig, const char *path, bool is_dir)
{
    if (!ig || ig->n == 0)
        return false;
    size_t len = strlen(path);
    mrun_autofree char *copy = strdup(path);
    if (!copy)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (copy[i] != '/')
            continue;
        copy[i] = '\0';
        bool ign = decide(ig, copy, i, true);
        copy[i] = '/';
        if (ign)
            return true; /* an excluded directory: nothing below it can come back */
    }
    return decide(ig, path, len, is_dir);
}
