/* license_policy.c - .mrun/policy.yml for the license check: the app's tier, allow/deny lists of SPDX ids and
 * patterns, what to do with unknown licenses, and per-package exceptions; and the verdict of the policy on a
 * license expression. The format is documented in docs/checks.md#license-check. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "../common/auto.h"
#include "../common/suggest.h"
#include "spdx.h"

#define MAX_DEPTH  16
#define MAX_NODES  8192
#define MAX_SCALAR 1024

/* ---- a small YAML tree ---- */

typedef enum { Y_SCALAR, Y_SEQ, Y_MAP } ytype;

/* A node; a mapping's kids alternate key, value. Owned by its parent. */
typedef struct ynode {
    ytype type;
    char *str;
    unsigned line, col;
    struct ynode **kids;
    size_t n, cap;
} ynode;

static void ynode_free(ynode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++)
        ynode_free(n->kids[i]);
    free(n->kids);
    free(n->str);
    free(n);
}

typedef struct loader {
    const char *name;
    ynode *root;
    ynode *stack[MAX_DEPTH + 1];
    int depth;
    size_t nodes;
    mrun_err *err;
} loader;

static int failf(mrun_err *err, const char *name, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int failf(mrun_err *err, const char *name, unsigned line, unsigned col, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return mrun_err_setx(err, EINVAL, "%.80s:%u:%u: %s", name, line, col, msg);
}

static int add_node(loader *l, const yaml_event_t *ev, ytype type, ynode **ret)
{
    unsigned line = (unsigned)ev->start_mark.line + 1, col = (unsigned)ev->start_mark.column + 1;
    if (++l->nodes > MAX_NODES)
        return failf(l->err, l->name, line, col, "more than %d values", MAX_NODES);
    ynode *n = calloc(1, sizeof(*n));
    if (!n)
        return mrun_err_set(l->err, ENOMEM, "%s", l->name);
    n->type = type;
    n->line = line;
    n->col = col;
    if (l->depth == 0) {
        l->root = n;
    } else {
        ynode *p = l->stack[l->depth - 1];
        if (p->n == p->cap) {
            size_t ncap = p->cap ? p->cap * 2 : 8;
            ynode **nk = realloc(p->kids, ncap * sizeof(*nk));
            if (!nk) {
                free(n);
                return mrun_err_set(l->err, ENOMEM, "%s", l->name);
            }
            p->kids = nk;
            p->cap = ncap;
        }
        p->kids[p->n++] = n;
    }
    *ret = n;
    return 0;
}

static int on_event(loader *l, const yaml_event_t *ev)
{
    unsigned line = (unsigned)ev->start_mark.line + 1, col = (unsigned)ev->start_mark.column + 1;
    ynode *n;
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        return failf(l->err, l->name, line, col, "YAML aliases are not allowed in a policy");
    case YAML_SCALAR_EVENT:
        if (ev->data.scalar.anchor)
            return failf(l->err, l->name, line, col, "YAML anchors are not allowed in a policy");
        if (ev->data.scalar.length > MAX_SCALAR)
            return failf(l->err, l->name, line, col, "value longer than %d bytes", MAX_SCALAR);
        if (add_node(l, ev, Y_SCALAR, &n) < 0)
            return -1;
        if (!(n->str = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length)))
            return mrun_err_set(l->err, ENOMEM, "%s", l->name);
        return 0;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if ((ev->type == YAML_SEQUENCE_START_EVENT && ev->data.sequence_start.anchor) ||
            (ev->type == YAML_MAPPING_START_EVENT && ev->data.mapping_start.anchor))
            return failf(l->err, l->name, line, col, "YAML anchors are not allowed in a policy");
        if (l->depth == MAX_DEPTH)
            return failf(l->err, l->name, line, col, "nested deeper than %d levels", MAX_DEPTH);
        if (add_node(l, ev, ev->type == YAML_SEQUENCE_START_EVENT ? Y_SEQ : Y_MAP, &n) < 0)
            return -1;
        l->stack[l->depth++] = n;
        return 0;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        l->depth--;
        return 0;
    case YAML_DOCUMENT_START_EVENT:
        if (l->root)
            return failf(l->err, l->name, line, col, "one YAML document only");
        return 0;
    default:
        return 0;
    }
}

static void parser_deletep(yaml_parser_t *p)
{
    yaml_parser_delete(p);
}

