/* test_expr.c - stage `if:` conditions: evaluation tables, error messages with columns, bounds, random input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/auto.h"
#include "coordinator/expr.h"

#define MAX_NODES 256

static const mrun_expr_env pr_env = {"pull_request", "refs/pull/7/head", "feature", 1, true};
static const mrun_expr_env push_main = {"push", "refs/heads/main", "main", 2, true};
static const mrun_expr_env push_failed = {"push", "refs/heads/main", "main", 2, false};
static const mrun_expr_env nulls = {NULL, NULL, NULL, 0, true};

static bool eval_ok(const char *s, const mrun_expr_env *env)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_cleanup(mrun_expr_freep) mrun_expr *e = NULL;
    if (mrun_expr_parse(s, strlen(s), MAX_NODES, &e, &err) < 0)
        fail_msg("'%s' rejected: %s", s, err.msg);
    return mrun_expr_eval(e, env);
}

/* Returns the errno and checks the message equals want (when want is not NULL). */
static int parse_err(const char *s, const char *want)
{
    mrun_err err = MRUN_ERR_INIT;
    mrun_expr *e = (mrun_expr *)&err; /* sentinel: ret_ is written only on success */
    assert_int_equal(mrun_expr_parse(s, strlen(s), MAX_NODES, &e, &err), -1);
    assert_ptr_equal(e, (mrun_expr *)&err);
    assert_true(err.msg[0] != '\0');
    if (want && strcmp(err.msg, want) != 0)
        fail_msg("'%s': got \"%s\", want \"%s\"", s, err.msg, want);
    return err.sys_errno;
}

struct row {
    const char *src;
    bool pr, main_, failed; /* results under pr_env, push_main, push_failed */
};

