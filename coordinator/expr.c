/* expr.c - lexer, recursive-descent parser and evaluator for stage `if:` conditions.
 * The tree lives in one flat node array allocated up front (bounded by the input length and max_nodes);
 * '&&' and '||' chains are n-ary sibling lists, so tree depth, and with it the recursion of both parse and eval,
 * is bounded by MRUN_EXPR_MAX_DEPTH however long the chain. */
#include "coordinator/expr.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../common/auto.h"
#include "../common/suggest.h"

#define NONE UINT32_MAX

enum kind { N_STR, N_INT, N_VAR, N_CALL, N_NOT, N_AND, N_OR, N_CMP };
enum type { T_STR, T_INT, T_BOOL };
enum var { V_EVENT, V_REF, V_BRANCH, V_TIER };
enum fn { F_SUCCESS, F_FAILURE, F_ALWAYS };
enum op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };

static const char *const var_names[] = {"event", "ref", "branch", "tier"};
static const char *const fn_names[] = {"success", "failure", "always"};
static const char *const op_names[] = {"==", "!=", "<", "<=", ">", ">="};
static const char *const type_names[] = {"a string", "an integer", "a condition"};

/* STR: a = offset into pool, b = length. CMP: a, b = operands. NOT: a = operand.
 * AND/OR: a = first child, children linked through next. */
struct node {
    uint8_t kind, type, sub; /* sub: enum var, fn or op */
    uint32_t col;
    uint32_t a, b, next;
    int64_t ival;
};

struct mrun_expr {
    uint32_t root;
    bool uses_status;
    char *pool; /* unescaped string literals, inside this allocation after nodes */
    struct node nodes[];
};

enum tok_kind { K_END, K_STR, K_INT, K_IDENT, K_LPAREN, K_RPAREN, K_NOT, K_AND, K_OR, K_CMP };

struct tok {
    enum tok_kind kind;
    uint32_t start, end; /* byte offsets into the source */
    uint32_t str_off, str_len;
    int64_t ival;
    enum op op;
};

struct parser {
    const char *s;
    size_t len, pos;
    struct tok cur;
    mrun_expr *e;
    unsigned n, cap, max_nodes, depth;
    size_t pool_len;
    mrun_err *err;
};

static int fail(struct parser *p, int sys_errno, size_t off, const char *what)
{
    return mrun_err_setx(p->err, sys_errno, "col %zu: %s", off + 1, what);
}

