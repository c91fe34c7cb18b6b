/* deps_python.c - PyPI dependencies: requirements*.txt (pip's format), poetry.lock, Pipfile.lock and uv.lock.
 * Names are kept as written; matching (edges, duplicates) uses the PEP 503 normal form. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "../common/auto.h"
#include "deps_lang.h"

#define REQ_MAX_LINE (64u << 10) /* one logical requirements line, continuations joined */

/* ---- requirements*.txt ---- */

/* requirements-dev.txt, requirements_test.txt, requirements-lint.txt, requirements-docs.txt: not shipped. */
static mrun_dep_scope req_scope(const char *path)
{
    static const char *const dev[] = {"dev",  "develop", "test", "tests", "testing",
                                      "lint", "doc",     "docs", "ci",    "typing"};
    const char *base = strrchr(path, '/');
    base = (base ? base + 1 : path) + 12; /* after "requirements" */
    while (*base) {
        size_t n = strcspn(base, "-_.");
        for (size_t i = 0; i < sizeof(dev) / sizeof(dev[0]); i++)
            if (n == strlen(dev[i]) && strncasecmp(base, dev[i], n) == 0)
                return MRUN_DEP_DEV;
        base += n + (base[n] ? 1 : 0);
    }
    return MRUN_DEP_REQUIRED;
}

static bool pep508_name_char(int c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.';
}

/* "==1.2" or "===1.2" as the only clause (or the one exact clause among several): the pinned version. */
static int exact_version(lang_set *s, const char *spec, const char **ret, mrun_err *err)
{
    *ret = NULL;
    for (const char *c = spec; (c = strstr(c, "==")) != NULL;) {
        const char *v = c + 2;
        if (*v == '=')
            v++;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t n = strcspn(v, ", \t)");
        if (n == 0 || memchr(v, '*', n) != NULL)
            return 0; /* "==1.*" is a range */
        char *copy = lang_dup(s, v, n, err);
        if (!copy)
            return -1;
        *ret = copy;
        return 0;
    }
    return 0;
}

static char *next_token(char **rest)
{
    char *t = *rest + strspn(*rest, " \t");
    if (!*t)
        return NULL;
    size_t n = strcspn(t, " \t");
    *rest = t + n + (t[n] ? 1 : 0);
    t[n] = '\0';
    return t;
}

/* The options after a requirement: --hash=alg:hex (or "--hash alg:hex"); others are ignored. */
static int req_options(lang_set *s, size_t i, char *opts, mrun_err *err)
{
    bool want_hash = false;
    for (char *tok, *rest = opts; (tok = next_token(&rest)) != NULL;) {
        const char *spec = want_hash ? tok : strncmp(tok, "--hash=", 7) == 0 ? tok + 7 : NULL;
        want_hash = strcmp(tok, "--hash") == 0;
        if (spec && lang_hash_spec(s, i, spec, err) < 0)
            return -1;
    }
    if (want_hash)
        return lang_err(err, s->path, s->v[i].line, "--hash without a value");
    return 0;
}

/* An editable or URL line names its project only through "#egg=name". */
static int req_egg(lang_set *s, char *url, unsigned line, mrun_dep_scope scope, mrun_err *err)
{
    char *egg = strstr(url, "#egg=");
    if (!egg)
        return 0; /* a local path or a URL without a name: nothing to record */
    char *name = egg + 5;
    name[strcspn(name, "&[ \t")] = '\0';
    if (!*name)
        return 0;
    size_t i;
    if (lang_add(s, name, NULL, line, &i, err) < 0)
        return -1;
    *egg = '\0';
    s->v[i].t.resolved = url;
    s->v[i].t.scope = scope;
    s->v[i].t.direct = true;
    return 0;
}

