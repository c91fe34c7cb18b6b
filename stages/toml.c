/* toml.c - the TOML 1.0 reader behind toml.h: a recursive-descent parser over one buffer into a tree of nodes.
 * Tables keep their entries in document order with a hash index once they grow; the table-definition rules
 * (no duplicate keys, no table defined twice, inline tables closed, static arrays not extended by [[...]]) are
 * checked with a few flags per table. */
#include "toml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/auto.h"

enum {
    F_IMPLICIT = 1u, /* table created as a prefix of a [header] */
    F_EXPLICIT = 2u, /* table defined by its own [header] */
    F_DOTTED = 4u,   /* table created by a dotted key */
    F_INLINE = 8u,   /* inline table: closed once written */
    F_AOT = 16u,     /* array created by [[header]] */
    F_HEADER = 32u,  /* table that is an element of an array of tables */
};

struct mrun_toml {
    mrun_toml_type type;
    unsigned line;
    unsigned flags;
    char *s; /* string, float or date-time text */
    size_t slen;
    int64_t i;
    bool b;
    size_t n, cap; /* arrays: items; tables: keys + items */
    char **keys;
    mrun_toml **items;
    uint32_t *hidx; /* tables: open addressing over keys, index + 1; NULL while small */
    size_t hcap;
};

typedef struct parser {
    const char *s;
    size_t len, pos;
    unsigned line;
    size_t line_start;
    size_t values;
    mrun_toml *root, *cur;
    mrun_err *err;
} parser;

/* ---- errors and cursor ---- */

static int perr(parser *p, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int perr(parser *p, int code, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return mrun_err_setx(p->err, code, "%u:%zu: %s", p->line, p->pos - p->line_start + 1, msg);
}

static int peek(const parser *p)
{
    return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1;
}

static int peek_at(const parser *p, size_t k)
{
    return p->pos + k < p->len ? (unsigned char)p->s[p->pos + k] : -1;
}

static void advance(parser *p)
{
    if (p->s[p->pos] == '\n') {
        p->line++;
        p->line_start = p->pos + 1;
    }
    p->pos++;
}

static void skip_ws(parser *p)
{
    while (peek(p) == ' ' || peek(p) == '\t')
        p->pos++;
}

/* A comment runs to the end of the line; control characters other than tab are not allowed in it. */
static int skip_comment(parser *p)
{
    if (peek(p) != '#')
        return 0;
    for (int c; (c = peek(p)) != -1 && c != '\n'; p->pos++) {
        if (c == '\r' && peek_at(p, 1) == '\n')
            continue;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return perr(p, EPROTO, "control character in comment");
    }
    return 0;
}

/* Consumes a newline (LF or CRLF); returns 1 if there was one. */
static int eat_newline(parser *p)
{
    if (peek(p) == '\n' || (peek(p) == '\r' && peek_at(p, 1) == '\n')) {
        if (peek(p) == '\r')
            p->pos++;
        advance(p);
        return 1;
    }
    return 0;
}

/* Whitespace, comments and newlines between array elements. */
static int skip_ws_nl(parser *p)
{
    for (;;) {
        skip_ws(p);
        if (skip_comment(p) < 0)
            return -1;
        if (!eat_newline(p))
            return 0;
    }
}

/* After a key/value pair or a header: only a comment, then the end of the line. */
static int expect_eol(parser *p)
{
    skip_ws(p);
    if (skip_comment(p) < 0)
        return -1;
    if (peek(p) == -1 || eat_newline(p))
        return 0;
    return perr(p, EPROTO, "expected the end of the line");
}

/* ---- nodes ---- */

static void node_free(mrun_toml *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n; i++) {
        if (v->keys)
            free(v->keys[i]);
        node_free(v->items[i]);
    }
    free(v->keys);
    free(v->items);
    free(v->hidx);
    free(v->s);
    free(v);
}

static void node_freep(mrun_toml **v)
{
    node_free(*v);
}

