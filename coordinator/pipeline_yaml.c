/* pipeline_yaml.c - turns pipeline YAML bytes into a small bounded tree: encoding checks, libyaml events,
 * and the limits that keep hostile input (billion laughs, deep nesting, huge scalars) cheap to reject. */
#include "coordinator/pipeline_int.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "../common/auto.h"

#define ARENA_BLOCK 8192

struct parena {
    struct parena *next;
    size_t used, cap;
    max_align_t data[];
};

void *parena_alloc(parena **a, size_t size)
{
    size = (size + 15) & ~(size_t)15;
    if (size == 0 || size > SIZE_MAX / 2)
        return NULL;
    if (!*a || (*a)->cap - (*a)->used < size) {
        size_t cap = size > ARENA_BLOCK ? size : ARENA_BLOCK;
        parena *b = calloc(1, sizeof(*b) + cap);
        if (!b)
            return NULL;
        b->cap = cap;
        if (*a && size > ARENA_BLOCK) { /* keep filling the current block; chain the big one behind it */
            b->next = (*a)->next;
            (*a)->next = b;
            b->used = size;
            return b->data;
        }
        b->next = *a;
        *a = b;
    }
    void *p = (char *)(*a)->data + (*a)->used;
    (*a)->used += size;
    return p;
}