/* name [extras] (spec | @ url) [; marker] [--hash=...]: one requirement. line points into the set's arena. */
static int req_line(lang_set *s, char *line, unsigned lineno, mrun_dep_scope scope, mrun_err *err)
{
    if (line[0] == '-') {
        size_t n = strcspn(line, " \t=");
        if ((n == 2 && strncmp(line, "-e", 2) == 0) || (n == 10 && strncmp(line, "--editable", 10) == 0)) {
            char *url = line + n + strspn(line + n, " \t=");
            return req_egg(s, url, lineno, scope, err);
        }
        return 0; /* -r/-c includes (the scan reads requirements*.txt on its own), index options, --pre, ... */
    }
    size_t scheme = strspn(line, "abcdefghijklmnopqrstuvwxyz0123456789+.-");
    if (scheme > 0 && strncmp(line + scheme, "://", 3) == 0)
        return req_egg(s, line, lineno, scope, err); /* git+https://host/x.git#egg=x, https://host/x.whl */
    if (!isalnum((unsigned char)line[0])) {
        if (line[0] == '.' || line[0] == '/')
            return 0; /* a local path */
        return lang_err(err, s->path, lineno, "not a requirement");
    }
    char *p = line;
    while (pep508_name_char((unsigned char)*p))
        p++;
    char *name = lang_dup(s, line, (size_t)(p - line), err), *rest = p;
    if (!name)
        return -1;
    rest += strspn(rest, " \t");
    if (*rest == '[') {
        char *close = strchr(rest, ']');
        if (!close)
            return lang_err(err, s->path, lineno, "unclosed extras");
        rest = close + 1;
    }
    /* the requirement ends at a " --option"; the marker after ';' is not recorded */
    char *opts = strstr(rest, " --");
    opts = opts ? opts : strstr(rest, "\t--");
    if (opts)
        *opts++ = '\0';
    char *marker = strchr(rest, ';');
    if (marker)
        *marker = '\0';
    rest += strspn(rest, " \t");
    const char *version = NULL, *resolved = NULL;
    if (*rest == '@') {
        rest++;
        rest += strspn(rest, " \t");
        rest[strcspn(rest, " \t")] = '\0';
        resolved = rest;
    } else if (*rest && !strchr("=<>!~(", *rest)) {
        return lang_err(err, s->path, lineno, "bad version specifier after '%.64s'", name);
    } else if (exact_version(s, rest, &version, err) < 0) {
        return -1;
    }
    size_t i;
    if (lang_add(s, name, version, lineno, &i, err) < 0)
        return -1;
    s->v[i].t.resolved = (char *)resolved;
    s->v[i].t.scope = scope;
    s->v[i].t.direct = true;
    return opts ? req_options(s, i, opts, err) : 0;
}

/* pip: a '#' at the start or after whitespace starts a comment. */
static void strip_comment(char *line)
{
    for (char *c = line; *c; c++)
        if (*c == '#' && (c == line || c[-1] == ' ' || c[-1] == '\t')) {
            *c = '\0';
            break;
        }
}