static mrun_toml *node_new(parser *p, mrun_toml_type type, unsigned line)
{
    if (p->values >= MRUN_TOML_MAX_VALUES) {
        perr(p, E2BIG, "more than %u values", MRUN_TOML_MAX_VALUES);
        return NULL;
    }
    mrun_toml *v = calloc(1, sizeof(*v));
    if (!v) {
        perr(p, ENOMEM, "out of memory");
        return NULL;
    }
    p->values++;
    v->type = type;
    v->line = line;
    return v;
}

static uint32_t hash_key(const char *k)
{
    uint32_t h = 2166136261u;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 16777619u;
    return h;
}

static size_t tbl_find(const mrun_toml *t, const char *key)
{
    if (t->hidx) {
        for (size_t j = hash_key(key) & (t->hcap - 1);; j = (j + 1) & (t->hcap - 1)) {
            if (t->hidx[j] == 0)
                return SIZE_MAX;
            if (strcmp(t->keys[t->hidx[j] - 1], key) == 0)
                return t->hidx[j] - 1;
        }
    }
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->keys[i], key) == 0)
            return i;
    return SIZE_MAX;
}

static void hidx_put(mrun_toml *t, size_t i)
{
    size_t j = hash_key(t->keys[i]) & (t->hcap - 1);
    while (t->hidx[j] != 0)
        j = (j + 1) & (t->hcap - 1);
    t->hidx[j] = (uint32_t)(i + 1);
}

/* Keeps the hash index at most half full once a table has more than 16 entries. */
static int hidx_grow(parser *p, mrun_toml *t)
{
    if (t->n + 1 <= 16 || (t->n + 1) * 2 <= t->hcap)
        return 0;
    size_t cap = t->hcap ? t->hcap * 2 : 64;
    uint32_t *h = calloc(cap, sizeof(*h));
    if (!h)
        return perr(p, ENOMEM, "out of memory");
    free(t->hidx);
    t->hidx = h;
    t->hcap = cap;
    for (size_t i = 0; i < t->n; i++)
        hidx_put(t, i);
    return 0;
}

/* Appends to an array or table; consumes key (tables) and v, also on failure. */
static int node_push(parser *p, mrun_toml *t, char *key, mrun_toml *v)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4;
        mrun_toml **items = realloc(t->items, cap * sizeof(*items));
        if (items)
            t->items = items;
        char **keys = (items && t->type == MRUN_TOML_TABLE) ? realloc(t->keys, cap * sizeof(*keys)) : t->keys;
        if (!items || (t->type == MRUN_TOML_TABLE && !keys)) {
            free(key);
            node_free(v);
            return perr(p, ENOMEM, "out of memory");
        }
        t->keys = keys;
        t->cap = cap;
    }
    if (t->type == MRUN_TOML_TABLE && hidx_grow(p, t) < 0) {
        free(key);
        node_free(v);
        return -1;
    }
    if (t->type == MRUN_TOML_TABLE)
        t->keys[t->n] = key;
    t->items[t->n++] = v;
    if (t->hidx)
        hidx_put(t, t->n - 1);
    return 0;
}

/* Creates an empty table under key in t (which must not hold key). */
static mrun_toml *add_table(parser *p, mrun_toml *t, const char *key, unsigned flags)
{
    mrun_toml *v = node_new(p, MRUN_TOML_TABLE, p->line);
    char *k = strdup(key);
    if (!v || !k) {
        node_free(v);
        free(k);
        if (v && !k)
            perr(p, ENOMEM, "out of memory");
        return NULL;
    }
    v->flags = flags;
    return node_push(p, t, k, v) < 0 ? NULL : v;
}

/* ---- strings and keys ---- */

typedef struct sbuf {
    char *b;
    size_t n, cap;
} sbuf;

static void sbuf_fini(sbuf *sb)
{
    free(sb->b);
}

