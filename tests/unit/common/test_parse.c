/* test_parse.c - sizes, durations, integers and CPU fractions: valid forms, rejects and overflow. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/parse.h"

static int64_t size_ok(const char *s)
{
    mrun_err e = MRUN_ERR_INIT;
    int64_t v = -1;
    if (mrun_parse_size(s, &v, &e) < 0)
        fail_msg("'%s' rejected: %s", s, e.msg);
    return v;
}

static int size_err(const char *s)
{
    mrun_err e = MRUN_ERR_INIT;
    int64_t v = 12345;
    assert_int_equal(mrun_parse_size(s, &v, &e), -1);
    assert_int_equal(v, 12345); /* ret_ written only on success */
    return e.sys_errno;
}

static void test_sizes(void **state)
{
    (void)state;
    assert_int_equal(size_ok("0"), 0);
    assert_int_equal(size_ok("100"), 100);
    assert_int_equal(size_ok("100B"), 100);
    assert_int_equal(size_ok("64k"), 64 * 1024);
    assert_int_equal(size_ok("512M"), 512ll << 20);
    assert_int_equal(size_ok("512MiB"), 512ll << 20);
    assert_int_equal(size_ok("512mb"), 512ll << 20);
    assert_int_equal(size_ok("1G"), 1ll << 30);
    assert_int_equal(size_ok("1.5G"), 3ll << 29);
    assert_int_equal(size_ok("2T"), 2ll << 40);
    assert_int_equal(size_ok("8191P"), 8191ll << 50);
}

static void test_size_errors(void **state)
{
    (void)state;
    assert_int_equal(size_err(""), EINVAL);
    assert_int_equal(size_err("M"), EINVAL);
    assert_int_equal(size_err("-1"), EINVAL);
    assert_int_equal(size_err("1X"), EINVAL);
    assert_int_equal(size_err("1.5"), EINVAL);
    assert_int_equal(size_err("1."), EINVAL);
    assert_int_equal(size_err("1 G"), EINVAL);
    assert_int_equal(size_err("12GG"), EINVAL);
    assert_int_equal(size_err("8192P"), ERANGE);
    assert_int_equal(size_err("99999999999999999999"), ERANGE);
    assert_int_equal(size_err("9223372036854775808"), ERANGE);
}

static int64_t dur_ok(const char *s)
{
    mrun_err e = MRUN_ERR_INIT;
    int64_t v = -1;
    if (mrun_parse_duration(s, &v, &e) < 0)
        fail_msg("'%s' rejected: %s", s, e.msg);
    return v;
}

static int dur_err(const char *s)
{
    mrun_err e = MRUN_ERR_INIT;
    int64_t v = 7;
    assert_int_equal(mrun_parse_duration(s, &v, &e), -1);
    assert_int_equal(v, 7);
    return e.sys_errno;
}

static void test_durations(void **state)
{
    (void)state;
    assert_int_equal(dur_ok("90"), 90000);
    assert_int_equal(dur_ok("500ms"), 500);
    assert_int_equal(dur_ok("2.5s"), 2500);
    assert_int_equal(dur_ok("10m"), 600000);
    assert_int_equal(dur_ok("1h30m"), 5400000);
    assert_int_equal(dur_ok("1d2h3m4s5ms"), 86400000 + 7200000 + 180000 + 4000 + 5);
    assert_int_equal(dur_ok("0"), 0);
    assert_int_equal(dur_err(""), EINVAL);
    assert_int_equal(dur_err("s"), EINVAL);
    assert_int_equal(dur_err("10x"), EINVAL);
    assert_int_equal(dur_err("1m1h"), EINVAL);  /* units must descend */
    assert_int_equal(dur_err("1s1s"), EINVAL);
    assert_int_equal(dur_err("1h30"), EINVAL);  /* a bare number must stand alone */
    assert_int_equal(dur_err("-5s"), EINVAL);
    assert_int_equal(dur_err("5 s"), EINVAL);
    assert_int_equal(dur_err("999999999999999999d"), ERANGE);
}

static void test_ints(void **state)
{
    (void)state;
    mrun_err e = MRUN_ERR_INIT;
    int64_t v;
    assert_int_equal(mrun_parse_int("256", 1, 1000, &v, &e), 0);
    assert_int_equal(v, 256);
    assert_int_equal(mrun_parse_int("-3", -5, 5, &v, &e), 0);
    assert_int_equal(v, -3);
    assert_int_equal(mrun_parse_int("-3", 0, 5, &v, &e), -1);
    assert_int_equal(mrun_parse_int("1001", 1, 1000, &v, &e), -1);
    assert_int_equal(e.sys_errno, ERANGE);
    assert_int_equal(mrun_parse_int("12a", 1, 1000, &v, &e), -1);
    assert_int_equal(e.sys_errno, EINVAL);
    assert_int_equal(mrun_parse_int("", 1, 1000, &v, &e), -1);
    assert_int_equal(mrun_parse_int("99999999999999999999999", 0, INT64_MAX, &v, &e), -1);
    assert_int_equal(e.sys_errno, ERANGE);
}

static void test_milli(void **state)
{
    (void)state;
    mrun_err e = MRUN_ERR_INIT;
    int64_t v;
    assert_int_equal(mrun_parse_milli("1", 4000, &v, &e), 0);
    assert_int_equal(v, 1000);
    assert_int_equal(mrun_parse_milli("0.5", 4000, &v, &e), 0);
    assert_int_equal(v, 500);
    assert_int_equal(mrun_parse_milli("2.25", 4000, &v, &e), 0);
    assert_int_equal(v, 2250);
    assert_int_equal(mrun_parse_milli("0.0001", 4000, &v, &e), -1);
    assert_int_equal(mrun_parse_milli("5", 4000, &v, &e), -1);
    assert_int_equal(mrun_parse_milli("1,5", 4000, &v, &e), -1);
}

static void test_format_size(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(mrun_format_size(300, b, sizeof(b)), "300");
    assert_string_equal(mrun_format_size(512ll << 20, b, sizeof(b)), "512M");
    assert_string_equal(mrun_format_size(3ll << 29, b, sizeof(b)), "1.5G");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),     cmocka_unit_test(test_size_errors), cmocka_unit_test(test_durations),
        cmocka_unit_test(test_ints),      cmocka_unit_test(test_milli),       cmocka_unit_test(test_format_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