/* Describes the current token for "found ..." without echoing hostile bytes: printable ASCII only, truncated. */
static const char *describe(const struct parser *p, char *buf, size_t size)
{
    const struct tok *t = &p->cur;
    if (t->kind == K_END)
        return "end of input";
    if (t->kind == K_STR)
        return "a string";
    assert(size > 6);
    size_t o = 0, n = t->end - t->start, room = size - 6; /* quotes, "..." and NUL */
    buf[o++] = '\'';
    for (size_t i = 0; i < n && i < room; i++) {
        unsigned char c = (unsigned char)p->s[t->start + i];
        buf[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (n > room)
        buf[o++] = '.', buf[o++] = '.', buf[o++] = '.';
    buf[o++] = '\'';
    buf[o] = '\0';
    return buf;
}

static int fail_expected(struct parser *p, const char *expected)
{
    char buf[40];
    return mrun_err_setx(p->err, EINVAL, "col %u: expected %s, found %s", p->cur.start + 1, expected,
                         describe(p, buf, sizeof(buf)));
}

static bool is_ident(unsigned char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

static int lex_string(struct parser *p, struct tok *t)
{
    char q = p->s[p->pos++];
    char *out = p->e->pool + p->pool_len;
    uint32_t n = 0;
    for (;;) {
        if (p->pos >= p->len)
            return fail(p, EINVAL, t->start, "unterminated string");
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == (unsigned char)q)
            break;
        if (c < 0x20 || c == 0x7f)
            return fail(p, EINVAL, p->pos, "control character in string");
        if (c == '\\') {
            if (p->pos + 1 >= p->len)
                return fail(p, EINVAL, t->start, "unterminated string");
            c = (unsigned char)p->s[p->pos + 1];
            if (c != '\'' && c != '"' && c != '\\')
                return fail(p, EINVAL, p->pos, "unknown escape (only \\', \\\" and \\\\ are allowed)");
            p->pos++;
        }
        out[n++] = (char)c; /* the pool holds len bytes and each input byte yields at most one */
        p->pos++;
    }
    p->pos++;
    t->kind = K_STR;
    t->str_off = (uint32_t)p->pool_len;
    t->str_len = n;
    p->pool_len += n;
    return 0;
}

static int lex_int(struct parser *p, struct tok *t)
{
    bool neg = p->s[p->pos] == '-';
    if (neg)
        p->pos++;
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
        unsigned d = (unsigned)(p->s[p->pos++] - '0');
        if (v > (limit - d) / 10)
            return fail(p, EINVAL, t->start, "integer out of range");
        v = v * 10 + d;
    }
    if (p->pos < p->len && is_ident((unsigned char)p->s[p->pos], false))
        return fail(p, EINVAL, t->start, "malformed integer");
    t->kind = K_INT;
    t->ival = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return 0;
}

/* Two-character operators, and the single characters that are only half of one. */
static int lex_punct(struct parser *p, struct tok *t)
{
    char c = p->s[p->pos];
    char c2 = p->pos + 1 < p->len ? p->s[p->pos + 1] : '\0';
    size_t w = 1;
    switch (c) {
    case '(': t->kind = K_LPAREN; break;
    case ')': t->kind = K_RPAREN; break;
    case '!':
        if (c2 == '=')
            t->kind = K_CMP, t->op = OP_NE, w = 2;
        else
            t->kind = K_NOT;
        break;
    case '=':
        if (c2 != '=')
            return fail(p, EINVAL, p->pos, "unexpected '=' (did you mean '=='?)");
        t->kind = K_CMP, t->op = OP_EQ, w = 2;
        break;
    case '<':
    case '>':
        t->kind = K_CMP;
        w = c2 == '=' ? 2 : 1;
        t->op = c == '<' ? (w == 2 ? OP_LE : OP_LT) : (w == 2 ? OP_GE : OP_GT);
        break;
    case '&':
    case '|':
        if (c2 != c)
            return fail(p, EINVAL, p->pos, c == '&' ? "unexpected '&' (did you mean '&&'?)"
                                                    : "unexpected '|' (did you mean '||'?)");
        t->kind = c == '&' ? K_AND : K_OR;
        w = 2;
        break;
    default: {
        unsigned char u = (unsigned char)c;
        if (u >= 0x21 && u < 0x7f)
            return mrun_err_setx(p->err, EINVAL, "col %zu: unexpected character '%c'", p->pos + 1, c);
        return mrun_err_setx(p->err, EINVAL, "col %zu: unexpected byte 0x%02x", p->pos + 1, u);
    }
    }
    p->pos += w;
    return 0;
}

static int next(struct parser *p)
{
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' ||
                               p->s[p->pos] == '\r'))
        p->pos++;
    struct tok *t = &p->cur;
    memset(t, 0, sizeof(*t));
    t->start = (uint32_t)p->pos;
    int r = 0;
    if (p->pos >= p->len) {
        t->kind = K_END;
    } else {
        unsigned char c = (unsigned char)p->s[p->pos];
        unsigned char c2 = p->pos + 1 < p->len ? (unsigned char)p->s[p->pos + 1] : 0;
        if (c == '\'' || c == '"') {
            r = lex_string(p, t);
        } else if ((c >= '0' && c <= '9') || (c == '-' && c2 >= '0' && c2 <= '9')) {
            r = lex_int(p, t);
        } else if (is_ident(c, true)) {
            while (p->pos < p->len && is_ident((unsigned char)p->s[p->pos], false))
                p->pos++;
            t->kind = K_IDENT;
        } else {
            r = lex_punct(p, t);
        }
    }
    t->end = (uint32_t)p->pos;
    return r;
}

static int new_node(struct parser *p, enum kind kind, enum type type, uint32_t col, uint32_t *ret)
{
    if (p->n >= p->cap)
        return mrun_err_setx(p->err, E2BIG, "col %u: expression has more than %u nodes", col + 1, p->max_nodes);
    struct node *nd = &p->e->nodes[p->n];
    memset(nd, 0, sizeof(*nd));
    nd->kind = (uint8_t)kind;
    nd->type = (uint8_t)type;
    nd->col = col;
    nd->a = nd->b = nd->next = NONE;
    *ret = p->n++;
    return 0;
}