static int sb_put(parser *p, sbuf *sb, const char *s, size_t n)
{
    if (sb->n + n + 1 > sb->cap) {
        size_t cap = sb->cap ? sb->cap : 32;
        while (cap < sb->n + n + 1)
            cap *= 2;
        char *b = realloc(sb->b, cap);
        if (!b)
            return perr(p, ENOMEM, "out of memory");
        sb->b = b;
        sb->cap = cap;
    }
    memcpy(sb->b + sb->n, s, n);
    sb->n += n;
    sb->b[sb->n] = '\0';
    return 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* \uXXXX or \UXXXXXXXX: a Unicode scalar value, written as UTF-8. */
static int unicode_escape(parser *p, sbuf *sb, size_t digits)
{
    uint32_t cp = 0;
    for (size_t k = 0; k < digits; k++) {
        int h = hexval(peek_at(p, k));
        if (h < 0)
            return perr(p, EPROTO, "bad \\u escape");
        cp = cp << 4 | (uint32_t)h;
    }
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return perr(p, EPROTO, "escape is not a Unicode scalar value");
    p->pos += digits;
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp, n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | cp >> 6), u[1] = (char)(0x80 | (cp & 0x3f)), n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | cp >> 12), u[1] = (char)(0x80 | (cp >> 6 & 0x3f)), u[2] = (char)(0x80 | (cp & 0x3f)),
        n = 3;
    } else {
        u[0] = (char)(0xf0 | cp >> 18), u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
        u[2] = (char)(0x80 | (cp >> 6 & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f)), n = 4;
    }
    return sb_put(p, sb, u, n);
}

