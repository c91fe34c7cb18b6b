/* test_err.c - mrun_err: errno text, prefixing, truncation keeps the cause. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"

static void test_set_appends_strerror(void **state)
{
    (void)state;
    mrun_err e = MRUN_ERR_INIT;
    assert_int_equal(mrun_err_set(&e, ENOENT, "open '%s'", "x"), -1);
    assert_int_equal(e.sys_errno, ENOENT);
    assert_string_equal(e.msg, "open 'x': No such file or directory");
    mrun_err_setx(&e, EINVAL, "bad %d", 3);
    assert_string_equal(e.msg, "bad 3");
    assert_int_equal(e.sys_errno, EINVAL);
}

static void test_prefix(void **state)
{
    (void)state;
    mrun_err e = MRUN_ERR_INIT;
    mrun_err_setx(&e, EINVAL, "cause");
    assert_int_equal(mrun_err_prefix(&e, "ctx %d", 1), -1);
    mrun_err_prefix(&e, "outer");
    assert_string_equal(e.msg, "outer: ctx 1: cause");
    assert_int_equal(e.sys_errno, EINVAL);
}

static void test_prefix_truncates_context_not_cause(void **state)
{
    (void)state;
    mrun_err e = MRUN_ERR_INIT;
    char cause[200];
    memset(cause, 'c', sizeof(cause) - 1);
    cause[sizeof(cause) - 1] = '\0';
    mrun_err_setx(&e, EIO, "%s", cause);
    char ctx[200];
    memset(ctx, 'x', sizeof(ctx) - 1);
    ctx[sizeof(ctx) - 1] = '\0';
    mrun_err_prefix(&e, "%s", ctx);
    size_t n = strlen(e.msg);
    assert_true(n < sizeof(e.msg));
    assert_string_equal(e.msg + n - strlen(cause), cause);
    assert_non_null(strstr(e.msg, ": c"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_appends_strerror),
        cmocka_unit_test(test_prefix),
        cmocka_unit_test(test_prefix_truncates_context_not_cause),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