char *parena_strdup(parena **a, const char *s, size_t len)
{
    char *p = parena_alloc(a, len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

void parena_free(parena *a)
{
    while (a) {
        parena *next = a->next;
        free(a);
        a = next;
    }
}

int pl_fail(mrun_err *err, int sys_errno, const char *file, unsigned line, unsigned col, const char *fmt, ...)
{
    char msg[sizeof(err->msg)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return mrun_err_setx(err, sys_errno, "%.80s:%u:%u: %s", file, line, col, msg);
}

/* Strict UTF-8 (no overlongs, no surrogates, nothing past U+10FFFF) and no NUL: libyaml would stop at a NUL
 * or report a bad byte without a precise position, and every later consumer assumes C strings. */
static int check_utf8(const char *file, const uint8_t *b, size_t len, mrun_err *err)
{
    unsigned line = 1, col = 1;
    size_t i = 0;
    while (i < len) {
        uint8_t c = b[i];
        if (c == 0)
            return pl_fail(err, EINVAL, file, line, col, "NUL byte in input (expected UTF-8 text)");
        if (c < 0x80) {
            i++;
            if (c == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xC2 && c <= 0xDF) {
            n = 2;
            cp = c & 0x1Fu;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 3;
            cp = c & 0x0Fu;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 4;
            cp = c & 0x07u;
        } else {
            return pl_fail(err, EINVAL, file, line, col, "invalid UTF-8 byte 0x%02x", c);
        }
        if (len - i < n)
            return pl_fail(err, EINVAL, file, line, col, "truncated UTF-8 sequence");
        for (size_t k = 1; k < n; k++) {
            if ((b[i + k] & 0xC0) != 0x80)
                return pl_fail(err, EINVAL, file, line, col, "invalid UTF-8 sequence");
            cp = (cp << 6) | (b[i + k] & 0x3Fu);
        }
        if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return pl_fail(err, EINVAL, file, line, col, "invalid UTF-8 sequence (overlong, surrogate or out of range)");
        i += n;
        col++;
    }
    return 0;
}

typedef struct builder {
    const char *file;
    const mrun_pipeline_limits *lim;
    parena **a;
    mrun_err *err;
    pnode **stack; /* open collections; stack[depth-1] is the innermost */
    size_t depth;
    pnode *root;
    int docs;
} builder;

static void parser_deletep(yaml_parser_t *p)
{
    yaml_parser_delete(p);
}

static int add_node(builder *b, const yaml_event_t *ev, pn_kind kind, pnode **ret)
{
    unsigned line = (unsigned)ev->start_mark.line + 1, col = (unsigned)ev->start_mark.column + 1;
    const yaml_char_t *anchor = NULL, *tag = NULL;
    if (kind == PN_SCALAR) {
        anchor = ev->data.scalar.anchor;
        tag = ev->data.scalar.tag;
    } else if (kind == PN_MAP) {
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
    } else {
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
    }
    if (anchor)
        return pl_fail(b->err, EINVAL, b->file, line, col, "anchors (&%.40s) are not allowed", (const char *)anchor);
    if (tag)
        return pl_fail(b->err, EINVAL, b->file, line, col, "tags (%.40s) are not allowed", (const char *)tag);
    pnode *parent = b->depth ? b->stack[b->depth - 1] : NULL;
    if (!parent && b->root)
        return pl_fail(b->err, EINVAL, b->file, line, col, "unexpected second top-level node");
    if (parent) {
        size_t max = parent->kind == PN_MAP ? 2 * b->lim->max_items : b->lim->max_items;
        if (parent->n >= max)
            return pl_fail(b->err, E2BIG, b->file, line, col, "more than %zu entries in one %s", b->lim->max_items,
                           parent->kind == PN_MAP ? "mapping" : "list");
        if (parent->kind == PN_MAP && parent->n % 2 == 0 && kind != PN_SCALAR)
            return pl_fail(b->err, EINVAL, b->file, line, col, "mapping keys must be plain strings");
    }
    pnode *n = parena_alloc(b->a, sizeof(*n));
    if (!n)
        return mrun_err_set(b->err, ENOMEM, "%s", b->file);
    n->kind = kind;
    n->line = line;
    n->col = col;
    if (kind == PN_SCALAR) {
        size_t len = ev->data.scalar.length;
        const char *v = (const char *)ev->data.scalar.value;
        if (len > b->lim->max_string)
            return pl_fail(b->err, E2BIG, b->file, line, col, "string of %zu bytes is longer than the limit of %zu", len,
                           b->lim->max_string);
        if (memchr(v, 0, len))
            return pl_fail(b->err, EINVAL, b->file, line, col, "NUL character in string");
        n->str = parena_strdup(b->a, v, len);
        if (!n->str)
            return mrun_err_set(b->err, ENOMEM, "%s", b->file);
        n->len = len;
    }
    if (!parent) {
        b->root = n;
    } else {
        if (parent->last)
            parent->last->next = n;
        else
            parent->first = n;
        parent->last = n;
        parent->n++;
    }
    *ret = n;
    return 0;
}

static int on_event(builder *b, const yaml_event_t *ev)
{
    unsigned line = (unsigned)ev->start_mark.line + 1, col = (unsigned)ev->start_mark.column + 1;
    pnode *n = NULL;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (b->docs++ > 0)
            return pl_fail(b->err, EINVAL, b->file, line, col, "only one YAML document is allowed");
        return 0;
    case YAML_ALIAS_EVENT:
        return pl_fail(b->err, EINVAL, b->file, line, col, "aliases (*%.40s) are not allowed",
                       (const char *)ev->data.alias.anchor);
    case YAML_SCALAR_EVENT:
        return add_node(b, ev, PN_SCALAR, &n);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (b->depth >= b->lim->max_depth)
            return pl_fail(b->err, E2BIG, b->file, line, col, "nesting deeper than %zu levels", b->lim->max_depth);
        if (add_node(b, ev, ev->type == YAML_MAPPING_START_EVENT ? PN_MAP : PN_SEQ, &n) < 0)
            return -1;
        b->stack[b->depth++] = n;
        return 0;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        assert(b->depth > 0);
        b->depth--;
        return 0;
    default:
        return 0;
    }
}

static int syntax_error(const char *file, const yaml_parser_t *p, mrun_err *err)
{
    if (p->error == YAML_MEMORY_ERROR)
        return mrun_err_set(err, ENOMEM, "%s: parsing YAML", file);
    const yaml_mark_t *m = &p->problem_mark;
    if (p->context)
        return pl_fail(err, EINVAL, file, (unsigned)m->line + 1, (unsigned)m->column + 1, "YAML syntax error: %.80s %.80s",
                       p->problem ? p->problem : "unknown problem", p->context);
    return pl_fail(err, EINVAL, file, (unsigned)m->line + 1, (unsigned)m->column + 1, "YAML syntax error: %.80s",
                   p->problem ? p->problem : "unknown problem");
}

int pl_tree_build(const char *file, const uint8_t *buf, size_t len, const mrun_pipeline_limits *lim, parena **a,
                  pnode **ret_root, mrun_err *err)
{
    if (len == 0)
        return pl_fail(err, EINVAL, file, 1, 1, "empty file (expected a mapping with 'stages')");
    if (len > lim->max_bytes)
        return pl_fail(err, E2BIG, file, 1, 1, "file is %zu bytes, larger than the limit of %zu", len, lim->max_bytes);
    if (check_utf8(file, buf, len, err) < 0)
        return -1;
    mrun_autofree pnode **stack = calloc(lim->max_depth + 1, sizeof(*stack));
    if (!stack)
        return mrun_err_set(err, ENOMEM, "%s", file);
    mrun_cleanup(parser_deletep) yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        memset(&p, 0, sizeof(p)); /* yaml_parser_delete on a zeroed parser is a no-op */
        return mrun_err_set(err, ENOMEM, "%s", file);
    }
    yaml_parser_set_input_string(&p, buf, len);
    yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
    builder b = {.file = file, .lim = lim, .a = a, .err = err, .stack = stack};
    for (size_t events = 0;; events++) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev))
            return syntax_error(file, &p, err);
        int r = 0;
        if (events >= lim->max_events)
            r = pl_fail(err, E2BIG, file, (unsigned)ev.start_mark.line + 1, (unsigned)ev.start_mark.column + 1,
                        "more than %zu YAML events", lim->max_events);
        else
            r = on_event(&b, &ev);
        int done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        if (r < 0)
            return -1;
        if (done)
            break;
    }
    if (!b.root)
        return pl_fail(err, EINVAL, file, 1, 1, "empty file (expected a mapping with 'stages')");
    *ret_root = b.root;
    return 0;
}