/* After a backslash (p at the character after it). */
static int escape(parser *p, sbuf *sb, bool multi)
{
    static const char from[] = "btnfr\"\\", to[] = "\b\t\n\f\r\"\\";
    int c = peek(p);
    const char *e = c > 0 ? strchr(from, c) : NULL;
    if (e && c) {
        p->pos++;
        return sb_put(p, sb, &to[e - from], 1);
    }
    if (c == 'u' || c == 'U') {
        p->pos++;
        return unicode_escape(p, sb, c == 'u' ? 4 : 8);
    }
    if (multi && (c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
        skip_ws(p); /* line-ending backslash: drop the newline and the whitespace after it */
        if (!eat_newline(p))
            return perr(p, EPROTO, "only whitespace may follow a line-ending backslash");
        for (;;) {
            skip_ws(p);
            if (!eat_newline(p))
                return 0;
        }
    }
    return perr(p, EPROTO, "invalid escape sequence");
}

/* A closing delimiter of a multi-line string: up to two quotes may sit right before it. Returns 1 at the end. */
static int multi_quotes(parser *p, sbuf *sb, char q)
{
    const char qq[2] = {q, q};
    size_t k = 0;
    while (peek_at(p, k) == q)
        k++;
    if (k < 3) {
        p->pos += k;
        return sb_put(p, sb, qq, k);
    }
    if (k > 5)
        return perr(p, EPROTO, "too many quotes");
    p->pos += k;
    return sb_put(p, sb, qq, k - 3) < 0 ? -1 : 1;
}

/* Any of the four string forms; p at the opening quote. Single-line forms are the only ones allowed as keys. */
static int parse_string(parser *p, bool allow_multi, char **ret, size_t *ret_len)
{
    char q = p->s[p->pos];
    bool multi = peek_at(p, 1) == q && peek_at(p, 2) == q;
    if (multi && !allow_multi)
        return perr(p, EPROTO, "a multi-line string cannot be a key");
    mrun_cleanup(sbuf_fini) sbuf sb = {0};
    if (sb_put(p, &sb, "", 0) < 0)
        return -1;
    p->pos += multi ? 3 : 1;
    if (multi)
        eat_newline(p);
    for (;;) {
        int c = peek(p);
        if (c == -1)
            return perr(p, EPROTO, "unterminated string");
        if (c == q && !multi) {
            p->pos++;
            break;
        }
        if (c == q) {
            int r = multi_quotes(p, &sb, q);
            if (r < 0)
                return -1;
            if (r == 1)
                break;
            continue;
        }
        if (c == '\\' && q == '"') {
            p->pos++;
            if (escape(p, &sb, multi) < 0)
                return -1;
            continue;
        }
        if (c == '\n' || (c == '\r' && peek_at(p, 1) == '\n')) {
            if (!multi)
                return perr(p, EPROTO, "newline in a single-line string");
            eat_newline(p);
            if (sb_put(p, &sb, "\n", 1) < 0)
                return -1;
            continue;
        }
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return perr(p, EPROTO, "control character in string");
        if (sb_put(p, &sb, &p->s[p->pos], 1) < 0)
            return -1;
        p->pos++;
    }
    *ret_len = sb.n;
    *ret = mrun_steal_ptr(&sb.b);
    return 0;
}

static bool is_bare(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

typedef struct keypath {
    char *part[MRUN_TOML_MAX_KEYS];
    size_t n;
} keypath;

static void keypath_fini(keypath *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->part[i]);
}

/* key = simple-key *( "." simple-key ), whitespace allowed around the dots. */
static int parse_key(parser *p, keypath *k)
{
    for (;;) {
        skip_ws(p);
        if (k->n == MRUN_TOML_MAX_KEYS)
            return perr(p, E2BIG, "key has more than %d parts", MRUN_TOML_MAX_KEYS);
        int c = peek(p);
        size_t len;
        if (c == '"' || c == '\'') {
            if (parse_string(p, false, &k->part[k->n], &len) < 0)
                return -1;
            if (strlen(k->part[k->n]) != len) {
                k->n++;
                return perr(p, EPROTO, "NUL in key");
            }
        } else {
            size_t start = p->pos;
            while (is_bare(peek(p)))
                p->pos++;
            if (p->pos == start)
                return perr(p, EPROTO, "expected a key");
            k->part[k->n] = strndup(p->s + start, p->pos - start);
            if (!k->part[k->n])
                return perr(p, ENOMEM, "out of memory");
        }
        k->n++;
        skip_ws(p);
        if (peek(p) != '.')
            return 0;
        p->pos++;
    }
}

/* ---- scalars ---- */

static bool is_digit_in(int c, int base)
{
    int h = hexval(c);
    return h >= 0 && h < base && (base == 16 || (c >= '0' && c <= '9'));
}

/* Digits of base with single underscores between them; returns how many digits, or -1. */
static int digit_run(const char *t, size_t n, size_t *i, int base, int64_t *acc, bool *overflow)
{
    int count = 0;
    for (; *i < n; (*i)++) {
        if (t[*i] == '_') {
            if (count == 0 || *i + 1 >= n || !is_digit_in(t[*i + 1], base))
                return -1;
            continue;
        }
        if (!is_digit_in(t[*i], base))
            break;
        int dv = hexval(t[*i]);
        if (acc) {
            if (*acc > (INT64_MAX - dv) / base)
                *overflow = true;
            else
                *acc = *acc * base + dv;
        }
        count++;
    }
    return count;
}

static int set_text(parser *p, mrun_toml *v, const char *t, size_t n)
{
    v->s = strndup(t, n);
    v->slen = n;
    return v->s ? 0 : perr(p, ENOMEM, "out of memory");
}

/* Integers (decimal, 0x, 0o, 0b) and floats, validated by the TOML grammar. */
static int number(parser *p, mrun_toml *v, const char *t, size_t n)
{
    size_t i = 0;
    bool neg = false, overflow = false;
    int64_t acc = 0;
    if (n >= 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'o' || t[1] == 'b')) {
        i = 2;
        int base = t[1] == 'x' ? 16 : t[1] == 'o' ? 8 : 2;
        if (digit_run(t, n, &i, base, &acc, &overflow) <= 0 || i != n || overflow)
            return perr(p, EPROTO, "invalid integer");
        v->type = MRUN_TOML_INTEGER, v->i = acc;
        return 0;
    }
    if (t[0] == '+' || t[0] == '-')
        neg = t[0] == '-', i = 1;
    if (n - i == 3 && (memcmp(t + i, "inf", 3) == 0 || memcmp(t + i, "nan", 3) == 0)) {
        v->type = MRUN_TOML_FLOAT;
        return set_text(p, v, t, n);
    }
    size_t int_start = i;
    if (digit_run(t, n, &i, 10, &acc, &overflow) <= 0)
        return perr(p, EPROTO, "invalid value");
    if (t[int_start] == '0' && i - int_start > 1)
        return perr(p, EPROTO, "leading zero in a number");
    bool is_float = false;
    if (i < n && t[i] == '.') {
        i++;
        if (digit_run(t, n, &i, 10, NULL, NULL) <= 0)
            return perr(p, EPROTO, "invalid float");
        is_float = true;
    }
    if (i < n && (t[i] == 'e' || t[i] == 'E')) {
        i++;
        if (i < n && (t[i] == '+' || t[i] == '-'))
            i++;
        if (digit_run(t, n, &i, 10, NULL, NULL) <= 0)
            return perr(p, EPROTO, "invalid float");
        is_float = true;
    }
    if (i != n)
        return perr(p, EPROTO, "invalid value");
    if (is_float) {
        v->type = MRUN_TOML_FLOAT;
        return set_text(p, v, t, n);
    }
    if (overflow)
        return perr(p, EPROTO, "integer out of range");
    v->type = MRUN_TOML_INTEGER;
    v->i = neg ? -acc : acc;
    return 0;
}

