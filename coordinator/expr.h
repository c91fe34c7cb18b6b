/* expr.h - the `if:` condition language of pipeline stages: parse once (hostile input, bounded), evaluate many times.
 *
 *   event == 'pull_request' && (branch != 'main' || tier >= 2)
 *
 * Grammar, loosest binding first:  or := and ('||' and)*   and := cmp ('&&' cmp)*
 *   cmp := unary [('=='|'!='|'<'|'<='|'>'|'>=') unary]   unary := '!' unary | primary
 *   primary := '(' or ')' | STRING | INTEGER | event | ref | branch | tier | success() | failure() | always()
 * Strings use '...' or "..." with the escapes \' \" \\. Integers are decimal, optionally negative.
 * Types are checked at parse time: event/ref/branch and literals compare as strings (== and != only), tier and
 * integers compare as integers (all six operators), conditions compare with == and !=; '!', '&&', '||' and the
 * whole expression need conditions. Comparisons do not chain. String comparison is exact (case-sensitive). */
#ifndef MRUN_EXPR_H
#define MRUN_EXPR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"

/* Longest accepted source text and deepest nesting of '(' and '!'. */
#define MRUN_EXPR_MAX_LEN 4096
#define MRUN_EXPR_MAX_DEPTH 64

/* A parsed expression: one allocation, immutable after parse, so it may be evaluated from several threads at once. */
typedef struct mrun_expr mrun_expr;

/* What an expression is evaluated against. NULL strings read as "". needs_ok: every stage in `needs` succeeded. */
typedef struct mrun_expr_env {
    const char *event, *ref, *branch;
    int64_t tier;
    bool needs_ok;
} mrun_expr_env;

/* Parses text[0..len) (need not be NUL-terminated; a NUL byte is an error). Pure: no I/O, no globals, no logging;
 * allocates at most once, bounded by len and max_nodes. On success *ret_expr owns the result (free with
 * mrun_expr_free). Errors: "col N: ..." (1-based byte column) with EINVAL for malformed input, E2BIG when longer
 * than MRUN_EXPR_MAX_LEN, nested deeper than MRUN_EXPR_MAX_DEPTH or over max_nodes nodes, ENOMEM. The caller adds
 * "file:line:". */
int mrun_expr_parse(const char *text, size_t len, unsigned max_nodes, mrun_expr **ret_expr, mrun_err *err);

/* Evaluates e under env. Applies GitHub Actions' rule: an expression that does not mention a status function is
 * treated as `success() && (expr)`, so it is false when env->needs_ok is false. Never fails; recursion is bounded by
 * the nesting limit. */
bool mrun_expr_eval(const mrun_expr *e, const mrun_expr_env *env);

/* True when e mentions success(), failure() or always(); false means the implicit success() applies, so a
 * scheduler can skip the stage as soon as a need fails without evaluating anything. */
bool mrun_expr_uses_status(const mrun_expr *e);

/* Accepts NULL. */
void mrun_expr_free(mrun_expr *e);
void mrun_expr_freep(mrun_expr **e);

#endif