static int load(const char *name, const uint8_t *buf, size_t len, ynode **ret, mrun_err *err)
{
    if (len > MRUN_POLICY_MAX_FILE)
        return failf(err, name, 1, 1, "file is larger than %u bytes", MRUN_POLICY_MAX_FILE);
    if (memchr(buf, 0, len))
        return failf(err, name, 1, 1, "NUL byte in the file");
    mrun_cleanup(parser_deletep) yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        memset(&p, 0, sizeof(p));
        return mrun_err_set(err, ENOMEM, "%s", name);
    }
    yaml_parser_set_input_string(&p, buf, len);
    yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
    loader l = {.name = name, .err = err};
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            ynode_free(l.root);
            return failf(err, name, (unsigned)p.problem_mark.line + 1, (unsigned)p.problem_mark.column + 1,
                         "YAML syntax error: %.80s", p.problem ? p.problem : "unknown problem");
        }
        int r = on_event(&l, &ev);
        bool done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
        if (r < 0) {
            ynode_free(l.root);
            return -1;
        }
        if (done)
            break;
    }
    *ret = l.root;
    return 0;
}

/* ---- the policy ---- */

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void mrun_license_policy_free(mrun_license_policy *p)
{
    if (!p)
        return;
    free_list(p->allow, p->n_allow);
    free_list(p->deny, p->n_deny);
    for (size_t i = 0; i < p->n_exceptions; i++) {
        free(p->exceptions[i].package);
        free(p->exceptions[i].version);
        free(p->exceptions[i].reason);
    }
    free(p->exceptions);
    free(p);
}

void mrun_license_policy_freep(mrun_license_policy **p)
{
    mrun_license_policy_free(*p);
}

int mrun_license_policy_default(mrun_license_policy **ret, mrun_err *err)
{
    mrun_license_policy *p = calloc(1, sizeof(*p));
    if (!p)
        return mrun_err_set(err, ENOMEM, "policy");
    p->tier = 1;
    p->unknown = MRUN_UNKNOWN_WARN;
    *ret = p;
    return 0;
}

typedef struct ctx {
    const char *name;
    mrun_license_policy *p;
    mrun_err *err;
} ctx;

/* "unknown key 'x'" with the closest of keys when one is near. */
static int unknown_key(ctx *c, const ynode *k, const char *where, const char *const *keys)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; keys[i]; i++) {
        size_t d = mrun_edit_distance(k->str, strlen(k->str), keys[i], strlen(keys[i]));
        if (d < best_d)
            best_d = d, best = keys[i];
    }
    if (best && best_d <= 2)
        return failf(c->err, c->name, k->line, k->col, "unknown key '%.64s' in %s (did you mean '%s'?)", k->str, where,
                     best);
    return failf(c->err, c->name, k->line, k->col, "unknown key '%.64s' in %s (known: %s...)", k->str, where, keys[0]);
}

static int want(ctx *c, const ynode *v, ytype t, const char *what)
{
    static const char *const names[] = {"a single value", "a list", "a mapping"};
    if (v->type != t)
        return failf(c->err, c->name, v->line, v->col, "%s must be %s", what, names[t]);
    return 0;
}

/* Checks one allow/deny entry and returns it canonical: an SPDX id or expression leaf ("GPL-2.0-only WITH
 * Classpath-exception-2.0"), a LicenseRef-, or a prefix pattern ending in '*'. */