/* Offset date-times, local date-times, dates and times, kept as text once their characters check out. */
static bool looks_like_datetime(const char *t, size_t n)
{
    bool date = n >= 10 && t[4] == '-' && t[7] == '-';
    bool time = n >= 8 && t[2] == ':' && t[5] == ':';
    if (!date && !time)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("0123456789-:.TtZz+ ", t[i]) || t[i] == '\0')
            return false;
    return true;
}

static int scalar(parser *p, mrun_toml *v)
{
    size_t start = p->pos;
    while (is_bare(peek(p)) || peek(p) == '+' || peek(p) == '.' || peek(p) == ':')
        p->pos++;
    /* "1979-05-27 07:32:00": a space may separate a date from its time */
    if (p->pos - start == 10 && p->s[start + 4] == '-' && peek(p) == ' ' && is_digit_in(peek_at(p, 1), 10) &&
        is_digit_in(peek_at(p, 2), 10) && peek_at(p, 3) == ':') {
        p->pos++;
        while (is_bare(peek(p)) || peek(p) == '+' || peek(p) == '.' || peek(p) == ':')
            p->pos++;
    }
    const char *t = p->s + start;
    size_t n = p->pos - start;
    if (n == 0)
        return perr(p, EPROTO, "expected a value");
    if ((n == 4 && memcmp(t, "true", 4) == 0) || (n == 5 && memcmp(t, "false", 5) == 0)) {
        v->type = MRUN_TOML_BOOL, v->b = n == 4;
        return 0;
    }
    if (looks_like_datetime(t, n)) {
        v->type = MRUN_TOML_DATETIME;
        return set_text(p, v, t, n);
    }
    p->pos = start; /* report errors at the value's start */
    if (number(p, v, t, n) < 0)
        return -1;
    p->pos = start + n;
    return 0;
}

/* ---- values, key/value pairs, headers ---- */

static int parse_value(parser *p, unsigned depth, mrun_toml **ret);
static int keyval(parser *p, mrun_toml *t, unsigned depth);