static char *trim(char *s)
{
    s += strspn(s, " \t\r");
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* Joins "\"-continued physical lines into one logical line starting at *pos, in out (REQ_MAX_LINE + 1 bytes), then
 * keeps a copy of it in the set. */
static int req_logical(lang_set *s, const char *buf, size_t len, size_t *pos, unsigned *line, char *out, char **ret,
                       mrun_err *err)
{
    unsigned first = *line;
    size_t n = 0;
    for (;;) {
        const char *start = buf + *pos, *nl = memchr(start, '\n', len - *pos);
        size_t m = nl ? (size_t)(nl - start) : len - *pos;
        *pos += m + (nl ? 1 : 0);
        (*line)++;
        if (m > 0 && start[m - 1] == '\r')
            m--;
        if (memchr(start, '\0', m))
            return lang_err(err, s->path, *line, "NUL byte");
        bool cont = m > 0 && start[m - 1] == '\\';
        if (n + m > REQ_MAX_LINE)
            return lang_err(err, s->path, first + 1, "line longer than %u bytes", REQ_MAX_LINE);
        memcpy(out + n, start, cont ? m - 1 : m);
        n += cont ? m - 1 : m;
        if (!cont || !nl)
            break;
    }
    *ret = lang_dup(s, out, n, err);
    return *ret ? 0 : -1;
}

static int read_requirements(lang_set *s, const uint8_t *buf, size_t len, mrun_err *err)
{
    mrun_dep_scope scope = req_scope(s->path);
    mrun_autofree char *scratch = malloc(REQ_MAX_LINE + 1);
    if (!scratch)
        return mrun_err_set(err, ENOMEM, "%s", s->path);
    size_t pos = 0;
    unsigned line = 0;
    while (pos < len) {
        unsigned start = line + 1;
        char *text = NULL;
        if (req_logical(s, (const char *)buf, len, &pos, &line, scratch, &text, err) < 0)
            return -1;
        strip_comment(text);
        char *t = trim(text);
        if (*t && req_line(s, t, start, scope, err) < 0)
            return -1;
    }
    return 0;
}

int mrun_deps_parse_requirements(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err)
{
    mrun_cleanup(lang_set_fini) lang_set s;
    lang_set_init(&s, path, "pypi", true);
    if (read_requirements(&s, buf, len, err) < 0)
        return -1;
    return lang_commit(&s, d, err);
}

/* ---- poetry.lock ---- */

/* optional = true: only through an extra; category = "dev" (Poetry < 1.5) or groups without "main": dev. */
static mrun_dep_scope poetry_scope(const mrun_toml *pkg)
{
    bool optional = false, dev = false;
    mrun_toml_get_bool(pkg, "optional", &optional);
    const char *cat = mrun_toml_get_str(pkg, "category");
    const mrun_toml *groups = mrun_toml_get_array(pkg, "groups");
    if (cat)
        dev = strcmp(cat, "dev") == 0;
    if (groups) {
        dev = true;
        for (size_t k = 0; k < mrun_toml_len(groups); k++) {
            const char *g = mrun_toml_str(mrun_toml_at(groups, k), NULL);
            if (g && strcmp(g, "main") == 0)
                dev = false;
        }
    }
    return dev ? MRUN_DEP_DEV : optional ? MRUN_DEP_OPTIONAL : MRUN_DEP_REQUIRED;
}

/* files = [{file = "x.whl", hash = "sha256:..."}, ...] */
static int poetry_files(lang_set *s, size_t i, const mrun_toml *files, mrun_err *err)
{
    for (size_t k = 0; k < mrun_toml_len(files); k++) {
        const char *h = mrun_toml_get_str(mrun_toml_at(files, k), "hash");
        if (h && lang_hash_spec(s, i, h, err) < 0)
            return -1;
    }
    return 0;
}

static int poetry_package(lang_set *s, const mrun_toml *pkg, mrun_err *err)
{
    unsigned line = mrun_toml_line(pkg);
    const char *name = mrun_toml_get_str(pkg, "name"), *version = mrun_toml_get_str(pkg, "version");
    if (!name || !version)
        return lang_err(err, s->path, line, "package without a name and version");
    size_t i;
    if (lang_add(s, name, version, line, &i, err) < 0)
        return -1;
    s->v[i].t.scope = poetry_scope(pkg);
    const mrun_toml *src = mrun_toml_get_table(pkg, "source");
    const char *type = mrun_toml_get_str(src, "type");
    if (type && (strcmp(type, "git") == 0 || strcmp(type, "url") == 0))
        s->v[i].t.resolved = (char *)mrun_toml_get_str(src, "url");
    return poetry_files(s, i, mrun_toml_get_array(pkg, "files"), err);
}

static int poetry_edges(lang_set *s, const mrun_toml *pkgs, mrun_err *err)
{
    for (size_t i = 0; i < s->n; i++) {
        const mrun_toml *deps = mrun_toml_get_table(mrun_toml_at(pkgs, i), "dependencies");
        for (size_t k = 0; k < mrun_toml_len(deps); k++) {
            size_t lo, hi; /* several versions under different markers: an edge to each */
            if (!lang_find(s, mrun_toml_key_at(deps, k), &lo, &hi))
                continue; /* a dependency for another platform or Python, not locked */
            for (size_t j = lo; j < hi; j++)
                if (lang_edge(s, i, s->order[j], MRUN_DEP_REQUIRED, err) < 0)
                    return -1;
        }
    }
    return 0;
}

/* Lock format 1.x: [metadata.files] name = [{file, hash}], for every version of that name. */
static int poetry_meta_files(lang_set *s, const mrun_toml *files, mrun_err *err)
{
    for (size_t k = 0; k < mrun_toml_len(files); k++) {
        size_t lo, hi;
        if (!lang_find(s, mrun_toml_key_at(files, k), &lo, &hi))
            continue;
        for (size_t j = lo; j < hi; j++)
            if (poetry_files(s, s->order[j], mrun_toml_at(files, k), err) < 0)
                return -1;
    }
    return 0;
}

int mrun_deps_parse_poetry_lock(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err)
{
    mrun_cleanup(mrun_toml_freep) mrun_toml *root = NULL;
    if (lang_toml(path, buf, len, &root, err) < 0)
        return -1;
    mrun_cleanup(lang_set_fini) lang_set s;
    lang_set_init(&s, path, "pypi", true);
    const mrun_toml *pkgs = mrun_toml_get(root, "package");
    if (pkgs && mrun_toml_type_of(pkgs) != MRUN_TOML_ARRAY)
        return lang_err(err, path, mrun_toml_line(pkgs), "package is not an array of tables");
    for (size_t k = 0; k < mrun_toml_len(pkgs); k++) {
        if (mrun_toml_type_of(mrun_toml_at(pkgs, k)) != MRUN_TOML_TABLE)
            return lang_err(err, path, mrun_toml_line(mrun_toml_at(pkgs, k)), "package is not a table");
        if (poetry_package(&s, mrun_toml_at(pkgs, k), err) < 0)
            return -1;
    }
    if (lang_index(&s, err) < 0 || poetry_edges(&s, pkgs, err) < 0 ||
        poetry_meta_files(&s, mrun_toml_get_table(mrun_toml_get_table(root, "metadata"), "files"), err) < 0)
        return -1;
    return lang_commit(&s, d, err);
}

/* ---- uv.lock ---- */

static int uv_hashes(lang_set *s, size_t i, const mrun_toml *pkg, mrun_err *err)
{
    const mrun_toml *sdist = mrun_toml_get_table(pkg, "sdist"), *wheels = mrun_toml_get_array(pkg, "wheels");
    const char *h = mrun_toml_get_str(sdist, "hash");
    if (h && lang_hash_spec(s, i, h, err) < 0)
        return -1;
    for (size_t k = 0; k < mrun_toml_len(wheels); k++)
        if ((h = mrun_toml_get_str(mrun_toml_at(wheels, k), "hash")) != NULL && lang_hash_spec(s, i, h, err) < 0)
            return -1;
    return 0;
}

static int uv_package(lang_set *s, const mrun_toml *pkg, mrun_err *err)
{
    unsigned line = mrun_toml_line(pkg);
    const char *name = mrun_toml_get_str(pkg, "name");
    if (mrun_toml_type_of(pkg) != MRUN_TOML_TABLE || !name)
        return lang_err(err, s->path, line, "package without a name");
    size_t i; /* a virtual project may have no version */
    if (lang_add(s, name, mrun_toml_get_str(pkg, "version"), line, &i, err) < 0)
        return -1;
    const mrun_toml *src = mrun_toml_get_table(pkg, "source");
    lang_pkg *p = &s->v[i];
    p->t.is_project = mrun_toml_get(src, "editable") || mrun_toml_get(src, "virtual");
    const char *url = mrun_toml_get_str(mrun_toml_get_table(pkg, "sdist"), "url");
    if (!url)
        url = mrun_toml_get_str(src, "git");
    if (!url)
        url = mrun_toml_get_str(src, "url");
    p->t.resolved = (char *)url;
    return uv_hashes(s, i, pkg, err);
}

/* [{name = "x"}, {name = "x", version = "1.0", source = {...}, extra = [...]}] */
static int uv_dep_list(lang_set *s, size_t i, const mrun_toml *list, mrun_dep_scope scope, mrun_err *err)
{
    if (list && mrun_toml_type_of(list) != MRUN_TOML_ARRAY)
        return lang_err(err, s->path, mrun_toml_line(list), "dependencies is not an array");
    for (size_t k = 0; k < mrun_toml_len(list); k++) {
        const mrun_toml *dep = mrun_toml_at(list, k);
        const char *name = mrun_toml_get_str(dep, "name");
        if (!name)
            return lang_err(err, s->path, mrun_toml_line(dep), "dependency without a name");
        size_t to = lang_find_one(s, name, mrun_toml_get_str(dep, "version"));
        if (to == SIZE_MAX)
            return lang_err(err, s->path, mrun_toml_line(dep), "dependency '%.64s' of '%.64s' is not in the lockfile",
                            name, s->v[i].t.name);
        if (lang_edge(s, i, to, scope, err) < 0)
            return -1;
    }
    return 0;
}

/* dependencies, [package.optional-dependencies] extra = [...], [package.dev-dependencies] group = [...] */
static int uv_edges(lang_set *s, size_t i, const mrun_toml *pkg, mrun_err *err)
{
    if (uv_dep_list(s, i, mrun_toml_get(pkg, "dependencies"), MRUN_DEP_REQUIRED, err) < 0)
        return -1;
    static const struct {
        const char *key;
        mrun_dep_scope scope;
    } groups[] = {{"optional-dependencies", MRUN_DEP_OPTIONAL}, {"dev-dependencies", MRUN_DEP_DEV}};
    for (size_t g = 0; g < 2; g++) {
        const mrun_toml *t = mrun_toml_get_table(pkg, groups[g].key);
        for (size_t k = 0; k < mrun_toml_len(t); k++)
            if (uv_dep_list(s, i, mrun_toml_at(t, k), groups[g].scope, err) < 0)
                return -1;
    }
    return 0;
}

int mrun_deps_parse_uv_lock(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err)
{
    mrun_cleanup(mrun_toml_freep) mrun_toml *root = NULL;
    if (lang_toml(path, buf, len, &root, err) < 0)
        return -1;
    int64_t version = 0;
    if (!mrun_toml_get_int(root, "version", &version) || version != 1)
        return lang_err(err, path, 0, "not a uv.lock of version 1");
    mrun_cleanup(lang_set_fini) lang_set s;
    lang_set_init(&s, path, "pypi", true);
    const mrun_toml *pkgs = mrun_toml_get(root, "package");
    if (pkgs && mrun_toml_type_of(pkgs) != MRUN_TOML_ARRAY)
        return lang_err(err, path, mrun_toml_line(pkgs), "package is not an array of tables");
    for (size_t k = 0; k < mrun_toml_len(pkgs); k++)
        if (uv_package(&s, mrun_toml_at(pkgs, k), err) < 0)
            return -1;
    if (lang_index(&s, err) < 0)
        return -1;
    for (size_t i = 0; i < s.n; i++)
        if (uv_edges(&s, i, mrun_toml_at(pkgs, i), err) < 0)
            return -1;
    lang_propagate(&s);
    return lang_commit(&s, d, err);
}

/* ---- Pipfile.lock ---- */

/* "path:line:col: reason" from a jansson error. */
static int json_err(const char *path, const json_error_t *je, mrun_err *err)
{
    return mrun_err_setx(err, EPROTO, "%s:%d:%d: %s", path, je->line, je->column, je->text);
}

/* {"name": {"version": "==1.2", "hashes": ["sha256:..."], "git": url, "editable": true, "path": "."}} */
static int pipfile_section(lang_set *s, json_t *section, mrun_dep_scope scope, mrun_err *err)
{
    if (section && !json_is_object(section))
        return lang_err(err, s->path, 0, "'%s' is not an object", scope == MRUN_DEP_DEV ? "develop" : "default");
    const char *name;
    json_t *e;
    json_object_foreach(section, name, e)
    {
        const char *v = json_string_value(json_object_get(e, "version"));
        if (!json_is_object(e))
            return lang_err(err, s->path, 0, "entry '%.64s' is not an object", name);
        if (v && strncmp(v, "==", 2) == 0)
            v += strspn(v, "=");
        else
            v = NULL;
        if (scope == MRUN_DEP_DEV && v && lang_find_one(s, name, v) != SIZE_MAX)
            continue; /* in both sections: shipped */
        size_t i;
        if (lang_add(s, name, v, 0, &i, err) < 0)
            return -1;
        s->v[i].t.scope = scope;
        const char *path = json_string_value(json_object_get(e, "path"));
        s->v[i].t.is_project = json_is_true(json_object_get(e, "editable")) && path && strcmp(path, ".") == 0;
        s->v[i].t.resolved = (char *)json_string_value(json_object_get(e, "git"));
        json_t *h;
        size_t k;
        json_array_foreach(json_object_get(e, "hashes"), k, h)
        {
            if (!json_is_string(h) || lang_hash_spec(s, i, json_string_value(h), err) < 0)
                return json_is_string(h) ? -1 : lang_err(err, s->path, 0, "hash of '%.64s' is not a string", name);
        }
    }
    return 0;
}

int mrun_deps_parse_pipfile_lock(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err)
{
    json_error_t je;
    json_t *doc = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!doc)
        return json_err(path, &je, err);
    mrun_cleanup(lang_set_fini) lang_set s;
    lang_set_init(&s, path, "pypi", true);
    int r = -1;
    if (!json_is_object(doc))
        lang_err(err, path, 0, "not a JSON object");
    else if (pipfile_section(&s, json_object_get(doc, "default"), MRUN_DEP_REQUIRED, err) == 0 &&
             lang_index(&s, err) == 0 && pipfile_section(&s, json_object_get(doc, "develop"), MRUN_DEP_DEV, err) == 0)
        r = lang_commit(&s, d, err);
    json_decref(doc); /* after the commit: the set borrows its strings */
    return r;
}
