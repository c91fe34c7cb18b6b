/* spdx.c - SPDX license ids and expressions: lookups in the generated tables (data/spdx/spdx_data.c), a bounded
 * recursive-descent parser for `MIT`, `(MIT OR Apache-2.0) AND BSD-3-Clause`, `GPL-2.0-only WITH
 * Classpath-exception-2.0`, `LicenseRef-x`, `Apache-2.0+`, deprecated ids mapped to their current form, and the
 * free-text spellings packages declare ("Apache 2.0", "MIT License", "GPLv3+", PyPI classifiers). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/auto.h"
#include "spdx.h"

/* ---- tables ---- */

static int cmp_n(const char *id, size_t len, const char *entry)
{
    int c = strncasecmp(id, entry, len);
    if (c != 0)
        return c;
    return entry[len] == '\0' ? 0 : -1;
}

const mrun_spdx_license *mrun_spdx_lookup(const char *id, size_t len)
{
    size_t lo = 0, hi = mrun_spdx_n_licenses;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_n(id, len, mrun_spdx_licenses[mid].id);
        if (c == 0)
            return &mrun_spdx_licenses[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

const char *mrun_spdx_exception(const char *id, size_t len)
{
    size_t lo = 0, hi = mrun_spdx_n_exceptions;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_n(id, len, mrun_spdx_exceptions[mid]);
        if (c == 0)
            return mrun_spdx_exceptions[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Deprecated "-with-" ids, which SPDX replaced by an expression with WITH. */
static const struct {
    const char *old, *id, *exception;
} with_ids[] = {
    {"GPL-2.0-with-autoconf-exception", "GPL-2.0-only", "Autoconf-exception-2.0"},
    {"GPL-2.0-with-bison-exception", "GPL-2.0-or-later", "Bison-exception-2.2"},
    {"GPL-2.0-with-classpath-exception", "GPL-2.0-only", "Classpath-exception-2.0"},
    {"GPL-2.0-with-font-exception", "GPL-2.0-only", "Font-exception-2.0"},
    {"GPL-2.0-with-GCC-exception", "GPL-2.0-or-later", "GCC-exception-2.0"},
    {"GPL-3.0-with-autoconf-exception", "GPL-3.0-only", "Autoconf-exception-3.0"},
    {"GPL-3.0-with-GCC-exception", "GPL-3.0-only", "GCC-exception-3.1"},
};

/* Exceptions that let programs link with the library without its copyleft reaching them. */
static const char *const linking_exceptions[] = {"Classpath-exception-2.0",    "GCC-exception-2.0",
                                                 "GCC-exception-3.1",          "LLVM-exception",
                                                 "Autoconf-exception-2.0",     "Autoconf-exception-3.0",
                                                 "Bison-exception-2.2",        "Font-exception-2.0",
                                                 "Linux-syscall-note",         "Universal-FOSS-exception-1.0",
                                                 "WxWindows-exception-3.1",    "OpenJDK-assembly-exception-1.0",
                                                 "GPL-3.0-linking-exception",  "GPL-3.0-linking-source-exception",
                                                 "LGPL-3.0-linking-exception", "freertos-exception-2.0",
                                                 "eCos-exception-2.0",         "Qt-LGPL-exception-1.1"};

mrun_lic_category mrun_spdx_leaf_category(const mrun_spdx_node *leaf)
{
    if (leaf->kind != MRUN_SPDX_LEAF || !leaf->known)
        return MRUN_LIC_OTHER;
    const mrun_spdx_license *l = mrun_spdx_lookup(leaf->id, strlen(leaf->id));
    mrun_lic_category c = l ? l->category : MRUN_LIC_OTHER;
    if (c == MRUN_LIC_STRONG && leaf->exception)
        for (size_t i = 0; i < sizeof(linking_exceptions) / sizeof(linking_exceptions[0]); i++)
            if (strcmp(leaf->exception, linking_exceptions[i]) == 0)
                return MRUN_LIC_WEAK;
    return c;
}

/* ---- expressions ---- */

void mrun_spdx_free(mrun_spdx_expr *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n; i++) {
        free(e->nodes[i].id);
        free(e->nodes[i].exception);
    }
    free(e->nodes);
    free(e);
}

void mrun_spdx_freep(mrun_spdx_expr **e)
{
    mrun_spdx_free(*e);
}

typedef struct parser {
    const char *s, *end, *start;
    mrun_spdx_expr *e;
    size_t cap;
    int depth;
    mrun_err *err;
} parser;

static bool id_char(int c)
{
    return isalnum(c) || c == '-' || c == '.' || c == ':' || c == '_';
}

static void skip_blank(parser *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
        p->s++;
}

static int fail(parser *p, const char *why)
{
    return mrun_err_setx(p->err, EPROTO, "col %zu: %s", (size_t)(p->s - p->start) + 1, why);
}

/* The word at the cursor (not consumed); 0 when the next byte starts none. */
static size_t peek_word(parser *p)
{
    skip_blank(p);
    size_t n = 0;
    while (p->s + n < p->end && id_char((unsigned char)p->s[n]))
        n++;
    return n;
}

static bool is_op(const char *w, size_t n, const char *op)
{
    size_t m = strlen(op);
    if (n != m)
        return false;
    /* SPDX operators are all upper case or all lower case */
    return strncmp(w, op, m) == 0 ||
           (strncasecmp(w, op, m) == 0 && islower((unsigned char)w[0]) && islower((unsigned char)w[m - 1]));
}

static int new_node(parser *p, mrun_spdx_kind kind, size_t *ret)
{
    if (p->e->n == MRUN_SPDX_MAX_NODES)
        return mrun_err_setx(p->err, E2BIG, "more than %d licenses in one expression", MRUN_SPDX_MAX_NODES);
    if (p->e->n == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 8;
        mrun_spdx_node *nn = realloc(p->e->nodes, ncap * sizeof(*nn));
        if (!nn)
            return mrun_err_set(p->err, ENOMEM, "license expression");
        p->e->nodes = nn;
        p->cap = ncap;
    }
    p->e->nodes[p->e->n] = (mrun_spdx_node){.kind = kind};
    *ret = p->e->n++;
    return 0;
}

static char *dup_n(const char *s, size_t n)
{
    return strndup(s, n);
}

/* Fills leaf from the id text w[0..n) (with a trailing '+' when plus): canonical spelling, deprecated forms
 * mapped. */
static int set_leaf(parser *p, mrun_spdx_node *leaf, const char *w, size_t n, bool plus)
{
    char buf[256];
    for (size_t i = 0; i < sizeof(with_ids) / sizeof(with_ids[0]); i++)
        if (strlen(with_ids[i].old) == n && strncasecmp(w, with_ids[i].old, n) == 0) {
            leaf->id = strdup(with_ids[i].id);
            leaf->exception = strdup(with_ids[i].exception);
            leaf->known = true;
            return leaf->id && leaf->exception ? 0 : mrun_err_set(p->err, ENOMEM, "license expression");
        }
    const mrun_spdx_license *l = mrun_spdx_lookup(w, n);
    const char *id = l ? l->id : NULL;
    size_t idn = id ? strlen(id) : 0;
    const mrun_spdx_license *cur = NULL;
    if (l && (l->flags & MRUN_LIC_DEPRECATED) &&
        snprintf(buf, sizeof(buf), "%s-%s", id, plus ? "or-later" : "only") < (int)sizeof(buf))
        cur = mrun_spdx_lookup(buf, strlen(buf)); /* GPL-2.0 -> GPL-2.0-only; GPL-2.0+ -> GPL-2.0-or-later */
    else if (l && plus && idn > 5 && strcmp(id + idn - 5, "-only") == 0 &&
             snprintf(buf, sizeof(buf), "%.*s-or-later", (int)(idn - 5), id) < (int)sizeof(buf))
        cur = mrun_spdx_lookup(buf, strlen(buf)); /* GPL-2.0-only+ -> GPL-2.0-or-later */
    if (cur) {
        id = cur->id;
        plus = false;
    }
    leaf->known = l != NULL;
    leaf->or_later = plus;
    leaf->id = id ? strdup(id) : dup_n(w, n);
    return leaf->id ? 0 : mrun_err_set(p->err, ENOMEM, "license expression");
}

static int parse_or(parser *p, size_t *ret);

/* simple [WITH exception] | '(' or ')' */
static int parse_primary(parser *p, size_t *ret)
{
    skip_blank(p);
    if (p->s < p->end && *p->s == '(') {
        if (++p->depth > MRUN_SPDX_MAX_DEPTH)
            return mrun_err_setx(p->err, E2BIG, "parentheses nested deeper than %d", MRUN_SPDX_MAX_DEPTH);
        p->s++;
        if (parse_or(p, ret) < 0)
            return -1;
        skip_blank(p);
        if (p->s >= p->end || *p->s != ')')
            return fail(p, "expected ')'");
        p->s++;
        p->depth--;
        return 0;
    }
    size_t n = peek_word(p);
    if (n == 0)
        return fail(p, p->s < p->end ? "expected a license id" : "expression ends where a license id belongs");
    const char *w = p->s;
    if (is_op(w, n, "AND") || is_op(w, n, "OR") || is_op(w, n, "WITH"))
        return fail(p, "expected a license id, not an operator");
    p->s += n;
    bool plus = p->s < p->end && *p->s == '+';
    if (plus)
        p->s++;
    size_t i;
    if (new_node(p, MRUN_SPDX_LEAF, &i) < 0 || set_leaf(p, &p->e->nodes[i], w, n, plus) < 0)
        return -1;
    size_t m = peek_word(p);
    if (m && is_op(p->s, m, "WITH")) {
        p->s += m;
        size_t k = peek_word(p);
        if (k == 0)
            return fail(p, "expected an exception id after WITH");
        const char *ex = mrun_spdx_exception(p->s, k);
        mrun_spdx_node *leaf = &p->e->nodes[i];
        free(leaf->exception); /* a deprecated -with- id already had one; the written one wins */
        leaf->exception = ex ? strdup(ex) : dup_n(p->s, k);
        if (!leaf->exception)
            return mrun_err_set(p->err, ENOMEM, "license expression");
        p->s += k;
    }
    *ret = i;
    return 0;
}

/* A chain of operands joined by op (AND binds tighter than OR). */
static int parse_chain(parser *p, size_t *ret, const char *op, int (*operand)(parser *, size_t *), mrun_spdx_kind kind)
{
    size_t left;
    if (operand(p, &left) < 0)
        return -1;
    for (;;) {
        size_t n = peek_word(p);
        if (n == 0 || !is_op(p->s, n, op))
            break;
        p->s += n;
        size_t right, node;
        if (operand(p, &right) < 0 || new_node(p, kind, &node) < 0)
            return -1;
        p->e->nodes[node].left = left;
        p->e->nodes[node].right = right;
        left = node;
    }
    *ret = left;
    return 0;
}

static int parse_and(parser *p, size_t *ret)
{
    return parse_chain(p, ret, "AND", parse_primary, MRUN_SPDX_AND);
}

static int parse_or(parser *p, size_t *ret)
{
    return parse_chain(p, ret, "OR", parse_and, MRUN_SPDX_OR);
}

int mrun_spdx_parse(const char *s, size_t len, mrun_spdx_expr **ret, mrun_err *err)
{
    if (len > MRUN_SPDX_MAX_EXPR)
        return mrun_err_setx(err, E2BIG, "license expression longer than %d bytes", MRUN_SPDX_MAX_EXPR);
    mrun_cleanup(mrun_spdx_freep) mrun_spdx_expr *e = calloc(1, sizeof(*e));
    if (!e)
        return mrun_err_set(err, ENOMEM, "license expression");
    parser p = {.s = s, .end = s + len, .start = s, .e = e, .err = err};
    if (parse_or(&p, &e->root) < 0)
        return -1;
    skip_blank(&p);
    if (p.s != p.end)
        return fail(&p, *p.s == ')' ? "unbalanced ')'" : "unexpected text after the expression");
    *ret = mrun_steal_ptr(&e);
    return 0;
}

/* ---- free text ---- */

/* Free-text spellings, keyed by the text's words lowercased and joined without separators, with filler words
 * ("the", "license", "version", "v" before a number) dropped. Only names that mean one license. */
/* clang-format off */
static const struct {
    const char *key, *expr;
} aliases[] = {
    {"mit", "MIT"}, {"expat", "MIT"}, {"mitexpat", "MIT"}, {"mitnoattribution", "MIT-0"}, {"iscl", "ISC"},
    {"apache2.0", "Apache-2.0"}, {"apache2", "Apache-2.0"}, {"asl2.0", "Apache-2.0"}, {"asl2", "Apache-2.0"},
    {"apl2.0", "Apache-2.0"}, {"apache1.1", "Apache-1.1"}, {"bsd2clause", "BSD-2-Clause"},
    {"bsd2", "BSD-2-Clause"}, {"simplifiedbsd", "BSD-2-Clause"}, {"freebsd", "BSD-2-Clause"},
    {"bsd3clause", "BSD-3-Clause"}, {"bsd3", "BSD-3-Clause"}, {"newbsd", "BSD-3-Clause"},
    {"modifiedbsd", "BSD-3-Clause"}, {"revisedbsd", "BSD-3-Clause"}, {"bsd4clause", "BSD-4-Clause"},
    {"originalbsd", "BSD-4-Clause"}, {"zerobsd", "0BSD"}, {"gpl", "GPL-1.0-or-later"},
    {"gnugpl", "GPL-1.0-or-later"}, {"gnugeneralpublic", "GPL-1.0-or-later"}, {"gpl2", "GPL-2.0-only"},
    {"gpl2.0", "GPL-2.0-only"}, {"gnugpl2", "GPL-2.0-only"}, {"gnugeneralpublic2", "GPL-2.0-only"},
    {"gpl3", "GPL-3.0-only"}, {"gpl3.0", "GPL-3.0-only"}, {"gnugpl3", "GPL-3.0-only"},
    {"gnugeneralpublic3", "GPL-3.0-only"}, {"lgpl", "LGPL-2.0-or-later"}, {"lgpl2", "LGPL-2.0-only"},
    {"lgpl2.0", "LGPL-2.0-only"}, {"lgpl2.1", "LGPL-2.1-only"}, {"lgpl3", "LGPL-3.0-only"},
    {"lgpl3.0", "LGPL-3.0-only"}, {"gnulessergeneralpublic2.1", "LGPL-2.1-only"},
    {"gnulessergeneralpublic3", "LGPL-3.0-only"}, {"agpl", "AGPL-3.0-or-later"}, {"agpl3", "AGPL-3.0-only"},
    {"agpl3.0", "AGPL-3.0-only"}, {"gnuafferogeneralpublic3", "AGPL-3.0-only"},
    {"gnuafferogeneralpublic", "AGPL-3.0-or-later"}, {"mpl2", "MPL-2.0"}, {"mpl2.0", "MPL-2.0"},
    {"mozillapublic2.0", "MPL-2.0"}, {"mpl1.1", "MPL-1.1"}, {"epl", "EPL-1.0"}, {"epl1.0", "EPL-1.0"},
    {"epl2.0", "EPL-2.0"}, {"eclipsepublic2.0", "EPL-2.0"}, {"eclipsepublic1.0", "EPL-1.0"},
    {"cddl1.0", "CDDL-1.0"}, {"cddl1.1", "CDDL-1.1"}, {"unlicense", "Unlicense"}, {"wtfpl", "WTFPL"},
    {"cc0", "CC0-1.0"}, {"cc01.0", "CC0-1.0"}, {"cc0universal", "CC0-1.0"}, {"zliblibpng", "Zlib"},
    {"boost", "BSL-1.0"}, {"boost1.0", "BSL-1.0"}, {"bsl1.0", "BSL-1.0"}, {"psf", "PSF-2.0"}, {"psfl", "PSF-2.0"},
    {"pythonfoundation", "PSF-2.0"}, {"psf2", "PSF-2.0"}, {"upl", "UPL-1.0"}, {"universalpermissive", "UPL-1.0"},
    {"eupl1.2", "EUPL-1.2"}, {"eupl1.1", "EUPL-1.1"}, {"europeanunionpublic1.2", "EUPL-1.2"},
    {"artistic2.0", "Artistic-2.0"}, {"postgresql", "PostgreSQL"}, {"isc", "ISC"}, {"ms-pl", "MS-PL"},
    {"sspl", "SSPL-1.0"}, {"serversidepublic", "SSPL-1.0"},
};
/* clang-format on */

static bool filler(const char *w, size_t n)
{
    static const char *const words[] = {"the", "license",  "licence", "licensed", "version", "ver",
                                        "v",   "software", "under",   "terms",    "of"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strlen(words[i]) == n && strncasecmp(w, words[i], n) == 0)
            return true;
    return false;
}

/* The alias key of s[0..len) into key; *or_later set when it ends in "+", "or later" or "or newer". */
static void alias_key(const char *s, size_t len, char *key, size_t cap, bool *or_later)
{
    size_t k = 0;
    *or_later = false;
    for (size_t i = 0; i < len;) {
        while (i < len && !isalnum((unsigned char)s[i]) && s[i] != '+')
            i++;
        size_t st = i;
        while (i < len && (isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '+'))
            i++;
        size_t n = i - st;
        while (n && (s[st + n - 1] == '.' || s[st + n - 1] == '+')) { /* "2.0." at a sentence end; "GPLv2+" */
            if (s[st + n - 1] == '+')
                *or_later = true;
            n--;
        }
        if (n == 0 || filler(s + st, n))
            continue;
        if ((n == 5 && strncasecmp(s + st, "later", 5) == 0) || (n == 5 && strncasecmp(s + st, "newer", 5) == 0)) {
            *or_later = true;
            continue;
        }
        if (n == 2 && strncasecmp(s + st, "or", 2) == 0)
            continue;
        const char *w = s + st;
        for (size_t j = 0; j < n && k + 1 < cap; j++) {
            char c = (char)tolower((unsigned char)w[j]);
            /* "v2" -> "2" when the v starts a version (GPLv3, v2.0) */
            if (c == 'v' && j + 1 < n && isdigit((unsigned char)w[j + 1]) &&
                (j == 0 || !isdigit((unsigned char)w[j - 1])))
                continue;
            if (c == '-' || c == '_')
                continue;
            key[k++] = c;
        }
    }
    key[k] = '\0';
}

/* The expression for free text, or NULL when no alias matches. */
static const char *alias_of(const char *s, size_t len, char *buf, size_t cap)
{
    bool later;
    char key[128];
    alias_key(s, len, key, sizeof(key), &later);
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
        if (strcmp(key, aliases[i].key) != 0)
            continue;
        const char *e = aliases[i].expr;
        size_t n = strlen(e);
        if (later && n > 5 && strcmp(e + n - 5, "-only") == 0) {
            snprintf(buf, cap, "%.*s-or-later", (int)(n - 5), e);
            return buf;
        }
        return e;
    }
    return NULL;
}

static bool all_known(const mrun_spdx_expr *e)
{
    for (size_t i = 0; i < e->n; i++)
        if (e->nodes[i].kind == MRUN_SPDX_LEAF && !e->nodes[i].known &&
            strncasecmp(e->nodes[i].id, "LicenseRef-", 11) != 0 && strncasecmp(e->nodes[i].id, "DocumentRef-", 12) != 0)
            return false;
    return true;
}

static int unknown_leaf(const char *s, size_t len, mrun_spdx_expr **ret, mrun_err *err)
{
    mrun_spdx_expr *e = calloc(1, sizeof(*e));
    mrun_spdx_node *n = calloc(1, sizeof(*n));
    char *id = strndup(s, len > 200 ? 200 : len);
    if (!e || !n || !id) {
        free(e), free(n), free(id);
        return mrun_err_set(err, ENOMEM, "license");
    }
    n->kind = MRUN_SPDX_LEAF;
    n->id = id;
    e->nodes = n;
    e->n = 1;
    *ret = e;
    return 0;
}

int mrun_spdx_read_declared(const char *s, size_t len, mrun_spdx_expr **ret, mrun_err *err)
{
    while (len && isspace((unsigned char)*s))
        s++, len--;
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    if (len > MRUN_SPDX_MAX_EXPR)
        len = MRUN_SPDX_MAX_EXPR;
    mrun_err perr = MRUN_ERR_INIT;
    mrun_spdx_expr *e = NULL;
    if (mrun_spdx_parse(s, len, &e, &perr) == 0 && all_known(e)) {
        *ret = e;
        return 0;
    }
    if (perr.sys_errno == ENOMEM)
        return mrun_err_set(err, ENOMEM, "license");
    char buf[128];
    const char *alias = alias_of(s, len, buf, sizeof(buf));
    /* "GNU General Public License v2 (GPLv2)": the abbreviation in trailing parentheses names it best */
    const char *open = len && s[len - 1] == ')' ? memrchr(s, '(', len) : NULL;
    if (!alias && open && open > s) {
        size_t in_len = (size_t)(s + len - 1 - (open + 1));
        mrun_spdx_expr *inner = NULL;
        if (mrun_spdx_parse(open + 1, in_len, &inner, &perr) == 0 && all_known(inner)) {
            mrun_spdx_free(e);
            *ret = inner;
            return 0;
        }
        mrun_spdx_free(inner);
        alias = alias_of(open + 1, in_len, buf, sizeof(buf));
    }
    if (alias) {
        mrun_spdx_free(e);
        if (mrun_spdx_parse(alias, strlen(alias), ret, err) < 0)
            return -1;
        return 0;
    }
    if (e) { /* a well-formed expression with ids off the list: keep its structure */
        *ret = e;
        return 0;
    }
    return unknown_leaf(s, len, ret, err);
}

/* ---- printing ---- */

static void print_node(const mrun_spdx_expr *e, size_t i, mrun_spdx_kind parent, FILE *out)
{
    const mrun_spdx_node *n = &e->nodes[i];
    if (n->kind == MRUN_SPDX_LEAF) {
        fprintf(out, "%s%s", n->id, n->or_later ? "+" : "");
        if (n->exception)
            fprintf(out, " WITH %s", n->exception);
        return;
    }
    bool paren = parent == MRUN_SPDX_AND && n->kind == MRUN_SPDX_OR;
    fputs(paren ? "(" : "", out);
    print_node(e, n->left, n->kind, out);
    fputs(n->kind == MRUN_SPDX_AND ? " AND " : " OR ", out);
    print_node(e, n->right, n->kind, out);
    fputs(paren ? ")" : "", out);
}

char *mrun_spdx_to_string(const mrun_spdx_expr *e)
{
    char *s = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&s, &len);
    if (!out)
        return NULL;
    if (e->n)
        print_node(e, e->root, MRUN_SPDX_OR, out);
    if (fclose(out) != 0) {
        free(s);
        return NULL;
    }
    return s;
}
