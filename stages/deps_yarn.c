/* deps_yarn.c - yarn.lock, both the v1 format ("pkg@^1, pkg@^1.2:" blocks of `key "value"` lines) and the berry
 * (yarn 2+) YAML subset ("pkg@npm:^1": blocks of `key: value` lines, with __metadata). One indentation-based line
 * reader serves both; blocks become components, and each dependency "name@range" is resolved against the block
 * descriptors. See docs/deps.md. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/auto.h"
#include "deps_int.h"

#define MAX_LEVEL                 4 /* block, field, map entry, berry's dependenciesMeta.<pkg>.optional */
#define MAX_DESCRIPTORS_PER_BLOCK 4096

typedef struct ydep {
    const char *name, *range;
    bool optional; /* listed in optionalDependencies (v1) or dependenciesMeta optional (berry) */
    size_t to;     /* the block it resolves to, SIZE_MAX when none */
} ydep;

/* One block; strings point into the reader's copy of the file. */
typedef struct yblock {
    unsigned line;
    char *header; /* the descriptors as written, unquoted: "debug@2.6.9, debug@^2.2.0" */
    const char *version, *resolved, *integrity, *resolution, *link_type;
    ydep *deps;
    size_t n_deps, cap_deps;
    size_t index;   /* component */
    bool workspace; /* berry "name@workspace:path": the project or one of its workspaces */
} yblock;

typedef struct yreader {
    mrun_deps *d;
    const char *path;
    char *text; /* the file, NUL-terminated, unquoted in place */
    unsigned line;
    bool berry;
    yblock *b;
    size_t n, cap;
    mrun_deps_map desc; /* descriptor -> block */
    char **owned;       /* split descriptors and joined headers */
    size_t n_owned, cap_owned;
    const char *open[MAX_LEVEL]; /* the key of the map opened at each level (0: the block), NULL when none */
    bool in_metadata;            /* inside berry's __metadata block */
    size_t project;
} yreader;

static void reader_fini(yreader *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->b[i].deps);
    free(r->b);
    for (size_t i = 0; i < r->n_owned; i++)
        free(r->owned[i]);
    free(r->owned);
    mrun_deps_map_fini(&r->desc);
    free(r->text);
}

static int fail(yreader *r, mrun_err *err, const char *what)
{
    return mrun_err_setx(err, EPROTO, "%s:%u: %s", r->path, r->line, what);
}

/* ---- lexing one line, in place ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Writes code point cp as UTF-8 at out; returns the bytes written (at most 3: surrogates are refused earlier). */
static size_t put_utf8(char *out, unsigned cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    out[0] = (char)(0xe0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[2] = (char)(0x80 | (cp & 0x3f));
    return 3;
}

/* Unquotes the JSON-style string starting at *s (on the '"') in place; *s then points at the string, *end past the
 * closing quote. The output never outgrows the input ("\u00e9" is 6 bytes in, 2 out). */
static int unquote(yreader *r, char **s, char **end, mrun_err *err)
{
    char *in = *s + 1, *out = *s;
    char *start = out;
    for (;;) {
        char c = *in++;
        if (c == '\0' || c == '\n')
            return fail(r, err, "unterminated string");
        if (c == '"')
            break;
        if (c != '\\') {
            *out++ = c;
            continue;
        }
        c = *in++;
        const char *simple = strchr("\"\\/bfnrt", c);
        if (c && simple) {
            *out++ = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            continue;
        }
        if (c != 'u')
            return fail(r, err, "bad escape in string");
        unsigned cp = 0;
        for (int k = 0; k < 4; k++) {
            int v = hexval(in[k]);
            if (v < 0)
                return fail(r, err, "bad \\u escape in string");
            cp = cp * 16 + (unsigned)v;
        }
        in += 4;
        if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff))
            return fail(r, err, "\\u escape of NUL or a surrogate");
        out += put_utf8(out, cp);
    }
    *end = in;
    *out = '\0';
    *s = start;
    return 0;
}

