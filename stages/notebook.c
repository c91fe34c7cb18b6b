/* notebook.c - Jupyter notebooks (nbformat 4, https://nbformat.readthedocs.io/en/latest/format_description.html):
 * jansson reads and validates the document; a small position pass over the same bytes records where each code
 * cell's source string sits (line, column), and the code is laid out on those lines so the line-based checks report
 * notebook lines. Bounded: the notebook's size, cell count, and the output (at most 2x the input plus a line). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "../common/auto.h"
#include "notebook.h"

typedef struct tokpos {
    unsigned line, col; /* of the opening quote, 1-based */
} tokpos;

/* Per cell: its source strings' positions are pos[first .. first + n). */
typedef struct cellpos {
    size_t first, n;
    bool seen;
} cellpos;

typedef struct scan {
    const char *b;
    size_t len, i, line_start;
    unsigned line;
    tokpos *pos;
    size_t n_pos, cap_pos;
    cellpos *cells;
    size_t n_cells;
    bool bad; /* the layout differs from what jansson read: fall back to placing lines one after another */
} scan;

bool mrun_notebook_is(const char *path)
{
    size_t n = strlen(path);
    return n >= 6 && strcmp(path + n - 6, ".ipynb") == 0;
}

static void ws(scan *s)
{
    for (; s->i < s->len; s->i++) {
        char c = s->b[s->i];
        if (c == '\n') {
            s->line++;
            s->line_start = s->i + 1;
        } else if (c != ' ' && c != '\t' && c != '\r') {
            return;
        }
    }
}

/* At the opening quote: moves past the closing one; the raw content into ret_p and ret_n (may be NULL). */
static void skip_string(scan *s, const char **ret_p, size_t *ret_n)
{
    size_t start = ++s->i;
    while (s->i < s->len && s->b[s->i] != '"')
        s->i += s->b[s->i] == '\\' ? 2 : 1;
    if (s->i > s->len)
        s->i = s->len;
    if (ret_p) {
        *ret_p = s->b + start;
        *ret_n = s->i - start;
    }
    if (s->i < s->len)
        s->i++;
}

/* Skips one value without recursion (jansson already checked the nesting). */
static void skip_value(scan *s)
{
    size_t depth = 0;
    do {
        ws(s);
        if (s->i >= s->len)
            return;
        char c = s->b[s->i];
        if (c == '"') {
            skip_string(s, NULL, NULL);
        } else if (c == '[' || c == '{') {
            depth++, s->i++;
        } else if (c == ']' || c == '}') {
            if (depth == 0)
                return;
            depth--, s->i++;
        } else if (c == ',' || c == ':') {
            s->i++;
        } else {
            while (s->i < s->len && !strchr(",]} \t\r\n", s->b[s->i]))
                s->i++;
        }
    } while (depth > 0);
}

static bool push_pos(scan *s)
{
    if (s->n_pos == s->cap_pos) {
        size_t cap = s->cap_pos ? s->cap_pos * 2 : 64;
        tokpos *p = realloc(s->pos, cap * sizeof(*p));
        if (!p)
            return false;
        s->pos = p;
        s->cap_pos = cap;
    }
    s->pos[s->n_pos++] = (tokpos){s->line, (unsigned)(s->i - s->line_start + 1)};
    return true;
}

/* A cell's "source": one string, or an array of strings. */
static bool source_positions(scan *s, cellpos *cp)
{
    cp->first = s->n_pos;
    cp->seen = true;
    ws(s);
    if (s->i < s->len && s->b[s->i] == '"') {
        if (!push_pos(s))
            return false;
        skip_string(s, NULL, NULL);
    } else if (s->i < s->len && s->b[s->i] == '[') {
        for (s->i++;;) {
            ws(s);
            if (s->i >= s->len || s->b[s->i] == ']')
                break;
            if (s->b[s->i] == '"') {
                if (!push_pos(s))
                    return false;
                skip_string(s, NULL, NULL);
            } else {
                skip_value(s);
            }
            ws(s);
            if (s->i < s->len && s->b[s->i] == ',')
                s->i++;
        }
        if (s->i < s->len)
            s->i++;
    } else {
        skip_value(s);
    }
    cp->n = s->n_pos - cp->first;
    return true;
}