static int lookup(const char *s, size_t n, const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0)
            return (int)i;
    return -1;
}

static int fail_unknown(struct parser *p, const char *what, const char *const *names, size_t count)
{
    const char *id = p->s + p->cur.start;
    size_t n = p->cur.end - p->cur.start;
    const char *best = NULL;
    for (size_t i = 0; i < count; i++)
        if (mrun_edit_distance(id, n, names[i], strlen(names[i])) <= 2 && !best)
            best = names[i];
    int shown = n > 32 ? 32 : (int)n; /* identifiers are [A-Za-z0-9_] only, safe to echo */
    if (best)
        return mrun_err_setx(p->err, EINVAL, "col %u: unknown %s '%.*s%s' (did you mean '%s'?)", p->cur.start + 1,
                             what, shown, id, n > 32 ? "..." : "", best);
    return mrun_err_setx(p->err, EINVAL, "col %u: unknown %s '%.*s%s'", p->cur.start + 1, what, shown, id,
                         n > 32 ? "..." : "");
}

static int parse_or(struct parser *p, uint32_t *ret);

static int parse_ident(struct parser *p, uint32_t *ret)
{
    const char *id = p->s + p->cur.start;
    size_t n = p->cur.end - p->cur.start;
    uint32_t col = p->cur.start;
    if (p->cur.end < p->len && p->s[p->cur.end] == '(') {
        int f = lookup(id, n, fn_names, 3);
        if (f < 0)
            return fail_unknown(p, "function", fn_names, 3);
        if (next(p) < 0 || next(p) < 0)
            return -1;
        if (p->cur.kind != K_RPAREN)
            return fail_expected(p, "')' (status functions take no arguments)");
        if (new_node(p, N_CALL, T_BOOL, col, ret) < 0)
            return -1;
        p->e->nodes[*ret].sub = (uint8_t)f;
        p->e->uses_status = true;
        return next(p);
    }
    int v = lookup(id, n, var_names, 4);
    if (v < 0) {
        if (lookup(id, n, fn_names, 3) >= 0)
            return mrun_err_setx(p->err, EINVAL, "col %u: '%.*s' is a function: write %.*s()", col + 1, (int)n, id,
                                 (int)n, id);
        return fail_unknown(p, "variable", var_names, 4);
    }
    if (new_node(p, N_VAR, v == V_TIER ? T_INT : T_STR, col, ret) < 0)
        return -1;
    p->e->nodes[*ret].sub = (uint8_t)v;
    return next(p);
}

static int enter(struct parser *p)
{
    if (++p->depth > MRUN_EXPR_MAX_DEPTH)
        return mrun_err_setx(p->err, E2BIG, "col %u: nested deeper than %d", p->cur.start + 1, MRUN_EXPR_MAX_DEPTH);
    return 0;
}

static int parse_primary(struct parser *p, uint32_t *ret)
{
    struct tok t = p->cur;
    switch (t.kind) {
    case K_LPAREN:
        if (enter(p) < 0 || next(p) < 0 || parse_or(p, ret) < 0)
            return -1;
        if (p->cur.kind != K_RPAREN)
            return fail_expected(p, "')' or an operator");
        p->depth--;
        return next(p);
    case K_STR:
    case K_INT:
        if (new_node(p, t.kind == K_STR ? N_STR : N_INT, t.kind == K_STR ? T_STR : T_INT, t.start, ret) < 0)
            return -1;
        p->e->nodes[*ret].a = t.str_off;
        p->e->nodes[*ret].b = t.str_len;
        p->e->nodes[*ret].ival = t.ival;
        return next(p);
    case K_IDENT:
        return parse_ident(p, ret);
    default:
        return fail_expected(p, "a value, '(' or '!'");
    }
}

