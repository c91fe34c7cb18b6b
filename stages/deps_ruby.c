/* deps_ruby.c - Bundler's Gemfile.lock: source sections (GEM, GIT, PATH, PLUGIN SOURCE) whose "specs:" list gems at
 * 4 spaces and their dependencies at 6, DEPENDENCIES (the Gemfile's direct gems), CHECKSUMS (Bundler 2.5+);
 * PLATFORMS, RUBY VERSION and BUNDLED WITH are read past. A gem locked for several platforms is one component. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../common/auto.h"
#include "deps_lang.h"

#define GEM_MAX_LINE (64u << 10)

typedef enum { SEC_NONE, SEC_SOURCE, SEC_DEPENDENCIES, SEC_CHECKSUMS, SEC_OTHER } gem_section;

typedef enum { PEND_EDGE, PEND_DIRECT, PEND_CHECKSUM } pend_kind;

/* Something that names a gem, resolved once every spec is known. */
typedef struct pending {
    pend_kind kind;
    size_t from; /* PEND_EDGE: the gem whose dependency this is */
    const char *name, *version, *sums;
    unsigned line;
} pending;

typedef struct gemlock {
    lang_set s;
    gem_section sec;
    const char *remote, *section_name;
    bool in_specs;
    size_t spec; /* the gem the 6-space lines belong to; SIZE_MAX before one */
    pending *pend;
    size_t n_pend, cap_pend;
} gemlock;

static void gemlock_fini(gemlock *g)
{
    lang_set_fini(&g->s);
    free(g->pend);
}

static int pend(gemlock *g, pending p, mrun_err *err)
{
    if (g->n_pend == g->cap_pend) {
        size_t cap = g->cap_pend ? g->cap_pend * 2 : 64;
        pending *np = cap <= LANG_MAX_EDGES ? realloc(g->pend, cap * sizeof(*np)) : NULL;
        if (!np)
            return cap > LANG_MAX_EDGES ? lang_err(err, g->s.path, p.line, "too many entries")
                                        : mrun_err_set(err, ENOMEM, "%s", g->s.path);
        g->pend = np;
        g->cap_pend = cap;
    }
    g->pend[g->n_pend++] = p;
    return 0;
}

/* "name (1.2.3-x86_64-linux)" -> name, "1.2.3" (the platform after the first '-' dropped); *rest after ')'. */
static int name_version(gemlock *g, char *t, unsigned line, char **ret_name, char **ret_version, char **ret_rest,
                        mrun_err *err)
{
    char *open = strstr(t, " (");
    char *close = open ? strchr(open, ')') : NULL;
    if (!open || !close || open == t)
        return lang_err(err, g->s.path, line, "expected 'name (version)'");
    *open = '\0';
    *close = '\0';
    char *v = open + 2;
    v[strcspn(v, "-")] = '\0';
    if (!*v || strchr(t, ' '))
        return lang_err(err, g->s.path, line, "expected 'name (version)'");
    *ret_name = t;
    *ret_version = v;
    *ret_rest = close + 1;
    return 0;
}

static int spec_line(gemlock *g, char *t, unsigned line, mrun_err *err)
{
    char *name, *version, *rest;
    if (name_version(g, t, line, &name, &version, &rest, err) < 0)
        return -1;
    if (*rest)
        return lang_err(err, g->s.path, line, "text after the version");
    lang_pkg *last = g->spec != SIZE_MAX ? &g->s.v[g->spec] : NULL;
    if (last && strcmp(last->t.name, name) == 0 && strcmp(last->t.version, version) == 0)
        return 0; /* the same gem for another platform */
    if (lang_add(&g->s, name, version, line, &g->spec, err) < 0)
        return -1;
    lang_pkg *p = &g->s.v[g->spec];
    if (strcmp(g->section_name, "GIT") == 0)
        p->t.resolved = (char *)g->remote;
    else if (strcmp(g->section_name, "PATH") == 0)
        p->t.is_project = g->remote && strcmp(g->remote, ".") == 0;
    return 0;
}

static int source_line(gemlock *g, size_t indent, char *t, unsigned line, mrun_err *err)
{
    if (indent == 2) {
        g->in_specs = strcmp(t, "specs:") == 0;
        if (strncmp(t, "remote: ", 8) == 0)
            g->remote = t + 8;
        return 0;
    }
    if (indent == 4 && g->in_specs)
        return spec_line(g, t, line, err);
    if (indent == 6 && g->in_specs && g->spec != SIZE_MAX) {
        t[strcspn(t, " ")] = '\0';
        return pend(g, (pending){PEND_EDGE, g->spec, t, NULL, NULL, line}, err);
    }
    return lang_err(err, g->s.path, line, "unexpected indentation");
}