static int pattern(ctx *c, const ynode *v, char **ret)
{
    if (want(c, v, Y_SCALAR, "a license entry") < 0)
        return -1;
    size_t n = strlen(v->str);
    if (n == 0)
        return failf(c->err, c->name, v->line, v->col, "empty license entry");
    if (v->str[n - 1] == '*') {
        for (size_t i = 0; i + 1 < n; i++)
            if (!isalnum((unsigned char)v->str[i]) && !strchr("-.+", v->str[i]))
                return failf(c->err, c->name, v->line, v->col, "'%.64s': a pattern is an id prefix and '*'", v->str);
        return (*ret = strdup(v->str)) ? 0 : mrun_err_set(c->err, ENOMEM, "policy");
    }
    mrun_err perr = MRUN_ERR_INIT;
    mrun_cleanup(mrun_spdx_freep) mrun_spdx_expr *e = NULL;
    if (mrun_spdx_parse(v->str, n, &e, &perr) < 0)
        return failf(c->err, c->name, v->line, v->col, "'%.64s': %s", v->str, perr.msg);
    const mrun_spdx_node *leaf = &e->nodes[e->root];
    if (leaf->kind != MRUN_SPDX_LEAF)
        return failf(c->err, c->name, v->line, v->col, "'%.64s': one license per entry (AND/OR belong to packages)",
                     v->str);
    if (!leaf->known && strncasecmp(leaf->id, "LicenseRef-", 11) != 0) {
        mrun_cleanup(mrun_spdx_freep) mrun_spdx_expr *alias = NULL;
        mrun_autofree char *as = NULL;
        if (mrun_spdx_read_declared(v->str, n, &alias, &perr) == 0 && alias->n == 1 && alias->nodes[0].known &&
            (as = mrun_spdx_to_string(alias)) != NULL) /* "GPL-3", "Apache 2": the spelling packages use */
            return failf(c->err, c->name, v->line, v->col, "'%.64s' is not an SPDX license id (did you mean '%s'?)",
                         v->str, as);
        const char *best = NULL;
        size_t best_d = SIZE_MAX;
        for (size_t i = 0; i < mrun_spdx_n_licenses; i++) {
            if (mrun_spdx_licenses[i].flags & MRUN_LIC_DEPRECATED)
                continue; /* suggest what to write today */
            size_t d = mrun_edit_distance(leaf->id, strlen(leaf->id), mrun_spdx_licenses[i].id,
                                          strlen(mrun_spdx_licenses[i].id));
            if (d < best_d)
                best_d = d, best = mrun_spdx_licenses[i].id;
        }
        if (best && best_d <= 3)
            return failf(c->err, c->name, v->line, v->col, "'%.64s' is not an SPDX license id (did you mean '%s'?)",
                         v->str, best);
        return failf(
            c->err, c->name, v->line, v->col,
            "'%.64s' is not an SPDX license id (see https://spdx.org/licenses/; use LicenseRef-... for others)",
            v->str);
    }
    if (!(*ret = mrun_spdx_to_string(e)))
        return mrun_err_set(c->err, ENOMEM, "policy");
    return 0;
}

static int list(ctx *c, const ynode *v, const char *what, char ***ret, size_t *ret_n)
{
    if (want(c, v, Y_SEQ, what) < 0)
        return -1;
    if (v->n > MRUN_POLICY_MAX_ITEMS)
        return failf(c->err, c->name, v->line, v->col, "%s has more than %d entries", what, MRUN_POLICY_MAX_ITEMS);
    char **out = calloc(v->n + 1, sizeof(*out));
    if (!out)
        return mrun_err_set(c->err, ENOMEM, "policy");
    for (size_t i = 0; i < v->n; i++)
        if (pattern(c, v->kids[i], &out[i]) < 0) {
            free_list(out, i);
            return -1;
        }
    free_list(*ret, *ret_n);
    *ret = out;
    *ret_n = v->n;
    return 0;
}

static int exception_entry(ctx *c, const ynode *v, mrun_license_exception_rule *x)
{
    static const char *const keys[] = {"package", "version", "reason", NULL};
    if (want(c, v, Y_MAP, "an exception") < 0)
        return -1;
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        const ynode *k = v->kids[i], *val = v->kids[i + 1];
        char **dst = strcmp(k->str, "package") == 0   ? &x->package
                     : strcmp(k->str, "version") == 0 ? &x->version
                     : strcmp(k->str, "reason") == 0  ? &x->reason
                                                      : NULL;
        if (!dst)
            return unknown_key(c, k, "an exception", keys);
        if (want(c, val, Y_SCALAR, k->str) < 0)
            return -1;
        free(*dst);
        if (!(*dst = strdup(val->str)))
            return mrun_err_set(c->err, ENOMEM, "policy");
    }
    if (!x->package || !*x->package)
        return failf(c->err, c->name, v->line, v->col, "an exception needs 'package'");
    if (!x->reason || strlen(x->reason) < 3)
        return failf(c->err, c->name, v->line, v->col, "the exception for '%.64s' needs a 'reason'", x->package);
    return 0;
}

static int exceptions(ctx *c, const ynode *v)
{
    if (want(c, v, Y_SEQ, "exceptions") < 0)
        return -1;
    if (v->n > MRUN_POLICY_MAX_ITEMS)
        return failf(c->err, c->name, v->line, v->col, "more than %d exceptions", MRUN_POLICY_MAX_ITEMS);
    mrun_license_policy *p = c->p;
    if (!(p->exceptions = calloc(v->n ? v->n : 1, sizeof(*p->exceptions))))
        return mrun_err_set(c->err, ENOMEM, "policy");
    for (size_t i = 0; i < v->n; i++) {
        p->n_exceptions++;
        if (exception_entry(c, v->kids[i], &p->exceptions[i]) < 0)
            return -1;
    }
    return 0;
}