/* Splits one field line (indent already skipped) into key and value (NULL when the key opens a map). Accepts v1
 * `key "value"`, `key value`, `key:` and berry `key: value`, `"key": "value"`. */
static int split_field(yreader *r, char *s, char **ret_key, char **ret_val, mrun_err *err)
{
    char *key = s, *p;
    if (*s == '"') {
        if (unquote(r, &key, &p, err) < 0)
            return -1;
    } else {
        p = s;
        while (*p && *p != ' ' && !(*p == ':' && (p[1] == ' ' || p[1] == '\0')))
            p++;
        if (p == s)
            return fail(r, err, "expected a key");
    }
    char sep = *p;
    if (sep && sep != ' ' && sep != ':')
        return fail(r, err, "expected ':' or a space after the key");
    if (sep)
        *p++ = '\0';
    if (sep == ':' && *p == ' ')
        p++;
    while (*p == ' ')
        p++;
    *ret_key = key;
    if (*p == '\0') {
        *ret_val = NULL;
        return 0;
    }
    if (*p == '"') {
        char *end;
        if (unquote(r, &p, &end, err) < 0)
            return -1;
        while (*end == ' ')
            end++;
        if (*end)
            return fail(r, err, "text after a quoted value");
    } else {
        size_t len = strlen(p);
        while (len > 0 && p[len - 1] == ' ')
            p[--len] = '\0';
    }
    *ret_val = p;
    return 0;
}

/* ---- blocks ---- */

/* Makes the reader free s at the end. */
static int own(yreader *r, char *s, mrun_err *err)
{
    if (r->n_owned == r->cap_owned) {
        size_t nc = r->cap_owned ? r->cap_owned * 2 : 256;
        char **no = realloc(r->owned, nc * sizeof(*no));
        if (!no)
            return mrun_err_set(err, ENOMEM, "%s", r->path);
        r->owned = no;
        r->cap_owned = nc;
    }
    r->owned[r->n_owned++] = s;
    return 0;
}

static int add_descriptor(yreader *r, const char *s, size_t len, size_t block, mrun_err *err)
{
    char *copy = strndup(s, len);
    if (!copy)
        return mrun_err_set(err, ENOMEM, "%s", r->path);
    if (own(r, copy, err) < 0) {
        free(copy);
        return -1;
    }
    bool existed;
    if (mrun_deps_map_put(&r->desc, copy, block, &existed, err) < 0)
        return mrun_err_prefix(err, "%s", r->path);
    if (existed)
        return fail(r, err, "descriptor listed by two blocks");
    return 0;
}

/* A block header: `a@^1, a@^1.2:` (v1, each part maybe quoted) or `"a@npm:^1, a@npm:^1.2":` (berry). */
static int open_block(yreader *r, char *s, mrun_err *err)
{
    size_t len = strlen(s);
    if (len < 2 || s[len - 1] != ':')
        return fail(r, err, "expected a block header ending in ':'");
    s[--len] = '\0';
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 128;
        yblock *nb = realloc(r->b, nc * sizeof(*nb));
        if (!nb)
            return mrun_err_set(err, ENOMEM, "%s", r->path);
        r->b = nb;
        r->cap = nc;
    }
    yblock *b = &r->b[r->n];
    *b = (yblock){.line = r->line, .index = SIZE_MAX};
    /* unquote each comma-separated part, then rejoin them with ", " into a string of the reader's */
    mrun_autofree char *joined = malloc(3 * len + 1); /* each part grows by at most its ", " */
    if (!joined)
        return mrun_err_set(err, ENOMEM, "%s", r->path);
    char *out = joined, *p = s;
    size_t parts = 0;
    while (*p) {
        while (*p == ' ')
            p++;
        char *part = p, *end;
        size_t plen;
        if (*p == '"') {
            if (unquote(r, &part, &end, err) < 0)
                return -1;
            plen = strlen(part);
        } else {
            end = p + strcspn(p, ",");
            plen = (size_t)(end - part);
            while (plen > 0 && part[plen - 1] == ' ')
                plen--;
        }
        char *next = end + strspn(end, " ");
        if (*next && *next != ',')
            return fail(r, err, "malformed block header");
        p = *next ? next + 1 : next;
        if (plen == 0)
            return fail(r, err, "empty descriptor in block header");
        if (++parts > MAX_DESCRIPTORS_PER_BLOCK)
            return fail(r, err, "too many descriptors in one block header");
        if (out != joined) {
            *out++ = ',';
            *out++ = ' ';
        }
        memcpy(out, part, plen);
        out += plen;
    }
    *out = '\0';
    if (own(r, joined, err) < 0)
        return -1;
    b->header = mrun_steal_ptr(&joined);
    r->n++;
    return 0;
}

