/* testpresence.c - the test-presence check: a first walk lists Python/JS/TS files and the public names each source
 * defines (line matchers, no parser), candidate test paths are derived from each source's directory and stem, a
 * second walk reads the test files that exist and marks the names they mention as whole words, a third applies
 * inline suppressions to the sources that got findings. */
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testpresence.h"

#define MAX_FILES  20000       /* Python/JS/TS files listed; past this the check fails (E2BIG) */
#define MAX_NAMES  (64u << 10) /* bytes of public names kept per source; later definitions are not listed */
#define MAX_JOINED 1024        /* bytes of the name list in a test-file-missing value */

enum { R_MISSING, R_UNTESTED, R_N };

static const mrun_rule rules[R_N] = {
    [R_MISSING] = {"test-file-missing", "source file with public functions has no test file",
                   "create tests/test_<module>.py (Python) or <module>.test.js/.ts beside the source or in "
                   "__tests__/ (JS/TS) that imports the module and calls each listed function",
                   "Public functions without any test file are unverified: a regression in them is found by users, "
                   "not by CI. Accepted test files: Python tests/test_<stem>.py, test/test_<stem>.py, "
                   "<dir>/test_<stem>.py, <dir>/<stem>_test.py, <dir>/tests/test_<stem>.py; JS/TS "
                   "<dir>/<stem>.test.*, <dir>/<stem>.spec.*, <dir>/__tests__/<stem>[.test|.spec].*, "
                   "tests/<stem>.test.*, test/<stem>.test.* (and .spec).",
                   MRUN_SEV_MEDIUM, true},
    [R_UNTESTED] = {"test-function-untested", "public function never mentioned by its test file",
                    "add a test to the matching test file that calls the function by name",
                    "The module has a test file, but it never names this function as a whole word, so nothing "
                    "exercises it directly.",
                    MRUN_SEV_MEDIUM, true},
};

const mrun_rule *mrun_testpresence_rules(size_t *ret_n)
{
    *ret_n = R_N;
    return rules;
}

typedef enum { LANG_NONE, LANG_PY, LANG_JS } lang;

typedef struct fn_def {
    size_t name_off; /* into src_file.names */
    unsigned line, col;
    bool tested;
} fn_def;

/* A source with at least one public name. names holds the names NUL-separated; path, names and fns are owned. */
typedef struct src_file {
    char *path;
    lang lg;
    char *names;
    size_t names_len;
    fn_def *fns;
    size_t n_fns;
    bool has_test, has_findings;
} src_file;

typedef struct link {
    size_t test, src; /* indexes into tp.paths and tp.srcs */
} link;

/* The state of one check run; owns everything it points to; one thread. */
typedef struct tp {
    char **paths; /* every listed Python/JS/TS file; sorted after the first walk */
    size_t n_paths, cap_paths;
    src_file *srcs;
    size_t n_srcs, cap_srcs;
    link *links; /* sorted by test */
    size_t n_links, cap_links;
    int phase; /* 1 list, 2 read tests, 3 inline suppressions */
    mrun_findings *out;
    const mrun_testpresence_opts *o;
    char globs[MRUN_TESTPRESENCE_MAX_PATTERNS][600]; /* o->patterns with the placeholders as fnmatch wildcards */
    size_t n_globs;
} tp;

static void tp_fini(tp *t)
{
    for (size_t i = 0; i < t->n_paths; i++)
        free(t->paths[i]);
    free(t->paths);
    for (size_t i = 0; i < t->n_srcs; i++) {
        free(t->srcs[i].path);
        free(t->srcs[i].names);
        free(t->srcs[i].fns);
    }
    free(t->srcs);
    free(t->links);
}

/* Grows *v (of elem-sized items) so one more fits. */
static int grow(void **v, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 16;
    void *nv = realloc(*v, ncap * elem);
    if (!nv)
        return -1;
    *v = nv;
    *cap = ncap;
    return 0;
}

/* ---- classification ---- */