/* Walks the object at s->i; for each key calls on_key (which must consume the value) or skips the value. */
static bool object(scan *s, bool (*on_key)(scan *s, const char *k, size_t kn, void *ctx), void *ctx)
{
    ws(s);
    if (s->i >= s->len || s->b[s->i] != '{') {
        skip_value(s);
        return true;
    }
    for (s->i++;;) {
        ws(s);
        if (s->i >= s->len || s->b[s->i] != '"')
            break;
        const char *k;
        size_t kn;
        skip_string(s, &k, &kn);
        ws(s);
        if (s->i < s->len && s->b[s->i] == ':')
            s->i++;
        if (!on_key(s, k, kn, ctx))
            return false;
        ws(s);
        if (s->i < s->len && s->b[s->i] == ',')
            s->i++;
    }
    if (s->i < s->len)
        s->i++;
    return true;
}

static bool key_is(const char *k, size_t kn, const char *lit)
{
    return kn == strlen(lit) && memcmp(k, lit, kn) == 0;
}

static bool cell_key(scan *s, const char *k, size_t kn, void *ctx)
{
    if (key_is(k, kn, "source"))
        return source_positions(s, ctx);
    skip_value(s);
    return true;
}

static bool top_key(scan *s, const char *k, size_t kn, void *ctx)
{
    (void)ctx;
    ws(s);
    if (!key_is(k, kn, "cells") || s->i >= s->len || s->b[s->i] != '[') {
        skip_value(s);
        return true;
    }
    size_t idx = 0;
    for (s->i++;;) {
        ws(s);
        if (s->i >= s->len || s->b[s->i] == ']')
            break;
        if (idx >= s->n_cells) {
            s->bad = true;
            return true;
        }
        if (!object(s, cell_key, &s->cells[idx++]))
            return false;
        ws(s);
        if (s->i < s->len && s->b[s->i] == ',')
            s->i++;
    }
    if (s->i < s->len)
        s->i++;
    return true;
}

/* ---- the text ---- */

typedef struct out {
    char *p;
    size_t n, cap;
    unsigned line; /* the line being written, 1-based */
    unsigned last; /* the last line that got code */
} out;

static void put(out *o, const void *p, size_t n)
{
    if (o->n + n < o->cap) { /* sized up front; never reached otherwise */
        memcpy(o->p + o->n, p, n);
        o->n += n;
    }
}

/* Puts one code line on notebook line `line` (or the next free one) after pad spaces. */
static void place(out *o, unsigned line, unsigned pad, const char *code, size_t n)
{
    if (line <= o->last)
        line = o->last + 1, pad = 0;
    while (o->line < line) {
        put(o, "\n", 1);
        o->line++;
    }
    for (unsigned i = 0; i < pad; i++)
        put(o, " ", 1);
    if (n && code[n - 1] == '\r')
        n--;
    put(o, code, n);
    o->last = line;
}

static bool is_magic(const char *c, size_t n)
{
    size_t i = 0;
    while (i < n && (c[i] == ' ' || c[i] == '\t'))
        i++;
    return i < n && (c[i] == '%' || c[i] == '!');
}

/* One source string: its lines from the string's position on. */
static void place_string(out *o, const char *str, size_t len, const tokpos *at)
{
    unsigned line = at ? at->line : 0, pad = at ? at->col : 0;
    for (size_t i = 0; i <= len;) {
        const char *nl = memchr(str + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - str) : len;
        if (e > i || nl) {
            if (!is_magic(str + i, e - i))
                place(o, line, pad, str + i, e - i);
            else
                o->last = line > o->last ? line : o->last;
        }
        line++, pad = 0;
        i = e + 1;
    }
}

static void place_cell(out *o, json_t *src, const scan *s, const cellpos *cp)
{
    size_t n_str = json_is_array(src) ? json_array_size(src) : 1;
    bool exact = !s->bad && cp->seen && cp->n == n_str;
    const char *first = json_is_array(src) ? json_string_value(json_array_get(src, 0)) : json_string_value(src);
    if (first && strncmp(first, "%%", 2) == 0)
        return; /* a cell magic: the cell is not Python */
    for (size_t j = 0; j < n_str; j++) {
        json_t *str = json_is_array(src) ? json_array_get(src, j) : src;
        place_string(o, json_string_value(str), json_string_length(str), exact ? &s->pos[cp->first + j] : NULL);
    }
}