static int section_line(gemlock *g, size_t indent, char *t, unsigned line, mrun_err *err)
{
    switch (g->sec) {
    case SEC_SOURCE:
        return source_line(g, indent, t, line, err);
    case SEC_DEPENDENCIES: /* "rails (~> 7.1)", "mygem!" (from a GIT or PATH source) */
        if (indent != 2)
            return lang_err(err, g->s.path, line, "unexpected indentation");
        t[strcspn(t, " !")] = '\0';
        return pend(g, (pending){PEND_DIRECT, SIZE_MAX, t, NULL, NULL, line}, err);
    case SEC_CHECKSUMS: { /* "rake (13.0.6) sha256=...[,sha512=...]" or just "rake (13.0.6)" */
        char *name, *version, *rest;
        if (indent != 2)
            return lang_err(err, g->s.path, line, "unexpected indentation");
        if (name_version(g, t, line, &name, &version, &rest, err) < 0)
            return -1;
        rest += strspn(rest, " ");
        return *rest ? pend(g, (pending){PEND_CHECKSUM, SIZE_MAX, name, version, rest, line}, err) : 0;
    }
    case SEC_NONE:
        return lang_err(err, g->s.path, line, "indented text before any section");
    default:
        return 0;
    }
}

static void new_section(gemlock *g, const char *name)
{
    g->section_name = name;
    g->remote = NULL;
    g->in_specs = false;
    g->spec = SIZE_MAX;
    if (strcmp(name, "GEM") == 0 || strcmp(name, "GIT") == 0 || strcmp(name, "PATH") == 0 ||
        strcmp(name, "PLUGIN SOURCE") == 0)
        g->sec = SEC_SOURCE;
    else if (strcmp(name, "DEPENDENCIES") == 0)
        g->sec = SEC_DEPENDENCIES;
    else if (strcmp(name, "CHECKSUMS") == 0)
        g->sec = SEC_CHECKSUMS;
    else
        g->sec = SEC_OTHER; /* PLATFORMS, RUBY VERSION, BUNDLED WITH, and sections of newer Bundlers */
}

static int resolve_one(gemlock *g, const pending *p, mrun_err *err)
{
    size_t lo, hi;
    if (p->kind == PEND_CHECKSUM) {
        size_t i = lang_find_one(&g->s, p->name, p->version);
        if (i == SIZE_MAX)
            return 0;
        char *sums = (char *)p->sums;
        for (char *tok = strtok_r(sums, ",", &sums); tok; tok = strtok_r(NULL, ",", &sums))
            if (lang_hash_spec(&g->s, i, tok, err) < 0)
                return -1;
        return 0;
    }
    if (!lang_find(&g->s, p->name, &lo, &hi))
        return 0; /* a dependency for a platform that is not locked */
    if (p->kind == PEND_EDGE)
        return lang_edge(&g->s, p->from, g->s.order[lo], MRUN_DEP_REQUIRED, err);
    for (size_t k = lo; k < hi; k++)
        g->s.v[g->s.order[k]].t.direct = !g->s.v[g->s.order[k]].t.is_project;
    return 0;
}

static int read_gemlock(gemlock *g, const char *buf, size_t len, mrun_err *err)
{
    unsigned line = 0;
    for (size_t pos = 0; pos < len;) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t m = nl ? (size_t)(nl - buf - pos) : len - pos;
        line++;
        if (m > GEM_MAX_LINE || memchr(buf + pos, '\0', m))
            return lang_err(err, g->s.path, line, m > GEM_MAX_LINE ? "line too long" : "NUL byte");
        char *t = lang_dup(&g->s, buf + pos, m, err);
        pos += m + (nl ? 1 : 0);
        if (!t)
            return -1;
        size_t n = strlen(t);
        while (n > 0 && (t[n - 1] == '\r' || t[n - 1] == ' '))
            t[--n] = '\0';
        size_t indent = strspn(t, " ");
        if (!t[indent])
            continue;
        if (t[indent] == '\t')
            return lang_err(err, g->s.path, line, "tab in indentation");
        if (indent == 0 && (t[0] < 'A' || t[0] > 'Z' || t[strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZ ")] != '\0'))
            return lang_err(err, g->s.path, line, "expected a section name in capitals");
        if (indent == 0)
            new_section(g, t);
        else if (section_line(g, indent, t + indent, line, err) < 0)
            return -1;
    }
    return 0;
}

int mrun_deps_parse_gemfile_lock(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err)
{
    mrun_cleanup(gemlock_fini) gemlock g = {.sec = SEC_NONE, .spec = SIZE_MAX};
    lang_set_init(&g.s, path, "gem", false);
    if (read_gemlock(&g, (const char *)buf, len, err) < 0 || lang_index(&g.s, err) < 0)
        return -1;
    for (size_t k = 0; k < g.n_pend; k++)
        if (resolve_one(&g, &g.pend[k], err) < 0)
            return -1;
    lang_propagate(&g.s);
    return lang_commit(&g.s, d, err);
}