/* A node that must be a condition (operand of '!', '&&', '||', or the whole expression). */
static int need_bool(struct parser *p, uint32_t idx, const char *ctx)
{
    const struct node *nd = &p->e->nodes[idx];
    if (nd->type == T_BOOL)
        return 0;
    return mrun_err_setx(p->err, EINVAL, "col %u: %s needs a condition, found %s (compare it, e.g. %s)", nd->col + 1,
                         ctx, type_names[nd->type], nd->type == T_INT ? "tier >= 2" : "branch == 'main'");
}

static int parse_unary(struct parser *p, uint32_t *ret)
{
    if (p->cur.kind != K_NOT)
        return parse_primary(p, ret);
    uint32_t col = p->cur.start, operand;
    if (enter(p) < 0 || next(p) < 0 || parse_unary(p, &operand) < 0)
        return -1;
    p->depth--;
    if (p->e->nodes[operand].type != T_BOOL)
        return mrun_err_setx(p->err, EINVAL, "col %u: '!' needs a condition, found %s ('!' binds tighter than '==': "
                             "write !(a == b))", p->e->nodes[operand].col + 1, type_names[p->e->nodes[operand].type]);
    if (new_node(p, N_NOT, T_BOOL, col, ret) < 0)
        return -1;
    p->e->nodes[*ret].a = operand;
    return 0;
}

static int parse_cmp(struct parser *p, uint32_t *ret)
{
    uint32_t lhs, rhs;
    if (parse_unary(p, &lhs) < 0)
        return -1;
    if (p->cur.kind != K_CMP) {
        *ret = lhs;
        return 0;
    }
    struct tok op = p->cur;
    if (next(p) < 0 || parse_unary(p, &rhs) < 0)
        return -1;
    enum type tl = p->e->nodes[lhs].type, tr = p->e->nodes[rhs].type;
    if (tl != tr)
        return mrun_err_setx(p->err, EINVAL, "col %u: '%s' compares %s with %s", op.start + 1, op_names[op.op],
                             type_names[tl], type_names[tr]);
    if (tl != T_INT && op.op != OP_EQ && op.op != OP_NE)
        return mrun_err_setx(p->err, EINVAL, "col %u: '%s' needs integers, found %s", op.start + 1,
                             op_names[op.op], type_names[tl]);
    if (p->cur.kind == K_CMP)
        return mrun_err_setx(p->err, EINVAL, "col %u: comparisons do not chain; add parentheses", p->cur.start + 1);
    if (new_node(p, N_CMP, T_BOOL, op.start, ret) < 0)
        return -1;
    struct node *nd = &p->e->nodes[*ret];
    nd->sub = (uint8_t)op.op;
    nd->a = lhs;
    nd->b = rhs;
    return 0;
}

/* One level of an n-ary chain: and := cmp ('&&' cmp)*, or := and ('||' and)*. */
static int parse_chain(struct parser *p, enum tok_kind sep, uint32_t *ret)
{
    bool is_or = sep == K_OR;
    const char *ctx = is_or ? "'||'" : "'&&'";
    uint32_t first, tail, child, chain = NONE;
    if ((is_or ? parse_chain(p, K_AND, &first) : parse_cmp(p, &first)) < 0)
        return -1;
    tail = first;
    while (p->cur.kind == sep) {
        uint32_t col = p->cur.start;
        if (chain == NONE) {
            if (need_bool(p, first, ctx) < 0 || new_node(p, is_or ? N_OR : N_AND, T_BOOL, col, &chain) < 0)
                return -1;
            p->e->nodes[chain].a = first;
        }
        if (next(p) < 0 || (is_or ? parse_chain(p, K_AND, &child) : parse_cmp(p, &child)) < 0)
            return -1;
        if (need_bool(p, child, ctx) < 0)
            return -1;
        p->e->nodes[tail].next = child;
        tail = child;
    }
    *ret = chain == NONE ? first : chain;
    return 0;
}

static int parse_or(struct parser *p, uint32_t *ret)
{
    return parse_chain(p, K_OR, ret);
}