static int licenses_section(ctx *c, const ynode *m)
{
    static const char *const keys[] = {"allow", "deny", "unknown", "exceptions", NULL};
    if (want(c, m, Y_MAP, "licenses") < 0)
        return -1;
    for (size_t i = 0; i + 1 < m->n; i += 2) {
        const ynode *k = m->kids[i], *v = m->kids[i + 1];
        int r;
        if (strcmp(k->str, "allow") == 0) {
            r = list(c, v, "allow", &c->p->allow, &c->p->n_allow);
            c->p->allow_list = true;
        } else if (strcmp(k->str, "deny") == 0) {
            r = list(c, v, "deny", &c->p->deny, &c->p->n_deny);
        } else if (strcmp(k->str, "unknown") == 0) {
            if ((r = want(c, v, Y_SCALAR, "unknown")) == 0) {
                if (strcmp(v->str, "warn") == 0)
                    c->p->unknown = MRUN_UNKNOWN_WARN;
                else if (strcmp(v->str, "fail") == 0)
                    c->p->unknown = MRUN_UNKNOWN_FAIL;
                else if (strcmp(v->str, "allow") == 0)
                    c->p->unknown = MRUN_UNKNOWN_ALLOW;
                else
                    r = failf(c->err, c->name, v->line, v->col, "unknown must be fail, warn or allow, not '%.32s'",
                              v->str);
            }
        } else if (strcmp(k->str, "exceptions") == 0) {
            r = c->p->exceptions ? failf(c->err, c->name, k->line, k->col, "duplicate key 'exceptions'")
                                 : exceptions(c, v);
        } else {
            r = unknown_key(c, k, "licenses", keys);
        }
        if (r < 0)
            return -1;
    }
    return 0;
}

/* Rejects a mapping that names a key twice (YAML says keys are unique; libyaml does not check). */
static int no_duplicates(ctx *c, const ynode *m)
{
    for (size_t i = 0; i < m->n; i += 2) {
        if (m->kids[i]->type != Y_SCALAR)
            return failf(c->err, c->name, m->kids[i]->line, m->kids[i]->col, "keys must be plain words");
        for (size_t j = 0; j < i; j += 2)
            if (strcmp(m->kids[i]->str, m->kids[j]->str) == 0)
                return failf(c->err, c->name, m->kids[i]->line, m->kids[i]->col, "duplicate key '%.64s'",
                             m->kids[i]->str);
    }
    return 0;
}

static int check_maps(ctx *c, const ynode *n)
{
    if (n->type == Y_MAP && no_duplicates(c, n) < 0)
        return -1;
    for (size_t i = 0; i < n->n; i++)
        if (check_maps(c, n->kids[i]) < 0)
            return -1;
    return 0;
}

static int top(ctx *c, const ynode *root)
{
    static const char *const keys[] = {"tier", "licenses", NULL};
    if (!root || (root->type == Y_SCALAR && root->str[0] == '\0'))
        return 0; /* an empty file: the defaults */
    if (want(c, root, Y_MAP, "the policy") < 0 || check_maps(c, root) < 0)
        return -1;
    for (size_t i = 0; i + 1 < root->n; i += 2) {
        const ynode *k = root->kids[i], *v = root->kids[i + 1];
        if (strcmp(k->str, "tier") == 0) {
            if (want(c, v, Y_SCALAR, "tier") < 0)
                return -1;
            if (strlen(v->str) != 1 || v->str[0] < '0' || v->str[0] > '3')
                return failf(c->err, c->name, v->line, v->col, "tier must be 0, 1, 2 or 3, not '%.32s'", v->str);
            c->p->tier = v->str[0] - '0';
        } else if (strcmp(k->str, "licenses") == 0) {
            if (licenses_section(c, v) < 0)
                return -1;
        } else {
            return unknown_key(c, k, "the policy", keys);
        }
    }
    return 0;
}

int mrun_license_policy_parse(const char *name, const uint8_t *buf, size_t len, mrun_license_policy **ret,
                              mrun_err *err)
{
    mrun_cleanup(mrun_license_policy_freep) mrun_license_policy *p = NULL;
    if (mrun_license_policy_default(&p, err) < 0)
        return -1;
    ynode *root = NULL;
    if (load(name, buf, len, &root, err) < 0)
        return -1;
    ctx c = {.name = name, .p = p, .err = err};
    int r = top(&c, root);
    ynode_free(root);
    if (r < 0)
        return -1;
    *ret = mrun_steal_ptr(&p);
    return 0;
}

/* ---- verdicts ---- */