static bool is_ident(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$';
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

/* True when a directory component of path (not the basename) is name. */
static bool has_dir(const char *path, const char *name)
{
    size_t m = strlen(name);
    for (const char *p = path;;) {
        const char *slash = strchr(p, '/');
        if (!slash)
            return false;
        if ((size_t)(slash - p) == m && memcmp(p, name, m) == 0)
            return true;
        p = slash + 1;
    }
}

static const char *const js_exts[] = {"js", "ts", "mjs", "jsx", "tsx"};

/* The language of a bare extension ("py", "ts"), LANG_NONE for anything else. */
static lang lang_of_ext(const char *ext)
{
    if (strcmp(ext, "py") == 0)
        return LANG_PY;
    for (size_t i = 0; i < sizeof(js_exts) / sizeof(js_exts[0]); i++)
        if (strcmp(ext, js_exts[i]) == 0)
            return LANG_JS;
    return LANG_NONE;
}

static lang lang_of(const char *base)
{
    const char *dot = strrchr(base, '.');
    return dot ? lang_of_ext(dot + 1) : LANG_NONE;
}

/* The language of a source file whose public names must be tested, or LANG_NONE for tests, config, typings,
 * vendored code and everything else. */
static lang source_lang(const struct tp *t, const char *path)
{
    for (size_t i = 0; i < t->n_globs; i++)
        if (fnmatch(t->globs[i], path, 0) == 0)
            return LANG_NONE; /* a test by the user's own pattern */
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    lang lg = lang_of(base);
    if (lg == LANG_NONE || base[0] == '.' || has_dir(path, "node_modules") || has_dir(path, "tests") ||
        has_dir(path, "test") || has_dir(path, "__tests__"))
        return LANG_NONE;
    if (lg == LANG_PY)
        return strncmp(base, "test_", 5) == 0 || ends_with(base, "_test.py") || strcmp(base, "setup.py") == 0 ||
                       strcmp(base, "conftest.py") == 0
                   ? LANG_NONE
                   : LANG_PY;
    if (strstr(base, ".test.") || strstr(base, ".spec.") || strstr(base, ".config.") || ends_with(base, ".d.ts"))
        return LANG_NONE;
    return LANG_JS;
}

/* ---- public names ---- */

static const char *skip_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* After keyword kw at p (followed by a non-identifier byte), or NULL. */
static const char *eat(const char *p, const char *e, const char *kw)
{
    size_t n = strlen(kw);
    if ((size_t)(e - p) < n || memcmp(p, kw, n) != 0 ||
        (is_ident((unsigned char)kw[n - 1]) && p + n < e && is_ident((unsigned char)p[n])))
        return NULL;
    return p + n;
}

/* The identifier at p: its end, or p when there is none (or it starts with a digit). */
static const char *ident_end(const char *p, const char *e)
{
    if (p == e || (*p >= '0' && *p <= '9'))
        return p;
    while (p < e && is_ident((unsigned char)*p))
        p++;
    return p;
}

static int add_name(src_file *s, size_t *cap_fns, const char *name, size_t len, unsigned line, unsigned col)
{
    if (len == 0 || name[0] == '_' || s->names_len + len + 1 > MAX_NAMES)
        return 0;
    char *nn = realloc(s->names, s->names_len + len + 1);
    if (!nn)
        return -1;
    s->names = nn;
    if (grow((void **)&s->fns, cap_fns, s->n_fns, sizeof(*s->fns)) < 0)
        return -1;
    memcpy(s->names + s->names_len, name, len);
    s->names[s->names_len + len] = '\0';
    s->fns[s->n_fns++] = (fn_def){.name_off = s->names_len, .line = line, .col = col};
    s->names_len += len + 1;
    return 0;
}

/* Python: `def name(`, `async def name(`, `class Name(`/`:` at column 1. Returns the name's extent or NULL. */
static const char *py_name(const char *p, const char *e, const char **ret_end)
{
    const char *q;
    bool is_class = false;
    if ((q = eat(p, e, "async")) != NULL)
        q = eat(skip_ws(q, e), e, "def");
    else if ((q = eat(p, e, "def")) == NULL && (q = eat(p, e, "class")) != NULL)
        is_class = true;
    if (!q || q == e || (*q != ' ' && *q != '\t'))
        return NULL;
    const char *name = skip_ws(q, e), *end = ident_end(name, e);
    const char *after = skip_ws(end, e);
    if (end == name || after == e || !(*after == '(' || (is_class && *after == ':')))
        return NULL;
    *ret_end = end;
    return name;
}

/* JS/TS: export [default] [async] function[*] name, export const|let|var name =, export class Name,
 * module.exports.name =, exports.name =. */
static const char *js_name(const char *p, const char *e, const char **ret_end)
{
    const char *q, *name = NULL, *end;
    bool need_eq = false;
    if ((q = eat(p, e, "export")) != NULL) {
        q = skip_ws(q, e);
        const char *r;
        if ((r = eat(q, e, "default")) != NULL)
            q = skip_ws(r, e);
        if ((r = eat(q, e, "async")) != NULL)
            q = skip_ws(r, e);
        if ((r = eat(q, e, "function")) != NULL || (r = eat(q, e, "class")) != NULL) {
            r = skip_ws(r, e);
            if (r < e && *r == '*')
                r = skip_ws(r + 1, e);
            name = r;
        } else if ((r = eat(q, e, "const")) || (r = eat(q, e, "let")) || (r = eat(q, e, "var"))) {
            name = skip_ws(r, e);
            need_eq = true;
        }
    } else if ((q = eat(p, e, "module.exports.")) != NULL || (q = eat(p, e, "exports.")) != NULL) {
        name = q;
        need_eq = true;
    }
    if (!name || (end = ident_end(name, e)) == name)
        return NULL;
    if (need_eq) { /* `=` but not `==`; TS may put a type first: `export const f: T = ...` */
        const char *a = skip_ws(end, e);
        if (a < e && *a == ':')
            a = memchr(a, '=', (size_t)(e - a));
        if (!a || a == e || *a != '=' || (a + 1 < e && a[1] == '='))
            return NULL;
    }
    *ret_end = end;
    return name;
}

static int collect_names(src_file *s, const uint8_t *buf, size_t len)
{
    size_t cap_fns = 0;
    unsigned line = 0;
    for (const char *p = (const char *)buf, *e = p + len; p < e; line++) {
        const char *nl = memchr(p, '\n', (size_t)(e - p)), *le = nl ? nl : e;
        const char *start = s->lg == LANG_PY ? p : skip_ws(p, le), *end = NULL;
        const char *name = s->lg == LANG_PY ? py_name(start, le, &end) : js_name(start, le, &end);
        if (name && add_name(s, &cap_fns, name, (size_t)(end - name), line + 1, (unsigned)(name - p) + 1) < 0)
            return -1;
        p = nl ? nl + 1 : e;
    }
    return 0;
}

/* ---- the walks ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_src(const void *a, const void *b)
{
    return strcmp(((const src_file *)a)->path, ((const src_file *)b)->path);
}

static int cmp_link(const void *a, const void *b)
{
    const link *x = a, *y = b;
    return x->test < y->test ? -1 : x->test > y->test ? 1 : x->src < y->src ? -1 : x->src > y->src;
}

static bool word_in(const uint8_t *buf, size_t len, const char *w)
{
    size_t n = strlen(w);
    for (const uint8_t *p = buf, *e = buf + len; (size_t)(e - p) >= n;) {
        const uint8_t *hit = memmem(p, (size_t)(e - p), w, n);
        if (!hit)
            return false;
        if ((hit == buf || !is_ident(hit[-1])) && (hit + n == e || !is_ident(hit[n])))
            return true;
        p = hit + 1;
    }
    return false;
}

static int list_file(tp *t, const char *path, const uint8_t *buf, size_t len, mrun_err *err)
{
    const char *slash = strrchr(path, '/');
    if (lang_of(slash ? slash + 1 : path) == LANG_NONE)
        return 0;
    if (t->n_paths >= MAX_FILES)
        return mrun_err_setx(err, E2BIG, "more than %d Python/JavaScript/TypeScript files", MAX_FILES);
    if (grow((void **)&t->paths, &t->cap_paths, t->n_paths, sizeof(*t->paths)) < 0 ||
        !(t->paths[t->n_paths] = strdup(path)))
        return mrun_err_set(err, ENOMEM, "test-presence");
    t->n_paths++;
    lang lg = source_lang(t, path);
    if (lg == LANG_NONE)
        return 0;
    src_file s = {.lg = lg};
    if (collect_names(&s, buf, len) < 0 || (s.n_fns && !(s.path = strdup(path))) ||
        (s.n_fns && grow((void **)&t->srcs, &t->cap_srcs, t->n_srcs, sizeof(*t->srcs)) < 0)) {
        free(s.path);
        free(s.names);
        free(s.fns);
        return mrun_err_set(err, ENOMEM, "test-presence");
    }
    if (!s.n_fns) {
        free(s.names);
        free(s.fns);
        return 0;
    }
    t->srcs[t->n_srcs++] = s;
    return 0;
}

static src_file *find_src(tp *t, const char *path)
{
    if (!t->n_srcs)
        return NULL;
    src_file key = {.path = (char *)path};
    return bsearch(&key, t->srcs, t->n_srcs, sizeof(*t->srcs), cmp_src);
}

/* Phase 2: marks the names of every source linked to this test file that it mentions. Phase 3: inline
 * suppressions for a source with findings. */
static int read_file(tp *t, const char *path, const uint8_t *buf, size_t len)
{
    if (t->phase == 3) {
        src_file *s = find_src(t, path);
        if (s && s->has_findings)
            mrun_findings_apply_inline(t->out, path, buf, len);
        return 0;
    }
    char **hit = t->n_links ? bsearch(&path, t->paths, t->n_paths, sizeof(*t->paths), cmp_str) : NULL;
    if (!hit)
        return 0;
    size_t idx = (size_t)(hit - t->paths), lo = 0, hi = t->n_links;
    while (lo < hi) { /* first link with test >= idx */
        size_t mid = lo + (hi - lo) / 2;
        if (t->links[mid].test < idx)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < t->n_links && t->links[lo].test == idx; lo++) {
        src_file *s = &t->srcs[t->links[lo].src];
        for (size_t i = 0; i < s->n_fns; i++)
            if (!s->fns[i].tested && word_in(buf, len, s->names + s->fns[i].name_off))
                s->fns[i].tested = true;
    }
    return 0;
}

static void on_skip(void *ctx, const char *path, const char *reason)
{
    tp *t = ctx;
    if (t->o->skip)
        t->o->skip(t->o->skip_ctx, path, reason);
}

static int on_file(void *ctx, const char *path, const uint8_t *buf, size_t len, mrun_err *err)
{
    tp *t = ctx;
    return t->phase == 1 ? list_file(t, path, buf, len, err) : read_file(t, path, buf, len);
}

/* ---- matching sources to test files ---- */

/* Links source si to path (when it was listed and is not linked yet). Returns -1 only on ENOMEM. */
static int link_if_listed(tp *t, size_t si, const char *path)
{
    char **hit = bsearch(&path, t->paths, t->n_paths, sizeof(*t->paths), cmp_str);
    if (!hit)
        return 0;
    size_t ti = (size_t)(hit - t->paths);
    for (size_t i = t->n_links; i > 0 && t->links[i - 1].src == si; i--)
        if (t->links[i - 1].test == ti)
            return 0;
    if (grow((void **)&t->links, &t->cap_links, t->n_links, sizeof(*t->links)) < 0)
        return -1;
    t->links[t->n_links++] = (link){.test = ti, .src = si};
    t->srcs[si].has_test = true;
    return 0;
}

/* ---- the user's test-file patterns ---- */

static const char *const placeholders[] = {"{dir}", "{stem}", "{ext}"};

/* Index of the placeholder p starts with, or -1. */
static int placeholder_at(const char *p)
{
    for (int i = 0; i < 3; i++)
        if (strncmp(p, placeholders[i], strlen(placeholders[i])) == 0)
            return i;
    return -1;
}

int mrun_testpresence_pattern_check(const char *p, mrun_err *err)
{
    size_t n = strlen(p);
    const char *base = strrchr(p, '/');
    base = base ? base + 1 : p;
    if (n == 0 || n > 255 || p[0] == '/' || strstr(p, ".."))
        return mrun_err_setx(err, EINVAL, "test pattern '%.80s': must be a relative path without '..', at most 255 bytes",
                             p);
    if (!strstr(base, "{stem}"))
        return mrun_err_setx(err, EINVAL, "test pattern '%.80s': its file name must contain {stem}", p);
    /* what the pattern says besides placeholders: in its directories, and in its file name (dots aside) */
    bool literal_dir = false;
    char name[256];
    size_t nn = 0;
    for (const char *q = p; *q;) {
        int k = placeholder_at(q);
        if (k >= 0) {
            q += strlen(placeholders[k]);
            continue;
        }
        if (*q == '{' || *q == '}' || *q == '*' || *q == '?' || *q == '[' || *q == '\\' || (unsigned char)*q < 0x20)
            return mrun_err_setx(err, EINVAL,
                                 "test pattern '%.80s': only {dir}, {stem} and {ext} are special; '%c' is not allowed",
                                 p, *q >= 0x20 ? *q : '?');
        if (q < base && *q != '/')
            literal_dir = true;
        else if (q >= base && *q != '.')
            name[nn++] = *q;
        q++;
    }
    name[nn] = '\0';
    /* "{stem}.py" or "{dir}{stem}.{ext}" would name every source as its own test */
    if (!literal_dir && (nn == 0 || lang_of_ext(name) != LANG_NONE))
        return mrun_err_setx(err, EINVAL,
                             "test pattern '%.80s': the file name needs text of its own (e.g. {stem}_spec.{ext}), "
                             "or every file would be a test",
                             p);
    return 0;
}

/* The pattern with each placeholder replaced; -1 when it does not fit. */
static int expand(const char *p, const char *dir, const char *stem, const char *ext, char *out, size_t size)
{
    const char *val[3] = {dir, stem, ext};
    size_t n = 0;
    for (const char *q = p; *q;) {
        int k = placeholder_at(q);
        const char *piece = k >= 0 ? val[k] : q;
        size_t len = k >= 0 ? strlen(val[k]) : 1;
        if (n + len >= size)
            return -1;
        memcpy(out + n, piece, len);
        n += len;
        q += k >= 0 ? strlen(placeholders[k]) : 1;
    }
    out[n] = '\0';
    return 0;
}

/* The pattern as an fnmatch glob: placeholders become '*' (which also matches '/', so {dir} covers any depth). */
static void to_glob(const char *p, char *out, size_t size)
{
    size_t n = 0;
    for (const char *q = p; *q && n + 2 < size;) {
        int k = placeholder_at(q);
        if (k >= 0) {
            out[n++] = '*';
            q += strlen(placeholders[k]);
        } else {
            out[n++] = *q++;
        }
    }
    out[n] = '\0';
}

/* Candidate test paths of one source, from its directory (with '/', or "") and stem. */
static int link_tests(tp *t, size_t si)
{
    const src_file *s = &t->srcs[si];
    char dir[PATH_MAX], stem[NAME_MAX + 1], c[PATH_MAX];
    const char *slash = strrchr(s->path, '/'), *base = slash ? slash + 1 : s->path;
    size_t dlen = slash ? (size_t)(slash - s->path) + 1 : 0;
    memcpy(dir, s->path, dlen);
    dir[dlen] = '\0';
    const char *dot = strrchr(base, '.');
    if (snprintf(stem, sizeof(stem), "%.*s", (int)(dot - base), base) >= (int)sizeof(stem))
        return 0;
    if (s->lg == LANG_PY && strcmp(stem, "__init__") == 0) { /* a package is tested as its directory's name */
        if (dlen < 2)
            return 0;
        dir[dlen - 1] = '\0';
        char *up = strrchr(dir, '/');
        if (snprintf(stem, sizeof(stem), "%s", up ? up + 1 : dir) >= (int)sizeof(stem))
            return 0;
        if (up)
            up[1] = '\0';
        else
            dir[0] = '\0';
    }
#define TRY(...)                                                                                                       \
    do {                                                                                                               \
        int k_ = snprintf(c, sizeof(c), __VA_ARGS__);                                                                  \
        if (k_ > 0 && (size_t)k_ < sizeof(c) && link_if_listed(t, si, c) < 0)                                          \
            return -1;                                                                                                 \
    } while (0)
    if (s->lg == LANG_PY) {
        TRY("tests/test_%s.py", stem);
        TRY("test/test_%s.py", stem);
        TRY("%stest_%s.py", dir, stem);
        TRY("%s%s_test.py", dir, stem);
        TRY("%stests/test_%s.py", dir, stem);
        TRY("%stest/test_%s.py", dir, stem);
    }
    for (size_t i = 0; s->lg == LANG_JS && i < sizeof(js_exts) / sizeof(js_exts[0]); i++) {
        const char *x = js_exts[i];
        TRY("%s%s.test.%s", dir, stem, x);
        TRY("%s%s.spec.%s", dir, stem, x);
        TRY("%s__tests__/%s.%s", dir, stem, x);
        TRY("%s__tests__/%s.test.%s", dir, stem, x);
        TRY("%s__tests__/%s.spec.%s", dir, stem, x);
        TRY("tests/%s.test.%s", stem, x);
        TRY("tests/%s.spec.%s", stem, x);
        TRY("test/%s.test.%s", stem, x);
        TRY("test/%s.spec.%s", stem, x);
    }
    const char *ext = s->lg == LANG_PY ? "py" : dot + 1;
    for (size_t i = 0; i < (t->o ? t->o->n_patterns : 0); i++) {
        if (expand(t->o->patterns[i], dir, stem, ext, c, sizeof(c)) == 0 && link_if_listed(t, si, c) < 0)
            return -1;
    }
#undef TRY
    return 0;
}

/* ---- findings ---- */

static int report_src(tp *t, src_file *s, mrun_err *err)
{
    if (!s->has_test) {
        char joined[MAX_JOINED];
        size_t n = 0;
        for (size_t i = 0; i < s->n_fns; i++) {
            int k = snprintf(joined + n, sizeof(joined) - n, "%s%s", i ? ", " : "", s->names + s->fns[i].name_off);
            if (k < 0 || (size_t)k >= sizeof(joined) - n) { /* keeps whole names only */
                joined[n] = '\0';
                break;
            }
            n += (size_t)k;
        }
        s->has_findings = true;
        return mrun_findings_add(t->out, &rules[R_MISSING], s->path, 0, 0, joined, n, err);
    }
    for (size_t i = 0; i < s->n_fns; i++) {
        const fn_def *f = &s->fns[i];
        if (f->tested)
            continue;
        const char *name = s->names + f->name_off;
        s->has_findings = true;
        if (mrun_findings_add(t->out, &rules[R_UNTESTED], s->path, f->line, f->col, name, strlen(name), err) < 0)
            return -1;
    }
    return 0;
}

/* The three walks (see testpresence.h); t is freed by the caller. */
static int check(tp *t, int root_fd, uint64_t max_file_bytes, mrun_scan_stats *ret_stats, mrun_err *err)
{
    mrun_scan_stats st = {0}, st2 = {0};
    int r = -1;
    if (mrun_scan_walk(root_fd, max_file_bytes, on_file, on_skip, t, &st, err) < 0)
        goto out;
    if (t->n_paths) /* qsort and bsearch want a non-NULL base */
        qsort(t->paths, t->n_paths, sizeof(*t->paths), cmp_str);
    if (t->n_srcs)
        qsort(t->srcs, t->n_srcs, sizeof(*t->srcs), cmp_src);
    for (size_t i = 0; i < t->n_srcs; i++)
        if (link_tests(t, i) < 0) {
            mrun_err_set(err, ENOMEM, "test-presence");
            goto out;
        }
    if (t->n_links)
        qsort(t->links, t->n_links, sizeof(*t->links), cmp_link);
    t->phase = 2;
    if (t->n_links && mrun_scan_walk(root_fd, max_file_bytes, on_file, NULL, t, &st2, err) < 0)
        goto out;
    bool any = false;
    for (size_t i = 0; i < t->n_srcs; i++) {
        if (report_src(t, &t->srcs[i], err) < 0)
            goto out;
        any = any || t->srcs[i].has_findings;
    }
    t->phase = 3;
    if (any && mrun_scan_walk(root_fd, max_file_bytes, on_file, NULL, t, &st2, err) < 0)
        goto out;
    if (ret_stats)
        *ret_stats = st;
    r = 0;
out:
    tp_fini(t);
    return r;
}

int mrun_check_testpresence(int root_fd, const mrun_testpresence_opts *o, mrun_findings *out,
                            mrun_scan_stats *ret_stats, mrun_err *err)
{
    static const mrun_testpresence_opts defaults = {0};
    if (!o)
        o = &defaults;
    if (o->n_patterns > MRUN_TESTPRESENCE_MAX_PATTERNS)
        return mrun_err_setx(err, E2BIG, "test-presence: more than %d test patterns", MRUN_TESTPRESENCE_MAX_PATTERNS);
    tp *t = calloc(1, sizeof(*t));
    if (!t)
        return mrun_err_set(err, ENOMEM, "test-presence");
    t->phase = 1;
    t->out = out;
    t->o = o;
    for (size_t i = 0; i < o->n_patterns; i++) {
        if (mrun_testpresence_pattern_check(o->patterns[i], err) < 0) {
            free(t);
            return -1;
        }
        to_glob(o->patterns[i], t->globs[t->n_globs++], sizeof(t->globs[0]));
    }
    uint64_t max_file_bytes = o->max_file_bytes;
    int r = check(t, root_fd, max_file_bytes, ret_stats, err);
    free(t);
    return r;
}