int mrun_expr_parse(const char *text, size_t len, unsigned max_nodes, mrun_expr **ret_expr, mrun_err *err)
{
    assert(text || len == 0);
    if (len > MRUN_EXPR_MAX_LEN)
        return mrun_err_setx(err, E2BIG, "expression longer than %d bytes", MRUN_EXPR_MAX_LEN);
    /* Every node owns at least one distinct token, so len + 1 nodes always suffice. */
    unsigned cap = max_nodes < len + 1 ? max_nodes : (unsigned)len + 1;
    mrun_cleanup(mrun_expr_freep) mrun_expr *e = malloc(sizeof(*e) + (size_t)cap * sizeof(struct node) + len + 1);
    if (!e)
        return mrun_err_set(err, ENOMEM, "allocate expression");
    e->uses_status = false;
    e->pool = (char *)&e->nodes[cap];
    struct parser p = {.s = text, .len = len, .e = e, .cap = cap, .max_nodes = max_nodes, .err = err};
    if (next(&p) < 0 || parse_or(&p, &e->root) < 0)
        return -1;
    if (p.cur.kind != K_END)
        return fail_expected(&p, "an operator or end of input");
    if (need_bool(&p, e->root, "the expression") < 0)
        return -1;
    *ret_expr = mrun_steal_ptr(&e);
    return 0;
}

static const char *str_of(const mrun_expr *e, const struct node *nd, const mrun_expr_env *env, size_t *ret_len)
{
    const char *s = "";
    if (nd->kind == N_STR) {
        *ret_len = nd->b;
        return e->pool + nd->a;
    }
    switch (nd->sub) {
    case V_EVENT: s = env->event; break;
    case V_REF: s = env->ref; break;
    case V_BRANCH: s = env->branch; break;
    default: assert(!"not a string variable");
    }
    if (!s)
        s = "";
    *ret_len = strlen(s);
    return s;
}

static bool eval_node(const mrun_expr *e, uint32_t idx, const mrun_expr_env *env);

static bool eval_cmp(const mrun_expr *e, const struct node *nd, const mrun_expr_env *env)
{
    const struct node *l = &e->nodes[nd->a], *r = &e->nodes[nd->b];
    int c;
    if (l->type == T_STR) {
        size_t ll, rl;
        const char *ls = str_of(e, l, env, &ll), *rs = str_of(e, r, env, &rl);
        c = ll == rl && memcmp(ls, rs, ll) == 0 ? 0 : 1;
    } else if (l->type == T_INT) {
        int64_t lv = l->kind == N_VAR ? env->tier : l->ival, rv = r->kind == N_VAR ? env->tier : r->ival;
        c = lv < rv ? -1 : lv > rv;
    } else {
        c = eval_node(e, nd->a, env) != eval_node(e, nd->b, env);
    }
    switch (nd->sub) {
    case OP_EQ: return c == 0;
    case OP_NE: return c != 0;
    case OP_LT: return c < 0;
    case OP_LE: return c <= 0;
    case OP_GT: return c > 0;
    default: return c >= 0;
    }
}

static bool eval_node(const mrun_expr *e, uint32_t idx, const mrun_expr_env *env)
{
    const struct node *nd = &e->nodes[idx];
    switch (nd->kind) {
    case N_CALL:
        return nd->sub == F_ALWAYS ? true : nd->sub == F_SUCCESS ? env->needs_ok : !env->needs_ok;
    case N_NOT:
        return !eval_node(e, nd->a, env);
    case N_AND:
        for (uint32_t c = nd->a; c != NONE; c = e->nodes[c].next)
            if (!eval_node(e, c, env))
                return false;
        return true;
    case N_OR:
        for (uint32_t c = nd->a; c != NONE; c = e->nodes[c].next)
            if (eval_node(e, c, env))
                return true;
        return false;
    case N_CMP:
        return eval_cmp(e, nd, env);
    default:
        assert(!"parse guarantees a condition");
        return false;
    }
}

bool mrun_expr_eval(const mrun_expr *e, const mrun_expr_env *env)
{
    assert(e && env);
    if (!e->uses_status && !env->needs_ok)
        return false;
    return eval_node(e, e->root, env);
}

bool mrun_expr_uses_status(const mrun_expr *e)
{
    assert(e);
    return e->uses_status;
}

void mrun_expr_free(mrun_expr *e)
{
    free(e);
}

void mrun_expr_freep(mrun_expr **e)
{
    mrun_expr_free(*e);
    *e = NULL;
}