static int array(parser *p, mrun_toml *v, unsigned depth)
{
    p->pos++;
    for (;;) {
        if (skip_ws_nl(p) < 0)
            return -1;
        if (peek(p) == ']')
            break;
        mrun_toml *item = NULL;
        if (parse_value(p, depth + 1, &item) < 0 || node_push(p, v, NULL, item) < 0)
            return -1;
        if (skip_ws_nl(p) < 0)
            return -1;
        if (peek(p) == ',') {
            p->pos++;
            continue;
        }
        if (peek(p) != ']')
            return perr(p, EPROTO, "expected ',' or ']' in array");
        break;
    }
    p->pos++;
    return 0;
}

/* { k = v, k = v } on one line, no trailing comma; closed for good once written. */
static int inline_table(parser *p, mrun_toml *v, unsigned depth)
{
    p->pos++;
    skip_ws(p);
    if (peek(p) == '}') {
        p->pos++;
        return 0;
    }
    for (;;) {
        if (keyval(p, v, depth + 1) < 0)
            return -1;
        skip_ws(p);
        if (peek(p) == ',') {
            p->pos++;
            continue;
        }
        if (peek(p) != '}')
            return perr(p, EPROTO, "expected ',' or '}' in inline table");
        p->pos++;
        return 0;
    }
}

static int parse_value(parser *p, unsigned depth, mrun_toml **ret)
{
    if (depth >= MRUN_TOML_MAX_DEPTH)
        return perr(p, E2BIG, "nested deeper than %d", MRUN_TOML_MAX_DEPTH);
    int c = peek(p);
    mrun_cleanup(node_freep) mrun_toml *v = node_new(p, MRUN_TOML_STRING, p->line);
    if (!v)
        return -1;
    if (c == '"' || c == '\'') {
        if (parse_string(p, true, &v->s, &v->slen) < 0)
            return -1;
    } else if (c == '[') {
        v->type = MRUN_TOML_ARRAY;
        if (array(p, v, depth) < 0)
            return -1;
    } else if (c == '{') {
        v->type = MRUN_TOML_TABLE;
        v->flags = F_INLINE;
        if (inline_table(p, v, depth) < 0)
            return -1;
    } else if (scalar(p, v) < 0) {
        return -1;
    }
    *ret = mrun_steal_ptr(&v);
    return 0;
}

/* key = value into table t: dotted keys create (or reopen) tables made by dotted keys only. */
static int keyval(parser *p, mrun_toml *t, unsigned depth)
{
    mrun_cleanup(keypath_fini) keypath k = {.n = 0};
    size_t key_pos = p->pos;
    if (parse_key(p, &k) < 0)
        return -1;
    if (peek(p) != '=')
        return perr(p, EPROTO, "expected '=' after a key");
    p->pos++;
    skip_ws(p);
    mrun_toml *v = NULL;
    if (parse_value(p, depth, &v) < 0)
        return -1;
    size_t end = p->pos;
    p->pos = key_pos; /* semantic errors point at the key */
    for (size_t i = 0; i + 1 < k.n; i++) {
        size_t at = tbl_find(t, k.part[i]);
        if (at == SIZE_MAX) {
            t = add_table(p, t, k.part[i], F_DOTTED);
        } else if (t->items[at]->type == MRUN_TOML_TABLE && (t->items[at]->flags & F_DOTTED)) {
            t = t->items[at];
        } else {
            t = NULL;
            perr(p, EPROTO, "key '%.64s' is already defined", k.part[i]);
        }
        if (!t) {
            node_free(v);
            return -1;
        }
    }
    if (tbl_find(t, k.part[k.n - 1]) != SIZE_MAX) {
        node_free(v);
        return perr(p, EPROTO, "key '%.64s' is already defined", k.part[k.n - 1]);
    }
    char *last = k.part[--k.n];
    if (node_push(p, t, last, v) < 0)
        return -1;
    p->pos = end;
    return 0;
}