/* How specifically pattern matches the leaf: 3 the id with its exception, 2 the id, 1 a prefix pattern, 0 not. */
static int match_score(const char *pat, const mrun_spdx_node *leaf)
{
    size_t n = strlen(pat);
    if (n && pat[n - 1] == '*')
        return strncasecmp(leaf->id, pat, n - 1) == 0 ? 1 : 0;
    const char *with = strstr(pat, " WITH ");
    size_t idn = with ? (size_t)(with - pat) : n;
    if (strlen(leaf->id) != idn || strncasecmp(leaf->id, pat, idn) != 0)
        return 0;
    if (!with)
        return 2;
    return leaf->exception && strcasecmp(leaf->exception, with + 6) == 0 ? 3 : 0;
}

static int best_score(char **pats, size_t n, const mrun_spdx_node *leaf)
{
    int best = 0;
    for (size_t i = 0; i < n; i++) {
        int s = match_score(pats[i], leaf);
        if (s > best)
            best = s;
    }
    return best;
}

static mrun_verdict judge_leaf(const mrun_license_policy *p, const mrun_spdx_node *leaf, const char **why)
{
    int sa = best_score(p->allow, p->n_allow, leaf), sd = best_score(p->deny, p->n_deny, leaf);
    if (sd > 0 && sd >= sa) {
        *why = "is denied by the policy's deny list";
        return MRUN_VERDICT_DENY;
    }
    if (sa > 0)
        return MRUN_VERDICT_ALLOW;
    bool is_ref = strncasecmp(leaf->id, "LicenseRef-", 11) == 0 || strncasecmp(leaf->id, "DocumentRef-", 12) == 0;
    if (!leaf->known) {
        *why = is_ref ? "is a custom license (LicenseRef) the policy does not list" : "is not an SPDX license id";
        return MRUN_VERDICT_UNKNOWN;
    }
    if (p->allow_list) {
        *why = "is not on the policy's allow list";
        return MRUN_VERDICT_DENY;
    }
    switch (mrun_spdx_leaf_category(leaf)) {
    case MRUN_LIC_STRONG:
        if (p->tier >= 1) {
            static const char *const tiers[] = {"", "is denied for tier 1 apps (strong copyleft)",
                                                "is denied for tier 2 apps (strong copyleft)",
                                                "is denied for tier 3 apps (strong copyleft)"};
            *why = tiers[p->tier];
            return MRUN_VERDICT_DENY;
        }
        *why = "is strong copyleft: allowed in a tier 0 app, denied from tier 1 up";
        return MRUN_VERDICT_STRONG;
    case MRUN_LIC_WEAK:
        *why = "is weak copyleft: changes to this component must be published under its license";
        return MRUN_VERDICT_WEAK;
    default:
        return MRUN_VERDICT_ALLOW;
    }
}

static mrun_verdict judge(const mrun_license_policy *p, const mrun_spdx_expr *e, size_t i, int depth, const char **why,
                          const mrun_spdx_node **leaf)
{
    const mrun_spdx_node *n = &e->nodes[i];
    if (n->kind == MRUN_SPDX_LEAF || depth > MRUN_SPDX_MAX_DEPTH * 2 + MRUN_SPDX_MAX_NODES) {
        *leaf = n;
        return n->kind == MRUN_SPDX_LEAF ? judge_leaf(p, n, why) : MRUN_VERDICT_UNKNOWN;
    }
    const char *wl = NULL, *wr = NULL;
    const mrun_spdx_node *ll = NULL, *lr = NULL;
    mrun_verdict l = judge(p, e, n->left, depth + 1, &wl, &ll), r = judge(p, e, n->right, depth + 1, &wr, &lr);
    /* OR: the licensee picks the best alternative; AND: every part applies */
    bool take_left = n->kind == MRUN_SPDX_OR ? l <= r : l >= r;
    *why = take_left ? wl : wr;
    *leaf = take_left ? ll : lr;
    return take_left ? l : r;
}

mrun_verdict mrun_license_policy_judge(const mrun_license_policy *p, const mrun_spdx_expr *e, const char **ret_why,
                                       const mrun_spdx_node **ret_leaf)
{
    const char *why = NULL;
    const mrun_spdx_node *leaf = NULL;
    mrun_verdict v = e->n ? judge(p, e, e->root, 0, &why, &leaf) : MRUN_VERDICT_UNKNOWN;
    if (ret_why)
        *ret_why = why ? why : "";
    if (ret_leaf)
        *ret_leaf = leaf;
    return v;
}

const mrun_license_exception_rule *mrun_license_policy_exception(const mrun_license_policy *p, const char *name,
                                                                 const char *version)
{
    for (size_t i = 0; i < p->n_exceptions; i++) {
        const mrun_license_exception_rule *x = &p->exceptions[i];
        if (name && strcmp(x->package, name) == 0 && (!x->version || (version && strcmp(x->version, version) == 0)))
            return x;
    }
    return NULL;
}