static void test_eval_table(void **state)
{
    (void)state;
    static const struct row rows[] = {
        {"event == 'pull_request'", true, false, false},
        {"event != 'pull_request'", false, true, false},
        {"event == \"push\"", false, true, false},
        {"event == 'pull_request' && (branch != 'main' || tier >= 2)", true, false, false},
        /* && binds tighter than || */
        {"event == 'push' || event == 'pull_request' && branch == 'main'", false, true, false},
        {"(event == 'push' || event == 'pull_request') && branch == 'main'", false, true, false},
        {"branch == 'main' || event == 'pull_request' && tier == 1", true, true, false},
        {"(branch == 'main' || event == 'pull_request') && tier == 1", true, false, false},
        /* negation, double negation, parentheses */
        {"!(branch == 'main')", true, false, false},
        {"!!(branch == 'main')", false, true, false},
        {"!(event == 'push' && branch == 'main')", true, false, false},
        {"((((branch == 'feature'))))", true, false, false},
        /* integer compares on tier */
        {"tier < 2", true, false, false},
        {"tier <= 2", true, true, false},
        {"tier > 1", false, true, false},
        {"tier >= 1", true, true, false},
        {"tier == 2", false, true, false},
        {"tier != 2", true, false, false},
        {"2 > tier", true, false, false},
        {"tier > -1", true, true, false},
        {"tier == tier", true, true, false},
        /* literal against literal, variable against variable */
        {"'a' == 'a'", true, true, false},
        {"1 < 2", true, true, false},
        {"branch == event", false, false, false},
        {"ref == 'refs/heads/main'", false, true, false},
        /* status functions: they switch the implicit success() off */
        {"success()", true, true, false},
        {"failure()", false, false, true},
        {"always()", true, true, true},
        {"!success()", false, false, true},
        {"always() && branch == 'main'", false, true, true},
        {"failure() || event == 'pull_request'", true, false, true},
        {"success() == failure()", false, false, false},
        {"success() != failure()", true, true, true},
        /* whitespace of all kinds */
        {" \t\nbranch\r\n==\t'main' ", false, true, false},
        {"branch=='main'&&tier>=2", false, true, false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const struct row *r = &rows[i];
        if (eval_ok(r->src, &pr_env) != r->pr || eval_ok(r->src, &push_main) != r->main_ ||
            eval_ok(r->src, &push_failed) != r->failed)
            fail_msg("row %zu '%s': want pr=%d main=%d failed=%d, got %d %d %d", i, r->src, r->pr, r->main_,
                     r->failed, eval_ok(r->src, &pr_env), eval_ok(r->src, &push_main),
                     eval_ok(r->src, &push_failed));
    }
}

static void test_escapes(void **state)
{
    (void)state;
    mrun_expr_env env = {"it's", "a\"b", "back\\slash", 0, true};
    assert_true(eval_ok("event == 'it\\'s'", &env));
    assert_true(eval_ok("event == \"it's\"", &env));
    assert_true(eval_ok("ref == \"a\\\"b\"", &env));
    assert_true(eval_ok("ref == 'a\"b'", &env));
    assert_true(eval_ok("branch == 'back\\\\slash'", &env));
    assert_false(eval_ok("branch == 'backslash'", &env));
    assert_true(eval_ok("'' == ''", &env));
    assert_true(eval_ok("'\\'' == \"'\"", &env));
    /* UTF-8 passes through untouched; comparison is exact and case-sensitive */
    mrun_expr_env u = {"push", "", "f\xc3\xa9" "ature", 0, true};
    assert_true(eval_ok("branch == 'f\xc3\xa9" "ature'", &u));
    assert_false(eval_ok("event == 'PUSH'", &u));
}

static void test_null_env_strings(void **state)
{
    (void)state;
    assert_true(eval_ok("event == '' && ref == '' && branch == ''", &nulls));
    assert_false(eval_ok("branch == 'main'", &nulls));
}

static void test_implicit_success(void **state)
{
    (void)state;
    static const struct {
        const char *src;
        bool uses;
    } rows[] = {
        {"branch == 'main'", false}, {"!(tier > 5)", false},          {"success()", true},
        {"failure()", true},         {"always()", true},              {"branch == 'main' && !failure()", true},
        {"'success()' == event", false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        mrun_err err = MRUN_ERR_INIT;
        mrun_cleanup(mrun_expr_freep) mrun_expr *e = NULL;
        assert_int_equal(mrun_expr_parse(rows[i].src, strlen(rows[i].src), MAX_NODES, &e, &err), 0);
        assert_int_equal(mrun_expr_uses_status(e), rows[i].uses);
    }
    /* true on its own, false once a need failed */
    assert_true(eval_ok("branch == 'main'", &push_main));
    assert_false(eval_ok("branch == 'main'", &push_failed));
    assert_false(eval_ok("!(tier > 5)", &push_failed));
    /* mentioning a status function anywhere turns the rule off */
    assert_true(eval_ok("branch == 'main' || success()", &push_failed));
    assert_true(eval_ok("!success() && branch == 'main'", &push_failed));
}

static void test_parse_once_eval_many(void **state)
{
    (void)state;
    const char *s = "event == 'pull_request' && (branch != 'main' || tier >= 2)";
    mrun_err err = MRUN_ERR_INIT;
    mrun_cleanup(mrun_expr_freep) mrun_expr *e = NULL;
    assert_int_equal(mrun_expr_parse(s, strlen(s), MAX_NODES, &e, &err), 0);
    for (int i = 0; i < 100; i++) {
        mrun_expr_env env = {"pull_request", "r", (i % 2) ? "main" : "dev", i % 4, true};
        assert_int_equal(mrun_expr_eval(e, &env), (i % 2) == 0 || i % 4 >= 2);
    }
    /* not NUL-terminated: only len bytes are read */
    char buf[] = {'t', 'i', 'e', 'r', '>', '1', '+'};
    mrun_expr *e2 = NULL;
    assert_int_equal(mrun_expr_parse(buf, 6, MAX_NODES, &e2, &err), 0);
    assert_true(mrun_expr_eval(e2, &push_main));
    mrun_expr_free(e2);
    mrun_expr_free(NULL);
}

static void test_errors(void **state)
{
    (void)state;
    assert_int_equal(parse_err("", "col 1: expected a value, '(' or '!', found end of input"), EINVAL);
    assert_int_equal(parse_err("   ", "col 4: expected a value, '(' or '!', found end of input"), EINVAL);
    assert_int_equal(parse_err("(branch == 'x' foo", "col 16: expected ')' or an operator, found 'foo'"), EINVAL);
    assert_int_equal(parse_err("(tier > 1 foo)", "col 11: expected ')' or an operator, found 'foo'"), EINVAL);
    assert_int_equal(parse_err("branch == 'x' foo", "col 15: expected an operator or end of input, found 'foo'"),
                     EINVAL);
    assert_int_equal(parse_err("brnch == 'main'", "col 1: unknown variable 'brnch' (did you mean 'branch'?)"),
                     EINVAL);
    assert_int_equal(parse_err("tier > 1 && colour == 'x'", "col 13: unknown variable 'colour'"), EINVAL);
    assert_int_equal(parse_err("sucess()", "col 1: unknown function 'sucess' (did you mean 'success'?)"), EINVAL);
    assert_int_equal(parse_err("  contains()", "col 3: unknown function 'contains'"), EINVAL);
    assert_int_equal(parse_err("success", "col 1: 'success' is a function: write success()"), EINVAL);
    assert_int_equal(parse_err("always(1)", "col 8: expected ')' (status functions take no arguments), found '1'"),
                     EINVAL);
    assert_int_equal(parse_err("branch == 'main", "col 11: unterminated string"), EINVAL);
    assert_int_equal(parse_err("branch == \"main\\", "col 11: unterminated string"), EINVAL);
    assert_int_equal(parse_err("branch == 'a\\nb'", "col 13: unknown escape (only \\', \\\" and \\\\ are allowed)"),
                     EINVAL);
    assert_int_equal(parse_err("branch == 'a\tb'", "col 13: control character in string"), EINVAL);
    assert_int_equal(parse_err("branch = 'main'", "col 8: unexpected '=' (did you mean '=='?)"), EINVAL);
    assert_int_equal(parse_err("tier > 1 & success()", "col 10: unexpected '&' (did you mean '&&'?)"), EINVAL);
    assert_int_equal(parse_err("tier > 1 | success()", "col 10: unexpected '|' (did you mean '||'?)"), EINVAL);
    assert_int_equal(parse_err("tier > 1 # x", "col 10: unexpected character '#'"), EINVAL);
    assert_int_equal(parse_err("tier > \x01", "col 8: unexpected byte 0x01"), EINVAL);
    assert_int_equal(parse_err("tier == 'two'", "col 6: '==' compares an integer with a string"), EINVAL);
    assert_int_equal(parse_err("branch < 'main'", "col 8: '<' needs integers, found a string"), EINVAL);
    assert_int_equal(parse_err("tier == 1 == 1", "col 11: comparisons do not chain; add parentheses"), EINVAL);
    assert_int_equal(parse_err("branch", "col 1: the expression needs a condition, found a string (compare it, "
                                         "e.g. branch == 'main')"),
                     EINVAL);
    assert_int_equal(parse_err("tier && success()", "col 1: '&&' needs a condition, found an integer (compare it, "
                                                    "e.g. tier >= 2)"),
                     EINVAL);
    assert_int_equal(parse_err("success() || 'x'", "col 14: '||' needs a condition, found a string (compare it, "
                                                   "e.g. branch == 'main')"),
                     EINVAL);
    assert_int_equal(parse_err("!event == 'push'", "col 2: '!' needs a condition, found a string ('!' binds tighter "
                                                   "than '==': write !(a == b))"),
                     EINVAL);
    assert_int_equal(parse_err("tier > 99999999999999999999", "col 8: integer out of range"), EINVAL);
    assert_int_equal(parse_err("tier > 12abc", "col 8: malformed integer"), EINVAL);
    assert_int_equal(parse_err("(tier > 1", "col 10: expected ')' or an operator, found end of input"), EINVAL);
    assert_int_equal(parse_err("tier > 1)", "col 9: expected an operator or end of input, found ')'"), EINVAL);
    assert_int_equal(parse_err("tier >", "col 7: expected a value, '(' or '!', found end of input"), EINVAL);
    assert_int_equal(parse_err("&& tier", "col 1: expected a value, '(' or '!', found '&&'"), EINVAL);
    /* hostile bytes are not echoed back; long tokens are truncated */
    parse_err("tier > 1 "
              "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
              "col 10: expected an operator or end of input, found 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'");
    /* edge integers */
    assert_true(eval_ok("tier > -9223372036854775808", &push_main));
    assert_true(eval_ok("tier < 9223372036854775807", &push_main));
    parse_err("tier > -9223372036854775809", "col 8: integer out of range");
}

static void test_bounds(void **state)
{
    (void)state;
    char buf[MRUN_EXPR_MAX_LEN + 2];
    mrun_err err = MRUN_ERR_INIT;
    mrun_expr *e = NULL;

    /* length */
    memset(buf, ' ', sizeof(buf));
    memcpy(buf, "always()", 8);
    assert_int_equal(mrun_expr_parse(buf, MRUN_EXPR_MAX_LEN, MAX_NODES, &e, &err), 0);
    mrun_expr_freep(&e);
    assert_int_equal(mrun_expr_parse(buf, MRUN_EXPR_MAX_LEN + 1, MAX_NODES, &e, &err), -1);
    assert_int_equal(err.sys_errno, E2BIG);
    assert_null(e);

    /* nesting of '(' : 64 levels parse, 65 do not */
    size_t n = 0;
    for (int i = 0; i < MRUN_EXPR_MAX_DEPTH; i++)
        buf[n++] = '(';
    memcpy(buf + n, "always()", 8), n += 8;
    for (int i = 0; i < MRUN_EXPR_MAX_DEPTH; i++)
        buf[n++] = ')';
    assert_int_equal(mrun_expr_parse(buf, n, MAX_NODES, &e, &err), 0);
    assert_true(mrun_expr_eval(e, &push_failed));
    mrun_expr_freep(&e);
    n = 0;
    for (int i = 0; i <= MRUN_EXPR_MAX_DEPTH; i++)
        buf[n++] = '(';
    memcpy(buf + n, "always()", 8), n += 8;
    assert_int_equal(mrun_expr_parse(buf, n, MAX_NODES, &e, &err), -1);
    assert_int_equal(err.sys_errno, E2BIG);
    assert_string_equal(err.msg, "col 65: nested deeper than 64");

    /* nesting of '!' counts too, and a huge paren bomb stops early without deep recursion */
    memset(buf, '!', MRUN_EXPR_MAX_LEN);
    assert_int_equal(mrun_expr_parse(buf, MRUN_EXPR_MAX_LEN, MAX_NODES, &e, &err), -1);
    assert_int_equal(err.sys_errno, E2BIG);
    memset(buf, '(', MRUN_EXPR_MAX_LEN);
    assert_int_equal(mrun_expr_parse(buf, MRUN_EXPR_MAX_LEN, MAX_NODES, &e, &err), -1);
    assert_int_equal(err.sys_errno, E2BIG);

    /* node count: "tier>1" is 3 nodes; a chain of k of them joined by || is 3k + 1 */
    const char *three = "tier>1";
    assert_int_equal(mrun_expr_parse(three, 6, 3, &e, &err), 0);
    mrun_expr_freep(&e);
    assert_int_equal(mrun_expr_parse(three, 6, 2, &e, &err), -1);
    assert_int_equal(err.sys_errno, E2BIG);
    assert_string_equal(err.msg, "col 5: expression has more than 2 nodes");
    assert_int_equal(mrun_expr_parse(three, 6, 0, &e, &err), -1);
    assert_int_equal(err.sys_errno, E2BIG);

    /* a long flat chain is fine (n-ary, no deep tree) and evaluates without deep recursion */
    n = 0;
    while (n + 11 + 7 <= MRUN_EXPR_MAX_LEN) {
        memcpy(buf + n, "tier==7 || ", 11);
        n += 11;
    }
    memcpy(buf + n, "tier==2", 7), n += 7;
    assert_int_equal(mrun_expr_parse(buf, n, 100000, &e, &err), 0);
    assert_true(mrun_expr_eval(e, &push_main));
    assert_false(mrun_expr_eval(e, &pr_env));
    mrun_expr_freep(&e);
    assert_int_equal(mrun_expr_parse(buf, n, MAX_NODES, &e, &err), -1);
    assert_int_equal(err.sys_errno, E2BIG);
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Random printable strings, biased towards the language's own tokens so that some of them parse. */
static void test_random_never_crashes(void **state)
{
    (void)state;
    static const char *const bits[] = {"event", "ref", "branch", "tier", "success()", "failure()", "always()",
                                       "==", "!=", "<", "<=", ">", ">=", "&&", "||", "!", "(", ")", "'main'",
                                       "\"x\\\"y\"", "2", "-1", " ", "'", "\\", "brnch", "foo("};
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    char buf[256];
    unsigned parsed = 0;
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = 0, want = xorshift(&seed) % 64;
        while (n < want) {
            uint64_t r = xorshift(&seed);
            const char *b;
            char c[2] = {(char)(0x20 + r % 95), '\0'};
            b = (r >> 8) % 3 ? bits[(r >> 16) % (sizeof(bits) / sizeof(bits[0]))] : c;
            size_t bl = strlen(b);
            if (n + bl >= sizeof(buf))
                break;
            memcpy(buf + n, b, bl);
            n += bl;
        }
        mrun_err err = MRUN_ERR_INIT;
        mrun_expr *e = NULL;
        if (mrun_expr_parse(buf, n, 64, &e, &err) == 0) {
            parsed++;
            mrun_expr_eval(e, &pr_env);
            mrun_expr_eval(e, &push_failed);
            mrun_expr_eval(e, &nulls);
            mrun_expr_free(e);
        } else {
            assert_true(err.msg[0] != '\0');
            assert_true(err.sys_errno == EINVAL || err.sys_errno == E2BIG);
            assert_true(strncmp(err.msg, "col ", 4) == 0);
        }
    }
    assert_true(parsed > 100); /* the generator does reach the evaluator */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_table),       cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_null_env_strings), cmocka_unit_test(test_implicit_success),
        cmocka_unit_test(test_parse_once_eval_many), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_bounds),           cmocka_unit_test(test_random_never_crashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