/* The table a [header] prefix names: an existing table (or the last table of an array of tables), or a new one. */
static mrun_toml *header_prefix(parser *p, mrun_toml *t, const char *key)
{
    size_t at = tbl_find(t, key);
    if (at == SIZE_MAX)
        return add_table(p, t, key, F_IMPLICIT);
    mrun_toml *v = t->items[at];
    if (v->type == MRUN_TOML_ARRAY && (v->flags & F_AOT))
        return v->items[v->n - 1];
    if (v->type == MRUN_TOML_TABLE && !(v->flags & F_INLINE))
        return v;
    perr(p, EPROTO, "key '%.64s' is not a table", key);
    return NULL;
}

static int header(parser *p)
{
    bool aot = peek_at(p, 1) == '[';
    unsigned line = p->line;
    size_t at_pos = p->pos;
    p->pos += aot ? 2 : 1;
    mrun_cleanup(keypath_fini) keypath k = {.n = 0};
    if (parse_key(p, &k) < 0)
        return -1;
    if (peek(p) != ']' || (aot && peek_at(p, 1) != ']'))
        return perr(p, EPROTO, aot ? "expected ']]'" : "expected ']'");
    size_t end = p->pos + (aot ? 2 : 1);
    p->pos = at_pos;
    mrun_toml *t = p->root;
    for (size_t i = 0; t && i + 1 < k.n; i++)
        t = header_prefix(p, t, k.part[i]);
    if (!t)
        return -1;
    const char *last = k.part[k.n - 1];
    size_t at = tbl_find(t, last);
    mrun_toml *v = at == SIZE_MAX ? NULL : t->items[at];
    if (aot) {
        if (!v) {
            mrun_toml *arr = node_new(p, MRUN_TOML_ARRAY, line);
            char *key = strdup(last);
            if (!arr || !key) {
                node_free(arr);
                free(key);
                return arr && !key ? perr(p, ENOMEM, "out of memory") : -1;
            }
            arr->flags = F_AOT;
            if (node_push(p, t, key, arr) < 0)
                return -1;
            v = arr;
        } else if (v->type != MRUN_TOML_ARRAY || !(v->flags & F_AOT)) {
            return perr(p, EPROTO, "'%.64s' is not an array of tables", last);
        }
        mrun_toml *elem = node_new(p, MRUN_TOML_TABLE, line);
        if (!elem || node_push(p, v, NULL, elem) < 0)
            return -1;
        elem->flags = F_HEADER;
        p->cur = elem;
    } else if (!v) {
        if (!(p->cur = add_table(p, t, last, F_EXPLICIT)))
            return -1;
        p->cur->line = line;
    } else if (v->type == MRUN_TOML_TABLE && v->flags == F_IMPLICIT) {
        v->flags = F_EXPLICIT;
        v->line = line;
        p->cur = v;
    } else {
        return perr(p, EPROTO, "table '%.64s' is already defined", last);
    }
    p->pos = end;
    return 0;
}

/* ---- document ---- */