/* Registers every descriptor of a berry header, which may itself be one quoted "a, b" string. */
static int index_block(yreader *r, size_t bi, mrun_err *err)
{
    const char *s = r->b[bi].header;
    while (*s) {
        size_t len = strcspn(s, ",");
        size_t t = len;
        while (t > 0 && s[t - 1] == ' ')
            t--;
        if (t == 0)
            return fail(r, err, "empty descriptor in block header");
        if (add_descriptor(r, s, t, bi, err) < 0)
            return -1;
        s += len;
        if (*s == ',')
            s++;
        while (*s == ' ')
            s++;
    }
    return 0;
}

static int push_dep(yreader *r, yblock *b, const char *name, const char *range, bool optional, mrun_err *err)
{
    if (b->n_deps == b->cap_deps) {
        size_t nc = b->cap_deps ? b->cap_deps * 2 : 8;
        ydep *nd = realloc(b->deps, nc * sizeof(*nd));
        if (!nd)
            return mrun_err_set(err, ENOMEM, "%s", r->path);
        b->deps = nd;
        b->cap_deps = nc;
    }
    b->deps[b->n_deps++] = (ydep){name, range, optional, SIZE_MAX};
    return 0;
}

/* berry marks optional dependencies in dependenciesMeta.<name>.optional: true */
static void mark_optional(yblock *b, const char *name)
{
    for (size_t i = 0; i < b->n_deps; i++)
        if (strcmp(b->deps[i].name, name) == 0)
            b->deps[i].optional = true;
}

static int block_field(yreader *r, int level, char *key, char *val, mrun_err *err)
{
    yblock *b = &r->b[r->n - 1];
    if (level == 1 && val) {
        const char **slot = NULL;
        if (strcmp(key, "version") == 0)
            slot = &b->version;
        else if (strcmp(key, "resolved") == 0)
            slot = &b->resolved;
        else if (strcmp(key, "integrity") == 0)
            slot = &b->integrity;
        else if (strcmp(key, "resolution") == 0)
            slot = &b->resolution;
        else if (strcmp(key, "linkType") == 0)
            slot = &b->link_type;
        if (slot && *slot)
            return fail(r, err, "field repeated in a block");
        if (slot)
            *slot = val;
        return 0;
    }
    const char *sec = r->open[1];
    if (!sec)
        return 0;
    if (level == 2 && val && (strcmp(sec, "dependencies") == 0 || strcmp(sec, "optionalDependencies") == 0))
        return push_dep(r, b, key, val, strcmp(sec, "optionalDependencies") == 0, err);
    if (level == 3 && val && strcmp(sec, "dependenciesMeta") == 0 && strcmp(key, "optional") == 0 &&
        strcmp(val, "true") == 0)
        mark_optional(b, r->open[2]);
    return 0; /* bin, peerDependencies, checksum, conditions, ...: not needed */
}