/* ---- validation ---- */

static bool python_kernel(json_t *nb)
{
    json_t *md = json_object_get(nb, "metadata");
    const char *lang = json_string_value(json_object_get(json_object_get(md, "kernelspec"), "language"));
    if (!lang)
        lang = json_string_value(json_object_get(json_object_get(md, "language_info"), "name"));
    return !lang || strncasecmp(lang, "python", 6) == 0;
}

static int check_cells(const char *name, json_t *nb, mrun_err *err)
{
    json_t *cells = json_object_get(nb, "cells"), *v = json_object_get(nb, "nbformat");
    if (v && (!json_is_integer(v) || json_integer_value(v) < 4))
        return mrun_err_setx(err, EPROTO, "%.128s: nbformat %lld is not read (only 4)", name,
                             (long long)json_integer_value(v));
    if (!json_is_array(cells))
        return mrun_err_setx(err, EPROTO, "%.128s: not an nbformat 4 notebook (no \"cells\" array)", name);
    if (json_array_size(cells) > MRUN_NOTEBOOK_MAX_CELLS)
        return mrun_err_setx(err, E2BIG, "%.128s: more than %u cells", name, MRUN_NOTEBOOK_MAX_CELLS);
    for (size_t i = 0; i < json_array_size(cells); i++) {
        json_t *c = json_array_get(cells, i), *src = json_object_get(c, "source");
        bool ok = json_is_object(c) && json_is_string(json_object_get(c, "cell_type")) &&
                  (json_is_string(src) || json_is_array(src));
        for (size_t j = 0; ok && json_is_array(src) && j < json_array_size(src); j++)
            ok = json_is_string(json_array_get(src, j));
        if (!ok)
            return mrun_err_setx(err, EPROTO, "%.128s: cell %zu: needs cell_type and source (a string or strings)",
                                 name, i + 1);
    }
    return 0;
}

static void scan_fini(scan *s)
{
    free(s->pos);
    free(s->cells);
}

int mrun_notebook_code(const char *name, const uint8_t *buf, size_t len, char **ret_text, size_t *ret_len,
                       mrun_err *err)
{
    if (len > MRUN_NOTEBOOK_MAX_BYTES)
        return mrun_err_setx(err, E2BIG, "%.128s: notebook larger than %zu MiB", name, MRUN_NOTEBOOK_MAX_BYTES >> 20);
    json_error_t je;
    json_t *nb = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!nb)
        return mrun_err_setx(err, EPROTO, "%.128s:%d:%d: %s", name, je.line, je.column, je.text);
    if (!json_is_object(nb) || check_cells(name, nb, err) < 0) {
        if (!json_is_object(nb))
            mrun_err_setx(err, EPROTO, "%.128s: not a notebook (the top level is not an object)", name);
        json_decref(nb);
        return -1;
    }
    json_t *cells = json_object_get(nb, "cells");
    mrun_cleanup(scan_fini) scan s = {.b = (const char *)buf, .len = len, .line = 1};
    s.n_cells = json_array_size(cells);
    s.cells = calloc(s.n_cells + 1, sizeof(*s.cells));
    out o = {.cap = 2 * len + 2, .line = 1};
    o.p = malloc(o.cap);
    if (!s.cells || !o.p || !object(&s, top_key, NULL)) {
        free(o.p);
        json_decref(nb);
        return mrun_err_set(err, ENOMEM, "%.128s", name);
    }
    for (size_t i = 0; python_kernel(nb) && i < s.n_cells; i++) {
        json_t *c = json_array_get(cells, i);
        if (strcmp(json_string_value(json_object_get(c, "cell_type")), "code") == 0)
            place_cell(&o, json_object_get(c, "source"), &s, &s.cells[i]);
    }
    json_decref(nb);
    if (o.n)
        put(&o, "\n", 1);
    o.p[o.n] = '\0';
    *ret_text = o.p;
    *ret_len = o.n;
    return 0;
}