/* TOML documents are UTF-8: reject overlong forms, surrogates and code points past U+10FFFF up front. */
static int check_utf8(parser *p)
{
    const unsigned char *s = (const unsigned char *)p->s;
    for (size_t i = 0; i < p->len;) {
        unsigned c = s[i];
        size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
        uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
        bool ok = n > 0 && i + n <= p->len;
        for (size_t k = 1; ok && k < n; k++) {
            ok = (s[i + k] & 0xc0) == 0x80;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (!ok || cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            for (size_t k = 0; k < i; k++) /* find the line for the message */
                if (s[k] == '\n')
                    p->line++, p->line_start = k + 1;
            p->pos = i;
            return perr(p, EPROTO, "invalid UTF-8");
        }
        i += n;
    }
    return 0;
}

static int document(parser *p)
{
    if (check_utf8(p) < 0)
        return -1;
    if (p->len >= 3 && memcmp(p->s, "\xef\xbb\xbf", 3) == 0)
        p->pos = 3;
    for (;;) {
        skip_ws(p);
        int c = peek(p);
        if (c == -1)
            return 0;
        if (c == '#') {
            if (skip_comment(p) < 0)
                return -1;
        } else if (eat_newline(p)) {
            continue;
        } else if (c == '[') {
            if (header(p) < 0)
                return -1;
        } else if (keyval(p, p->cur, 0) < 0) {
            return -1;
        }
        if (expect_eol(p) < 0)
            return -1;
    }
}

int mrun_toml_parse(const uint8_t *buf, size_t len, mrun_toml **ret_root, mrun_err *err)
{
    parser p = {.s = (const char *)buf, .len = len, .line = 1, .err = err};
    mrun_cleanup(node_freep) mrun_toml *root = node_new(&p, MRUN_TOML_TABLE, 1);
    if (!root)
        return -1;
    root->flags = F_EXPLICIT;
    p.root = p.cur = root;
    if (document(&p) < 0)
        return -1;
    *ret_root = mrun_steal_ptr(&root);
    return 0;
}

void mrun_toml_free(mrun_toml *root)
{
    node_free(root);
}

void mrun_toml_freep(mrun_toml **root)
{
    node_free(*root);
}

/* ---- getters ---- */

mrun_toml_type mrun_toml_type_of(const mrun_toml *v)
{
    return v->type;
}

unsigned mrun_toml_line(const mrun_toml *v)
{
    return v ? v->line : 0;
}

const mrun_toml *mrun_toml_get(const mrun_toml *t, const char *key)
{
    if (!t || t->type != MRUN_TOML_TABLE)
        return NULL;
    size_t at = tbl_find(t, key);
    return at == SIZE_MAX ? NULL : t->items[at];
}

static const mrun_toml *get_typed(const mrun_toml *t, const char *key, mrun_toml_type type)
{
    const mrun_toml *v = mrun_toml_get(t, key);
    return v && v->type == type ? v : NULL;
}

const char *mrun_toml_get_str(const mrun_toml *t, const char *key)
{
    const mrun_toml *v = get_typed(t, key, MRUN_TOML_STRING);
    return v ? v->s : NULL;
}

const mrun_toml *mrun_toml_get_table(const mrun_toml *t, const char *key)
{
    return get_typed(t, key, MRUN_TOML_TABLE);
}

const mrun_toml *mrun_toml_get_array(const mrun_toml *t, const char *key)
{
    return get_typed(t, key, MRUN_TOML_ARRAY);
}

bool mrun_toml_get_bool(const mrun_toml *t, const char *key, bool *ret)
{
    const mrun_toml *v = get_typed(t, key, MRUN_TOML_BOOL);
    if (v)
        *ret = v->b;
    return v != NULL;
}

bool mrun_toml_get_int(const mrun_toml *t, const char *key, int64_t *ret)
{
    const mrun_toml *v = get_typed(t, key, MRUN_TOML_INTEGER);
    if (v)
        *ret = v->i;
    return v != NULL;
}

size_t mrun_toml_len(const mrun_toml *v)
{
    return v && (v->type == MRUN_TOML_ARRAY || v->type == MRUN_TOML_TABLE) ? v->n : 0;
}

const mrun_toml *mrun_toml_at(const mrun_toml *v, size_t i)
{
    return i < mrun_toml_len(v) ? v->items[i] : NULL;
}

const char *mrun_toml_key_at(const mrun_toml *t, size_t i)
{
    return t && t->type == MRUN_TOML_TABLE && i < t->n ? t->keys[i] : NULL;
}

const char *mrun_toml_str(const mrun_toml *v, size_t *ret_len)
{
    if (!v || (v->type != MRUN_TOML_STRING && v->type != MRUN_TOML_FLOAT && v->type != MRUN_TOML_DATETIME))
        return NULL;
    if (ret_len)
        *ret_len = v->slen;
    return v->s;
}

int64_t mrun_toml_int(const mrun_toml *v)
{
    return v && v->type == MRUN_TOML_INTEGER ? v->i : 0;
}

bool mrun_toml_bool(const mrun_toml *v)
{
    return v && v->type == MRUN_TOML_BOOL && v->b;
}