/* Reads one non-blank, non-comment line: a block header at level 0, else a field of the map opened above it. */
static int read_line(yreader *r, char *s, mrun_err *err)
{
    size_t indent = strspn(s, " ");
    if (s[indent] == '\t')
        return fail(r, err, "tab in indentation");
    if (indent % 2)
        return fail(r, err, "odd indentation");
    int level = (int)(indent / 2);
    if (level >= MAX_LEVEL)
        return fail(r, err, "nested too deeply");
    for (int k = level; k < MAX_LEVEL; k++)
        r->open[k] = NULL;
    if (level == 0) {
        r->in_metadata = strcmp(s, "__metadata:") == 0;
        r->berry |= r->in_metadata;
        r->open[0] = "block";
        return r->in_metadata ? 0 : open_block(r, s, err);
    }
    if (!r->open[level - 1])
        return fail(r, err, level == 1 ? "field outside a block" : "unexpected indentation");
    char *key = NULL, *val = NULL;
    if (split_field(r, s + indent, &key, &val, err) < 0)
        return -1;
    if (!val)
        r->open[level] = key;
    return r->in_metadata ? 0 : block_field(r, level, key, val, err);
}

/* Splits the text into lines (NUL-terminating each) and reads those that are not blank or comments. */
static int read_text(yreader *r, mrun_err *err)
{
    char *s = r->text;
    r->line = 0;
    while (*s) {
        r->line++;
        char *nl = strchr(s, '\n');
        char *next = nl ? nl + 1 : s + strlen(s);
        if (nl)
            *nl = '\0';
        size_t len = strlen(s);
        if (len > 0 && s[len - 1] == '\r')
            s[--len] = '\0';
        char first = s[strspn(s, " ")];
        if (first != '#' && first != '\0' && read_line(r, s, err) < 0)
            return -1;
        s = next;
    }
    return 0;
}

/* ---- components ---- */

/* The package name of a descriptor "name@range" (name may be "@scope/name"): its length. */
static size_t ident_len(const char *desc)
{
    const char *at = strchr(desc + (desc[0] == '@'), '@');
    return at ? (size_t)(at - desc) : strlen(desc);
}

/* The real package name of a block, into buf: berry's resolution names it; in v1 an alias "x@npm:real@1" does. */
static const char *block_name(const yblock *b, char *buf, size_t size)
{
    const char *desc = b->resolution ? b->resolution : b->header;
    size_t n = ident_len(desc);
    const char *range = desc[n] == '@' ? desc + n + 1 : "";
    if (!b->resolution && strncmp(range, "npm:", 4) == 0 && strchr(range + 4 + (range[4] == '@'), '@')) {
        desc = range + 4;
        n = ident_len(desc);
    }
    snprintf(buf, size, "%.*s", (int)n, desc);
    return buf;
}

/* v1 "resolved" is "<url>#<sha1 hex>"; the fragment, when it is a SHA-1, becomes a hash. */
static int add_v1_resolved(yreader *r, size_t index, const char *resolved, mrun_err *err)
{
    const char *hash = strrchr(resolved, '#');
    if (!hash || strlen(hash + 1) != 40 || strspn(hash + 1, "0123456789abcdef") != 40)
        return 0;
    return mrun_deps_add_hash(r->d, index, MRUN_HASH_SHA1, hash + 1, err);
}

static int add_block(yreader *r, yblock *b, mrun_err *err)
{
    char name[512];
    const char *res = b->resolution ? strchr(b->resolution + (b->resolution[0] == '@'), '@') : NULL;
    if (res && strncmp(res + 1, "patch:", 6) == 0)
        return 0; /* the same package as its "npm:" block, with a patch yarn applies at install: not another one */
    bool workspace = res && strncmp(res + 1, "workspace:", 10) == 0;
    bool project = workspace && strcmp(res + 11, ".") == 0;
    const char *version = b->version;
    if (version && strcmp(version, "0.0.0-use.local") == 0)
        version = NULL; /* berry's placeholder for a workspace or link: the real one is in its package.json */
    mrun_autofree char *url = NULL;
    if (b->resolved && !(url = strndup(b->resolved, strcspn(b->resolved, "#"))))
        return mrun_err_set(err, ENOMEM, "%s", r->path);
    mrun_dep t = {.ecosystem = "npm",
                  .name = (char *)block_name(b, name, sizeof(name)),
                  .version = (char *)version,
                  .source = (char *)r->path,
                  .locator = b->header,
                  .resolved = url,
                  .is_project = project,
                  .direct = workspace && !project};
    if (mrun_deps_add(r->d, &t, &b->index, err) < 0)
        return mrun_err_prefix(err, "%s:%u", r->path, b->line);
    b->workspace = workspace;
    if (project && r->project == SIZE_MAX)
        r->project = (size_t)(b - r->b);
    if (b->integrity && mrun_deps_add_integrity(r->d, b->index, b->integrity, err) < 0)
        return mrun_err_prefix(err, "%s:%u", r->path, b->line);
    if (b->resolved && add_v1_resolved(r, b->index, b->resolved, err) < 0)
        return mrun_err_prefix(err, "%s:%u", r->path, b->line);
    return 0;
}

/* berry writes a dependency range without its protocol when it is the default ("npm:" is always written today,
 * but older lockfiles omit it): try "name@range", then "name@npm:range". */
static size_t resolve(const yreader *r, const ydep *dep, char *buf, size_t size)
{
    int w = snprintf(buf, size, "%s@%s", dep->name, dep->range);
    size_t bi = w > 0 && (size_t)w < size ? mrun_deps_map_get(&r->desc, buf) : SIZE_MAX;
    if (bi == SIZE_MAX && r->berry && !strchr(dep->range, ':')) {
        w = snprintf(buf, size, "%s@npm:%s", dep->name, dep->range);
        bi = w > 0 && (size_t)w < size ? mrun_deps_map_get(&r->desc, buf) : SIZE_MAX;
    }
    return bi;
}

static int add_edges(yreader *r, yblock *b, mrun_err *err)
{
    if (b->index == SIZE_MAX)
        return 0; /* a patch: block */
    for (size_t i = 0; i < b->n_deps; i++) {
        size_t need = strlen(b->deps[i].name) + strlen(b->deps[i].range) + 8;
        mrun_autofree char *buf = malloc(need);
        if (!buf)
            return mrun_err_set(err, ENOMEM, "%s", r->path);
        size_t to = resolve(r, &b->deps[i], buf, need);
        if (to == SIZE_MAX || &r->b[to] == b || r->b[to].index == SIZE_MAX)
            continue; /* unresolved (a missing optional dependency, a hand-edited file): no edge */
        b->deps[i].to = to;
        if (mrun_deps_add_edge(r->d, b->index, r->b[to].index, err) < 0)
            return mrun_err_prefix(err, "%s:%u", r->path, b->line);
        if (b->workspace)
            mrun_deps_edit(r->d, r->b[to].index)->direct = true;
    }
    return 0;
}

/* Marks in reach[] the blocks reachable from block `from`, through optional edges too when all is set. */
static void reach_from(const yreader *r, size_t from, bool all, bool *reach, size_t *stack)
{
    size_t top = 0;
    if (reach[from])
        return;
    reach[from] = true;
    stack[top++] = from;
    while (top > 0) {
        const yblock *b = &r->b[stack[--top]];
        for (size_t i = 0; i < b->n_deps; i++) {
            size_t to = b->deps[i].to;
            if (to == SIZE_MAX || reach[to] || (b->deps[i].optional && !all))
                continue;
            reach[to] = true;
            stack[top++] = to; /* each block is pushed at most once: the stack holds at most r->n */
        }
    }
}

/* A component that the roots reach only through an optional edge is OPTIONAL. The roots are the project (berry),
 * else the blocks nothing depends on (v1 records no root). Dev dependencies are not told apart here: neither format
 * records them per package (the scan's package.json pass does). */
static int optional_scopes(yreader *r, mrun_err *err)
{
    mrun_autofree bool *req = calloc(r->n + 1, sizeof(bool));
    mrun_autofree bool *any = calloc(r->n + 1, sizeof(bool));
    mrun_autofree bool *has_in = calloc(r->n + 1, sizeof(bool));
    mrun_autofree size_t *stack = calloc(r->n + 1, sizeof(size_t));
    if (!req || !any || !has_in || !stack)
        return mrun_err_set(err, ENOMEM, "%s", r->path);
    for (size_t i = 0; i < r->n; i++)
        for (size_t k = 0; k < r->b[i].n_deps; k++)
            if (r->b[i].deps[k].to != SIZE_MAX)
                has_in[r->b[i].deps[k].to] = true;
    for (size_t i = 0; i < r->n; i++) {
        if (r->project != SIZE_MAX ? i != r->project : has_in[i])
            continue;
        reach_from(r, i, false, req, stack);
        reach_from(r, i, true, any, stack);
    }
    for (size_t i = 0; i < r->n; i++)
        if (any[i] && !req[i] && r->b[i].index != SIZE_MAX)
            mrun_deps_edit(r->d, r->b[i].index)->scope = MRUN_DEP_OPTIONAL;
    return 0;
}

int mrun_deps_parse_yarn_lock(mrun_deps *d, const char *path, const uint8_t *buf, size_t len, mrun_err *err)
{
    if (len > MRUN_DEPS_MAX_FILE)
        return mrun_err_setx(err, E2BIG, "%s: larger than %u bytes", path, MRUN_DEPS_MAX_FILE);
    if (memchr(buf, '\0', len))
        return mrun_err_setx(err, EPROTO, "%s: NUL byte in text", path);
    yreader r = {.d = d, .path = path, .project = SIZE_MAX};
    int ret = -1;
    if (!(r.text = malloc(len + 1))) {
        mrun_err_set(err, ENOMEM, "%s", path);
        goto out;
    }
    memcpy(r.text, buf, len);
    r.text[len] = '\0';
    if (read_text(&r, err) < 0)
        goto out;
    for (size_t i = 0; i < r.n; i++) {
        r.line = r.b[i].line;
        if (index_block(&r, i, err) < 0 || add_block(&r, &r.b[i], err) < 0)
            goto out;
    }
    for (size_t i = 0; i < r.n; i++)
        if (add_edges(&r, &r.b[i], err) < 0)
            goto out;
    if (optional_scopes(&r, err) < 0)
        goto out;
    ret = 0;
out:
    reader_fini(&r);
    return ret;
}

/* ---- the project's package.json beside a yarn.lock ---- */

/* Whether the component's locator (its block's descriptors, ", "-separated) lists desc. */
static bool lists_descriptor(const char *locator, const char *desc)
{
    size_t dlen = strlen(desc);
    for (const char *p = locator; p && *p;) {
        size_t len = strcspn(p, ",");
        if (len == dlen && strncmp(p, desc, dlen) == 0)
            return true;
        p += len;
        p += strspn(p, ", ");
    }
    return false;
}

/* The component of [first, n) a package.json entry `name: range` resolved to, by the descriptor yarn wrote. */
static size_t find_declared(const mrun_deps *d, size_t first, const char *name, const char *range)
{
    mrun_autofree char *plain = NULL, *npm = NULL;
    if (asprintf(&plain, "%s@%s", name, range) < 0 || asprintf(&npm, "%s@npm:%s", name, range) < 0)
        return SIZE_MAX;
    for (size_t i = first; i < mrun_deps_count(d); i++) {
        const mrun_dep *p = mrun_deps_at(d, i);
        if (!p->is_project && p->locator && (lists_descriptor(p->locator, plain) || lists_descriptor(p->locator, npm)))
            return i;
    }
    return SIZE_MAX;
}

static void mark_reach(const mrun_deps *d, size_t from, unsigned char *seen, unsigned char bit, size_t first,
                       size_t *stack)
{
    size_t top = 0;
    if (seen[from - first] & bit)
        return;
    seen[from - first] |= bit;
    stack[top++] = from;
    while (top > 0) {
        const mrun_dep *p = mrun_deps_at(d, stack[--top]);
        for (size_t k = 0; k < p->n_deps; k++) {
            size_t to = p->deps[k];
            if (to < first || (seen[to - first] & bit))
                continue;
            seen[to - first] |= bit;
            stack[top++] = to;
        }
    }
}

enum { REACH_PROD = 1, REACH_OPT = 2, REACH_DEV = 4 };

static const struct {
    const char *field;
    unsigned char bit;
} manifest_fields[] = {
    {"dependencies", REACH_PROD},
    {"peerDependencies", REACH_PROD},
    {"optionalDependencies", REACH_OPT},
    {"devDependencies", REACH_DEV},
};

/* Links the project to what its package.json declares and derives scopes from reachability: what the
 * dependencies reach keeps its scope, what only optionalDependencies reach is OPTIONAL, what only
 * devDependencies reach is DEV. */
static int apply_fields(mrun_deps *d, size_t first, size_t project, json_t *pj, mrun_err *err)
{
    size_t count = mrun_deps_count(d) - first;
    mrun_autofree unsigned char *seen = calloc(count + 1, 1);
    mrun_autofree size_t *stack = calloc(count + 1, sizeof(size_t));
    if (!seen || !stack)
        return mrun_err_set(err, ENOMEM, "package.json");
    for (size_t f = 0; f < sizeof(manifest_fields) / sizeof(manifest_fields[0]); f++) {
        json_t *deps = json_object_get(pj, manifest_fields[f].field);
        const char *name;
        json_t *range;
        json_object_foreach(deps, name, range)
        {
            size_t to = json_is_string(range) ? find_declared(d, first, name, json_string_value(range)) : SIZE_MAX;
            if (to == SIZE_MAX)
                continue;
            mrun_deps_edit(d, to)->direct = true;
            if (mrun_deps_add_edge(d, project, to, err) < 0)
                return -1;
            mark_reach(d, to, seen, manifest_fields[f].bit, first, stack);
        }
    }
    for (size_t i = 0; i < count; i++) {
        mrun_dep *p = mrun_deps_edit(d, first + i);
        if (p->is_project || (seen[i] & REACH_PROD) || !seen[i])
            continue;
        p->scope = (seen[i] & REACH_OPT) ? MRUN_DEP_OPTIONAL : MRUN_DEP_DEV;
    }
    return 0;
}

/* Fills the project's name and version where the lockfile left them out (berry's 0.0.0-use.local, pnpm). */
static int fill(mrun_deps *d, size_t project, const char *name, const char *version)
{
    mrun_dep *p = mrun_deps_edit(d, project);
    if (name && !p->name && !(p->name = strdup(name)))
        return -1;
    if (version && !p->version && !(p->version = strdup(version)))
        return -1;
    return 0;
}

int mrun_deps_apply_package_json(mrun_deps *d, size_t first, const char *lock_path, bool with_deps, const uint8_t *buf,
                                 size_t len, mrun_err *err)
{
    json_error_t je;
    json_t *pj = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!pj)
        return mrun_err_setx(err, EPROTO, "package.json:%d:%d: %s", je.line, je.column, je.text);
    int r = -1;
    size_t project = SIZE_MAX;
    if (!json_is_object(pj)) {
        mrun_err_setx(err, EPROTO, "package.json: not a JSON object");
        goto out;
    }
    for (size_t i = first; i < mrun_deps_count(d) && project == SIZE_MAX; i++)
        if (mrun_deps_at(d, i)->is_project)
            project = i;
    const char *name = json_string_value(json_object_get(pj, "name"));
    const char *version = json_string_value(json_object_get(pj, "version"));
    const char *license = json_string_value(json_object_get(pj, "license"));
    if (project == SIZE_MAX && !with_deps) {
        r = 0;
        goto out;
    }
    if (project == SIZE_MAX) { /* yarn v1 records no project */
        mrun_dep t = {.ecosystem = "npm",
                      .name = (char *)name,
                      .version = (char *)version,
                      .license = (char *)license,
                      .source = (char *)lock_path,
                      .locator = "",
                      .is_project = true};
        if (mrun_deps_add(d, &t, &project, err) < 0)
            goto out;
    } else if (fill(d, project, name, version) < 0) {
        mrun_err_set(err, ENOMEM, "package.json");
        goto out;
    }
    r = with_deps ? apply_fields(d, first, project, pj, err) : 0;
out:
    json_decref(pj);
    return r;
}
